"""One chapter, from its takes to a mastered file.

A mastered chapter is itself content-addressed: its key covers the keys of its takes in
order, their pauses and the mastering settings. Changing one sentence changes one take and
so exactly one chapter key; every other chapter is found in the store and not mastered again.

A chapter is never held in memory whole: its takes are laid end to end into a scratch file a
take at a time, resampled and mastered a chunk at a time, and written to FLAC as it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf

from castline.cache import AudioStore, StoredAudio
from castline.digest import digest
from castline.model import Chapter, Seconds, Utterance
from castline.tempfiles import scratch_dir
from tasks.assemble import chapter_pieces
from tasks.master import Levels, MasteringSpec, master_signal, resample
from tasks.signal import Signal, SignalWriter, resample_signal

__all__ = ["ChapterTakes", "MasteredChapter", "chapter_key", "render_chapter", "find_mastered", "group_takes"]


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


def chapter_key(chapter: ChapterTakes, head_s: Seconds, tail_s: Seconds, spec: MasteringSpec) -> str:
    return digest({"takes": chapter.takes, "head": head_s, "tail": tail_s, "spec": asdict(spec)})


def _assemble(chapter: ChapterTakes, takes: AudioStore, spec: MasteringSpec, head_s: Seconds, tail_s: Seconds,
              scratch: Path) -> Signal:
    """The chapter's takes laid end to end, on disk, a take at a time: at their own rate if
    they all share one, else each resampled to the master rate."""
    stored = []
    for key, pause in chapter.takes:
        entry = takes.get(key)
        if entry is None:
            raise FileNotFoundError(f"take {key} of chapter {chapter.chapter_id} is not in the cache {takes.storage.url}")
        stored.append((entry, pause))
    rates = {entry.sample_rate for entry, _ in stored}
    rate = rates.pop() if len(rates) == 1 else spec.sample_rate
    clips = ((resample(entry.load(), entry.sample_rate, rate), pause) for entry, pause in stored)
    with SignalWriter(scratch / "assembled.f32", rate) as assembled:
        for piece in chapter_pieces(clips, rate, head_s=head_s, tail_s=tail_s):
            assembled.write(piece)
        return assembled.signal


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
        x = resample_signal(_assemble(chapter, takes, spec, head_s, tail_s, scratch), spec.sample_rate, scratch / "x.f32")
        flac = scratch / "mastered.flac"
        with sf.SoundFile(flac, "w", samplerate=spec.sample_rate, channels=1, format="FLAC", subtype="PCM_24") as out:
            levels = master_signal(x, spec, out.write, seed=int(key[:8], 16))
        stored = chapters.put_file(key, flac, {"title": chapter.title, "levels": asdict(levels)})
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
    )


def group_takes(chapters: Sequence[Chapter], utterances: Sequence[Utterance]) -> list[ChapterTakes]:
    """The takes of each chapter that has utterances, in book order; utterances in script order."""
    by_chapter: dict[str, list[tuple[str, Seconds]]] = {c.id: [] for c in chapters}
    for u in utterances:
        if u.cache_key is None:
            raise ValueError(f"utterance {u.id} has no take planned")
        by_chapter[u.chapter].append((u.cache_key, u.pause_after))
    return [ChapterTakes(c.id, c.title, tuple(by_chapter[c.id])) for c in chapters if by_chapter[c.id]]
