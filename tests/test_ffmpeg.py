"""castline.ffmpeg: running ffmpeg honestly, probing, measuring levels, decoding."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castline.errors import AudioError, FFmpegError
from castline.ffmpeg import LoudnessStats, measure_loudness, probe, read_audio, run_ffmpeg

DATA = Path(__file__).parent / "data"
RATE = 44100


def _sine(seconds: float, amplitude: float, rate: int = RATE, hz: float = 997.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_run_ffmpeg_returns_its_log_and_logs_the_command(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "tone.wav"
    with caplog.at_level(logging.INFO, logger="castline.ffmpeg"):
        stderr = run_ffmpeg(["-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", str(out)])
    assert out.is_file() and out.stat().st_size > 0
    assert "Output #0" in stderr  # ffmpeg's own log comes back
    assert any("sine=frequency=440" in record.getMessage() for record in caplog.records)


def test_run_ffmpeg_feeds_input_bytes_on_stdin(tmp_path: Path) -> None:
    samples = _sine(0.25, 0.5)
    out = tmp_path / "piped.wav"
    run_ffmpeg(["-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0", str(out)],
               input_bytes=samples.tobytes())
    decoded, rate = sf.read(out, dtype="float32")
    assert rate == RATE and decoded.size == samples.size


def test_failure_raises_ffmpeg_error_with_command_and_message(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.wav"
    with pytest.raises(FFmpegError) as caught:
        run_ffmpeg(["-i", str(missing), "-f", "null", "-"])
    err = caught.value
    assert err.returncode != 0
    assert str(missing) in err.command
    assert "No such file or directory" in err.stderr
    assert str(missing) in str(err) and "No such file or directory" in str(err)


def test_missing_binary_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTLINE_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(FFmpegError) as caught:
        run_ffmpeg(["-version"])
    assert caught.value.returncode == 127
    assert "CASTLINE_FFMPEG" in caught.value.stderr


def test_probe_lists_format_streams_and_chapters(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    sf.write(path, _sine(1.0, 0.5), RATE, subtype="PCM_24")
    info = probe(path)
    assert info["format"]["format_name"] == "flac"
    assert float(info["format"]["duration"]) == pytest.approx(1.0, abs=1e-3)
    (stream,) = info["streams"]
    assert stream["codec_type"] == "audio" and int(stream["sample_rate"]) == RATE
    assert info["chapters"] == []


def test_probe_of_garbage_raises(tmp_path: Path) -> None:
    path = tmp_path / "garbage.m4b"
    path.write_bytes(b"this is not media" * 100)
    with pytest.raises(FFmpegError):
        probe(path)


def test_measure_loudness_on_known_signals(tmp_path: Path) -> None:
    # 1 s of silence-free noise floor (a -80 dBFS sine), then 2 s of a -6 dBFS sine.
    quiet, loud = _sine(1.0, 10 ** (-80 / 20)), _sine(2.0, 10 ** (-6 / 20))
    path = tmp_path / "known.wav"
    sf.write(path, np.concatenate([quiet, loud]), RATE, subtype="FLOAT")
    stats = measure_loudness(path)
    assert isinstance(stats, LoudnessStats)
    assert stats.peak_db == pytest.approx(-6.0, abs=0.01)
    # RMS of a sine is peak - 3.01 dB; 2 s of it in 3 s adds 10*log10(2/3).
    assert stats.rms_db == pytest.approx(-6.0 - 3.0103 + 10 * math.log10(2 / 3), abs=0.02)
    assert -85 < stats.noise_floor_db < -70  # the quiet second
    assert stats.true_peak_dbtp == pytest.approx(-6.0, abs=0.2)
    assert stats.duration_s == pytest.approx(3.0, abs=1e-6)
    assert -15 < stats.integrated_lufs < -5


def test_measure_loudness_reads_a_log_that_does_not_grow_with_the_file(tmp_path: Path, monkeypatch) -> None:
    import castline.ffmpeg as ffmpeg

    logs: list[str] = []

    def recording(args, **kwargs):
        logs.append(run_ffmpeg(args, **kwargs))
        return logs[-1]

    monkeypatch.setattr(ffmpeg, "run_ffmpeg", recording)
    path = tmp_path / "minute.flac"
    sf.write(path, _sine(60.0, 0.5), RATE)
    assert measure_loudness(path).duration_s == pytest.approx(60.0)
    assert len(logs[0]) < 5_000  # ebur128 logs every 100 ms at info level: 75 kB for this minute


def test_measure_loudness_reports_digital_silence_as_minus_infinity(tmp_path: Path) -> None:
    path = tmp_path / "gap.wav"
    sf.write(path, np.concatenate([np.zeros(RATE, np.float32), _sine(1.0, 0.5)]), RATE, subtype="PCM_16")
    assert measure_loudness(path).noise_floor_db == -math.inf


def test_measure_loudness_needs_audio(tmp_path: Path) -> None:
    image = tmp_path / "cover.png"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(image)])
    with pytest.raises(AudioError, match="no audio stream"):
        measure_loudness(image)


def test_read_audio_decodes_to_float32_mono_at_the_native_rate() -> None:
    audio, rate = read_audio(DATA / "ljspeech_LJ001-0001.wav")
    info = sf.info(str(DATA / "ljspeech_LJ001-0001.wav"))
    assert rate == info.samplerate
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size == info.frames
    expected, _ = sf.read(DATA / "ljspeech_LJ001-0001.wav", dtype="float32")
    np.testing.assert_allclose(audio, expected, atol=1e-6)


def test_read_audio_resamples_and_downmixes(tmp_path: Path) -> None:
    left, right = _sine(1.0, 0.5, rate=48000), np.zeros(48000, np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 48000, subtype="PCM_24")
    audio, rate = read_audio(path, sample_rate=16000)
    assert rate == 16000 and audio.size == pytest.approx(16000, abs=2)
    assert float(np.abs(audio[1000:-1000]).max()) == pytest.approx(0.25, abs=0.01)  # mean of L and R


def test_read_audio_rejects_bad_files_naming_them(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "absent.wav")
    garbage = tmp_path / "clip.wav"
    garbage.write_bytes(b"RIFF....WAVEfmt " + bytes(100))
    with pytest.raises(AudioError) as caught:
        read_audio(garbage)
    assert str(garbage) in str(caught.value)


def test_an_ffmpeg_error_quotes_a_huge_command_and_log_shortened() -> None:
    from castline.errors import FFmpegError

    error = FFmpegError(["ffmpeg", "-metadata", "title=" + "x" * 140_000, *["-i", "a.flac"] * 1000], 1, "y" * 100_000 + "\nlast")
    assert len(str(error)) < 4000 and str(error).startswith("ffmpeg exited with code 1: ffmpeg -metadata title=xxx")
    assert str(error).endswith("last") and "(140006 characters)" in str(error)
