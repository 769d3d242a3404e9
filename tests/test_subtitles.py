"""tasks.ingest.subtitles: real files from tests/data, small files written here, a video's own track."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from castline.errors import InputError
from tasks.ingest import embedded_subtitles as embedded_module
from tasks.ingest import subtitles as subtitles_module
from tasks.ingest.embedded_subtitles import embedded_subtitles
from tasks.ingest.subtitles import (
    MAX_SUBTITLE_BYTES,
    Cue,
    SkippedCue,
    SubtitleError,
    Subtitles,
    parse_subtitles,
    read_subtitles,
)

DATA = Path(__file__).parent / "data" / "subtitles"
VIDEO = Path(__file__).parent / "data" / "video" / "exo_sample_with_srt.mkv"
CORPUS_SUBTITLES = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "subtitles"

OVERLAP_WARNING = "2 cues overlap the next one (each cue's speech is limited to the time before the next cue starts)"
TYPICAL = [  # (start_s, end_s, text, line) of ExoPlayer's "typical" SubRip file
    (0.0, 1.234, "This is the first subtitle.", 1),
    (2.345, 3.456, "This is the second subtitle. Second subtitle with second line.", 5),
    (7204.567, 7208.901, "This is the third subtitle.", 10),
]


def timings(subs: Subtitles) -> list[tuple[float, float, str, int]]:
    return [(c.start_s, c.end_s, c.text, c.line) for c in subs.cues]


def write(tmp_path: Path, text: str, name: str = "cues.srt", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def srt(*cues: str) -> str:
    """A SubRip file whose cue n (from 1) runs from 2n-1 to 2n seconds."""
    return "\n".join(f"{n}\n00:00:{2 * n - 1:02d},000 --> 00:00:{2 * n:02d},000\n{text}\n" for n, text in enumerate(cues, 1))


def one_cue(tmp_path: Path, text: str) -> Cue:
    (cue,) = read_subtitles(write(tmp_path, srt(text))).cues
    return cue


# -- the corpus files -----------------------------------------------------------------------


def test_utf16le_with_bom() -> None:
    subs = read_subtitles(DATA / "exo_typical_utf16le.srt")
    assert (subs.format, subs.encoding, subs.skipped, subs.warnings) == ("srt", "utf-16-le", (), ())
    assert timings(subs) == TYPICAL
    assert [c.index for c in subs.cues] == [1, 2, 3]
    assert all(c.speaker is None for c in subs.cues)


def test_utf8_bom_reads_like_the_utf16_file() -> None:
    subs = read_subtitles(DATA / "exo_typical_utf8-bom.srt")
    assert subs.encoding == "utf-8-sig"
    assert timings(subs) == TYPICAL
    assert subs.cues == read_subtitles(DATA / "exo_typical_utf16le.srt").cues


def test_missing_timecodes_are_skipped_with_their_lines() -> None:
    subs = read_subtitles(DATA / "exo_typical_missing-timecode.srt")
    assert timings(subs) == [TYPICAL[0], (7204.567, 7208.901, "This is the third subtitle.", 9)]
    assert [c.index for c in subs.cues] == [1, 2]
    assert subs.skipped == (
        SkippedCue(5, "no timing line"),
        SkippedCue(13, "no start time"),
        SkippedCue(17, "no end time"),
    )


def test_strict_raises_on_the_first_malformed_cue() -> None:
    path = DATA / "exo_typical_missing-timecode.srt"
    with pytest.raises(SubtitleError) as caught:
        read_subtitles(path, strict=True)
    assert (caught.value.path, caught.value.line, caught.value.problem) == (path, 5, "no timing line")
    assert str(caught.value) == f"{path}:5: no timing line"
    assert isinstance(caught.value, InputError)


def test_ass_name_is_the_speaker_and_a_malformed_time_is_skipped() -> None:
    subs = read_subtitles(DATA / "exo_typical.ass")
    assert subs.format == "ass"
    assert [(c.index, c.start_s, c.end_s, c.text, c.speaker, c.line) for c in subs.cues] == [
        (1, 0.0, 1.23, "This is the first subtitle.", "Olly", 10),
        (2, 2.34, 3.45, "This is the second subtitle with a newline and another.", "Olly", 11),
    ]
    assert subs.skipped == (SkippedCue(12, "malformed timestamp '0:00:04:56'"),)
    with pytest.raises(SubtitleError, match=r"exo_typical\.ass:12: malformed timestamp '0:00:04:56'$"):
        read_subtitles(DATA / "exo_typical.ass", strict=True)


def test_ass_override_tags_in_srt_are_stripped() -> None:
    subs = read_subtitles(DATA / "exo_typical_with-ass-tags.srt")
    texts = [c.text for c in subs.cues]
    assert texts[:6] == [
        "This is the first subtitle.",
        "This is the second subtitle. Second subtitle with second line.",
        "This is the third subtitle.",
        "This is not a valid tag due to the space after the opening bracket.",
        "This is the fifth subtitle with multiple valid tags.",
        "This is a lines.",
    ]
    assert texts[6:] == ["This is a line."] * 8
    # 3-digit seconds are unambiguous: read (srt reads them so), with a warning, not skipped.
    assert subs.skipped == ()
    assert (subs.cues[4].start_s, subs.cues[4].end_s, subs.cues[4].line) == (13.567, 14.901, 18)
    assert subs.warnings == ("10 timestamps are not zero-padded HH:MM:SS,mmm (first: '00:00:013,567'); read as written",)


def test_vtt_tags_and_entities_are_stripped() -> None:
    subs = read_subtitles(DATA / "exo_with_tags.vtt")
    assert subs.format == "vtt"
    assert timings(subs) == [
        (0.0, 1.234, "This is the first subtitle.", 3),
        (2.345, 3.456, "This is the second subtitle.", 6),
        (4.0, 5.0, "This is the third subtitle.", 9),
        (6.0, 7.0, "This is the <fourth> &subtitle.", 12),
    ]


def test_overlapping_cues_are_kept_and_counted() -> None:
    subs = read_subtitles(DATA / "exo_with_overlapping_timestamps.vtt")
    assert [(c.index, c.start_s, c.end_s) for c in subs.cues] == [(1, 0.0, 3.0), (2, 1.0, 2.0), (3, 4.0, 6.0), (4, 5.0, 7.0)]
    assert subs.cues[1].text == "Appears directly above for 1 second."
    assert subs.warnings == (OVERLAP_WARNING,)


def test_one_digit_seconds_are_read_leniently() -> None:
    subs = read_subtitles(DATA / "moviepy_subtitles_malformed.srt")
    assert timings(subs) == [
        (0.0, 1.0, "Red!", 1),
        (2.0, 3.5, "More Red!", 5),
        (5.0, 6.0, "Green!", 9),
        (7.0, 8.0, "Blue", 13),
        (9.0, 10.0, "More Blue!", 17),
    ]
    assert subs.skipped == ()
    assert subs.warnings == ("5 timestamps are not zero-padded HH:MM:SS,mmm (first: '00:00:5,000'); read as written",)


def test_srt_and_vtt_of_the_same_sync_map_agree() -> None:
    as_srt, as_vtt = read_subtitles(DATA / "aeneas_sonnet001.srt"), read_subtitles(DATA / "aeneas_sonnet001.vtt")
    assert len(as_srt.cues) == 15
    assert [(c.start_s, c.end_s, c.text) for c in as_srt.cues] == [(c.start_s, c.end_s, c.text) for c in as_vtt.cues]
    assert as_srt.cues[1].text == "From fairest creatures we desire increase,"
    assert (as_srt.cues[-1].start_s, as_srt.cues[-1].end_s) == (48.08, 53.24)
    assert (as_srt.cues[-1].line, as_vtt.cues[-1].line) == (57, 59)


def test_every_shared_corpus_file_parses_or_fails_clearly() -> None:
    if not CORPUS_SUBTITLES.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS_SUBTITLES}")
    files = sorted(p for p in CORPUS_SUBTITLES.iterdir() if p.is_file())
    assert files
    for path in files:
        try:
            subs = read_subtitles(path)
        except SubtitleError as err:
            assert str(err).startswith(f"{path}:"), err
            continue
        assert subs.cues, path
        assert [c.index for c in subs.cues] == list(range(1, len(subs.cues) + 1))
        assert [c.start_s for c in subs.cues] == sorted(c.start_s for c in subs.cues)
        assert all(c.text and c.text == c.text.strip() and 0 <= c.start_s <= c.end_s for c in subs.cues), path
        assert all("<" not in c.text[:1] and "{\\" not in c.text for c in subs.cues), path


def test_test_data_are_byte_for_byte_copies_of_the_corpus() -> None:
    if not CORPUS_SUBTITLES.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS_SUBTITLES}")
    for path in DATA.glob("*.*"):
        if path.name != "SOURCES.md":
            assert path.read_bytes() == (CORPUS_SUBTITLES / path.name).read_bytes(), path.name
    assert f"`{VIDEO.name}`" in (VIDEO.parent / "SOURCES.md").read_text()


# -- encodings ------------------------------------------------------------------------------

CP1252_TEXT = "Café – déjà vu, «naïve» señor"


def test_cp1252_named_in_the_manifest(tmp_path: Path) -> None:
    path = write(tmp_path, srt(CP1252_TEXT), encoding="cp1252")
    subs = read_subtitles(path, encoding="cp1252")
    assert (subs.encoding, subs.cues[0].text, subs.warnings) == ("cp1252", CP1252_TEXT, ())
    assert read_subtitles(path, encoding="windows-1252").encoding == "cp1252"


def test_not_utf8_without_an_encoding_is_guessed_with_a_warning(tmp_path: Path) -> None:
    text = "Je suis allé à la plage, c'était très agréable. Où est le café?"
    subs = read_subtitles(write(tmp_path, srt(text, "Déjà vu."), encoding="cp1252"))
    assert subs.encoding != "utf-8"
    assert subs.warnings == (
        f"not UTF-8; decoded as {subs.encoding}, charset-normalizer's guess (name it in 'encoding:' to be sure)",
    )
    assert subs.cues[0].text.startswith("Je suis all")


def test_a_bom_wins_over_the_manifest() -> None:
    assert read_subtitles(DATA / "exo_typical_utf8-bom.srt", encoding="cp1252").encoding == "utf-8-sig"
    assert read_subtitles(DATA / "exo_typical_utf16le.srt", encoding="cp1252").encoding == "utf-16-le"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_recognised(tmp_path: Path, codec: str) -> None:
    subs = read_subtitles(write(tmp_path, srt("Hello, world.", "Again."), encoding=codec))
    assert (subs.encoding, [c.text for c in subs.cues]) == (codec, ["Hello, world.", "Again."])


def test_unknown_or_wrong_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, srt(CP1252_TEXT), encoding="cp1252")
    with pytest.raises(SubtitleError, match=r"cues\.srt: unknown text encoding 'klingon-8'$"):
        read_subtitles(path, encoding="klingon-8")
    with pytest.raises(SubtitleError, match=r"cannot be decoded as utf-8: invalid .* at byte \d+$"):
        read_subtitles(path, encoding="utf-8")


# -- files that are not subtitles -----------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"  \r\n\n", "\ufeff\n".encode("utf-8-sig")], ids=["empty", "blank", "bom-only"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "empty.srt"
    path.write_bytes(data)
    with pytest.raises(SubtitleError, match=r"empty\.srt: is empty$") as caught:
        read_subtitles(path)
    assert caught.value.line is None


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.srt"
    path.write_bytes(random.Random(7).randbytes(5000))
    with pytest.raises(SubtitleError, match=r"garbage\.srt: is binary data, not a subtitle file$"):
        read_subtitles(path)
    with pytest.raises(SubtitleError, match="is binary data"):
        read_subtitles(VIDEO)


def test_text_that_is_not_subtitles(tmp_path: Path) -> None:
    path = write(tmp_path, "Dear diary,\n\ntoday nothing happened.\n", "notes.txt")
    with pytest.raises(SubtitleError, match=r"notes\.txt: has no SubRip cues \(no 'start --> end' timing line\)"):
        read_subtitles(path)


def test_no_cue_with_text(tmp_path: Path) -> None:
    with pytest.raises(SubtitleError, match=r"cues\.srt: no cues with text \(2 cues have no text\)$"):
        read_subtitles(write(tmp_path, srt("<i></i>", "{\\an8}")))
    broken = "1\n00:00:01 --> 00:00:02,0000\nA\n\n2\n00:00:04,000 --> 00:00:03,000\nB\n"
    with pytest.raises(SubtitleError) as caught:
        read_subtitles(write(tmp_path, broken))
    assert caught.value.problem == (
        "no cues with text (2 malformed cues skipped, the first at line 1: malformed timestamp '00:00:02,0000')"
    )


def test_empty_cues_are_dropped_and_counted(tmp_path: Path) -> None:
    subs = read_subtitles(write(tmp_path, srt("<b> </b>", "Spoken.", "&nbsp;")))
    assert [(c.index, c.text, c.line) for c in subs.cues] == [(1, "Spoken.", 5)]
    assert subs.warnings == ("2 cues have no text",)


def test_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SubtitleError, match="is larger than 16 MiB"):
        parse_subtitles(b"\n" * (MAX_SUBTITLE_BYTES + 1), Path("huge.srt"))
    monkeypatch.setattr(subtitles_module, "MAX_CUES", 3)
    with pytest.raises(SubtitleError, match=r"many\.srt: has more than 3 cues$"):
        read_subtitles(write(tmp_path, srt("a", "b", "c", "d"), "many.srt"))
    with pytest.raises(SubtitleError, match=r"missing\.srt: cannot be read: No such file or directory$"):
        read_subtitles(tmp_path / "missing.srt")


# -- cutting SubRip into cues ---------------------------------------------------------------


def test_malformed_srt_timestamps(tmp_path: Path) -> None:
    text = (
        "1\n00:00:01,5 --> 00:00:02,000\nA\n\n"  # a 1-digit fraction: srt would read 5 ms
        "2\n00:00:75,000 --> 00:00:76,000\nB\n\n"  # 75 seconds
        "3\n00:01,000 --> 00:00:02,000\nC\n\n"  # no hours: srt would read 1 minute
        "4\n00:00:09,000 --> 00:00:08,000\nD\n\n"
        "5\n00:00:10,000 --> 00:00:11,000\nE\n"
    )
    subs = read_subtitles(write(tmp_path, text))
    assert timings(subs) == [(10.0, 11.0, "E", 17)]
    assert subs.skipped == (
        SkippedCue(1, "malformed timestamp '00:00:01,5'"),
        SkippedCue(5, "malformed timestamp '00:00:75,000'"),
        SkippedCue(9, "malformed timestamp '00:01,000'"),
        SkippedCue(13, "end before start (00:00:08,000 < 00:00:09,000)"),
    )


def test_missing_blank_lines_and_blank_lines_inside_a_cue(tmp_path: Path) -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nFirst.\n"
        "2\n00:00:03,000 --> 00:00:04,000\nSecond,\n\nand more of it.\n\n"
        "00:00:05,000 --> 00:00:06,000\nNo number.\n\n"
        "4\r\n00:00:07.000 --> 00:00:08.000 X1:10 X2:20\r\nDots and CRLF.\r\n"
    )
    subs = read_subtitles(write(tmp_path, text))
    assert timings(subs) == [
        (1.0, 2.0, "First.", 1),
        (3.0, 4.0, "Second, and more of it.", 4),
        (5.0, 6.0, "No number.", 10),
        (7.0, 8.0, "Dots and CRLF.", 13),
    ]
    assert subs.skipped == ()


def test_cues_are_sorted_and_numbered_in_time_order(tmp_path: Path) -> None:
    text = (
        "1\n00:00:05,000 --> 00:00:06,000\nLate.\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nEarly, first in the file.\n\n"
        "3\n00:00:01,000 --> 00:00:01,500\nEarly, second in the file.\n"
    )
    subs = read_subtitles(write(tmp_path, text))
    assert [(c.index, c.text, c.line) for c in subs.cues] == [
        (1, "Early, first in the file.", 5),
        (2, "Early, second in the file.", 9),
        (3, "Late.", 1),
    ]
    assert subs.warnings == ("1 cue overlaps the next one (each cue's speech is limited to the time before the next cue starts)",)


# -- text and speakers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "speaker", "text"),
    [
        ("BUNNY: Hello there.", "BUNNY", "Hello there."),
        ("Mr Smith: Good day.", "Mr Smith", "Good day."),
        ("DR. WHO: Run!", "DR. WHO", "Run!"),
        ("[NARRATOR] Once upon a time.", "NARRATOR", "Once upon a time."),
        ("[Bird] Tweet!", "Bird", "Tweet!"),
        ("<i>GUARD 2:</i> Halt!", "GUARD 2", "Halt!"),
        ("JOHN:\nOn a line of its own.", "JOHN", "On a line of its own."),
        ("10:30: the time, not a name.", None, "10:30: the time, not a name."),
        ("Meet me at 10:30 sharp.", None, "Meet me at 10:30 sharp."),
        ("the rule: lower case is no name", None, "the rule: lower case is no name"),
        ("Four Capitalised Words Here: no", None, "Four Capitalised Words Here: no"),
        ("[door slams]", None, "[door slams]"),
        ("BUNNY:", None, "BUNNY:"),
    ],
)
def test_speaker_prefix(tmp_path: Path, raw: str, speaker: str | None, text: str) -> None:
    cue = one_cue(tmp_path, raw)
    assert (cue.speaker, cue.text) == (speaker, text)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("- Hi.\n- Hello.", "Hi. Hello."),
        ("- JOHN: Hi.\n- MARY: Hey.", "Hi. Hey."),
        ("-Where?\n-There.", "Where? There."),
        ("- Alone on one line.", "Alone on one line."),
        ("-5 degrees\ntonight", "-5 degrees tonight"),
    ],
)
def test_dialogue_dashes_are_one_voice(tmp_path: Path, raw: str, text: str) -> None:
    cue = one_cue(tmp_path, raw)
    assert (cue.speaker, cue.text) == (None, text)


def test_markup_and_whitespace(tmp_path: Path) -> None:
    raw = '<font color="#ff0000">Red</font>   and\\Nmore\\hspace &amp;&nbsp;<b>bold</b>\n  {\\an8}second   line  '
    assert one_cue(tmp_path, raw).text == "Red and more space & bold second line"


def test_vtt_voices_notes_and_settings(tmp_path: Path) -> None:
    text = (
        "WEBVTT - a title\n\nNOTE a comment\nover two lines\n\nSTYLE\n::cue { color: red }\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Roger Bingham>We are in New York City\n\n"
        "00:03.000 --> 00:04.000\n<v.loud Esme>Hi!</v> <v Mary>Hey.</v>\n\n"
        "00:05.000 --> 01:00:06.000\nA <00:05.500>karaoke <c.yellow>word</c>\n\n"
        "00:07.00 --> 00:08.000\nTwo-digit fraction.\n"
    )
    subs = read_subtitles(write(tmp_path, text, "cues.vtt"))
    assert [(c.start_s, c.end_s, c.text, c.speaker, c.line) for c in subs.cues] == [
        (1.0, 2.0, "We are in New York City", "Roger Bingham", 9),
        (3.0, 4.0, "Hi! Hey.", None, 13),
        (5.0, 3606.0, "A karaoke word", None, 16),
    ]
    assert subs.skipped == (SkippedCue(19, "malformed timestamp '00:07.00'"),)


ASS_HEAD = "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name\nStyle: Default\n\n[Events]\n"


def test_ass_format_line_comments_drawings_and_negative_times(tmp_path: Path) -> None:
    text = ASS_HEAD + (
        "Format: Start, End, Name, Text\n"
        "Dialogue: -0:00:01.00,0:00:02.50,Ann,{\\an8}Early\\Nstart, with a comma\n"
        "Dialogue: -0:00:03.00,-0:00:01.00,Ann,Gone before zero\n"
        "Comment: 0:00:03.00,0:00:04.00,Ann,Not spoken\n"
        "Dialogue: 0:00:05.00,0:00:06.5,,{\\p1}m 0 0 l 100 0 100 100{\\p0}BOB: Drawn first.\n"
        "Dialogue: 0:00:07.00\n"
    )
    subs = read_subtitles(write(tmp_path, text, "cues.ass"))
    assert [(c.start_s, c.end_s, c.text, c.speaker, c.line) for c in subs.cues] == [
        (0.0, 2.5, "Early start, with a comma", "Ann", 10),
        (5.0, 6.5, "Drawn first.", "BOB", 13),
    ]
    assert subs.skipped == (
        SkippedCue(11, "ends at or before 0 s"),
        SkippedCue(14, "Dialogue line has 1 fields; the Format line names 4"),
    )
    assert subs.warnings == ("1 cue starts before 0 s; set to start at 0 s",)


def test_ssa_without_a_format_line_uses_the_standard_fields(tmp_path: Path) -> None:
    text = (
        "[Script Info]\n\n[V4 Styles]\n\n[Events]\nDialogue: Marked=0,0:00:01.00,0:00:02.00,Default,Kim,0000,0000,0000,,Hello.\n"
    )
    subs = read_subtitles(write(tmp_path, text, "old.ssa"))
    assert (subs.format, timings(subs), subs.cues[0].speaker) == ("ass", [(1.0, 2.0, "Hello.", 6)], "Kim")


def test_format_from_suffix_override_or_content(tmp_path: Path) -> None:
    vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\nHi.\n"
    assert read_subtitles(write(tmp_path, vtt, "cues.txt")).format == "vtt"
    assert (
        read_subtitles(write(tmp_path, ASS_HEAD + "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hi.\n", "a.sub")).format
        == "ass"
    )
    assert read_subtitles(write(tmp_path, srt("Hi."), "cues")).format == "srt"
    assert parse_subtitles(vtt.encode(), Path("cues.srt"), format="webvtt").cues[0].text == "Hi."
    with pytest.raises(SubtitleError, match="unknown subtitle format 'sami'; use srt, vtt or ass"):
        parse_subtitles(vtt.encode(), Path("cues.srt"), format="sami")


# -- a video's own subtitles ----------------------------------------------------------------


def test_embedded_srt_track(tmp_path: Path) -> None:
    out = embedded_subtitles(VIDEO, "en", tmp_path / "extracted")
    assert out == tmp_path / "extracted" / "embedded.2.srt"
    assert timings(read_subtitles(out)) == [(0.0, 1.234, "This is the first subtitle.", 1)]
    # No French track: the only text track is taken.
    assert embedded_subtitles(VIDEO, "fr", tmp_path / "other") == tmp_path / "other" / "embedded.2.srt"


def test_video_without_subtitles(tmp_path: Path) -> None:
    video = tmp_path / "silent.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1:r=5", "-c:v", "ffv1", str(video)],
        check=True,
    )
    with pytest.raises(SubtitleError) as caught:
        embedded_subtitles(video, "en", tmp_path)
    assert str(caught.value) == f"{video}: has no subtitle stream; name a subtitle file in 'subtitles:'"


def fake_streams(monkeypatch: pytest.MonkeyPatch, *streams: dict[str, Any]) -> list[list[str]]:
    """Make probe() report these streams; return the list the ffmpeg calls are recorded in."""
    calls: list[list[str]] = []

    def run_ffmpeg(args: list[str]) -> str:
        calls.append(list(args))
        return ""

    monkeypatch.setattr(embedded_module, "probe", lambda path: {"streams": [{"codec_type": "video", "index": 0}, *streams]})
    monkeypatch.setattr(embedded_module, "run_ffmpeg", run_ffmpeg)
    return calls


def stream(index: int, codec: str, language: str | None = None, **disposition: int) -> dict[str, Any]:
    tags = {"language": language} if language else {}
    return {"index": index, "codec_type": "subtitle", "codec_name": codec, "tags": tags, "disposition": disposition}


def test_embedded_stream_is_chosen_by_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_streams(
        monkeypatch,
        stream(1, "subrip", "eng", forced=1, default=1),
        stream(2, "ass", "fre"),
        stream(3, "mov_text", "en-US"),
        stream(4, "hdmv_pgs_subtitle", "deu"),
    )
    video = tmp_path / "film.mkv"
    assert embedded_subtitles(video, "en", tmp_path) == tmp_path / "embedded.3.srt"
    assert embedded_subtitles(video, "fr-CA", tmp_path) == tmp_path / "embedded.2.ass"
    assert calls == [
        ["-y", "-i", str(video), "-map", "0:3", "-c:s", "srt", str(tmp_path / "embedded.3.srt")],
        ["-y", "-i", str(video), "-map", "0:2", "-c:s", "ass", str(tmp_path / "embedded.2.ass")],
    ]
    # No German text track (only pictures) and no single default among the rest.
    monkeypatch.setattr(embedded_module, "probe", lambda path: {"streams": [stream(2, "ass", "fre"), stream(3, "subrip", "eng")]})
    with pytest.raises(SubtitleError, match=r"has no 'de' subtitle stream \(#2 fr, #3 en\); set 'stream_language'"):
        embedded_subtitles(video, "de", tmp_path)


def test_embedded_default_stream_when_no_language_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_streams(monkeypatch, stream(2, "subrip"), stream(3, "webvtt", "und", default=1))
    assert embedded_subtitles(tmp_path / "film.mkv", "en", tmp_path) == tmp_path / "embedded.3.srt"


def test_bitmap_subtitles_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_streams(monkeypatch, stream(2, "hdmv_pgs_subtitle", "eng"), stream(3, "dvd_subtitle", "eng"))
    with pytest.raises(SubtitleError) as caught:
        embedded_subtitles(tmp_path / "film.mkv", "en", tmp_path)
    assert caught.value.problem == (
        "has only bitmap subtitle streams (dvd_subtitle, hdmv_pgs_subtitle), which cannot be read as text; "
        "name a subtitle file in 'subtitles:'"
    )
    assert calls == []
