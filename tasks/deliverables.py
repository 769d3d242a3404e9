"""Which files a render delivers, and producing only those whose content changed.

Each deliverable carries a digest of what it is made from (the mastered chapters' keys, the
tags, the bit rate). A deliverable published earlier with the same digest is kept as it is;
the others are encoded into the staging directory and measured by ffmpeg, a chapter's MP3 as
soon as the chapter is mastered, the rest in parallel at the end (:class:`Production`).
Measurements are remembered by digest, so a kept file is not decoded again for the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from castline.digest import digest
from castline.ffmpeg import LoudnessStats
from castline.tempfiles import write_text_atomic
from tasks.chapters import MasteredChapter
from tasks.deliver import BookTags, ChapterAudio, Encoded, encode_m4b, encode_mp3
from tasks.publish import Staging, safe_filename
from tasks.report import FileReport
from tasks.sample import sample_file_name

__all__ = [
    "Deliverable", "AudiobookFormats", "audiobook_deliverables", "chapter_mp3", "Made", "Maker", "Production",
    "produce", "acx_ok", "tag_key", "chapter_mp3s",
]


@dataclass(frozen=True)
class AudiobookFormats:
    """Which audiobook files to deliver, named how, encoded at what bit rate."""

    formats: tuple[str, ...] = ("m4b",)
    """``m4b`` (one file, a chapter mark per chapter) and/or ``mp3`` (one file per chapter)."""
    stem: str = "audiobook"
    """File name of the M4B, without the extension (made safe for file systems)."""
    m4b_bitrate: str = "64k"
    mp3_bitrate: str = "192k"
    """ffmpeg's notation, in bits per second (ACX asks for 192k constant bit rate)."""
    packages: tuple[str, ...] = ()
    """Store packages made of the MP3s (:mod:`tasks.packages`)."""
    readalong: bool = False
    """The read-along EPUB and WebVTT files (:mod:`tasks.readalong`), also made of the MP3s."""


@dataclass(frozen=True)
class Deliverable:
    """A file to deliver: where it goes, what it is made from, and how to make it."""

    name: str
    """Path relative to the output directory."""
    content: str
    """Digest of everything the file is made from."""
    encode: Callable[[Path], Encoded]
    """Writes the file to the given path and measures it."""


def chapter_mp3s(deliverables: Sequence[Deliverable]) -> list[Deliverable]:
    """The chapter MP3s among ``deliverables``, in book order (see :func:`chapter_mp3`)."""
    return [d for d in deliverables if d.name.startswith("mp3/")]


def tag_key(tags: BookTags) -> str:
    """A digest of the tags (the cover by its SHA-256)."""
    return digest({**asdict(tags), "cover": hashlib.sha256(tags.cover).hexdigest() if tags.cover else None})


def chapter_mp3(output: AudiobookFormats, chapter: MasteredChapter, track: int, total: int, tags: BookTags) -> Deliverable:
    """Chapter ``track`` of ``total`` as an MP3 (made as soon as the chapter is mastered)."""
    audio = ChapterAudio(chapter.title, chapter.path)
    width = max(2, len(str(total)))
    return Deliverable(
        f"mp3/{track:0{width}d} - {safe_filename(chapter.title, 80)}.mp3",
        digest([chapter.key, track, total, tag_key(tags), output.mp3_bitrate]),
        partial(encode_mp3, audio, tags, track, total, bitrate=output.mp3_bitrate),
    )


def audiobook_deliverables(
    output: AudiobookFormats, mastered: Sequence[MasteredChapter], tags: BookTags, sample: MasteredChapter | None = None
) -> list[Deliverable]:
    """The M4B and the per-chapter MP3s that ``output.formats`` asks for, and the retail
    sample's MP3 (:mod:`tasks.sample`) when there is one."""
    chapters = [ChapterAudio(c.title, c.path) for c in mastered]
    out: list[Deliverable] = []
    if sample is not None:
        out.append(Deliverable(
            sample_file_name(safe_filename(output.stem)),
            digest([sample.key, "sample", tag_key(tags), output.mp3_bitrate]),
            partial(encode_mp3, ChapterAudio(sample.title, sample.path), tags, 1, 1, bitrate=output.mp3_bitrate),
        ))
    if "m4b" in output.formats:
        out.append(Deliverable(
            f"{safe_filename(output.stem)}.m4b",
            digest([[c.key for c in mastered], tag_key(tags), output.m4b_bitrate]),
            lambda p: encode_m4b(chapters, tags, p, bitrate=output.m4b_bitrate),
        ))
    if "mp3" in output.formats:
        out += [chapter_mp3(output, c, n, len(mastered), tags) for n, c in enumerate(mastered, 1)]
    return out


def acx_ok(s: LoudnessStats) -> bool:
    """Inside the ACX window: RMS -23..-18 dBFS, peak at most -3 dBFS, noise floor at most -60 dBFS."""
    return -23.0 <= s.rms_db <= -18.0 and s.peak_db <= -3.0 and s.noise_floor_db <= -60.0


@dataclass(frozen=True)
class Made:
    """A deliverable encoded into staging, or kept as published, and its measurement: what a
    :class:`Maker` hands back for :meth:`Production.record`."""

    name: str
    """Path relative to the output directory."""
    content: str
    """Digest of everything the file is made from."""
    levels: LoudnessStats
    encoded: bool
    """False when the published file was kept."""


@dataclass(frozen=True)
class Maker:
    """Makes a deliverable and changes nothing but files: it pickles, so a deliverable can be
    made in another process (a Dask worker); the :class:`Made` it returns is recorded by the
    :class:`Production` that handed it out."""

    staging: Staging
    known: Mapping[str, Mapping[str, Any]]
    """Measurements of earlier renders by content digest (fields of :class:`LoudnessStats`)."""

    def make(self, d: Deliverable) -> Made:
        """Encode ``d`` into staging, unless it is published unchanged and measured already."""
        if self.staging.published_digest(d.name) == d.content and d.content in self.known:
            return Made(d.name, d.content, LoudnessStats(**self.known[d.content]), encoded=False)
        return Made(d.name, d.content, d.encode(self.staging.place(d.name)).levels, encoded=True)


class Production:
    """Makes deliverables into ``staging``: each one whose content changed is encoded (and
    measured), the others kept as published. Deliverables may be made as soon as their inputs
    are ready, by a :meth:`maker` (in a task, on any thread or process: a chapter's MP3 while
    later chapters are still being synthesized) and then recorded here (:meth:`record`);
    :meth:`finish` makes the rest in parallel and reports on all of them.

    Measurements are remembered by content (:attr:`~castline.layout.OutputLayout.levels`), so
    a kept file is not decoded again for the report.
    """

    def __init__(self, staging: Staging) -> None:
        self.staging = staging
        try:
            known: dict[str, dict[str, Any]] = json.loads(staging.layout.levels.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            known = {}
        self._maker = Maker(staging, known)
        self._levels: dict[str, LoudnessStats] = {}
        self._encoded: set[str] = set()
        self._lock = threading.Lock()

    def maker(self) -> Maker:
        """What makes a deliverable elsewhere; give what it returns to :meth:`record`."""
        return self._maker

    def record(self, made: Made) -> None:
        """Note a deliverable made (or kept): it is published with the others and reported."""
        if made.encoded:
            self.staging.path(made.name, made.content)
        else:
            self.staging.keep(made.name, made.content)
        with self._lock:
            self._levels[made.content] = made.levels
            if made.encoded:
                self._encoded.add(made.content)

    def make(self, d: Deliverable) -> None:
        """Make ``d`` here and record it; a deliverable made or recorded already is left as it is."""
        with self._lock:
            if d.content in self._levels:
                return
        self.record(self._maker.make(d))

    def finish(self, deliverables: Sequence[Deliverable]) -> list[FileReport]:
        """Make what is not made yet (in parallel); one report row per deliverable, in order."""
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(self.make, deliverables))
        levels = {d.content: self._levels[d.content] for d in deliverables}
        write_text_atomic(self.staging.layout.levels, json.dumps({k: asdict(v) for k, v in levels.items()}))
        return [
            FileReport(d.name, s.duration_s, s.rms_db, s.peak_db, s.noise_floor_db, s.integrated_lufs, acx_ok(s),
                       d.content in self._encoded)
            for d in deliverables
            for s in [levels[d.content]]
        ]


def produce(deliverables: Sequence[Deliverable], staging: Staging) -> list[FileReport]:
    """Make every deliverable into ``staging`` (see :class:`Production`); one report row each."""
    return Production(staging).finish(deliverables)
