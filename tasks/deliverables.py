"""Which files a render delivers, and producing only those whose content changed.

Each deliverable carries a digest of what it is made from (the mastered chapters' keys, the
tags, the bit rate). A deliverable published earlier with the same digest is kept as it is;
the others are encoded in parallel into the staging directory and measured by ffmpeg.
Measurements are remembered by digest, so a kept file is not decoded again for the report.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from castline.digest import digest
from castline.ffmpeg import LoudnessStats
from castline.tempfiles import write_text_atomic
from tasks.chapters import MasteredChapter
from tasks.deliver import BookTags, ChapterAudio, Encoded, encode_m4b, encode_mp3
from tasks.publish import Staging, safe_filename
from tasks.report import FileReport

__all__ = ["Deliverable", "AudiobookFormats", "audiobook_deliverables", "produce", "acx_ok"]


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


@dataclass(frozen=True)
class Deliverable:
    """A file to deliver: where it goes, what it is made from, and how to make it."""

    name: str
    """Path relative to the output directory."""
    content: str
    """Digest of everything the file is made from."""
    encode: Callable[[Path], Encoded]
    """Writes the file to the given path and measures it."""


def audiobook_deliverables(output: AudiobookFormats, mastered: Sequence[MasteredChapter], tags: BookTags) -> list[Deliverable]:
    """The M4B and the per-chapter MP3s that ``output.formats`` asks for."""
    chapters = [ChapterAudio(c.title, c.path) for c in mastered]
    tag_key = digest({**asdict(tags), "cover": hashlib.sha256(tags.cover).hexdigest() if tags.cover else None})
    out: list[Deliverable] = []
    if "m4b" in output.formats:
        out.append(Deliverable(
            f"{safe_filename(output.stem)}.m4b",
            digest([[c.key for c in mastered], tag_key, output.m4b_bitrate]),
            lambda p: encode_m4b(chapters, tags, p, bitrate=output.m4b_bitrate),
        ))
    if "mp3" in output.formats:
        width = max(2, len(str(len(chapters))))
        for n, (chapter, master) in enumerate(zip(chapters, mastered), 1):
            out.append(Deliverable(
                f"mp3/{n:0{width}d} - {safe_filename(chapter.title, 80)}.mp3",
                digest([master.key, n, len(chapters), tag_key, output.mp3_bitrate]),
                partial(encode_mp3, chapter, tags, n, len(chapters), bitrate=output.mp3_bitrate),
            ))
    return out


def acx_ok(s: LoudnessStats) -> bool:
    """Inside the ACX window: RMS -23..-18 dBFS, peak at most -3 dBFS, noise floor at most -60 dBFS."""
    return -23.0 <= s.rms_db <= -18.0 and s.peak_db <= -3.0 and s.noise_floor_db <= -60.0


def produce(deliverables: Sequence[Deliverable], staging: Staging) -> list[FileReport]:
    """Encode what changed into ``staging`` (in parallel), keep the rest; one report row each."""
    try:
        known = json.loads(staging.layout.levels.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        known = {}
    todo = []
    for d in deliverables:
        if staging.published_digest(d.name) == d.content and d.content in known:
            staging.keep(d.name, d.content)
        else:
            todo.append(d)

    def make(d: Deliverable) -> LoudnessStats:
        return d.encode(staging.path(d.name, d.content)).levels

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        made = dict(zip((d.content for d in todo), pool.map(make, todo)))
    levels = {d.content: made.get(d.content) or LoudnessStats(**known[d.content]) for d in deliverables}
    write_text_atomic(staging.layout.levels, json.dumps({k: asdict(v) for k, v in levels.items()}))
    return [
        FileReport(d.name, s.duration_s, s.rms_db, s.peak_db, s.noise_floor_db, s.integrated_lufs, acx_ok(s), d.content in made)
        for d in deliverables
        for s in [levels[d.content]]
    ]
