"""The quality gate: figures of a take, ASR hearing and its error rates, retakes of bad takes,
the review list, and what ``qa.mode`` makes of a render. Real Piper speech (joe), real ASR."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

from castline.asr import _pack, character_errors, split_heard, word_error_rate, words
from castline.cache import AudioStore
from castline.errors import CastlineError
from castline.manifest.base import QualityGate
from castline.model import Chapter
from castline.storage import LocalStorage
from tasks.gate import gate_report, review_csv
from tasks.qa import TakeQA, gate_digest, retake_seed, signal_figures
from tasks.script import Pacing, write_script
from tasks.synthesize import plan_takes, synthesize_batch
from voices.engines.piper import PiperEngine
from voices.profile import find_profile

RATE_HZ = 16000


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_qa_signal_figures_find_silences_and_clipping() -> None:
    take = np.concatenate([np.zeros(int(1.2 * RATE_HZ), np.float32), tone(1.0), np.zeros(int(2.5 * RATE_HZ), np.float32),
                           tone(0.5), np.zeros(int(0.3 * RATE_HZ), np.float32)])
    take[int(1.5 * RATE_HZ) : int(1.5 * RATE_HZ) + 10] = 1.0  # a clipped run
    lead_s, trail_s, pause_s, clipped = signal_figures(take, RATE_HZ)
    assert abs(lead_s - 1.2) <= 0.03 and abs(trail_s - 0.3) <= 0.03 and abs(pause_s - 2.5) <= 0.03
    assert clipped == 10
    silent = signal_figures(np.zeros(RATE_HZ, np.float32), RATE_HZ)
    assert silent[:2] == (1.0, 1.0)


def test_qa_error_rates_normalize_both_sides_like_the_script() -> None:
    assert word_error_rate("It was three o'clock in 1865.", "it was 3 o'clock in 1865", "en") == 0.0
    assert word_error_rate("Good-by, feet!", "goodbye feet", "en") > 0.4  # written another way...
    assert character_errors(words("Good-by, feet!", "en"), words("goodbye feet", "en")) < 0.2  # ...same letters
    assert character_errors(words("Down went Alice after it.", "en"), []) == 1.0


def test_qa_what_was_heard_goes_back_to_the_take_it_was_aligned_with() -> None:
    refs = [["alice", "sat", "down"], ["the", "rabbit", "ran"], ["she", "fell"]]
    heard = "alice sat town the rabbit ran away she fell".split()
    assert split_heard(refs, heard) == [["alice", "sat", "town"], ["the", "rabbit", "ran", "away"], ["she", "fell"]]
    assert split_heard(refs, "alice sat down she fell".split()) == [["alice", "sat", "down"], [], ["she", "fell"]]


def test_qa_takes_are_packed_into_as_few_windows_as_first_fit_finds() -> None:
    sizes = [6, 5, 5, 4, 4, 3, 3]  # in order into bins of 10: 6 | 5 5 | 4 4 | 3 3, four windows
    bins = _pack(sizes, 10, skip={0})
    assert sorted(i for b in bins for i in b) == [1, 2, 3, 4, 5, 6]
    assert all(sum(sizes[i] for i in b) <= 10 for b in bins)
    assert len(bins) == 3  # 5 5 | 4 4 | 3 3 (with 0 left out); with 0: 6 4 | 5 5 | 4 3 3
    assert len(_pack(sizes, 10, skip=set())) == 3


TEXTS = [
    "Alice sat by the river on a hot summer day, with nothing to do.",
    "It was three o'clock, and her sister read a book without pictures.",
    "A White Rabbit with pink eyes ran close by her, looking at its watch.",
    "Down went Alice after it, never once considering how she was to get out again.",
    "The rabbit-hole went straight on like a tunnel for some way, and then dipped.",
    "She fell very slowly, for she had plenty of time to look about her.",
]


@pytest.fixture
def joe_batch():
    voices = {"joe": find_profile("joe")}
    chapter = Chapter("c001", "T", tuple(TEXTS))
    script = write_script([chapter], language="en", pacing=Pacing(), max_chars=400, speak_titles=False)
    return voices, plan_takes([replace(u, voice="joe") for u in script], voices, language="en")


@pytest.mark.e2e  # Prefect tasks or real speech and ASR: left out of make test-fast
def test_qa_truncated_swapped_and_silent_takes_are_flagged_and_retaken(
    joe_batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    voices, batch = joe_batch
    real = PiperEngine.synthesize
    spoken: list[tuple[str, int]] = []

    def sabotaged(engine, requests):
        """The first take of sentences 1, 2/3 and 4 is truncated, swapped and silent; sentence 5
        is silent every time."""
        audios = real(engine, requests)
        first = {r.text: n for n, r in enumerate(requests)} if len(requests) == len(batch) else {}
        out = list(audios)
        for n, r in enumerate(requests):
            spoken.append((r.text, r.seed))
            if first and r.text.startswith("It was"):
                out[n] = audios[n][: audios[n].size // 3]
            if first and r.text.startswith("A White"):
                out[n] = audios[first[TEXTS[3]]]
            if first and r.text.startswith("Down went"):
                out[n] = audios[first[TEXTS[2]]]
            if first and r.text.startswith("The rabbit"):
                out[n] = np.zeros_like(audios[n])
            if r.text.startswith("She fell"):
                out[n] = np.zeros_like(audios[n])
        return out

    monkeypatch.setattr(PiperEngine, "synthesize", sabotaged)
    store = AudioStore(LocalStorage(tmp_path))
    gate = QualityGate()
    synthesize_batch(batch, voices, "en", store, gate)
    figures = {u.text: TakeQA.from_meta(store.get(u.cache_key or "").meta, gate_digest(gate)) for u in batch}  # type: ignore[union-attr]
    for text in TEXTS[1:5]:  # the bad first takes: retaken once, and the retake kept
        qa = figures[text]
        assert qa is not None and qa.passed and qa.attempts == 2, (text, qa)
        first_seed = next(u.seed for u in batch if u.text == text)
        assert qa.seed == retake_seed(first_seed or 0, 1) and store.get(next(u.cache_key for u in batch if u.text == text) or "").meta["seed"] == qa.seed  # type: ignore[union-attr]
    assert figures[TEXTS[0]] is not None and figures[TEXTS[0]].passed and figures[TEXTS[0]].attempts == 1  # type: ignore[union-attr]
    stuck = figures[TEXTS[5]]
    assert stuck is not None and not stuck.passed and stuck.attempts == 3  # two retakes, then the review list
    assert "silent" in stuck.problems and stuck.wer == 1.0
    assert len([t for t, _ in spoken if t == TEXTS[5]]) == 3

    report = gate_report(batch, {u.cache_key or "": figures[u.text] for u in batch}, gate, [])  # type: ignore[misc]
    [row] = report.review
    assert (row.text, row.attempts, row.wer) == (TEXTS[5], 3, 1.0) and "silent" in row.problems
    [record] = list(csv.DictReader(io.StringIO(review_csv(report))))
    assert record["text"] == TEXTS[5] and record["problems"] == row.problems and float(record["duration_s"]) > 1


def small_book(folder: Path, mode: str, **qa: object) -> Path:
    write_epub(folder / "gate.epub", [("One", ["The first chapter is short and clear."]),
                                      ("Two", ["Kaboom went the engine, and nothing could be heard at all."])])
    manifest = folder / "book.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "audiobook", "credits": NO_CREDITS, "title": "Gate", "author": "A", "language": "en", "source": "gate.epub",
        "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b"]}, "qa": {"mode": mode, **qa},
    }))
    return manifest


@pytest.fixture
def silent_kaboom(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Piper speaks every sentence with "Kaboom" in it as silence; counts ASR windows heard."""
    real = PiperEngine.synthesize

    def silent(engine, requests):
        return [np.zeros_like(a) if "Kaboom" in r.text else a for r, a in zip(requests, real(engine, requests))]

    monkeypatch.setattr(PiperEngine, "synthesize", silent)
    import castline.asr

    heard: list[int] = []
    real_windows = castline.asr.transcribe_windows

    def counting(windows, *args, **kwargs):
        heard.append(len(windows))
        return real_windows(windows, *args, **kwargs)

    monkeypatch.setattr(castline.asr, "transcribe_windows", counting)
    return heard


@pytest.mark.e2e
def test_qa_warn_delivers_and_lists_the_take_and_a_rerender_hears_nothing(
    tmp_path: Path, silent_kaboom: list[int], prefect_harness
) -> None:
    from flows.audiobook import audiobook

    manifest = small_book(tmp_path, "warn")
    audiobook(str(manifest))
    out = tmp_path / "out"
    assert (out / "Gate.m4b").is_file()
    report = json.loads((out / "report.json").read_text())
    [row] = report["gate"]["review"]
    assert row["text"].startswith("Kaboom") and "silent" in row["problems"] and row["attempts"] == 3
    assert "## Quality gate" in (out / "report.md").read_text() and "Kaboom" in (out / "review.csv").read_text()
    page = (out / "report.html").read_text()
    assert page.count("<audio") == 1 and "data:audio/ogg;base64," in page
    heard = sum(silent_kaboom)
    assert heard > 0
    again = audiobook(str(manifest))  # nothing changed: the figures come from the takes' sidecars
    assert again["synthesized"] == 0 and sum(silent_kaboom) == heard
    assert json.loads((out / "report.json").read_text())["gate"]["review"] == report["gate"]["review"]

    from castline.project import load_project
    from flows.audiobook_plan import up_to_date
    from flows.preflight import AudiobookPlan, preflight

    plans = [preflight(load_project(small_book(tmp_path, mode))) for mode in ("warn", "fail")]
    assert all(isinstance(p, AudiobookPlan) for p in plans)
    warn, fail = (up_to_date(p) for p in plans if isinstance(p, AudiobookPlan))
    assert warn and not fail  # the same takes under qa.mode fail must render (and fail), not say "up to date"


@pytest.mark.e2e
def test_qa_fail_mode_fails_the_render_and_publishes_nothing(tmp_path: Path, silent_kaboom: list[int], prefect_harness) -> None:
    from flows.audiobook import audiobook

    manifest = small_book(tmp_path, "fail", retakes=1)
    with pytest.raises(CastlineError, match=r"^1 take failed the quality gate; nothing was published \(qa.mode: fail\)"):
        audiobook(str(manifest))
    out = tmp_path / "out"
    assert not (out / "Gate.m4b").exists() and not (out / "report.json").exists()
    page = out / ".castline" / "review.html"
    assert "Kaboom" in page.read_text()


def test_qa_a_file_off_its_loudness_target_fails_a_render_in_fail_mode_only(tmp_path: Path) -> None:
    from castline.ffmpeg import LoudnessStats
    from tasks.gate import QualityGateError
    from tasks.mix import LoudnessTarget, loudness_on_target

    target = LoudnessTarget(integrated_lufs=-23.0, true_peak_dbtp=-1.0)
    mix = LoudnessStats(-25.0, -4.0, -70.0, -23.6, -1.4, 30.0)
    assert loudness_on_target(mix, target)
    assert not loudness_on_target(replace(mix, integrated_lufs=-25.2), target)  # more than 1 LU off
    assert not loudness_on_target(replace(mix, true_peak_dbtp=-0.5), target)
    for gate, failed in ((QualityGate(mode="fail"), True), (QualityGate(mode="warn"), False)):
        report = gate_report([], {}, gate, ["Film.mkv"])
        assert report.failed is failed and report.failed_files == ["Film.mkv"]
    error = QualityGateError(0, ["Film.mkv"], tmp_path / "review.html")
    assert str(error) == f"Film.mkv missed the loudness target; nothing was published (qa.mode: fail). Review: {tmp_path / 'review.html'}"
