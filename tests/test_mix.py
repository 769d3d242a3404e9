"""tasks.mix: the ducked dub mix and its EBU R128 mastering, on real and generated media,
measured with numpy and with ffmpeg's ebur128."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castline.errors import InputError
from castline.ffmpeg import measure_loudness, read_audio, run_ffmpeg
from tasks.media import MediaInfo, probe_media
from tasks.mix import Ducking, LoudnessTarget, master_loudness, mix_dub

RATE_HZ = 48000
BURST_S = (2.0, 4.0)
"""Where the tone-burst "speech" of the generated stem sits."""


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def _window(x: np.ndarray, start_s: float, stop_s: float) -> np.ndarray:
    return x[round(start_s * RATE_HZ) : round(stop_s * RATE_HZ)]


def _stem(path: Path, samples: np.ndarray) -> Path:
    sf.write(path, samples.astype(np.float32), RATE_HZ, subtype="FLOAT", format="WAV")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mix")


@pytest.fixture(scope="module")
def steady_video(folder: Path) -> MediaInfo:
    """8 s of a tiny black video over a steady 220 Hz tone (-12 dBFS peak, AAC stereo)."""
    path = folder / "steady.mp4"
    picture = ["-f", "lavfi", "-i", "color=c=black:s=64x48:r=10:d=8"]
    tone = ["-f", "lavfi", "-i", f"sine=f=220:sample_rate={RATE_HZ}:d=8", "-af", "volume=2", "-ac", "2"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k"]
    run_ffmpeg(["-v", "error", "-y", *picture, *tone, *codecs, str(path)])
    return probe_media(path)


@pytest.fixture(scope="module")
def burst_stem(folder: Path) -> tuple[Path, np.ndarray]:
    """8 s of silence with a 1 kHz tone burst at -10 dBFS from 2 to 4 s."""
    t = np.arange(8 * RATE_HZ) / RATE_HZ
    speech = np.where((t >= BURST_S[0]) & (t < BURST_S[1]), 0.3 * np.sin(2 * np.pi * 1000 * t), 0.0)
    return _stem(folder / "burst.wav", speech), speech


@pytest.fixture(scope="module")
def speech_stem(folder: Path, data_dir: Path) -> tuple[Path, np.ndarray]:
    """LJ Speech LJ001-0001 (9.7 s of read speech) placed at 1 s in 12 s of silence."""
    speech, _ = read_audio(data_dir / "ljspeech_LJ001-0001.wav", RATE_HZ)
    stem = np.zeros(12 * RATE_HZ, dtype=np.float32)
    stem[RATE_HZ : RATE_HZ + speech.size] = speech
    return _stem(folder / "speech.wav", stem), stem


def _background(mix_wav: Path, stem: np.ndarray) -> np.ndarray:
    """What the mix holds besides the dialogue (which is in both channels at unity gain)."""
    mix, rate = sf.read(mix_wav, dtype="float64", always_2d=True)
    assert rate == RATE_HZ and mix.shape == (stem.size, 2)
    return mix - stem[:, None]


@pytest.mark.parametrize("depth_db", [-12.0, -20.0])
def test_the_background_is_lowered_by_the_depth_under_speech_and_comes_back(
    folder: Path, steady_video: MediaInfo, burst_stem: tuple[Path, np.ndarray], depth_db: float
) -> None:
    stem_wav, stem = burst_stem
    ducking = Ducking(depth_db=depth_db)
    out = folder / f"ducked{depth_db:g}.wav"
    mix_dub(stem_wav, steady_video, out, ducking=ducking)
    background = _background(out, stem)
    before = _level_db(_window(background, 0.5, 1.5))
    during = _level_db(_window(background, BURST_S[0] + 0.1, BURST_S[1]))
    back_s = BURST_S[1] + ducking.hold_s + 5 * ducking.release_s  # five release time constants
    after = _level_db(_window(background, back_s, 8.0))
    assert before > -25  # the original's tone is there
    assert during - before == pytest.approx(depth_db, abs=0.5)  # exact by construction, up to AAC
    assert abs(after - before) <= 1.0
    # the gate opens three attack time constants ahead: already 95 % down when speech starts
    onset = _level_db(_window(background, BURST_S[0], BURST_S[0] + 0.01))
    assert onset - before < 0.9 * depth_db


def test_real_speech_ducks_the_background_through_its_pauses(
    folder: Path, steady_video: MediaInfo, speech_stem: tuple[Path, np.ndarray]
) -> None:
    stem_wav, stem = speech_stem
    out = folder / "speech_mix.wav"
    mix_dub(stem_wav, steady_video, out)
    background = _background(out, stem)
    before = _level_db(_window(background, 0.2, 0.8))
    step_db = [_level_db(_window(background, s, s + 0.5)) - before for s in np.arange(1.5, 8.0, 0.5)]
    assert np.median(step_db) == pytest.approx(-12.0, abs=1.0)
    assert max(step_db) < -6.0  # no half-second in the speech where the background is back up


def test_replace_mode_and_no_original_give_the_dialogue_alone(
    folder: Path, steady_video: MediaInfo, burst_stem: tuple[Path, np.ndarray]
) -> None:
    stem_wav, stem = burst_stem
    mix_dub(stem_wav, steady_video, folder / "replaced.wav", mode="replace")
    mix_dub(stem_wav, None, folder / "alone.wav")
    for name in ("replaced", "alone"):
        assert np.max(np.abs(_background(folder / f"{name}.wav", stem))) < 1e-6


LONGER_AND_SHORTER = [
    ("moviepy_smpte-2997.mp4", 7.123457),  # the original is longer: cut
    ("lhotse_big_buck_bunny_small_5.1ch.mp4", 7.654321),  # shorter: padded with silence
]


@pytest.mark.parametrize("video, length_s", LONGER_AND_SHORTER)
def test_the_mix_has_the_stem_length_to_the_sample(folder: Path, data_dir: Path, video: str, length_s: float) -> None:
    stem_wav = _stem(folder / "silent_stem.wav", np.zeros(round(length_s * RATE_HZ)))
    out = folder / "length.wav"
    mix_dub(stem_wav, probe_media(data_dir / "video" / video), out)
    info = sf.info(str(out))
    assert (info.frames, info.samplerate, info.channels) == (round(length_s * RATE_HZ), RATE_HZ, 2)
    assert info.subtype == "FLOAT"


def test_a_5_1_original_is_downmixed_to_stereo(folder: Path, data_dir: Path) -> None:
    """With no speech the mix is the original's audio, downmixed as ffmpeg's -ac 2 does it."""
    video = data_dir / "video" / "lhotse_big_buck_bunny_small_5.1ch.mp4"
    info = probe_media(video)
    assert info.audio[0].channels == 6
    n_samples = round(5.0 * RATE_HZ)
    out = folder / "downmix.wav"
    mix_dub(_stem(folder / "quiet.wav", np.zeros(n_samples)), info, out)
    mix, _ = sf.read(out, dtype="float32", always_2d=True)
    reference = folder / "reference.f32"
    downmix = ["-map", "0:a:0", "-ac", "2", "-ar", str(RATE_HZ), "-f", "f32le"]
    run_ffmpeg(["-v", "error", "-y", "-i", str(video), *downmix, str(reference)])
    expected = np.fromfile(reference, dtype="<f4").reshape(-1, 2)[:n_samples]
    assert mix.shape == (n_samples, 2)
    assert _level_db(mix) > -40  # the film's sound, not silence
    np.testing.assert_allclose(mix, expected, atol=1e-5)


def test_the_dialogue_goes_to_the_centre_of_a_5_1_mix(folder: Path, burst_stem: tuple[Path, np.ndarray]) -> None:
    stem_wav, stem = burst_stem
    out = folder / "surround.wav"
    mix_dub(stem_wav, None, out, channels=6)
    mix, _ = sf.read(out, dtype="float64", always_2d=True)
    np.testing.assert_allclose(mix[:, 2], stem, atol=1e-6)
    assert np.max(np.abs(np.delete(mix, 2, axis=1))) == 0.0


def test_bad_settings_are_refused(folder: Path, steady_video: MediaInfo, burst_stem: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="depth_db"):
        Ducking(depth_db=6.0)
    with pytest.raises(ValueError, match="release_s"):
        Ducking(release_s=0.0)
    with pytest.raises(ValueError, match="channels"):
        mix_dub(burst_stem[0], steady_video, folder / "x.wav", channels=4)
    with pytest.raises(ValueError, match="stream 0 is not an audio stream"):
        mix_dub(burst_stem[0], steady_video, folder / "x.wav", audio_index=0)
    junk = folder / "stem.txt"
    junk.write_text("not audio\n")
    with pytest.raises(InputError, match="not a video or audio file ffmpeg can read"):
        mix_dub(junk, steady_video, folder / "x.wav")
    assert not (folder / "x.wav").exists()


@pytest.fixture(scope="module")
def film_mix(folder: Path, data_dir: Path, speech_stem: tuple[Path, np.ndarray]) -> Path:
    """Real speech ducked over the Big Buck Bunny 5.1 soundtrack (downmixed)."""
    out = folder / "film_mix.wav"
    mix_dub(speech_stem[0], probe_media(data_dir / "video" / "lhotse_big_buck_bunny_small_5.1ch.mp4"), out)
    return out


@pytest.mark.parametrize("integrated_lufs", [-23.0, -16.0])
def test_mastering_meets_the_loudness_target(folder: Path, film_mix: Path, integrated_lufs: float) -> None:
    out = folder / f"master{integrated_lufs:g}.wav"
    stats = master_loudness(film_mix, out, LoudnessTarget(integrated_lufs=integrated_lufs))
    measured = measure_loudness(out)
    assert measured == stats
    assert abs(measured.integrated_lufs - integrated_lufs) <= 1.0
    assert measured.true_peak_dbtp is not None and measured.true_peak_dbtp <= -1.0
    info, source = sf.info(str(out)), sf.info(str(film_mix))
    assert (info.frames, info.samplerate, info.channels) == (source.frames, source.samplerate, source.channels)


def test_mastering_a_hot_peaky_mix_limits_its_true_peaks(folder: Path) -> None:
    """Clicks 0.5 dB under full scale over quiet noise: reaching -16 LUFS needs the limiter."""
    rng = np.random.default_rng(7)
    samples = 0.02 * rng.standard_normal((4 * RATE_HZ, 2))
    samples[RATE_HZ // 2 :: RATE_HZ // 2] = 0.94
    source = _stem(folder / "peaky.wav", samples)
    stats = master_loudness(source, folder / "peaky_master.wav", LoudnessTarget(integrated_lufs=-16.0, true_peak_dbtp=-2.0))
    assert abs(stats.integrated_lufs + 16.0) <= 1.0
    assert stats.true_peak_dbtp is not None and stats.true_peak_dbtp <= -2.0


def test_a_silent_mix_is_written_without_gain(folder: Path) -> None:
    source = _stem(folder / "silence.wav", np.zeros((2 * RATE_HZ, 2)))
    out = folder / "silence_master.wav"
    stats = master_loudness(source, out)
    assert stats.integrated_lufs <= -70.0
    samples, _ = sf.read(out, always_2d=True)
    assert samples.shape == (2 * RATE_HZ, 2) and not samples.any()
