"""Store packages: the same render, laid out the way a retailer takes it in.

- ``acx``: a folder for ACX / Findaway (``acx/``): the credits and chapters as sequentially
  numbered 44.1 kHz 192 kb/s CBR MP3s (the chapter MP3s, credits first and last), the retail
  sample, the cover as a square JPEG (:func:`tasks.acx_package.acx_cover`) and the file list
  as CSV (:func:`tasks.acx_package.write_acx_manifest_csv`).
- ``lpf``: a W3C Audiobooks package (``<name>.lpf``, :mod:`tasks.lpf`): ``publication.json``
  with the reading order and each file's duration, ``toc.html``, the MP3s and the cover.

A package is made from the delivered MP3s, so asking for one delivers them too. Each file of a
package carries a digest of what it is made of, like every deliverable, and is made again only
when that changes.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath

from castline.digest import digest
from castline.model import image_media_type
from tasks.acx_package import AcxTrack, acx_cover, write_acx_manifest_csv
from tasks.chapters import MasteredChapter
from tasks.credits import CLOSING_CREDITS, OPENING_CREDITS
from tasks.deliver import BookTags
from tasks.deliverables import Deliverable, chapter_mp3s, tag_key
from tasks.lpf import LpfBook, LpfTrack, write_lpf
from tasks.publish import Staging, safe_filename
from tasks.report import FileReport
from tasks.sample import SAMPLE_TITLE, sample_file_name

__all__ = ["PACKAGES", "package_contents", "write_packages"]

PACKAGES = ("acx", "lpf")


def _audio(stem: str, deliverables: Sequence[Deliverable]) -> tuple[list[Deliverable], Deliverable | None]:
    """The chapter MP3s, in order, and the sample's, if there is one."""
    mp3s = chapter_mp3s(deliverables)
    sample = next((d for d in deliverables if d.name == sample_file_name(safe_filename(stem))), None)
    return mp3s, sample


def _in_acx(d: Deliverable) -> str:
    return f"acx/{PurePosixPath(d.name).name}"


def package_contents(packages: Sequence[str], stem: str, deliverables: Sequence[Deliverable], tags: BookTags) -> dict[str, str]:
    """Every file the ``packages`` hold (path in the output directory) -> the digest of its content."""
    mp3s, sample = _audio(stem, deliverables)
    made_of = digest([[d.content for d in mp3s], sample.content if sample else None, tag_key(tags)])
    out: dict[str, str] = {}
    if "acx" in packages:
        out |= {_in_acx(d): d.content for d in [*mp3s, *([sample] if sample else [])]}
        out["acx/manifest.csv"] = made_of
        if tags.cover is not None:
            out["acx/cover.jpg"] = made_of
    if "lpf" in packages:
        out[f"{safe_filename(stem)}.lpf"] = made_of
    return out


def _kind(chapter_id: str) -> str:
    return {OPENING_CREDITS: "opening credits", CLOSING_CREDITS: "closing credits"}.get(chapter_id, "chapter")


def write_packages(
    staging: Staging, packages: Sequence[str], stem: str, deliverables: Sequence[Deliverable], files: Sequence[FileReport],
    mastered: Sequence[MasteredChapter], tags: BookTags,
) -> list[str]:
    """Make the packages' files into ``staging`` (keeping those published unchanged); returns warnings."""
    contents = package_contents(packages, stem, deliverables, tags)
    duration_s: Mapping[str, float] = {f.path: f.duration_s for f in files}
    mp3s, sample = _audio(stem, deliverables)
    copied = {_in_acx(d): d.name for d in [*mp3s, *([sample] if sample else [])]}
    notes: list[str] = []
    for name, content in contents.items():
        if staging.published_digest(name) == content:
            staging.keep(name, content)
            continue
        target = staging.path(name, content)
        if name in copied:
            shutil.copyfile(staging.current(copied[name]), target)
        elif name == "acx/cover.jpg":
            notes += [f"acx/cover.jpg: {n}" for n in acx_cover(tags.cover, target)]
        elif name == "acx/manifest.csv":
            tracks = [AcxTrack(PurePosixPath(d.name).name, c.title, duration_s[d.name], _kind(c.chapter_id))
                      for d, c in zip(mp3s, mastered)]
            if sample is not None:
                tracks.append(AcxTrack(PurePosixPath(sample.name).name, SAMPLE_TITLE, duration_s[sample.name], "retail sample"))
            write_acx_manifest_csv(tracks, tags.title, tags.author, tags.narrator, target)
        else:
            cover_type = image_media_type(tags.cover) if tags.cover is not None else None
            if tags.cover is not None and cover_type is None:
                notes.append(f"{name}: the cover is not JPEG or PNG, which is all a W3C Audiobook may hold; the package has none")
            book = LpfBook(
                title=tags.title, author=tags.author, narrator=tags.narrator, language=tags.language or "und",
                identifier=f"urn:castline:{content[:32]}", modified=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                cover=tags.cover if cover_type else None, cover_media_type=cover_type,
            )
            write_lpf(book, [LpfTrack(staging.current(d.name), c.title, duration_s[d.name]) for d, c in zip(mp3s, mastered)],
                      target)
    return notes

