"""Reference-clip processing for GPT-SoVITS: everything the engine needs from the audio.

For a 3-10 s clip, :meth:`ReferenceEncoder.encode` makes (as upstream's ``TTS.py`` does):

- ``prompt_semantic``: the clip at 16 kHz (soxr HQ, like ``librosa.load(sr=16000)``), followed
  by ``int(model_rate * 0.3)`` zero samples (upstream counts that pad at the model's rate:
  9600 samples, 0.6 s at 16 kHz for 32 kHz models), through HuBERT, then the SoVITS
  quantizer: the semantic tokens the GPT continues from;
- ``refer_spec``: the clip resampled to the model rate (windowed sinc, like
  ``torchaudio.transforms.Resample``), scaled down if it peaks above 1, as a linear
  spectrogram: the decoder's timbre/style reference;
- ``sv_emb`` (v2Pro, v2ProPlus): the speaker-verification embedding of that model-rate audio
  resampled to 16 kHz.

Results are cached by the SHA-256 of the file's bytes: the same clip under another name is
not processed twice. The transcript is not handled here (the text side phonemizes it).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from castline.digest import file_sha256
from castline.errors import AudioError, CheckpointError
from castline.tempfiles import scratch_dir
from voices.engines.gpt_sovits.mel import resample
from voices.engines.gpt_sovits.sovits import SoVITSDecoder
from voices.engines.gpt_sovits.sv import SV_RATE_HZ, SpeakerVerifier

__all__ = ["ReferencePrompt", "ReferenceEncoder", "read_audio", "MIN_REFERENCE_S", "MAX_REFERENCE_S"]

log = logging.getLogger(__name__)

MIN_REFERENCE_S = 3.0
MAX_REFERENCE_S = 10.0
SSL_RATE_HZ = 16000
_SSL_PAD_S = 0.3
"""Trailing silence for the HuBERT pass, in seconds *at the model rate* (upstream's count)."""
_SILENT_PEAK = 10 ** (-60 / 20)
"""A clip whose peak stays below -60 dBFS is treated as silent."""
_FFMPEG_TIMEOUT_S = 120


@dataclass(frozen=True)
class ReferencePrompt:
    """What the engine needs from one reference clip (all tensors on the CPU)."""

    prompt_semantic: torch.Tensor
    """Semantic tokens of the clip, [T] int64 (25 per second)."""
    refer_spec: torch.Tensor
    """Linear spectrogram at the model rate, [1, n_fft // 2 + 1, frames] float32."""
    sv_emb: torch.Tensor | None
    """Speaker-verification embedding [1, sv_dim] float32 (v2Pro, v2ProPlus), else None."""
    audio_sha256: str
    """SHA-256 of the clip file's bytes."""
    duration_s: float = 0.0
    """Length of the clip in seconds."""


def _decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Decode any format ffmpeg reads to float32 [samples, channels] at the native rate."""
    with scratch_dir("ref") as tmp:
        out = Path(tmp) / "decoded.wav"
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn", "-acodec", "pcm_f32le", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise AudioError(path, "cannot decode audio: soundfile cannot read it and ffmpeg is not installed") from None
        except subprocess.TimeoutExpired:
            raise AudioError(path, f"cannot decode audio: ffmpeg took over {_FFMPEG_TIMEOUT_S} s") from None
        if proc.returncode != 0 or not out.is_file():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            detail = lines[-1] if lines else f"ffmpeg exited with code {proc.returncode}"
            raise AudioError(path, f"cannot decode audio ({detail})")
        data, rate = sf.read(out, dtype="float32", always_2d=True)
    return data, int(rate)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 samples in [-1, 1] and its rate in Hertz.

    Uses soundfile (WAV, FLAC, OGG...) and falls back to ffmpeg (MP3, M4A, video files...).
    Channels are averaged. Raises :class:`AudioError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "reference clip not found")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        data, rate = _decode_with_ffmpeg(path)
    if data.size == 0:
        raise AudioError(path, "audio file holds no samples")
    mono = data.mean(axis=1).astype(np.float32)
    if not np.isfinite(mono).all():
        raise AudioError(path, "audio has non-finite samples (NaN or infinity)")
    return mono, int(rate)


def _to_16k(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """soxr HQ resampling to 16 kHz, length ``ceil(n * 16000 / rate)`` (librosa.load's result)."""
    if rate_hz == SSL_RATE_HZ:
        return audio
    import soxr

    out = soxr.resample(audio, rate_hz, SSL_RATE_HZ, quality="soxr_hq")
    n = int(np.ceil(audio.shape[0] * SSL_RATE_HZ / rate_hz))
    out = out[:n] if out.shape[0] >= n else np.pad(out, (0, n - out.shape[0]))
    return np.ascontiguousarray(out, dtype=np.float32)


def _check_clip(path: Path, wav16k: np.ndarray) -> None:
    """Upstream's 3-10 s rule (counted in 16 kHz samples) and a silence check."""
    duration_s = wav16k.shape[0] / SSL_RATE_HZ
    lo, hi = int(MIN_REFERENCE_S * SSL_RATE_HZ), int(MAX_REFERENCE_S * SSL_RATE_HZ)
    if not lo <= wav16k.shape[0] <= hi:
        raise AudioError(path, f"reference clip is {duration_s:.2f} s long; GPT-SoVITS needs "
                               f"{MIN_REFERENCE_S:g}-{MAX_REFERENCE_S:g} s")
    peak = float(np.abs(wav16k).max())
    if peak < _SILENT_PEAK:
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise AudioError(path, f"reference clip is silent (peak {level} dBFS)")


class ReferenceEncoder:
    """Turns reference clips into :class:`ReferencePrompt` s for one loaded SoVITS model.

    ``hubert_dir`` is a HuBERT model directory (``save_pretrained`` layout, e.g. upstream's
    ``chinese-hubert-base``), loaded with transformers from that directory only. ``sv`` is
    required for v2Pro/v2ProPlus models. fp16 on CUDA unless ``dtype`` says otherwise.
    """

    def __init__(self, hubert_dir: str | Path, decoder: SoVITSDecoder, sv: SpeakerVerifier | None,
                 device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                 max_cached: int = 64) -> None:
        self.device = torch.device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.decoder = decoder
        self.sv = sv
        self.hubert_dir = Path(hubert_dir)
        where = decoder.path or Path("<s2 model>")
        if decoder.needs_sv and sv is None:
            raise CheckpointError(where, f"SoVITS {decoder.version} needs a speaker-verification model (sv checkpoint)")
        if decoder.needs_sv and sv is not None and sv.sv_dim != decoder.dims.sv_dim:
            raise CheckpointError(sv.path, f"speaker embeddings have {sv.sv_dim} values but {where.name} "
                                           f"expects {decoder.dims.sv_dim}")
        self.hubert = _load_hubert(self.hubert_dir, self.device, self.dtype)
        width = int(self.hubert.config.hidden_size)
        if width != decoder.dims.ssl_dim:
            raise CheckpointError(self.hubert_dir, f"HuBERT gives {width}-dim features but {where.name} "
                                                   f"expects {decoder.dims.ssl_dim}")
        self._cache: OrderedDict[str, ReferencePrompt] = OrderedDict()
        self._max_cached = max_cached
        self._lock = threading.Lock()

    def encode(self, audio_path: str | Path) -> ReferencePrompt:
        """The prompt of one clip; cached by the clip's SHA-256 (a hit does no audio work).

        Raises :class:`AudioError` naming the file if it cannot be decoded, is silent, or is
        not 3-10 s long.
        """
        path = Path(audio_path)
        if not path.is_file():
            raise AudioError(path, "reference clip not found")
        sha = file_sha256(path)
        with self._lock:
            hit = self._cache.get(sha)
            if hit is not None:
                self._cache.move_to_end(sha)
                return hit
        prompt = self._compute(path, sha)
        with self._lock:
            self._cache[sha] = prompt
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return prompt

    def _compute(self, path: Path, sha: str) -> ReferencePrompt:
        audio, rate = read_audio(path)
        wav16k = _to_16k(audio, rate)
        _check_clip(path, wav16k)
        prompt_semantic = self._semantic(wav16k)
        model_rate = self.decoder.sample_rate
        wave = resample(torch.from_numpy(audio), rate, model_rate)
        peak = float(wave.abs().max())
        if peak > 1.0:
            wave = wave / min(2.0, peak)
        refer_spec = self.decoder.reference_spectrogram(wave).cpu()
        sv_emb = None
        if self.decoder.needs_sv and self.sv is not None:
            sv_emb = self.sv.embed(resample(wave, model_rate, SV_RATE_HZ))
        log.debug("reference %s: %d tokens, %d spectrogram frames", path, prompt_semantic.numel(), refer_spec.shape[-1])
        return ReferencePrompt(prompt_semantic=prompt_semantic, refer_spec=refer_spec, sv_emb=sv_emb,
                               audio_sha256=sha, duration_s=audio.shape[0] / rate)

    @torch.no_grad()
    def _semantic(self, wav16k: np.ndarray) -> torch.Tensor:
        pad = np.zeros(int(self.decoder.sample_rate * _SSL_PAD_S), dtype=np.float32)
        wav = torch.from_numpy(np.concatenate([wav16k, pad])).to(device=self.device, dtype=self.dtype)
        ssl = self.hubert(wav.unsqueeze(0)).last_hidden_state.transpose(1, 2)
        return self.decoder.extract_latent(ssl)[0, 0].cpu()


def _load_hubert(hubert_dir: Path, device: torch.device, dtype: torch.dtype) -> Any:
    """HuBERT from a local directory (never a hub download)."""
    if not (hubert_dir / "config.json").is_file():
        raise CheckpointError(hubert_dir, "not a HuBERT model directory (no config.json)")
    from transformers import HubertModel

    try:
        model = HubertModel.from_pretrained(hubert_dir, local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(hubert_dir, f"cannot load HuBERT model ({first})") from None
    return model.to(device=device, dtype=dtype).eval()

