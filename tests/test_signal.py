"""Long audio on disk, a chunk at a time: the same samples as the whole array gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from tasks.master import LevelMeter, measure_levels
from tasks.signal import CHUNK_SAMPLES, Signal, SignalWriter, resample_signal


def write(path: Path, samples: np.ndarray, rate: int) -> Signal:
    with SignalWriter(path, rate) as writer:
        for start in range(0, samples.size, 777_777):  # chunks that align with nothing
            writer.write(samples[start : start + 777_777])
    return writer.signal


@pytest.mark.parametrize("from_hz, to_hz", [(22050, 44100), (32000, 44100), (48000, 44100), (44100, 22050)])
def test_chunked_resampling_equals_resampling_the_whole_array(tmp_path: Path, from_hz: int, to_hz: int) -> None:
    x = (np.random.default_rng(3).standard_normal(int(2.3 * CHUNK_SAMPLES * from_hz / to_hz)) * 0.2).astype(np.float32)
    out = resample_signal(write(tmp_path / "x.f32", x, from_hz), to_hz, tmp_path / "y.f32")
    whole = resample_poly(x, to_hz // np.gcd(from_hz, to_hz), from_hz // np.gcd(from_hz, to_hz))
    assert out.n_samples == whole.size and out.n_samples > 2 * CHUNK_SAMPLES and out.sample_rate == to_hz
    assert np.array_equal(out.read(0, out.n_samples), whole.astype(np.float32))


def test_reads_are_clipped_to_the_signal_and_chunks_cover_it(tmp_path: Path) -> None:
    x = np.arange(10, dtype=np.float32)
    signal = write(tmp_path / "x.f32", x, 8000)
    assert signal.read(-5, 3).tolist() == [0, 1, 2] and signal.read(8, 99).tolist() == [8, 9] and signal.read(12, 20).size == 0
    assert np.array_equal(np.concatenate([c for _, c in signal.chunks(4)]), x)
    assert resample_signal(signal, 8000, tmp_path / "same.f32") is signal


def test_levels_seen_a_chunk_at_a_time_are_the_levels_of_the_whole() -> None:
    rate = 44100
    x = (np.random.default_rng(1).standard_normal(rate * 7) * 0.1).astype(np.float32)
    x[rate : 2 * rate] *= np.float32(0.001)  # a quiet second: the noise floor
    meter = LevelMeter(rate)
    for start in range(0, x.size, 12_345):
        meter.add(x[start : start + 12_345])
    chunked, whole = meter.levels(), measure_levels(x, rate)
    assert chunked.peak_db == whole.peak_db and chunked.duration_s == whole.duration_s == 7.0
    assert chunked.rms_db == pytest.approx(whole.rms_db, abs=1e-9)
    assert chunked.noise_floor_db == pytest.approx(whole.noise_floor_db, abs=1e-9) and whole.noise_floor_db < -75
