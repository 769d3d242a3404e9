"""The retail sample: the opening of the book's narration, as the stores play it to buyers.

Retailers ask for 1 to 5 minutes of the performance, no credits. castline takes the first
body chapter's narration (its spoken title left out) from the start, sentence by sentence, as
long as the sample stays within ``length_s`` (room tone at head and tail included), running
on into the next chapters when the first is short. It is a chapter of its own
(:class:`~tasks.chapters.ChapterTakes` of cached takes), mastered like every chapter and
delivered as an MP3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from castline.model import Chapter, Seconds, Utterance
from tasks.chapters import ChapterTakes

__all__ = ["SAMPLE_ID", "SAMPLE_TITLE", "MIN_SAMPLE_S", "retail_sample", "sample_file_name"]

SAMPLE_ID = "retail-sample"
SAMPLE_TITLE = "Retail Sample"
MIN_SAMPLE_S: Seconds = 60.0
"""Shorter than this, no store takes it: no sample is made."""


def retail_sample(
    chapters: Sequence[Chapter], script: Sequence[Utterance], duration_of: Callable[[str], Seconds], *,
    length_s: Seconds, head_s: Seconds, tail_s: Seconds,
) -> tuple[ChapterTakes | None, str | None]:
    """The sample's takes, or None and why there is none.

    A spoken title is left out: it is the utterances that read no paragraph of the book.
    ``duration_of``: a take's length by its cache key (only the takes the sample may hold are
    asked for).
    """
    body = [c.id for c in chapters if c.matter == "body"]
    by_chapter: dict[str, list[Utterance]] = {c: [] for c in body}
    for u in script:
        if u.chapter in by_chapter:
            by_chapter[u.chapter].append(u)
    takes: list[tuple[str, Seconds]] = []
    total_s = head_s + tail_s
    for chapter in body:
        for u in (u for u in by_chapter[chapter] if u.paragraph is not None):
            if u.cache_key is None:
                raise ValueError(f"utterance {u.id} has no take planned")
            pause_s = takes[-1][1] if takes else 0.0
            grown = total_s + pause_s + duration_of(u.cache_key)
            if grown > length_s:
                return _sample(takes, total_s)
            takes.append((u.cache_key, u.pause_after))
            total_s = grown
    return _sample(takes, total_s)


def _sample(takes: list[tuple[str, Seconds]], total_s: Seconds) -> tuple[ChapterTakes | None, str | None]:
    if total_s < MIN_SAMPLE_S:
        return None, f"no retail sample: the narration gives {total_s:.0f} s, less than the {MIN_SAMPLE_S:.0f} s stores ask for"
    return ChapterTakes(SAMPLE_ID, SAMPLE_TITLE, tuple(takes)), None


def sample_file_name(stem: str) -> str:
    """The sample's MP3 beside the book's files: ``<stem> - Retail Sample.mp3``."""
    return f"{stem} - {SAMPLE_TITLE}.mp3"
