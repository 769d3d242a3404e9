"""One chapter, from its takes to a mastered file.

A mastered chapter is itself content-addressed: its key covers the keys of its takes in
order, their pauses and the mastering settings. Changing one sentence changes one take and
so exactly one chapter key; every other chapter is found in the store and not mastered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from castline.cache import AudioStore
from castline.digest import digest
from castline.model import Chapter, Seconds, Utterance
from tasks.assemble import assemble_chapter
from tasks.master import Levels, MasteringSpec, master_chapter, measure_levels, resample

__all__ = ["ChapterTakes", "MasteredChapter", "chapter_key", "render_chapter"]


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


def _clips(chapter: ChapterTakes, takes: AudioStore, spec: MasteringSpec) -> tuple[list[tuple[np.ndarray, Seconds]], int]:
    """The chapter's takes as (audio, pause) at one rate: theirs if they agree, else the master rate."""
    stored = []
    for key, pause in chapter.takes:
        entry = takes.get(key)
        if entry is None:
            raise FileNotFoundError(f"take {key} of chapter {chapter.chapter_id} is not in the cache {takes.storage.url}")
        stored.append((entry, pause))
    rates = {entry.sample_rate for entry, _ in stored}
    rate = rates.pop() if len(rates) == 1 else spec.sample_rate
    return [(resample(entry.load(), entry.sample_rate, rate), pause) for entry, pause in stored], rate


def render_chapter(
    chapter: ChapterTakes, takes: AudioStore, chapters: AudioStore, *, head_s: Seconds, tail_s: Seconds, spec: MasteringSpec
) -> MasteredChapter:
    """Assemble and master ``chapter`` (``head_s`` and ``tail_s`` of room tone around it), or
    find it mastered already in ``chapters``."""
    key = chapter_key(chapter, head_s, tail_s, spec)
    stored = chapters.get(key)
    remastered = stored is None
    if stored is None:
        clips, rate = _clips(chapter, takes, spec)
        audio = assemble_chapter(clips, rate, head_s=head_s, tail_s=tail_s)
        mastered = master_chapter(audio, rate, spec, seed=int(key[:8], 16))
        levels = measure_levels(mastered, spec.sample_rate)
        stored = chapters.put(key, mastered, spec.sample_rate, {"title": chapter.title, "levels": asdict(levels)})
    return MasteredChapter(
        chapter_id=chapter.chapter_id,
        title=chapter.title,
        key=key,
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
