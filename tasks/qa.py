"""The quality gate: every take is checked before anything is made from it, and retaken when
it fails.

Listeners of synthetic audiobooks complain most about dropped, repeated or invented words and
cut-off sentences. So each take, as soon as its batch is spoken, is

- **heard**: an ASR transcript (:func:`castline.asr.hear_takes`, faster-whisper, tiny.en by
  default), compared with the text as a word error rate after the script's own normalization
  on both sides. It fails above ``max_wer`` (0.4) with at least :data:`MIN_WORD_ERRORS` wrong
  words *and* a character error rate (the words run together) above ``max_cer`` (0.2). ASR
  writes some words its own way ("goodbye" for "good-by", "more car" for "Morcar": two takes
  of the demo book, WER 0.67 and 0.44, CER 0.10 and 0.05), and one misheard word in a
  four-word line is not worth a retake; a dropped half sentence, another sentence's audio or
  silence is far above all three. Takes are heard packed into windows and what was heard is
  given back to them by alignment, which can give a take's words to its neighbour (a take
  with another sentence's audio beside that sentence's take) or lose a short take whole. So
  when a take of a window would fail, every take of that window is heard again alone: a take
  that would fail keeps the better hearing, the others the one heard alone;
- **timed**: its length against the length the text should take at the voice's rate (the
  median characters per second of the batch's takes of that voice, or
  :data:`DEFAULT_CHARS_PER_S` when there are fewer than :data:`MIN_TAKES_FOR_RATE`). Outside
  :data:`DURATION_RANGE` times that (plus :data:`DURATION_SLACK_S`) it is cut off or rambles;
- **measured**: clipping (runs of :data:`CLIP_RUN` samples at full scale), and silence before,
  after and inside it (frames of :data:`FRAME_S` more than :data:`SILENCE_BELOW_PEAK_DB`
  below the take's peak), against ``max_lead_s``, ``max_trail_s``, ``max_pause_s``;
- **compared**, for a cloned voice: the speaker similarity of the take to the voice's
  reference clip (resemblyzer, :mod:`voices.voice_check`), against ``min_similarity``.

A take that fails is spoken again with another seed (:func:`retake_seed`), up to ``retakes``
times, and the best take is kept: the one with the lowest :attr:`TakeQA.score` (ten points per
failed check, plus its word error rate, plus how far its length is from the expected one, as
a fraction). Its seed and figures go into the cache entry's sidecar (``qa``), so the take is
stored once, final, under its key: nothing made from it goes stale, a re-render reads the
figures instead of hearing the take again, and a render from nothing picks the same take
(the retake seeds are fixed). Takes that still fail are listed for review.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from castline.asr import at_asr_rate, character_errors, hear_takes, hears, transcribe, word_errors, words
from castline.digest import digest
from castline.manifest.base import QualityGate
from castline.model import Hertz, Seconds, Utterance
from voices.engines import engine_class
from voices.profile import VoiceProfile

__all__ = [
    "TakeQA", "check_takes", "best_takes", "retake_seed", "gate_digest", "signal_figures", "wer_summary", "QA_FORMAT",
]

QA_FORMAT = 1
"""Bumped when the checks change meaning: stored figures of another format are measured again."""
MIN_WORD_ERRORS = 3
DEFAULT_CHARS_PER_S = 14.0
"""Characters (of the normalized text) per second of an English voice at an even pace."""
MIN_TAKES_FOR_RATE = 5
DURATION_RANGE = (0.5, 2.0)
DURATION_SLACK_S = 0.5
CLIP_RUN = 3
FRAME_S = 0.02
SILENCE_BELOW_PEAK_DB = 40.0
SILENCE_FLOOR_DB = -60.0
"""A frame quieter than this is silent whatever the take's peak."""
FAILED_CHECK_POINTS = 10.0


@dataclass(frozen=True)
class TakeQA:
    """What the gate measured of one take, and what failed."""

    heard: str
    """What ASR heard, as normalized words."""
    wer: float
    """NaN when the ASR model cannot hear the language."""
    duration_s: Seconds
    expected_s: Seconds
    """How long the text should take at the voice's rate."""
    lead_s: Seconds
    trail_s: Seconds
    longest_pause_s: Seconds
    clipped_samples: int
    similarity: float | None
    """To the voice's reference (cloned voices only)."""
    seed: int
    """The seed of this take: the first one's, or a retake's."""
    attempts: int
    """Takes spoken of this utterance, the kept one among them (1: no retake)."""
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def score(self) -> float:
        """Lower is better: ten per failed check, plus the WER, plus the length's relative error."""
        wer = 0.0 if math.isnan(self.wer) else self.wer
        return FAILED_CHECK_POINTS * len(self.problems) + wer + abs(self.duration_s / max(self.expected_s, 1e-3) - 1)

    def to_meta(self, gate_id: str) -> dict[str, Any]:
        """The figures for a take's sidecar, marked with the :func:`gate_digest` they were measured by."""
        return {**asdict(self), "problems": list(self.problems), "gate": gate_id}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], gate_id: str) -> TakeQA | None:
        """The figures stored with a take, if they were measured by the gate ``gate_id``
        (its :func:`gate_digest`, worked out once by the caller); else None."""
        qa = meta.get("qa")
        if not isinstance(qa, dict) or qa.get("gate") != gate_id:
            return None
        fields = {k: v for k, v in qa.items() if k != "gate"}
        return cls(**{**fields, "problems": tuple(fields.get("problems", ()))})


def gate_digest(gate: QualityGate) -> str:
    """What a stored check depends on: the checks' format, the limits and the ASR model."""
    from castline.asr import asr_model_dir

    return digest({"format": QA_FORMAT, "gate": gate.model_dump(exclude={"mode", "retakes"}), "asr": str(asr_model_dir())})


def retake_seed(seed: int, attempt: int) -> int:
    """The seed of retake ``attempt`` (1, 2...) of a take first seeded ``seed``: fixed, so a
    render from nothing makes the same retakes."""
    return int(digest({"seed": seed, "retake": attempt})[:8], 16)


def signal_figures(audio: np.ndarray, rate_hz: Hertz) -> tuple[Seconds, Seconds, Seconds, int]:
    """``(lead_s, trail_s, longest_pause_s, clipped_samples)`` of a take.

    A frame of :data:`FRAME_S` is silent when its RMS is more than :data:`SILENCE_BELOW_PEAK_DB`
    below the take's peak (or under :data:`SILENCE_FLOOR_DB`); a take with no sound at all is
    silence from end to end. Clipped samples are those in runs of :data:`CLIP_RUN` or more at
    full scale (0.999), which a limiter never leaves.
    """
    x = np.asarray(audio, dtype=np.float32)
    frame = max(1, int(FRAME_S * rate_hz))
    n = x.size // frame
    if n == 0:
        length = x.size / rate_hz
        return length, length, 0.0, 0
    rms = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    peak = float(np.max(np.abs(x)))
    floor = max(peak * 10 ** (-SILENCE_BELOW_PEAK_DB / 20), 10 ** (SILENCE_FLOOR_DB / 20))
    sound = np.flatnonzero(rms >= floor)
    if sound.size == 0:
        length = x.size / rate_hz
        return length, length, 0.0, 0
    lead = sound[0] * frame / rate_hz
    trail = (x.size - (sound[-1] + 1) * frame) / rate_hz
    gaps = np.diff(sound) - 1
    pause = float(gaps.max()) * frame / rate_hz if gaps.size else 0.0
    full = np.abs(x) >= 0.999
    clipped = 0
    if full.any():
        edges = np.diff(np.concatenate(([0], full.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        clipped = int(sum(e - s for s, e in zip(starts, ends) if e - s >= CLIP_RUN))
    return lead, trail, pause, clipped


def _reference_embedding(voice: VoiceProfile) -> np.ndarray | None:
    """The speaker embedding of a cloned voice's reference clip (None without one)."""
    if voice.reference is None:
        return None
    return _clip_embedding(str(voice.reference.audio))


@functools.lru_cache(maxsize=16)
def _clip_embedding(path: str) -> np.ndarray:
    from castline.ffmpeg import read_audio
    from voices.voice_check import EMBED_RATE_HZ, SpeakerEncoder

    audio, _ = read_audio(Path(path), EMBED_RATE_HZ)
    return SpeakerEncoder.shared().embed(audio, EMBED_RATE_HZ)


def _similarity(voice: VoiceProfile, audio: np.ndarray, rate_hz: Hertz) -> float | None:
    if not engine_class(voice).clones:
        return None
    reference = _reference_embedding(voice)
    if reference is None:
        return None
    from voices.voice_check import SpeakerEncoder, similarity

    try:
        return similarity(SpeakerEncoder.shared().embed(audio, rate_hz), reference)
    except ValueError:  # silent: nothing to compare (and failed on silence already)
        return 0.0


def _rates(batch: Sequence[Utterance], audios: Sequence[np.ndarray], rate_hz: Hertz) -> dict[str, float]:
    """Characters per second of each voice in the batch (its median), where there are enough takes."""
    by_voice: dict[str, list[float]] = defaultdict(list)
    for u, audio in zip(batch, audios):
        if audio.size:
            by_voice[u.voice].append(len(u.text) / (audio.size / rate_hz))
    return {v: median(r) for v, r in by_voice.items() if len(r) >= MIN_TAKES_FOR_RATE}


def _misheard(expected: list[str], heard: list[str], gate: QualityGate) -> bool:
    """Whether what was heard differs from the text enough to fail the take (see the module docstring)."""
    errors = word_errors(expected, heard)
    wrong = round(errors * len(expected)) if expected else len(heard)
    return errors > gate.max_wer and wrong >= MIN_WORD_ERRORS and character_errors(expected, heard) > gate.max_cer


def check_takes(
    batch: Sequence[Utterance], audios: Sequence[np.ndarray], rate_hz: Hertz, voices: Mapping[str, VoiceProfile],
    language: str, gate: QualityGate, *, seeds: Sequence[int], attempts: int = 1,
    chars_per_s: Mapping[str, float] | None = None,
) -> list[TakeQA]:
    """Check each take of ``batch`` (its ``audios`` at ``rate_hz``); ASR hears them all at once."""
    rates = dict(chars_per_s) if chars_per_s is not None else _rates(batch, audios, rate_hz)
    expected = [words(u.text, language) for u in batch]
    if hears(language):
        clips = [at_asr_rate(a, rate_hz) for a in audios]
        heard, window_of = hear_takes(clips, [u.text for u in batch], language)
    else:  # the model cannot hear this language: the other checks still run (the report says so)
        heard, window_of = [""] * len(batch), []
    doubtful = {window_of[i] for i, said in enumerate(heard) if window_of and _misheard(expected[i], said.split(), gate)}
    for i in [i for i in range(len(window_of)) if window_of[i] in doubtful]:  # heard again alone: a second opinion
        alone = " ".join(words(transcribe(clips[i], language), language))
        if word_errors(expected[i], alone.split()) < word_errors(expected[i], heard[i].split()) or not _misheard(
            expected[i], heard[i].split(), gate
        ):
            heard[i] = alone
    checked = []
    for u, audio, said, seed, wanted in zip(batch, audios, heard, seeds, expected):
        errors = word_errors(wanted, said.split()) if window_of else math.nan
        duration = audio.size / rate_hz
        expected_s = len(u.text) / rates.get(u.voice, DEFAULT_CHARS_PER_S)
        lead, trail, pause, clipped = signal_figures(audio, rate_hz)
        sim = _similarity(voices[u.voice], audio, rate_hz)
        problems = []
        if lead >= duration:
            problems.append("silent")
        if window_of and _misheard(wanted, said.split(), gate):
            problems.append(f"word error rate {errors:.2f} > {gate.max_wer:g}")
        low, high = DURATION_RANGE[0] * expected_s, DURATION_RANGE[1] * expected_s + DURATION_SLACK_S
        if not low <= duration <= high:
            problems.append(f"{duration:.2f} s long, {low:.1f}-{high:.1f} s expected")
        if lead > gate.max_lead_s:
            problems.append(f"{lead:.1f} s of silence at the start")
        if trail > gate.max_trail_s:
            problems.append(f"{trail:.1f} s of silence at the end")
        if pause > gate.max_pause_s:
            problems.append(f"{pause:.1f} s of silence inside")
        if clipped:
            problems.append(f"{clipped} clipped samples")
        if sim is not None and sim < gate.min_similarity:
            problems.append(f"speaker similarity {sim:.2f} < {gate.min_similarity:g}")
        checked.append(TakeQA(said, errors, duration, expected_s, lead, trail, pause, clipped, sim, seed, attempts,
                              tuple(problems)))
    return checked


Speak = Callable[[Sequence[Utterance], Sequence[int]], list[np.ndarray]]
"""Speaks utterances with the given seeds (on the batch's engine, at the batch's rate)."""


def best_takes(
    batch: Sequence[Utterance], audios: Sequence[np.ndarray], rate_hz: Hertz, voices: Mapping[str, VoiceProfile],
    language: str, gate: QualityGate, speak: Speak,
) -> list[tuple[np.ndarray, TakeQA]]:
    """The take to keep for each utterance with its figures: the first one if it passes, else
    the best of it and up to ``gate.retakes`` retakes (each spoken with :func:`retake_seed`)."""
    seeds = [u.seed or 0 for u in batch]
    rates = _rates(batch, audios, rate_hz)
    kept = list(zip(audios, check_takes(batch, audios, rate_hz, voices, language, gate, seeds=seeds, chars_per_s=rates)))
    for attempt in range(1, gate.retakes + 1):
        failing = [i for i, (_, qa) in enumerate(kept) if not qa.passed]
        if not failing:
            break
        retake_seeds = [retake_seed(seeds[i], attempt) for i in failing]
        again = speak([batch[i] for i in failing], retake_seeds)
        checks = check_takes([batch[i] for i in failing], again, rate_hz, voices, language, gate, seeds=retake_seeds,
                             attempts=attempt + 1, chars_per_s=rates)
        for i, audio, qa in zip(failing, again, checks):
            best = min(kept[i], (audio, qa), key=lambda take: take[1].score)
            kept[i] = (best[0], replace(best[1], attempts=attempt + 1))
    return kept


def wer_summary(wers: Sequence[float]) -> tuple[float, float]:
    """``(median, worst)`` word error rate, NaN for none."""
    return (float(median(wers)), float(max(wers))) if wers else (math.nan, math.nan)
