"""Publisher packages: the W3C audiobook LPF (tasks/lpf.py) and ACX's cover and file list (tasks/acx_package.py)."""

from __future__ import annotations

import copy
import csv
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms

from castline.errors import InputError
from castline.ffmpeg import probe, run_ffmpeg
from tasks.acx_package import ACX_CSV_COLUMNS, AcxTrack, acx_cover, acx_duration, write_acx_manifest_csv
from tasks.lpf import (
    AUDIOBOOKS_PROFILE,
    LpfBook,
    LpfTrack,
    audio_names,
    iso_duration,
    missing_required,
    parse_iso_duration_s,
    publication_manifest,
    write_lpf,
)

TONE_S = (1.5, 2.0, 0.7)
TITLES = ("Opening Credits", "Chapter 1: <Loomings> & more", "Chapter 2: Étienne")


def _probed_s(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[LpfTrack]:
    """Three tiny MP3s (192k, 44.1 kHz) with ffprobe's durations."""
    folder = tmp_path_factory.mktemp("mp3")
    made = []
    for number, (length_s, title) in enumerate(zip(TONE_S, TITLES), 1):
        path = folder / f"track{number}.mp3"
        run_ffmpeg(["-y", "-f", "lavfi", "-i", f"sine=frequency={220 * number}:duration={length_s}",
                    "-ar", "44100", "-b:a", "192k", str(path)])
        made.append(LpfTrack(path=path, title=title, duration_s=_probed_s(path)))
    return made


def _png(width: int, height: int, mode: str = "RGB", color: Any = (0, 128, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _book(cover: bytes | None = None, title: str = "Moby-Dick") -> LpfBook:
    return LpfBook(title=title, author="Herman Melville", narrator="Ishmael Reader", language="en",
                   identifier="urn:uuid:5b1f0c3e-8d2a-4c1e-9f3a-0123456789ab", modified="2026-03-01T12:30:00Z",
                   cover=cover, cover_media_type="image/png" if cover else None)


# ---- LPF ----


def test_lpf_package_holds_a_valid_manifest_its_audio_and_toc(tracks: list[LpfTrack], tmp_path: Path) -> None:
    cover = _png(64, 64)
    out = tmp_path / "book.lpf"
    write_lpf(_book(cover), tracks, out)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as package:
        assert package.testzip() is None
        infos = {info.filename: info for info in package.infolist()}
        package.extractall(unpacked)
    manifest = json.loads((unpacked / "publication.json").read_text(encoding="utf-8"))

    assert missing_required(manifest) == []
    assert manifest["@context"] == ["https://schema.org", "https://www.w3.org/ns/pub-context"]
    assert manifest["conformsTo"] == AUDIOBOOKS_PROFILE
    assert manifest["type"] == "Audiobook"
    assert manifest["id"] == "urn:uuid:5b1f0c3e-8d2a-4c1e-9f3a-0123456789ab"
    assert manifest["name"] == "Moby-Dick"
    assert manifest["author"] == {"type": "Person", "name": "Herman Melville"}
    assert manifest["readBy"] == {"type": "Person", "name": "Ishmael Reader"}
    assert manifest["inLanguage"] == "en"
    assert manifest["dateModified"] == "2026-03-01T12:30:00Z"

    order = manifest["readingOrder"]
    assert [item["url"] for item in order] == ["audio/01.mp3", "audio/02.mp3", "audio/03.mp3"]
    assert [item["name"] for item in order] == list(TITLES)
    for item in order:
        assert item["encodingFormat"] == "audio/mpeg"
        assert item["url"] in infos
        assert infos[item["url"]].compress_type == zipfile.ZIP_STORED  # LPF: codec types stored
        written_s = parse_iso_duration_s(item["duration"])
        assert written_s is not None
        assert abs(written_s - _probed_s(unpacked / item["url"])) <= 0.1
    total_s = parse_iso_duration_s(manifest["duration"])
    assert total_s is not None
    assert abs(total_s - sum(_probed_s(unpacked / item["url"]) for item in order)) <= 0.1
    assert infos["publication.json"].compress_type == zipfile.ZIP_DEFLATED
    assert infos["toc.html"].compress_type == zipfile.ZIP_DEFLATED

    rels = {resource["url"]: resource.get("rel") for resource in manifest["resources"]}
    assert rels == {"toc.html": "contents", "cover.png": "cover"}
    assert (unpacked / "cover.png").read_bytes() == cover

    toc = (unpacked / "toc.html").read_text(encoding="utf-8")
    assert '<nav role="doc-toc">' in toc
    for item in order:
        assert f'<a href="{item["url"]}">' in toc
    assert "Chapter 1: &lt;Loomings&gt; &amp; more" in toc and "Étienne" in toc


def test_lpf_same_book_same_bytes_and_no_cover_no_cover_resource(tracks: list[LpfTrack], tmp_path: Path) -> None:
    first, second = tmp_path / "a.lpf", tmp_path / "b.lpf"
    write_lpf(_book(), tracks, first)
    write_lpf(_book(), tracks, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as package:
        assert not [name for name in package.namelist() if name.startswith("cover")]
        manifest = json.loads(package.read("publication.json"))
    assert [resource["url"] for resource in manifest["resources"]] == ["toc.html"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_lpf_iso_durations() -> None:
    assert iso_duration(3723.5) == "PT1H2M3.5S"
    assert iso_duration(0) == "PT0S"
    assert iso_duration(7200) == "PT2H"
    assert iso_duration(59.9996) == "PT1M"
    assert iso_duration(1.23449) == "PT1.234S"
    assert parse_iso_duration_s("PT1H2M3.5S") == 3723.5
    assert parse_iso_duration_s("PT12345.235S") == 12345.235
    assert parse_iso_duration_s("P1DT1S") == 86401
    for bad in ("P", "PT", "P1Y", "1:02:03", "PTS", 12, None):
        assert parse_iso_duration_s(bad) is None
    with pytest.raises(ValueError):
        iso_duration(float("nan"))


def _manifest(tracks: list[LpfTrack]) -> dict[str, Any]:
    return publication_manifest(_book(), tracks, audio_names(tracks))


def _without_reading_order(m: dict[str, Any]) -> None:
    del m["readingOrder"]


def _without_name(m: dict[str, Any]) -> None:
    del m["name"]


def _track_without_duration(m: dict[str, Any]) -> None:
    del m["readingOrder"][1]["duration"]


def _wrong_conforms_to(m: dict[str, Any]) -> None:
    m["conformsTo"] = "https://www.w3.org/TR/pub-manifest/"


def _total_not_the_sum(m: dict[str, Any]) -> None:
    m["duration"] = "PT1H"


def _video_in_reading_order(m: dict[str, Any]) -> None:
    m["readingOrder"][0]["encodingFormat"] = "video/mp4"


def _url_twice(m: dict[str, Any]) -> None:
    m["readingOrder"][2]["url"] = m["readingOrder"][0]["url"]


def _contexts_swapped(m: dict[str, Any]) -> None:
    m["@context"].reverse()


@pytest.mark.parametrize(("spoil", "expected"), [
    (_without_reading_order, "readingOrder"),
    (_without_name, "name"),
    (_track_without_duration, "readingOrder[1] ('audio/02.mp3'): no duration"),
    (_wrong_conforms_to, "conformsTo"),
    (_total_not_the_sum, "duration: PT1H is not the sum"),
    (_video_in_reading_order, "is not audio"),
    (_url_twice, "listed more than once"),
    (_contexts_swapped, "@context"),
])  # fmt: skip
def test_lpf_missing_required_catches(tracks: list[LpfTrack], spoil: Any, expected: str) -> None:
    manifest = _manifest(tracks)
    assert missing_required(copy.deepcopy(manifest)) == []
    spoil(manifest)
    problems = missing_required(manifest)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected) or expected in problems[0], problems


def test_lpf_refuses_to_write_an_invalid_package(tracks: list[LpfTrack], tmp_path: Path) -> None:
    out = tmp_path / "book.lpf"
    with pytest.raises(ValueError, match=r"book\.lpf.*name"):
        write_lpf(_book(title=" "), tracks, out)
    with pytest.raises(ValueError, match="readingOrder"):
        write_lpf(_book(), [], out)
    with pytest.raises(ValueError, match="cover"):
        write_lpf(LpfBook(**{**_book(_png(8, 8)).__dict__, "cover_media_type": "image/jpeg"}), tracks, out)
    assert list(tmp_path.iterdir()) == []


# ---- ACX ----


def _jpeg(path: Path) -> Image.Image:
    image = Image.open(path)
    assert image.format == "JPEG"
    image.load()
    return image


def test_acx_cover_small_wide_source_is_cropped_to_its_middle_not_scaled(tmp_path: Path) -> None:
    source = Image.new("RGB", (3000, 2000), (0, 160, 0))
    source.paste((200, 0, 0), (0, 0, 500, 2000))  # left and right margins the crop must remove
    source.paste((0, 0, 200), (2500, 0, 3000, 2000))
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    out = tmp_path / "cover.jpg"
    warnings = acx_cover(buffer.getvalue(), out)
    image = _jpeg(out)
    assert image.size == (2000, 2000) and image.mode == "RGB"
    for x in (0, 1999):
        red, green, blue = image.getpixel((x, 1000))  # type: ignore[misc]
        assert green > 140 and red < 20 and blue < 20
    assert "cover is 3000x2000 px: ACX asks for at least 2400x2400" in warnings
    assert any("not square" in warning for warning in warnings)


def test_acx_cover_large_square_is_kept_without_warning(tmp_path: Path) -> None:
    out = tmp_path / "cover.jpg"
    assert acx_cover(_png(2600, 2600), out) == []
    image = _jpeg(out)
    assert image.size == (2600, 2600) and image.mode == "RGB"


def test_acx_cover_transparency_becomes_white_and_small_square_warns(tmp_path: Path) -> None:
    out = tmp_path / "cover.jpg"
    assert acx_cover(_png(1200, 1200, "RGBA", (0, 0, 0, 0)), out) == [
        "cover is 1200x1200 px: ACX asks for at least 2400x2400"
    ]
    assert min(_jpeg(out).getpixel((600, 600))) > 250  # type: ignore[arg-type]


def test_acx_cover_colour_profile_is_applied(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.new("RGB", (2400, 2400), (10, 200, 30)).save(buffer, format="PNG", icc_profile=srgb)
    out = tmp_path / "cover.jpg"
    assert acx_cover(buffer.getvalue(), out) == []
    red, green, blue = _jpeg(out).getpixel((5, 5))  # type: ignore[misc]
    assert abs(red - 10) <= 3 and abs(green - 200) <= 3 and abs(blue - 30) <= 3


def test_acx_cover_missing_warns_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "cover.jpg"
    assert "no cover" in acx_cover(None, out)[0]
    assert not out.exists()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds almost nothing: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("cover", [
    b"this is not an image at all",
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS: never handed to Ghostscript
    _png_header(8000, 8000),  # over castline's limit, under Pillow's
    _png_header(10_000, 10_000),  # Pillow only warns here
    _png_header(100_000, 100_000),  # Pillow raises
    _png(3000, 3000)[:5000],  # truncated
])  # fmt: skip
def test_acx_cover_refuses_what_is_not_a_sane_image(cover: bytes, tmp_path: Path) -> None:
    out = tmp_path / "cover.jpg"
    with pytest.raises(InputError, match="^cover: "):
        acx_cover(cover, out)
    assert list(tmp_path.iterdir()) == []


def test_acx_manifest_csv_rows(tmp_path: Path) -> None:
    tracks = [
        AcxTrack("01 Opening Credits.mp3", "Opening Credits", 12.34, "opening credits"),
        AcxTrack("02 Chapter 1.mp3", "Chapter 1: Loomings, or \"Call me\"", 3723.46, "chapter"),
        AcxTrack("03 Closing Credits.mp3", "Closing Credits", 9.0, "closing credits"),
        AcxTrack("Retail Sample.mp3", "Retail Sample", 180.05, "retail sample"),
    ]
    out = tmp_path / "files.csv"
    write_acx_manifest_csv(tracks, "Moby-Dick", "Herman Melville", None, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == ACX_CSV_COLUMNS
    assert rows[1] == ["1", "01 Opening Credits.mp3", "Opening Credits", "opening credits", "0:00:12.3", "12.340",
                       "Moby-Dick", "Herman Melville", ""]
    assert rows[2][2:6] == ["Chapter 1: Loomings, or \"Call me\"", "chapter", "1:02:03.5", "3723.460"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"]
    assert [row[3] for row in rows[1:]] == ["opening credits", "chapter", "closing credits", "retail sample"]
    assert acx_duration(59.96) == "0:01:00.0"
    with pytest.raises(ValueError, match="kind 'prologue'"):
        write_acx_manifest_csv([AcxTrack("x.mp3", "X", 1.0, "prologue")], "T", "A", "N", tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()
