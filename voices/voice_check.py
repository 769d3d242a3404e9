"""Speaker similarity, and the gate a candidate voice version passes before it is published.

A candidate voice speaks a few fixed probe sentences (:data:`PROBES`). It passes when the
probes sound like its reference recordings (speaker similarity: the cosine between
resemblyzer embeddings of each probe and the mean embedding of the reference clips) and
are intelligible (word error rate of an ASR transcript against the probe text). The ASR
itself is passed in (``transcribe``, ``word_error_rate``), so this module needs only
resemblyzer, torch and scipy.

Measured similarities
---------------------
resemblyzer 0.1.4, ``VoiceEncoder("cpu")``, on ``../shared/corpus/speech``. LJ: the LJ Speech
clips LJ001-0001/0003/0005 (8-10 s, 22.05 kHz); "LJ mean": the mean embedding of the LJ
clips not being scored (all three for other speakers); joe: the bundled Piper voice
(22.05 kHz) speaking :data:`PROBES` and two more sentences (2.3-5.4 s each):

=========================================================  =============
pair                                                       cosine
=========================================================  =============
LJ clip vs another LJ clip                                 0.944 - 0.964
LJ clip vs the mean of the other two                       0.955 - 0.969
LJ 3 s pieces (probe length) vs the mean of the other two  0.855 - 0.922
LJ 2 s pieces vs the mean of the other two                 0.773 - 0.928
joe sentence vs the mean of the other joe sentences        0.895 - 0.959
LibriSpeech 1995-1837-0001 / 2412-153948-0000 vs LJ mean   0.616 / 0.553
the same, 3 s pieces                                       0.496 - 0.582
LibriVox sonnet reader / AMI headset / AISHELL vs LJ mean  0.661 / 0.537 / 0.550
joe sentences vs LJ mean                                   0.476 - 0.549
=========================================================  =============

Embeddings come out of a ReLU, so even unrelated voices score about 0.45-0.66; the same
speaker scores above 0.85 on probe-length (3 s) audio. :attr:`GateLimits.min_similarity`
is 0.75, half-way between the lowest same-speaker probe-length figure (0.855) and the
highest different-speaker one (0.661). The gate takes the mean over five probes, which
varies less than single pieces do (the mean of each LJ clip's 3 s pieces: 0.89-0.91), so
a cloned voice that loses some likeness to its reference still passes, while no other
reader measured comes within 0.09 of the limit.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np

from castline.model import Hertz

__all__ = [
    "EMBED_RATE_HZ",
    "PROBES",
    "GateLimits",
    "ProbeResult",
    "SpeakerEncoder",
    "Verdict",
    "at_embed_rate",
    "mean_embedding",
    "nearest_preset",
    "similarity",
    "validate",
]

EMBED_RATE_HZ: Hertz = 16000
"""Sample rate the speaker encoder (and the ASR of :func:`validate`) works at."""

PROBES: tuple[str, ...] = (
    "A bright yellow kite drifted high above the quiet harbor this morning.",
    "Please check whether the judge signed both forms before Thursday's meeting.",
    "Seven thin sheep grazed beside the frozen river near the old mill.",
    "Could you measure the treasure chest and bring it upstairs by noon?",
    "Our voices echo through the vast church whenever the choir sings loudly.",
)
"""The sentences a candidate voice speaks for the gate: 11-12 words each, our own text,
chosen to cover English consonants (th, sh, zh, ch, j, ng, v, z) and vowels between them."""

SILENCE_PEAK = 1e-4
"""Audio whose peak stays below this (-80 dBFS) is silence: nothing to embed or transcribe."""

_LOAD_LOCK = threading.Lock()


def at_embed_rate(audio: np.ndarray, rate_hz: Hertz) -> np.ndarray:
    """Mono float32 ``audio`` resampled from ``rate_hz`` to :data:`EMBED_RATE_HZ`.

    A 2-D array is read as ``(samples, channels)`` (soundfile's layout) and averaged to mono.
    """
    wav = np.asarray(audio, dtype=np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=1, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"audio must be mono (1-D) or (samples, channels), got shape {wav.shape}")
    if rate_hz <= 0:
        raise ValueError(f"sample rate must be positive, got {rate_hz} Hz")
    if rate_hz != EMBED_RATE_HZ and wav.size:
        from scipy.signal import resample_poly

        common = gcd(EMBED_RATE_HZ, rate_hz)
        wav = resample_poly(wav, EMBED_RATE_HZ // common, rate_hz // common).astype(np.float32)
    return wav


class SpeakerEncoder:
    """resemblyzer's ``VoiceEncoder`` on the CPU (its weights ship in the package).

    Loading takes about 0.3 s (a 17 MB checkpoint); :meth:`shared` loads it once per process.
    """

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # resemblyzer imports webrtcvad (pkg_resources) and scipy.ndimage.morphology, both deprecated.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            from resemblyzer import VoiceEncoder, preprocess_wav

        self._model: Any = VoiceEncoder("cpu", verbose=False)
        self._preprocess: Callable[..., np.ndarray] = preprocess_wav

    @classmethod
    def shared(cls) -> SpeakerEncoder:
        """The process-wide encoder, loaded on first use."""
        with _LOAD_LOCK:
            return _shared_encoder()

    def embed(self, audio: np.ndarray, rate_hz: Hertz) -> np.ndarray:
        """Unit-length float32 speaker embedding, shape ``(256,)``, of one utterance.

        :param audio: mono waveform, float in [-1, 1]; silence is trimmed before embedding.
        :param rate_hz: its sample rate in Hertz; other rates than 16 kHz are resampled.
        :raises ValueError: for empty or silent audio (no speaker to embed).
        """
        wav = at_embed_rate(audio, rate_hz)
        if not _audible(wav):
            raise ValueError(f"cannot embed {'silent' if wav.size else 'empty'} audio ({wav.size} samples)")
        wav = np.clip(wav, -1.0, 1.0)  # resemblyzer's VAD converts to int16 without clipping
        wav = self._preprocess(wav, source_sr=EMBED_RATE_HZ)
        embedding = np.asarray(self._model.embed_utterance(wav), dtype=np.float32)
        return _unit(embedding)


@functools.cache
def _shared_encoder() -> SpeakerEncoder:
    return SpeakerEncoder()


def _audible(wav: np.ndarray) -> bool:
    return bool(wav.size) and float(np.max(np.abs(wav))) >= SILENCE_PEAK


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding of zero or non-finite length has no direction")
    return (vector / norm).astype(np.float32)


def mean_embedding(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of speaker embeddings, re-normalized to unit length (a voice's reference)."""
    if not len(embeddings):
        raise ValueError("the mean of no embeddings is undefined")
    stacked = np.stack([np.asarray(e, dtype=np.float32) for e in embeddings])
    return _unit(stacked.mean(axis=0))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (1.0: same direction)."""
    u, v = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"embeddings differ in shape: {u.shape} and {v.shape}")
    return float(np.dot(_unit(u), _unit(v)))


@dataclass(frozen=True)
class GateLimits:
    """What a candidate voice must reach to be published (figures in the module docstring)."""

    min_similarity: float = 0.75
    """Lowest mean cosine between the probes and the reference mean. Measured: same speaker
    0.855-0.969, other speakers 0.476-0.661."""
    max_wer: float = 0.25
    """Highest word error rate of the ASR transcript over all probe words."""


@dataclass(frozen=True)
class ProbeResult:
    """One probe sentence as the candidate spoke it."""

    text: str
    """The probe sentence."""
    heard: str
    """What the ASR transcribed."""
    similarity: float
    """Cosine between the probe's embedding and the reference mean."""
    wer: float
    """Word error rate of ``heard`` against ``text``."""


@dataclass(frozen=True)
class Verdict:
    """The gate's decision on a candidate voice."""

    similarity: float
    """Mean speaker similarity over the probes."""
    wer: float
    """Word error rate over all probe words."""
    passed: bool
    reason: str | None
    """Why it failed (``"similarity 0.61 below 0.75"``); None when it passed."""
    probes: tuple[ProbeResult, ...]


def _figure(value: float, limit: float) -> str:
    """``value`` to 2 decimals, or 3 where 2 would print the same as the limit."""
    text = f"{value:.2f}"
    return f"{value:.3f}" if text == f"{limit:.2f}" else text


def validate(
    speak: Callable[[Sequence[str]], Sequence[tuple[np.ndarray, int]]],
    reference_mean: np.ndarray,
    *,
    transcribe: Callable[[np.ndarray, str], str],
    word_error_rate: Callable[[str, str], float],
    language: str = "en",
    probes: Sequence[str] = PROBES,
    limits: GateLimits = GateLimits(),
    encoder: SpeakerEncoder | None = None,
) -> Verdict:
    """Have a candidate voice speak ``probes`` and judge it against its reference.

    :param speak: the candidate: probe texts in, one ``(audio, rate_hz)`` per text out.
    :param reference_mean: :func:`mean_embedding` of the reference clips' embeddings.
    :param transcribe: ASR, ``(16 kHz mono float32 audio, language) -> text``.
    :param word_error_rate: ``(reference text, hypothesis) -> WER``.
    :return: the verdict; a probe spoken as empty or silent audio counts as similarity 0 and heard "".
    """
    texts = list(probes)
    if not texts:
        raise ValueError("validate needs at least one probe sentence")
    takes = list(speak(texts))
    if len(takes) != len(texts):
        raise ValueError(f"speak returned {len(takes)} takes for {len(texts)} probe sentences")
    encoder = encoder or SpeakerEncoder.shared()
    reference = _unit(np.asarray(reference_mean, dtype=np.float32))

    results = []
    for text, (audio, rate_hz) in zip(texts, takes):
        wav = at_embed_rate(audio, rate_hz)
        if _audible(wav):
            score = similarity(encoder.embed(wav, EMBED_RATE_HZ), reference)
            heard = transcribe(wav, language)
        else:
            score, heard = 0.0, ""
        results.append(ProbeResult(text=text, heard=heard, similarity=score, wer=word_error_rate(text, heard)))

    mean_similarity = float(np.mean([r.similarity for r in results]))
    overall_wer = word_error_rate(" ".join(texts), " ".join(r.heard for r in results))
    failures = []
    if mean_similarity < limits.min_similarity:
        failures.append(f"similarity {_figure(mean_similarity, limits.min_similarity)} below {limits.min_similarity:.2f}")
    if overall_wer > limits.max_wer:
        failures.append(f"word error rate {_figure(overall_wer, limits.max_wer)} above {limits.max_wer:.2f}")
    return Verdict(
        similarity=mean_similarity,
        wer=overall_wer,
        passed=not failures,
        reason="; ".join(failures) or None,
        probes=tuple(results),
    )


def nearest_preset(
    reference_mean: np.ndarray,
    presets: Mapping[str, tuple[np.ndarray, int]],
    *,
    encoder: SpeakerEncoder | None = None,
) -> tuple[str, float, dict[str, float]]:
    """The preset voice that sounds most like a reference, for engines that cannot clone (Piper).

    :param presets: preset name -> ``(a sample of its speech, rate_hz)``.
    :return: ``(name, its similarity, {every name: its similarity})``.
    """
    if not presets:
        raise ValueError("no preset voices to choose from")
    encoder = encoder or SpeakerEncoder.shared()
    reference = np.asarray(reference_mean, dtype=np.float32)
    scores = {name: similarity(encoder.embed(audio, rate_hz), reference) for name, (audio, rate_hz) in presets.items()}
    best = max(scores, key=lambda name: scores[name])
    return best, scores[best], scores
