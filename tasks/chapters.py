"""One chapter, from its takes to a mastered file.

A mastered chapter is itself content-addressed: its key covers the keys of its takes in
order, their pauses and the mastering settings. Changing one sentence changes one take and
so exactly one chapter key; every other chapter is found in the store and not mastered again.

A chapter is never held in memory whole: its takes are laid end to end into a scratch file a
take at a time, resampled and mastered a chunk at a time, and written to FLAC as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from castline.cache import AudioStore, StoredAudio
from castline.digest import digest
from castline.model import Chapter, Seconds, Utterance
from castline.tempfiles import scratch_dir
from tasks.assemble import chapter_pieces
from tasks.master import Levels, MasteringSpec, master_signal, resample
from tasks.signal import Signal, SignalWriter, resample_signal

__all__ = [
    "ChapterTakes", "MasteredChapter", "ClipSpans", "chapter_key", "render_chapter", "find_mastered", "clip_spans", "group_takes",
]


ClipSpans = tuple[tuple[Seconds, Seconds], ...]
"""``(begin_s, end_s)`` of each take's speech in a chapter."""


@dataclass(frozen=True)
class ChapterTakes:
    """What a chapter is made of: its takes in order, each with the pause after it."""

    chapter_id: str
    title: str
    takes: tuple[tuple[str, Seconds], ...]
    """``(cache key, pause_after)`` per utterance."""


@dataclass(frozen=True)
class MasteredChapter:
    """A mastered chapter in the chapter store."""

    chapter_id: str
    title: str
    key: str
    path: Path
    duration_s: Seconds
    levels: Levels
    utterances: int
    remastered: bool
    """False when it came from the store unchanged."""
    clips_s: ClipSpans | None = None
    """Where each take's speech begins and ends in the chapter, in take order; None for a
    chapter mastered before castline recorded it (:func:`clip_spans` works it out again)."""


def chapter_key(chapter: ChapterTakes, head_s: Seconds, tail_s: Seconds, spec: MasteringSpec) -> str:
    return digest({"takes": chapter.takes, "head": head_s, "tail": tail_s, "spec": asdict(spec)})


def _clips(chapter: ChapterTakes, takes: AudioStore, spec: MasteringSpec) -> tuple[int, Iterator[tuple[np.ndarray, Seconds]]]:
    """The rate the chapter is laid out at (its takes' own if they all share one, else the
    master rate) and its takes at that rate, each with the pause after it, loaded one by one."""
    stored = []
    for key, pause in chapter.takes:
        entry = takes.get(key)
        if entry is None:
            raise FileNotFoundError(f"take {key} of chapter {chapter.chapter_id} is not in the cache {takes.storage.url}")
        stored.append((entry, pause))
    rates = {entry.sample_rate for entry, _ in stored}
    rate = rates.pop() if len(rates) == 1 else spec.sample_rate
    return rate, ((resample(entry.load(), entry.sample_rate, rate), pause) for entry, pause in stored)


def _laid_out(pieces: Iterator[np.ndarray], rate: int, write: Callable[[np.ndarray], object]) -> list[tuple[Seconds, Seconds]]:
    """Write the pieces of :func:`~tasks.assemble.chapter_pieces` (head, take, pause, take...,
    tail); returns where each take's speech begins and ends in the chapter, in seconds."""
    at = 0
    spans = []
    for n, piece in enumerate(pieces):
        if n % 2 == 1:
            spans.append((at / rate, (at + piece.size) / rate))
        write(piece)
        at += piece.size
    return spans


def clip_spans(chapter: ChapterTakes, takes: AudioStore, spec: MasteringSpec, head_s: Seconds, tail_s: Seconds) -> ClipSpans:
    """Where each take's speech lies in the mastered chapter, worked out again from the takes
    (for a chapter mastered before its spans were recorded)."""
    rate, clips = _clips(chapter, takes, spec)
    return tuple(_laid_out(chapter_pieces(clips, rate, head_s=head_s, tail_s=tail_s), rate, lambda _: None))


def _assemble(chapter: ChapterTakes, takes: AudioStore, spec: MasteringSpec, head_s: Seconds, tail_s: Seconds,
              scratch: Path) -> tuple[Signal, ClipSpans]:
    """The chapter's takes laid end to end, on disk, a take at a time, and where each lies."""
    rate, clips = _clips(chapter, takes, spec)
    with SignalWriter(scratch / "assembled.f32", rate) as assembled:
        spans = _laid_out(chapter_pieces(clips, rate, head_s=head_s, tail_s=tail_s), rate, assembled.write)
        return assembled.signal, tuple(spans)


def render_chapter(
    chapter: ChapterTakes, takes: AudioStore, chapters: AudioStore, *, head_s: Seconds, tail_s: Seconds, spec: MasteringSpec
) -> MasteredChapter:
    """Assemble and master ``chapter`` (``head_s`` and ``tail_s`` of room tone around it), or
    find it mastered already in ``chapters``."""
    found = find_mastered(chapter, chapters, head_s=head_s, tail_s=tail_s, spec=spec)
    if found is not None:
        return found
    key = chapter_key(chapter, head_s, tail_s, spec)
    with scratch_dir("chapter") as folder:
        scratch = Path(folder)
        assembled, spans = _assemble(chapter, takes, spec, head_s, tail_s, scratch)
        x = resample_signal(assembled, spec.sample_rate, scratch / "x.f32")
        flac = scratch / "mastered.flac"
        with sf.SoundFile(flac, "w", samplerate=spec.sample_rate, channels=1, format="FLAC", subtype="PCM_24") as out:
            levels = master_signal(x, spec, out.write, seed=int(key[:8], 16))
        stored = chapters.put_file(key, flac, {"title": chapter.title, "levels": asdict(levels), "clips_s": spans})
    return _mastered(chapter, stored, remastered=True)


def find_mastered(
    chapter: ChapterTakes, chapters: AudioStore, *, head_s: Seconds, tail_s: Seconds, spec: MasteringSpec
) -> MasteredChapter | None:
    """``chapter`` as it was mastered before with these settings, or None."""
    stored = chapters.get(chapter_key(chapter, head_s, tail_s, spec))
    return None if stored is None else _mastered(chapter, stored, remastered=False)


def _mastered(chapter: ChapterTakes, stored: StoredAudio, *, remastered: bool) -> MasteredChapter:
    return MasteredChapter(
        chapter_id=chapter.chapter_id,
        title=chapter.title,
        key=stored.key,
        path=stored.local_path(),
        duration_s=stored.duration_s,
        levels=Levels(**stored.meta["levels"]),
        utterances=len(chapter.takes),
        remastered=remastered,
        clips_s=tuple((float(a), float(b)) for a, b in stored.meta["clips_s"]) if "clips_s" in stored.meta else None,
    )


def group_takes(chapters: Sequence[Chapter], utterances: Sequence[Utterance]) -> list[ChapterTakes]:
    """The takes of each chapter that has utterances, in book order; utterances in script order."""
    by_chapter: dict[str, list[tuple[str, Seconds]]] = {c.id: [] for c in chapters}
    for u in utterances:
        if u.cache_key is None:
            raise ValueError(f"utterance {u.id} has no take planned")
        by_chapter[u.chapter].append((u.cache_key, u.pause_after))
    return [ChapterTakes(c.id, c.title, tuple(by_chapter[c.id])) for c in chapters if by_chapter[c.id]]
