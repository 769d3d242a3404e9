"""Synthesis planning, batching, retries and resuming after a crash, on the tiny Piper voice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from piper_fixtures import build_tiny_piper_voice

from castline.cache import AudioStore
from castline.errors import EngineError
from castline.model import Chapter
from castline.storage import LocalStorage
from tasks.script import Pacing, write_script
from tasks.synthesize import plan_batches, plan_takes, synthesize_batch, with_durations
from voices.engines.piper import PiperEngine
from voices.profile import load_profile


@pytest.fixture
def voices(tmp_path: Path):
    build_tiny_piper_voice(tmp_path / "m")
    out = {}
    for name, speaker in (("amy", 0), ("bob", 1)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, "engine": "piper", "language": "en",
                                        "params": {"model": "m/tiny-multi.onnx", "speaker": speaker}}))
        out[name] = load_profile(path)
    return out


def script(texts: list[str], voice: str = "amy"):
    chapter = Chapter("c001", "T", tuple(texts))
    utterances = write_script([chapter], language="en", pacing=Pacing(), max_chars=400, speak_titles=False)
    return [replace(u, voice=voice) for u in utterances]


def test_plan_is_deterministic_and_deduplicates(voices, tmp_path: Path) -> None:
    utts = script(["Hello there.", "Goodbye now.", "Hello there."])
    takes = plan_takes(utts, voices, language="en")
    assert [t.cache_key for t in takes] == [t.cache_key for t in plan_takes(utts, voices, language="en")]
    assert takes[0].cache_key == takes[2].cache_key and takes[0].seed == takes[2].seed is not None
    assert [t.id for t in takes] == [u.id for u in utts]  # one record per utterance, in script order
    assert plan_takes(utts, voices, language="en", seed=1)[0].cache_key != takes[0].cache_key
    batches = plan_batches(takes, voices, AudioStore(LocalStorage(tmp_path / "c")), batch_size=1)
    assert sum(len(b) for b in batches) == 2


def test_two_speakers_of_one_model_share_batches(voices, tmp_path: Path) -> None:
    utts = script(["One."], "amy") + script(["Two.", "Three."], "bob")
    takes = plan_takes(utts, voices, language="en")
    (batch,) = plan_batches(takes, voices, AudioStore(LocalStorage(tmp_path / "c")), batch_size=8)
    assert {u.voice for u in batch} == {"amy", "bob"}
    assert [len(u.text) for u in batch] == sorted(len(u.text) for u in batch)


def test_nothing_cached_is_planned_again(voices, tmp_path: Path) -> None:
    store = AudioStore(LocalStorage(tmp_path / "c"))
    utts = script(["Hello there.", "Goodbye now."])
    takes = plan_takes(utts, voices, language="en")
    for batch in plan_batches(takes, voices, store):
        synthesize_batch(batch, voices, "en", store)
    assert plan_batches(takes, voices, store) == []
    filled = with_durations(takes, store)
    assert all(u.duration and u.duration > 0 and u.cache_key for u in filled)
    stored = store.get(filled[0].cache_key or "")
    assert stored is not None and stored.meta["seed"] == filled[0].seed and stored.duration_s == filled[0].duration


def test_a_crash_mid_render_keeps_finished_batches(voices, tmp_path: Path, monkeypatch) -> None:
    store = AudioStore(LocalStorage(tmp_path / "c"))
    takes = plan_takes(script([f"Sentence number {n}." for n in range(6)]), voices, language="en")
    batches = plan_batches(takes, voices, store, batch_size=2)
    real, calls = PiperEngine.synthesize, []

    def dies_on_third_batch(engine, requests):
        calls.append(len(requests))
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill, not an error anybody handles
        return real(engine, requests)

    monkeypatch.setattr(PiperEngine, "synthesize", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        for batch in batches:
            synthesize_batch(batch, voices, "en", store)
    remaining = plan_batches(takes, voices, store, batch_size=2)
    assert sum(len(b) for b in remaining) == 2  # only the batch in flight is lost


def test_transient_engine_failures_are_retried_by_the_task(voices, tmp_path: Path, monkeypatch, prefect_harness) -> None:
    from flows.synthesis import synthesize_batch_task

    store = AudioStore(LocalStorage(tmp_path / "c"))
    (batch,) = plan_batches(plan_takes(script(["Hello there."]), voices, language="en"), voices, store)
    real, attempts = PiperEngine.synthesize, []

    def flaky(engine, requests):
        attempts.append(1)
        if len(attempts) < 3:
            raise EngineError("GPU out of memory (simulated)")
        return real(engine, requests)

    monkeypatch.setattr(PiperEngine, "synthesize", flaky)
    keys = synthesize_batch_task.with_options(retry_delay_seconds=0)(batch, voices, "en", store)
    assert len(attempts) == 3 and keys == [batch[0].cache_key] and (batch[0].cache_key or "") in store


def test_bad_input_is_not_retried(voices, tmp_path: Path, monkeypatch, prefect_harness) -> None:
    from castline.errors import VoiceError
    from flows.synthesis import synthesize_batch_task

    store = AudioStore(LocalStorage(tmp_path / "c"))
    (batch,) = plan_batches(plan_takes(script(["Hello there."]), voices, language="en"), voices, store)
    attempts = []

    def broken(engine, requests):
        attempts.append(1)
        raise VoiceError("amy.yaml", "reference clip is silent")

    monkeypatch.setattr(PiperEngine, "synthesize", broken)
    with pytest.raises(VoiceError):
        synthesize_batch_task.with_options(retry_delay_seconds=0)(batch, voices, "en", store)
    assert len(attempts) == 1


def test_batches_follow_the_book_chapter_by_chapter(voices, tmp_path: Path) -> None:
    chapters = [Chapter(f"c00{n}", "T", tuple(f"Sentence {w} of chapter {n}, {'long ' * n}." for w in "abc"))
                for n in (1, 2, 3)]
    utts = [replace(u, voice="amy") for u in write_script(chapters, language="en", pacing=Pacing(), max_chars=400,
                                                         speak_titles=False)]
    batches = plan_batches(plan_takes(utts, voices, language="en"), voices, AudioStore(LocalStorage(tmp_path / "c")), 2)
    order = [u.chapter for batch in batches for u in batch]
    assert order == sorted(order) and len(order) == 9  # chapter 1 is complete before chapter 2 starts
