"""Reference-clip processing: prompt tokens, spectrogram, SV embedding, caching, clear errors;
and the audio features under it (Kaldi fbank, resampling, spectrogram)."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from sovits_fixtures import (
    TINY_SV_DIM,
    build_hubert_dir,
    build_s2_pth,
    build_sv_ckpt,
    no_mkldnn,
    reference_clip,
)

from castline.errors import AudioError, CheckpointError
from voices.engines.gpt_sovits import reference
from voices.engines.gpt_sovits.checkpoints import load_s2
from voices.engines.gpt_sovits.mel import kaldi_fbank, resample, spectrogram
from voices.engines.gpt_sovits.reference import ReferenceEncoder, read_audio
from voices.engines.gpt_sovits.sovits import SoVITSDecoder
from voices.engines.gpt_sovits.sv import SpeakerVerifier

LJ = Path(__file__).parent / "data" / "ljspeech_LJ001-0001.wav"


@pytest.fixture(autouse=True)
def _fast_cpu_convolutions():
    with no_mkldnn():
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("models")
    return {
        "v2": SoVITSDecoder.from_checkpoint(load_s2(build_s2_pth(root / "v2.pth", "v2"))),
        "v2Pro": SoVITSDecoder.from_checkpoint(load_s2(build_s2_pth(root / "pro.pth", "v2Pro"))),
        "hubert": build_hubert_dir(root / "hubert"),
        "sv": SpeakerVerifier.from_checkpoint(build_sv_ckpt(root / "sv.ckpt")),
        "root": root,
    }


@pytest.fixture(scope="module")
def encoder(models: dict) -> ReferenceEncoder:
    return ReferenceEncoder(models["hubert"], models["v2"], None)


@pytest.fixture(scope="module")
def pro_encoder(models: dict) -> ReferenceEncoder:
    return ReferenceEncoder(models["hubert"], models["v2Pro"], models["sv"])


def test_prompt_of_a_clip(encoder: ReferenceEncoder, tmp_path: Path) -> None:
    clip = reference_clip(tmp_path / "ref.wav", duration_s=4.0)
    prompt = encoder.encode(clip)
    # 25 tokens/s over the clip plus upstream's pad of int(32000 * 0.3) samples at 16 kHz (0.6 s)
    assert abs(prompt.prompt_semantic.numel() - 25 * 4.6) <= 2
    assert prompt.prompt_semantic.dtype == torch.long
    assert int(prompt.prompt_semantic.min()) >= 0 and int(prompt.prompt_semantic.max()) < 1024
    assert prompt.refer_spec.shape[:2] == (1, 1025)
    assert abs(prompt.refer_spec.shape[2] - 4.0 * 32000 / 640) <= 1
    assert prompt.refer_spec.dtype == torch.float32 and prompt.sv_emb is None
    assert prompt.audio_sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert prompt.duration_s == pytest.approx(4.0, abs=1e-3)


def test_pro_prompt_has_speaker_embedding_and_decodes(pro_encoder: ReferenceEncoder, models: dict,
                                                      tmp_path: Path) -> None:
    prompt = pro_encoder.encode(reference_clip(tmp_path / "ref.flac", start_s=2.0, duration_s=5.0))
    assert prompt.sv_emb is not None and prompt.sv_emb.shape == (1, TINY_SV_DIM)
    dec: SoVITSDecoder = models["v2Pro"]
    wave = dec.decode([prompt.prompt_semantic[:10]], [torch.arange(1, 9)], [prompt.refer_spec], [prompt.sv_emb])[0]
    assert wave.numel() == 10 * dec.samples_per_token and torch.isfinite(wave).all()


def test_cached_by_content_hash(models: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = ReferenceEncoder(models["hubert"], models["v2"], None)
    reads: list[Path] = []
    real_read = reference.read_audio
    def reading(p: Path) -> tuple[np.ndarray, int]:
        reads.append(Path(p))
        return real_read(p)

    monkeypatch.setattr(reference, "read_audio", reading)
    hubert_calls: list[int] = []
    handle = enc.hubert.register_forward_hook(lambda *_: hubert_calls.append(1))
    try:
        clip = reference_clip(tmp_path / "a.wav", duration_s=3.5)
        first = enc.encode(clip)
        assert enc.encode(clip) is first
        same_bytes = shutil.copy(clip, tmp_path / "renamed copy.wav")
        assert enc.encode(same_bytes) is first
        assert len(reads) == 1 and len(hubert_calls) == 1
        other = enc.encode(reference_clip(tmp_path / "b.wav", start_s=3.0, duration_s=3.5))
        assert other.audio_sha256 != first.audio_sha256 and len(reads) == 2 and len(hubert_calls) == 2
    finally:
        handle.remove()


def test_cache_is_bounded(models: dict, tmp_path: Path) -> None:
    enc = ReferenceEncoder(models["hubert"], models["v2"], None, max_cached=1)
    a = enc.encode(reference_clip(tmp_path / "a.wav", duration_s=3.2))
    enc.encode(reference_clip(tmp_path / "b.wav", start_s=1.0, duration_s=3.2))
    assert enc.encode(tmp_path / "a.wav") is not a  # evicted, recomputed
    assert torch.equal(enc.encode(tmp_path / "a.wav").prompt_semantic, a.prompt_semantic)


def _write(path: Path, audio: np.ndarray, rate: int = 22050) -> Path:
    sf.write(path, audio.astype(np.float32), rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize("seconds, accepted", [(2.0, False), (2.95, False), (3.0, True), (10.0, True), (10.2, False)])
def test_three_to_ten_seconds(encoder: ReferenceEncoder, tmp_path: Path, seconds: float, accepted: bool) -> None:
    lj, rate = sf.read(LJ, dtype="float32")
    audio = np.tile(lj, 2)[: int(round(seconds * rate))]
    clip = _write(tmp_path / f"clip {seconds}.wav", audio, rate)
    if accepted:
        assert encoder.encode(clip).prompt_semantic.numel() > 0
        return
    with pytest.raises(AudioError, match="GPT-SoVITS needs 3-10 s") as err:
        encoder.encode(clip)
    assert err.value.path == clip and str(clip) in str(err.value) and f"{seconds:.2f} s" in str(err.value)


def test_silent_clip(encoder: ReferenceEncoder, tmp_path: Path) -> None:
    silent = _write(tmp_path / "silent.wav", np.zeros(22050 * 4))
    with pytest.raises(AudioError, match="silent") as err:
        encoder.encode(silent)
    assert err.value.path == silent
    hiss = _write(tmp_path / "hiss.wav", np.random.default_rng(0).normal(0, 1e-4, 22050 * 4))
    with pytest.raises(AudioError, match="silent \\(peak -[0-9]+ dBFS\\)"):
        encoder.encode(hiss)


def test_undecodable_and_missing_clips(encoder: ReferenceEncoder, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00not really audio" * 10)
    with pytest.raises(AudioError, match="cannot decode audio") as err:
        encoder.encode(junk)
    assert err.value.path == junk and "\n" not in str(err.value)
    with pytest.raises(AudioError, match="not found"):
        encoder.encode(tmp_path / "absent.wav")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_other_formats_through_ffmpeg(encoder: ReferenceEncoder, tmp_path: Path) -> None:
    import subprocess

    wav = reference_clip(tmp_path / "ref.wav", duration_s=4.0)
    m4a = tmp_path / "ref.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "96k", str(m4a)],
                   check=True)
    audio, rate = read_audio(m4a)
    assert rate == 22050 and abs(audio.shape[0] / rate - 4.0) < 0.1
    assert encoder.encode(m4a).prompt_semantic.numel() > 0


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, np.zeros_like(left)], 1), 16000, subtype="FLOAT")
    audio, rate = read_audio(tmp_path / "st.wav")
    assert rate == 16000 and np.allclose(audio, left / 2)


def test_model_mismatches_are_checkpoint_errors(models: dict, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="needs a speaker-verification model") as err:
        ReferenceEncoder(models["hubert"], models["v2Pro"], None)
    assert err.value.path.name == "pro.pth"
    wide = build_hubert_dir(tmp_path / "hubert48", hidden_size=48)
    with pytest.raises(CheckpointError, match="48-dim features but v2.pth expects 32") as err:
        ReferenceEncoder(wide, models["v2"], None)
    assert err.value.path == wide
    with pytest.raises(CheckpointError, match="not a HuBERT model directory"):
        ReferenceEncoder(tmp_path, models["v2"], None)
    big_sv = SpeakerVerifier.from_checkpoint(build_sv_ckpt(tmp_path / "sv8.ckpt", m_channels=8))
    with pytest.raises(CheckpointError, match="2560 values but pro.pth expects 1280"):
        ReferenceEncoder(models["hubert"], models["v2Pro"], big_sv)


# --------------------------------------------------------------------------- features


def _sine(freq_hz: float, rate_hz: int, seconds: float) -> torch.Tensor:
    t = torch.arange(int(rate_hz * seconds), dtype=torch.float64) / rate_hz
    return (0.5 * torch.sin(2 * math.pi * freq_hz * t)).float()


def _peak_hz(x: torch.Tensor, rate_hz: int) -> float:
    spec = torch.fft.rfft(x.double() * torch.hann_window(x.numel(), dtype=torch.float64)).abs()
    return float(spec.argmax()) * rate_hz / x.numel()


def test_kaldi_fbank_frames_and_peak() -> None:
    wave = _sine(1000.0, 16000, 1.0)
    feats = kaldi_fbank(wave)
    assert feats.shape == (1 + (16000 - 400) // 160, 80)
    mel = lambda f: 1127.0 * math.log(1 + f / 700.0)  # noqa: E731
    centers = [mel(20) + (i + 1) * (mel(8000) - mel(20)) / 81 for i in range(80)]
    expected = min(range(80), key=lambda i: abs(centers[i] - mel(1000.0)))
    assert abs(int(feats.mean(0).argmax()) - expected) <= 1
    assert kaldi_fbank(torch.zeros(100)).shape == (0, 80)


@pytest.mark.parametrize("orig, new", [(22050, 32000), (32000, 16000), (48000, 16000), (16000, 16000)])
def test_resample_keeps_length_and_pitch(orig: int, new: int) -> None:
    wave = _sine(440.0, orig, 0.5)
    out = resample(wave, orig, new)
    assert out.shape[-1] == math.ceil(wave.numel() * new / orig) and out.dtype == wave.dtype
    assert abs(_peak_hz(out, new) - 440.0) < 2 * new / out.numel()
    assert abs(float(out[200:-200].abs().max()) - 0.5) < 0.01
    batch = resample(torch.stack([wave, -wave]), orig, new)
    assert torch.allclose(batch[1], -out, atol=1e-6)


def test_spectrogram_shape_and_peak() -> None:
    wave = _sine(2000.0, 32000, 1.0).unsqueeze(0)
    spec = spectrogram(wave, 2048, 640, 2048)
    assert spec.shape == (1, 1025, 50)
    assert int(spec[0].mean(1).argmax()) == round(2000 * 2048 / 32000)
    assert float(spec.min()) >= 0.99e-4  # sqrt(... + 1e-8)


def test_speaker_embedding(models: dict) -> None:
    sv: SpeakerVerifier = models["sv"]
    lj, rate = sf.read(LJ, dtype="float32")
    wav16k = resample(torch.from_numpy(lj[: rate * 3]), rate, 16000)
    emb = sv.embed(wav16k)
    assert emb.shape == (1, TINY_SV_DIM) and emb.dtype == torch.float32
    assert torch.equal(emb, sv.embed(wav16k))
    noise = torch.from_numpy(np.random.default_rng(1).uniform(-0.5, 0.5, wav16k.numel()).astype(np.float32))
    pair = sv.embed(torch.stack([wav16k, noise]))
    assert pair.shape == (2, TINY_SV_DIM)
    assert torch.allclose(pair[0], emb[0], atol=1e-5)
    assert (pair[1] - emb[0]).abs().max() > 1e-3
