"""The dialogue stem: takes at their exact samples, summed where they overlap, in flat memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from tasks.dialogue import DialogueStemWriter, write_dialogue_stem, write_wav
from tasks.master import resample
from tasks.signal import Signal, SignalWriter

RATE = 8000


def stem_of(tmp_path: Path, placements: list[tuple[float, np.ndarray]], timeline_s: float = 2.0) -> np.ndarray:
    signal = write_dialogue_stem(placements, timeline_s, RATE, tmp_path / "stem.f32")
    assert signal.n_samples == round(timeline_s * RATE) and signal.sample_rate == RATE
    return signal.read(0, signal.n_samples)


def test_takes_land_at_their_exact_samples(tmp_path: Path) -> None:
    a, b = np.full(100, 0.25, dtype=np.float32), np.arange(1, 51, dtype=np.float32) / 100
    stem = stem_of(tmp_path, [(0.5, a), (1.10006, b)])  # 1.10006 s is sample 8800.48: 8800
    assert stem.size == 16_000
    assert np.array_equal(stem[4000:4100], a) and np.array_equal(stem[8800:8850], b)
    assert not stem[:4000].any() and not stem[4100:8800].any() and not stem[8850:].any()


def test_overlapping_takes_sum_and_the_timeline_end_cuts(tmp_path: Path) -> None:
    ones = np.ones(1000, dtype=np.float32)
    stem = stem_of(tmp_path, [(0.5, ones), (0.55, ones), (0.55, ones), (1.95, ones)])
    assert np.all(stem[4000:4400] == 1.0) and np.all(stem[4400:5000] == 3.0) and np.all(stem[5000:5400] == 2.0)
    assert not stem[5400:15_600].any() and np.all(stem[15_600:] == 1.0)


def test_an_empty_dub_is_silence_of_the_timelines_length(tmp_path: Path) -> None:
    stem = stem_of(tmp_path, [], timeline_s=3.00007)
    assert stem.size == 24_001 and not stem.any()


def test_takes_out_of_order_or_not_mono_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="start order"):
        write_dialogue_stem([(1.0, np.ones(10)), (0.5, np.ones(10))], 2.0, RATE, tmp_path / "a.f32")
    with pytest.raises(ValueError, match="mono"):
        write_dialogue_stem([(1.0, np.ones((10, 2)))], 2.0, RATE, tmp_path / "b.f32")


def test_a_two_hour_stem_holds_only_the_takes_in_memory(tmp_path: Path) -> None:
    take = np.full(RATE, 0.5, dtype=np.float32)  # 1 s takes, 10 minutes apart
    tracemalloc.start()
    try:
        with DialogueStemWriter(tmp_path / "film.f32", 7200.0, RATE) as stem:
            for minute in range(0, 120, 10):
                stem.place(minute * 60.0 + 0.5, take)
                assert stem.buffered_samples == take.size
            signal = stem.close()
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert signal.n_samples == 7200 * RATE  # the whole timeline would be 230 MB of float32
    assert peak_bytes < 16e6
    assert np.all(signal.read(600 * RATE + RATE // 2, 601 * RATE + RATE // 2) == 0.5)
    assert not signal.read(601 * RATE + RATE // 2, 602 * RATE).any()


def test_wav_is_24_bit_at_the_asked_rate_with_the_right_length(tmp_path: Path) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)).astype(np.float32)
    with SignalWriter(tmp_path / "stem.f32", 22050) as writer:
        writer.write(tone)
        writer.write(np.full(10, 1.5, dtype=np.float32))  # summed takes past full scale
    out = tmp_path / "dialogue.wav"
    write_wav(writer.signal, out, sample_rate=48_000)
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (48_000, 1, "PCM_24", "WAV")
    assert info.frames == -(-(22050 + 10) * 320 // 147)  # resample_poly's length: ceil(n * 48000 / 22050)
    back, _ = soundfile.read(str(out), dtype="float32")
    assert float(np.max(np.abs(back))) <= 1.0 and float(np.max(np.abs(back[12_000:36_000]))) == pytest.approx(0.5, abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dialogue.wav", "stem.f32"]  # no temporary file left
    write_wav(writer.signal, out, bits=16)
    native = soundfile.info(str(out))
    assert (native.samplerate, native.subtype, native.frames) == (22050, "PCM_16", 22060)
    with pytest.raises(ValueError, match="bits"):
        write_wav(Signal(tmp_path / "stem.f32", 10, 22050), out, bits=12)


def test_a_take_resamples_as_resample_poly_does() -> None:
    take = (np.random.default_rng(0).standard_normal(22050) * 0.1).astype(np.float32)
    out = resample(take, 22050, 48_000)  # what the dub does to each take before placing it
    assert out.dtype == np.float32 and np.array_equal(out, resample_poly(take, 320, 147).astype(np.float32))
    assert np.array_equal(resample(take, 22050, 22050), take)
