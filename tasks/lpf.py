"""A W3C Audiobook packaged as LPF: one ZIP a reading system opens as a whole book.

The package follows three W3C documents. The Lightweight Packaging Format
(https://www.w3.org/TR/lpf/) is a ZIP with ``publication.json`` at its root and every resource
the manifest names inside it, addressed by relative URLs. The Publication Manifest
(https://www.w3.org/TR/pub-manifest/) is the JSON-LD vocabulary of that file, and the Audiobooks
profile (https://www.w3.org/TR/audiobooks/) says what an audiobook's manifest must hold.

What this module writes::

    publication.json    the manifest (deflated)
    toc.html            the table of contents: a nav role="doc-toc" linking each track (deflated)
    cover.jpg|png       when the book has a cover (stored)
    audio/01.mp3 ...    the tracks in reading order (stored)

LPF asks for text to be deflated and for audio and images ("codec content types") to be stored
as they are: compressing an MP3 again saves nothing and costs a player random access.

Durations are written to the millisecond, and the book's total is the sum of the tracks'
rounded values, so the profile's check that the total equals the sum of the parts holds exactly.
:func:`write_lpf` checks its manifest with :func:`missing_required` and refuses to write an
invalid package rather than hand a retailer one.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from castline.errors import quoted
from castline.model import image_media_type
from castline.tempfiles import atomic_path

__all__ = [
    "LpfTrack",
    "LpfBook",
    "AUDIOBOOKS_PROFILE",
    "MANIFEST_CONTEXT",
    "MANIFEST_NAME",
    "TOC_NAME",
    "iso_duration",
    "parse_iso_duration_s",
    "audio_names",
    "publication_manifest",
    "toc_html",
    "missing_required",
    "write_lpf",
]

AUDIOBOOKS_PROFILE = "https://www.w3.org/TR/audiobooks/"
"""The ``conformsTo`` value the Audiobooks profile requires."""
MANIFEST_CONTEXT = ("https://schema.org", "https://www.w3.org/ns/pub-context")
"""The two contexts a Publication Manifest starts with, in this order."""
MANIFEST_NAME = "publication.json"
TOC_NAME = "toc.html"

_AUDIO_MEDIA_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".m4b": "audio/mp4", ".aac": "audio/aac",
                      ".ogg": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac", ".wav": "audio/wav"}
_COVER_NAMES = {"image/jpeg": "cover.jpg", "image/png": "cover.png"}

DURATION_TOLERANCE_S = 0.001
"""How far, per track, a manifest's total duration may be from the sum of its tracks' (each
duration is rounded to the millisecond when written)."""

_FILE_MODE = 0o644 << 16
"""Unix permissions of each member (``unzip`` gives members without them mode 0000 on some systems)."""
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LpfTrack:
    """One audio file of the book, in reading order."""

    path: Path
    """The audio file on disk (MP3, or another type in ``_AUDIO_MEDIA_TYPES``)."""
    title: str
    """What the table of contents and the reading order call it."""
    duration_s: float
    """Its length in seconds, as ffprobe measures the file."""


@dataclass(frozen=True)
class LpfBook:
    """The book's metadata for the manifest."""

    title: str
    author: str
    narrator: str | None
    language: str
    """BCP 47 tag (``en``, ``en-GB``)."""
    identifier: str
    """Canonical identifier, e.g. ``urn:uuid:...`` derived by the caller from a digest."""
    modified: str
    """ISO 8601 date-time of this edition's last change."""
    cover: bytes | None = None
    cover_media_type: str | None = None
    """``image/jpeg`` or ``image/png`` when ``cover`` is given."""


def _milliseconds(duration_s: float, what: str) -> int:
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"{what}: duration {duration_s!r} s is not a finite, non-negative number")
    return round(duration_s * 1000)


def _iso_from_ms(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole_s, frac_ms = divmod(rest, 1000)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if rest or not (hours or minutes):
        text += f"{whole_s}" + (f".{frac_ms:03d}".rstrip("0") if frac_ms else "") + "S"
    return text


def iso_duration(duration_s: float) -> str:
    """``duration_s`` as an ISO 8601 duration to the millisecond: 3723.5 -> ``PT1H2M3.5S``, 0 -> ``PT0S``."""
    return _iso_from_ms(_milliseconds(duration_s, "iso_duration"))


_NUMBER = r"(\d+(?:[.,]\d+)?)"
_ISO_DURATION = re.compile(rf"P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
_UNIT_S = (7 * 86400, 86400, 3600, 60, 1)


def parse_iso_duration_s(text: object) -> float | None:
    """Seconds in an ISO 8601 duration (``PT1H2M3.5S``, ``P1DT2H``), or None when ``text`` is not
    one. Years and months are refused: their length in seconds is not fixed."""
    if not isinstance(text, str):
        return None
    match = _ISO_DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "") or text.strip().endswith("T"):
        return None
    return sum(float(value.replace(",", ".")) * unit for value, unit in zip(match.groups(), _UNIT_S) if value)


def audio_names(tracks: Sequence[LpfTrack]) -> list[str]:
    """The tracks' names inside the package: ``audio/01.mp3``, ``audio/02.mp3`` ... in reading order.

    Numbers, not titles: a title may hold characters some unzip tools and file systems refuse,
    and the zero padding keeps a plain listing in reading order.
    """
    width = max(2, len(str(len(tracks))))
    names = []
    for number, track in enumerate(tracks, 1):
        suffix = Path(track.path).suffix.lower()
        if suffix not in _AUDIO_MEDIA_TYPES:
            raise ValueError(f"{track.path}: not an audio type an audiobook package names ({', '.join(_AUDIO_MEDIA_TYPES)})")
        names.append(f"audio/{number:0{width}d}{suffix}")
    return names


def _cover_name(book: LpfBook) -> str | None:
    if book.cover is None:
        return None
    if book.cover_media_type not in _COVER_NAMES:
        raise ValueError(f"cover: media type {book.cover_media_type!r} is not one of {', '.join(_COVER_NAMES)}")
    if image_media_type(book.cover) != book.cover_media_type:
        raise ValueError(f"cover: the bytes are not {book.cover_media_type}, as cover_media_type says")
    return _COVER_NAMES[book.cover_media_type]


def _person(name: str) -> dict[str, str]:
    return {"type": "Person", "name": name}


def publication_manifest(book: LpfBook, tracks: Sequence[LpfTrack], audio_names: Sequence[str]) -> dict[str, Any]:
    """The ``publication.json`` of the package: ``audio_names[i]`` is where ``tracks[i]`` lies in it.

    The book's duration is the sum of the tracks' durations as written (to the millisecond).
    Optional properties the book lacks (a narrator, an author, an identifier) are left out, not
    written empty. The manifest is not checked here; :func:`missing_required` does that.
    """
    if len(tracks) != len(audio_names):
        raise ValueError(f"publication_manifest: {len(tracks)} tracks but {len(audio_names)} audio names")
    track_ms = [_milliseconds(track.duration_s, str(track.path)) for track in tracks]
    reading_order = [
        {"type": "LinkedResource", "url": name, "encodingFormat": _AUDIO_MEDIA_TYPES.get(Path(name).suffix.lower(), ""),
         "name": track.title, "duration": _iso_from_ms(ms)}
        for track, name, ms in zip(tracks, audio_names, track_ms)
    ]
    resources: list[dict[str, str]] = [
        {"type": "LinkedResource", "url": TOC_NAME, "encodingFormat": "text/html", "rel": "contents", "name": "Table of contents"}
    ]
    cover_name = _cover_name(book)
    if cover_name is not None:
        resources.append({"type": "LinkedResource", "url": cover_name, "encodingFormat": str(book.cover_media_type), "rel": "cover"})
    manifest: dict[str, Any] = {
        "@context": list(MANIFEST_CONTEXT),
        "conformsTo": AUDIOBOOKS_PROFILE,
        "type": "Audiobook",
        "id": book.identifier,
        "name": book.title,
        "author": _person(book.author) if book.author.strip() else None,
        "readBy": _person(book.narrator) if book.narrator and book.narrator.strip() else None,
        "inLanguage": book.language,
        "dateModified": book.modified,
        "duration": _iso_from_ms(sum(track_ms)),
        "readingOrder": reading_order,
        "resources": resources,
    }
    return {key: value for key, value in manifest.items() if value not in (None, "")}


def toc_html(book: LpfBook, tracks: Sequence[LpfTrack], audio_names: Sequence[str]) -> str:
    """The table of contents: an HTML page whose ``nav role="doc-toc"`` links each track in
    reading order (the profile's way to name the book's sections)."""
    esc = html.escape
    items = "\n".join(f'      <li><a href="{esc(name)}">{esc(track.title)}</a></li>' for track, name in zip(tracks, audio_names))
    lang = esc(book.language)
    return (
        "<!DOCTYPE html>\n"
        f'<html xmlns="http://www.w3.org/1999/xhtml" lang="{lang}" xml:lang="{lang}">\n'
        f'  <head>\n    <meta charset="utf-8"/>\n    <title>{esc(book.title)}</title>\n  </head>\n'
        '  <body>\n    <nav role="doc-toc">\n'
        f"      <h1>{esc(book.title)}</h1>\n      <ol>\n{items}\n      </ol>\n    </nav>\n  </body>\n</html>\n"
    )


def _is_named(value: object) -> bool:
    """A non-empty string, a localizable string ``{"value": ...}``, or a list holding one."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return _is_named(value.get("value"))
    if isinstance(value, list):
        return any(_is_named(item) for item in value)
    return False


def _has(value: object, wanted: str) -> bool:
    return value == wanted or (isinstance(value, list) and wanted in value)


_BCP47 = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


def _reading_order_problems(items: list[Any]) -> tuple[list[str], float]:
    """What is wrong with each reading-order item, and the sum of the durations that could be read."""
    problems: list[str] = []
    total_s = 0.0
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"readingOrder[{index}]"
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            problems.append(f"{where}: not a URL or a linked resource")
            continue
        url = item.get("url")
        if not isinstance(url, str) or not url.strip():
            problems.append(f"{where}: no url")
        else:
            where = f"{where} ({quoted(url, 80)})"
            if url in seen:
                problems.append(f"{where}: listed more than once")
            seen.add(url)
        media_type = item.get("encodingFormat")
        if media_type is not None and not (isinstance(media_type, str) and media_type.startswith("audio/")):
            problems.append(f"{where}: encodingFormat {quoted(media_type, 80)} is not audio")
        if "duration" not in item:
            problems.append(f"{where}: no duration")
        elif (seconds := parse_iso_duration_s(item["duration"])) is None:
            problems.append(f"{where}: duration {quoted(item['duration'], 80)} is not an ISO 8601 duration")
        else:
            total_s += seconds
    return problems, total_s


def missing_required(manifest: dict[str, Any]) -> list[str]:
    """What the Audiobooks profile requires that ``manifest`` lacks or gets wrong, one short
    message each; ``[]`` when it is valid.

    Required: the two contexts, ``conformsTo`` the profile, a ``name``, a non-empty
    ``readingOrder`` of distinct audio resources. The profile's processing makes a reading-order
    item without a duration, a missing total ``duration`` and a total that is not the sum of the
    items' a validation error, so those are reported too, as are a ``type`` that is not
    Audiobook and (from the Publication Manifest) a malformed ``inLanguage`` or ``dateModified``.
    """
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    problems: list[str] = []
    context = manifest.get("@context")
    if not isinstance(context, list) or tuple(context[:2]) != MANIFEST_CONTEXT:
        problems.append(f"@context: must start with {' and '.join(MANIFEST_CONTEXT)} (it is {quoted(context, 120)})")
    if "conformsTo" not in manifest:
        problems.append(f"conformsTo: missing (must be {AUDIOBOOKS_PROFILE})")
    elif not _has(manifest["conformsTo"], AUDIOBOOKS_PROFILE):
        problems.append(f"conformsTo: {quoted(manifest['conformsTo'], 120)} is not {AUDIOBOOKS_PROFILE}")
    if "type" in manifest and not _has(manifest["type"], "Audiobook"):
        problems.append(f"type: {quoted(manifest['type'], 80)} is not Audiobook")
    if not _is_named(manifest.get("name")):
        problems.append("name: the publication has no title")
    items = manifest.get("readingOrder")
    if isinstance(items, (str, dict)):  # the Publication Manifest allows a single item
        items = [items]
    if not isinstance(items, list) or not items:
        problems.append("readingOrder: missing or empty (an audiobook needs at least one audio resource)")
        items = []
    item_problems, items_s = _reading_order_problems(items)
    problems += item_problems
    if "duration" not in manifest:
        problems.append("duration: missing (the total of the reading order's durations)")
    elif (total_s := parse_iso_duration_s(manifest["duration"])) is None:
        problems.append(f"duration: {quoted(manifest['duration'], 80)} is not an ISO 8601 duration")
    elif items and not item_problems and abs(total_s - items_s) > DURATION_TOLERANCE_S * len(items):
        problems.append(f"duration: {manifest['duration']} is not the sum of the reading order's ({iso_duration(items_s)})")
    language = manifest.get("inLanguage")
    if language is not None and not (isinstance(language, str) and _BCP47.fullmatch(language)):
        problems.append(f"inLanguage: {quoted(language, 80)} is not a BCP 47 language tag")
    if "dateModified" in manifest and _date_time(manifest["dateModified"]) is None:
        problems.append(f"dateModified: {quoted(manifest['dateModified'], 80)} is not an ISO 8601 date or date-time")
    return problems


def _date_time(text: object) -> datetime | None:
    """``text`` as an ISO 8601 date or date-time, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _zip_stamp(modified: str) -> tuple[int, int, int, int, int, int]:
    """A ZIP member's time stamp for ``modified`` (ZIP cannot say anything before 1980)."""
    when = _date_time(modified)
    if when is None:
        return _ZIP_EPOCH
    return max(_ZIP_EPOCH, (when.year, when.month, when.day, when.hour, when.minute, when.second))


def _member(name: str, date_time: tuple[int, int, int, int, int, int], compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time)
    info.compress_type = compress_type
    info.external_attr = _FILE_MODE
    return info


def write_lpf(book: LpfBook, tracks: Sequence[LpfTrack], out_path: Path) -> None:
    """Package the book at ``out_path`` (an ``.lpf``), written to a temporary file and renamed.

    Raises ValueError naming ``out_path`` and each problem when the manifest would not be a
    valid audiobook (:func:`missing_required`), and FileNotFoundError for a missing track.
    Every member is time-stamped with the book's ``modified``, so the same book and audio make
    the same bytes.
    """
    names = audio_names(tracks)
    manifest = publication_manifest(book, tracks, names)
    problems = missing_required(manifest)
    if problems:
        raise ValueError(f"{out_path}: refusing to write an invalid audiobook package: " + "; ".join(problems))
    for track in tracks:
        if not Path(track.path).is_file():
            raise FileNotFoundError(f"{track.path}: audio track {track.title!r} not found")
    stamp = _zip_stamp(book.modified)
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    with atomic_path(Path(out_path)) as temporary, zipfile.ZipFile(temporary, "w") as package:
        package.writestr(_member(MANIFEST_NAME, stamp, zipfile.ZIP_DEFLATED), text.encode("utf-8"))
        package.writestr(_member(TOC_NAME, stamp, zipfile.ZIP_DEFLATED), toc_html(book, tracks, names).encode("utf-8"))
        cover_name = _cover_name(book)
        if cover_name is not None and book.cover is not None:
            package.writestr(_member(cover_name, stamp, zipfile.ZIP_STORED), book.cover)
        for track, name in zip(tracks, names):
            info = _member(name, stamp, zipfile.ZIP_STORED)
            info.file_size = Path(track.path).stat().st_size  # lets zipfile choose ZIP64 for a file over 2 GiB
            with Path(track.path).open("rb") as source, package.open(info, "w") as member:
                shutil.copyfileobj(source, member, 1 << 20)
