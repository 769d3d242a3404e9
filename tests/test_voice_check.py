"""Speaker similarity and the voice gate, on real speech (LJ Speech and LibriSpeech readers)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voices.voice_check import (
    EMBED_RATE_HZ,
    PROBES,
    GateLimits,
    SpeakerEncoder,
    mean_embedding,
    nearest_preset,
    similarity,
    validate,
)

DATA = Path(__file__).parent / "data"
SPEECH_DIRS = (DATA / "speech", DATA, Path(__file__).resolve().parents[2] / "shared" / "corpus" / "speech")
LJ = ("ljspeech_LJ001-0001.wav", "ljspeech_LJ001-0003.wav", "ljspeech_LJ001-0005.wav")
LIBRI = "librispeech_1995-1837-0001.wav"

Take = tuple[np.ndarray, int]


def load_speech(name: str) -> Take:
    """A speech clip from tests/data/speech (or tests/data), else the shared corpus; skips if absent."""
    for folder in SPEECH_DIRS:
        if (folder / name).is_file():
            audio, rate_hz = sf.read(folder / name, dtype="float32")
            return audio, rate_hz
    pytest.skip(f"speech clip {name} is in none of {[str(d) for d in SPEECH_DIRS]}")


def word_error_rate(ref: str, hyp: str) -> float:
    """Word-level Levenshtein distance over reference words (the real one lives in enroll_audio)."""
    r = [w.strip(".,?!'").lower() for w in ref.split()]
    h = [w.strip(".,?!'").lower() for w in hyp.split()]
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
    return row[-1] / max(len(r), 1)


class ReadsProbes:
    """A fake ASR that 'hears' each probe text in turn, and records the audio it was given."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = iter(texts)
        self.lengths: list[int] = []

    def __call__(self, audio16k: np.ndarray, language: str) -> str:
        assert language == "en"
        self.lengths.append(len(audio16k))
        return next(self._texts)


def speaking(takes: Sequence[Take]):
    """A candidate that ignores the probe texts and plays ``takes`` in turn."""

    def speak(texts: Sequence[str]) -> list[Take]:
        clips = cycle(takes)
        return [next(clips) for _ in texts]

    return speak


@pytest.fixture(scope="module")
def encoder(torch_one_thread) -> SpeakerEncoder:
    return SpeakerEncoder.shared()


@pytest.fixture(scope="module")
def clips() -> dict[str, Take]:
    return {name: load_speech(name) for name in (*LJ, LIBRI)}


@pytest.fixture(scope="module")
def embeddings(encoder: SpeakerEncoder, clips: dict[str, Take]) -> dict[str, np.ndarray]:
    return {name: encoder.embed(audio, rate_hz) for name, (audio, rate_hz) in clips.items()}


@pytest.fixture(scope="module")
def lj_mean(embeddings: dict[str, np.ndarray]) -> np.ndarray:
    return mean_embedding([embeddings[name] for name in LJ])


def test_embedding_is_unit_length_float32(embeddings: dict[str, np.ndarray]) -> None:
    for vector in embeddings.values():
        assert vector.shape == (256,) and vector.dtype == np.float32
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_shared_encoder_is_loaded_once(encoder: SpeakerEncoder) -> None:
    assert SpeakerEncoder.shared() is encoder


def test_resampling_to_16k_gives_nearly_the_same_embedding(encoder: SpeakerEncoder, clips, embeddings) -> None:
    from scipy.signal import resample_poly

    audio, rate_hz = clips[LJ[0]]
    assert rate_hz == 22050
    at_16k = resample_poly(audio, 320, 441).astype(np.float32)
    assert similarity(encoder.embed(at_16k, EMBED_RATE_HZ), embeddings[LJ[0]]) > 0.999


def test_same_reader_scores_higher_than_another_reader(embeddings: dict[str, np.ndarray], lj_mean: np.ndarray) -> None:
    same = [similarity(embeddings[name], mean_embedding([embeddings[o] for o in LJ if o != name])) for name in LJ]
    other = similarity(embeddings[LIBRI], lj_mean)
    assert min(same) > 0.9  # measured 0.955-0.969
    assert other < 0.7  # measured 0.616
    assert min(same) > other + 0.2
    assert min(same) > GateLimits().min_similarity > other


def test_mean_embedding_is_the_normalized_mean(embeddings: dict[str, np.ndarray]) -> None:
    vectors = [embeddings[name] for name in LJ]
    mean = mean_embedding(vectors)
    assert np.linalg.norm(mean) == pytest.approx(1.0, abs=1e-6)
    expected = np.mean(vectors, axis=0)
    np.testing.assert_allclose(mean, expected / np.linalg.norm(expected), atol=1e-6)
    with pytest.raises(ValueError):
        mean_embedding([])


def test_similarity_is_the_cosine() -> None:
    a, b = np.array([1.0, 0.0, 1.0]), np.array([0.0, 2.0, 0.0])
    assert similarity(a, 3 * a) == pytest.approx(1.0)
    assert similarity(a, b) == pytest.approx(0.0)
    assert similarity(a, np.array([1.0, 0.0, 0.0])) == pytest.approx(1 / np.sqrt(2))
    with pytest.raises(ValueError):
        similarity(a, np.ones(2))


def test_probes_are_five_varied_sentences() -> None:
    assert len(PROBES) == len(set(PROBES)) == 5
    assert all(6 <= len(p.split()) <= 14 for p in PROBES)


def test_the_reference_reader_passes(encoder: SpeakerEncoder, clips: dict[str, Take], lj_mean: np.ndarray) -> None:
    takes = [clips[name] for name in LJ]
    asr = ReadsProbes(PROBES)
    verdict = validate(speaking(takes), lj_mean, transcribe=asr, word_error_rate=word_error_rate, encoder=encoder)
    assert verdict.passed and verdict.reason is None
    assert verdict.wer == 0.0
    assert verdict.similarity > 0.9
    assert [p.text for p in verdict.probes] == list(PROBES) == [p.heard for p in verdict.probes]
    assert all(p.similarity > GateLimits().min_similarity and p.wer == 0.0 for p in verdict.probes)
    # The ASR hears 16 kHz audio, resampled from LJ Speech's 22.05 kHz.
    spoken = [takes[i % len(takes)] for i in range(len(PROBES))]
    assert asr.lengths == pytest.approx([len(audio) * EMBED_RATE_HZ / rate_hz for audio, rate_hz in spoken], abs=1)


def test_another_reader_is_rejected_for_similarity(encoder: SpeakerEncoder, clips, lj_mean: np.ndarray) -> None:
    probes = PROBES[:2]
    verdict = validate(
        speaking([clips[LIBRI]]),
        lj_mean,
        transcribe=ReadsProbes(probes),
        word_error_rate=word_error_rate,
        probes=probes,
        encoder=encoder,
    )
    assert not verdict.passed
    assert verdict.similarity < 0.7
    assert verdict.reason == f"similarity {verdict.similarity:.2f} below 0.75"


def test_garbled_speech_is_rejected_for_word_error_rate(encoder: SpeakerEncoder, clips, lj_mean: np.ndarray) -> None:
    probes = PROBES[:2]
    verdict = validate(
        speaking([clips[LJ[0]]]),
        lj_mean,
        transcribe=lambda audio, language: "zorp blen quax",
        word_error_rate=word_error_rate,
        probes=probes,
        encoder=encoder,
    )
    assert not verdict.passed
    assert verdict.similarity > 0.9
    assert verdict.wer > 0.9
    assert verdict.reason == f"word error rate {verdict.wer:.2f} above 0.25"


def test_both_failures_are_reported_and_empty_or_silent_takes_count_as_nothing(encoder: SpeakerEncoder, lj_mean) -> None:
    verdict = validate(
        speaking([(np.zeros(0, dtype=np.float32), 22050), (np.zeros(16000, dtype=np.float32), 16000)]),
        lj_mean,
        transcribe=lambda audio, language: pytest.fail("audio without sound is not transcribed"),
        word_error_rate=word_error_rate,
        probes=PROBES[:2],
        encoder=encoder,
    )
    assert all(p.similarity == 0.0 and p.heard == "" for p in verdict.probes)
    assert verdict.reason == "similarity 0.00 below 0.75; word error rate 1.00 above 0.25"


def test_empty_or_silent_audio_has_no_embedding(encoder: SpeakerEncoder) -> None:
    with pytest.raises(ValueError, match="empty"):
        encoder.embed(np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="silent"):
        encoder.embed(np.zeros(22050, dtype=np.float32), 22050)


def test_a_candidate_must_speak_every_probe(encoder: SpeakerEncoder, lj_mean: np.ndarray) -> None:
    with pytest.raises(ValueError, match="1 takes for 2 probe"):
        validate(
            lambda texts: [(np.zeros(16000, dtype=np.float32), 16000)],
            lj_mean,
            transcribe=ReadsProbes(PROBES),
            word_error_rate=word_error_rate,
            probes=PROBES[:2],
            encoder=encoder,
        )


def test_nearest_preset_picks_the_same_reader(encoder: SpeakerEncoder, clips, embeddings) -> None:
    reference = mean_embedding([embeddings[LJ[0]], embeddings[LJ[1]]])
    name, score, scores = nearest_preset(reference, {"libri": clips[LIBRI], "lj": clips[LJ[2]]}, encoder=encoder)
    assert name == "lj"
    assert score == scores["lj"] > scores["libri"] + 0.2
    assert set(scores) == {"lj", "libri"}
    with pytest.raises(ValueError):
        nearest_preset(reference, {}, encoder=encoder)
