from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from castline.cache import AudioStore
from castline.model import Chapter, Utterance
from castline.storage import LocalStorage
from tasks.chapters import ChapterTakes, clip_spans, group_takes, render_chapter
from tasks.master import MasteringSpec


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_takes_at_different_rates_are_mastered_together_and_then_found_in_the_store(tmp_path: Path) -> None:
    takes, chapters = AudioStore(LocalStorage(tmp_path / "takes")), AudioStore(LocalStorage(tmp_path / "chapters"))
    takes.put("a" * 64, tone(1.0, 22050), 22050)
    takes.put("b" * 64, tone(2.0, 32000), 32000)
    chapter = ChapterTakes("c001", "One", (("a" * 64, 0.5), ("b" * 64, 0.5)))
    first = render_chapter(chapter, takes, chapters, head_s=0.75, tail_s=2.0, spec=MasteringSpec())
    assert first.remastered and first.utterances == 2
    assert abs(first.duration_s - (0.75 + 1.0 + 0.5 + 2.0 + 2.0)) < 0.1  # engine padding is trimmed, a little
    assert -20.5 < first.levels.rms_db < -19.5 and first.levels.peak_db <= -3.5 + 0.01
    again = render_chapter(chapter, takes, chapters, head_s=0.75, tail_s=2.0, spec=MasteringSpec())
    assert not again.remastered and again.key == first.key and again.path == first.path
    other = render_chapter(chapter, takes, chapters, head_s=0.75, tail_s=3.0, spec=MasteringSpec())
    assert other.remastered and other.key != first.key


def test_where_each_take_lies_in_the_chapter_is_recorded_and_can_be_worked_out_again(tmp_path: Path) -> None:
    takes, chapters = AudioStore(LocalStorage(tmp_path / "takes")), AudioStore(LocalStorage(tmp_path / "chapters"))
    rate = 22050
    padded = np.concatenate([np.zeros(rate // 5, np.float32), tone(1.0, rate), np.zeros(rate // 2, np.float32)])
    takes.put("a" * 64, padded, rate)
    takes.put("b" * 64, tone(2.0, rate), rate)
    chapter = ChapterTakes("c001", "One", (("a" * 64, 0.5), ("b" * 64, 0.9)))
    mastered = render_chapter(chapter, takes, chapters, head_s=0.75, tail_s=2.0, spec=MasteringSpec())
    assert mastered.clips_s is not None
    (a_begin, a_end), (b_begin, b_end) = mastered.clips_s
    assert a_begin == pytest.approx(0.75, abs=1e-4) and 1.0 <= a_end - a_begin <= 1.07  # the padding trimmed, a margin kept
    assert b_begin == pytest.approx(a_end + 0.5, abs=1e-4) and b_end <= mastered.duration_s - 2.0 + 1e-3
    assert render_chapter(chapter, takes, chapters, head_s=0.75, tail_s=2.0, spec=MasteringSpec()).clips_s == mastered.clips_s
    assert clip_spans(chapter, takes, MasteringSpec(), 0.75, 2.0) == mastered.clips_s


def test_group_takes_keeps_chapter_order_and_drops_empty_chapters() -> None:
    chapters = [Chapter("c1", "One", ()), Chapter("c2", "Two", ()), Chapter("c3", "Three", ())]
    rows = [("c2", "k1", 0.4), ("c1", "k2", 0.4), ("c2", "k3", 0.9)]
    script = [Utterance(f"u{i}", c, i, "narrator", "x", pause_after=p, cache_key=k) for i, (c, k, p) in enumerate(rows)]
    grouped = group_takes(chapters, script)
    assert [(c.chapter_id, c.takes) for c in grouped] == [("c1", (("k2", 0.4),)), ("c2", (("k1", 0.4), ("k3", 0.9)))]
