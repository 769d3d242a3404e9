"""Audio features for GPT-SoVITS, in torch alone (no torchaudio).

- :func:`spectrogram`: the linear magnitude spectrogram the SoVITS reference encoder reads
  (upstream ``module/mel_processing.spectrogram_torch``: reflect padding, Hann window, no
  centering, ``sqrt(re^2 + im^2 + 1e-8)``).
- :func:`resample`: band-limited resampling with a Hann-windowed sinc kernel (the method and
  defaults of ``torchaudio.transforms.Resample``, which upstream uses: 6 zero crossings,
  rolloff 0.99).
- :func:`kaldi_fbank`: Kaldi-compatible log mel filterbank (the defaults of
  ``torchaudio.compliance.kaldi.fbank``: 25 ms Povey windows every 10 ms, DC removal,
  pre-emphasis 0.97, power spectrum, mel bins from 20 Hz to Nyquist), which upstream's
  speaker-verification model reads.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch.nn import functional as F

__all__ = ["spectrogram", "resample", "kaldi_fbank"]


def spectrogram(y: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    """Magnitude spectrogram of ``y`` [B, samples] -> [B, n_fft // 2 + 1, frames].

    The signal is reflect-padded by ``(n_fft - hop_length) // 2`` on both sides, so there are
    about ``samples / hop_length`` frames.
    """
    pad = (n_fft - hop_length) // 2
    y = F.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win_length, dtype=y.dtype, device=y.device)
    spec = torch.stft(y, n_fft, hop_length=hop_length, win_length=win_length, window=window,
                      center=False, normalized=False, onesided=True, return_complex=True)
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-8)


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, zero_crossings: int, rolloff: float,
                 dtype: torch.dtype) -> tuple[torch.Tensor, int]:
    """Polyphase Hann-windowed sinc kernel [new, 1, 2 * width + orig] and ``width``.

    Computed in ``dtype`` (the signal's), as torchaudio does, so results match it bit for bit.
    """
    base = min(orig, new) * rolloff
    width = math.ceil(zero_crossings * orig / base)
    taps = torch.arange(-width, width + orig, dtype=dtype) / orig
    phases = -torch.arange(new, dtype=dtype).unsqueeze(1) / new
    t = ((phases + taps.unsqueeze(0)) * base).clamp(-zero_crossings, zero_crossings)
    window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    kernel = sinc * window * (base / orig)
    return kernel.unsqueeze(1), width


def resample(wave: torch.Tensor, orig_hz: int, new_hz: int, *, zero_crossings: int = 6,
             rolloff: float = 0.99) -> torch.Tensor:
    """Resample ``wave`` [..., samples] from ``orig_hz`` to ``new_hz``.

    Returns ``ceil(samples * new_hz / orig_hz)`` samples along the last axis, same dtype.
    """
    if orig_hz == new_hz:
        return wave
    g = math.gcd(int(orig_hz), int(new_hz))
    orig, new = int(orig_hz) // g, int(new_hz) // g
    shape = wave.shape
    x = wave.reshape(-1, shape[-1])
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    kernel, width = _sinc_kernel(orig, new, zero_crossings, rolloff, compute)
    x = F.pad(x.to(compute), (width, width + orig))
    out = F.conv1d(x.unsqueeze(1), kernel.to(dtype=compute, device=x.device), stride=orig)
    out = out.transpose(1, 2).reshape(x.shape[0], -1)
    target = math.ceil(new * shape[-1] / orig)
    return out[:, :target].reshape(*shape[:-1], target).to(wave.dtype)


def _mel(freq_hz: float) -> float:
    """Kaldi's mel scale."""
    return 1127.0 * math.log(1.0 + freq_hz / 700.0)


def _mel_tensor(freq_hz: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log(1.0 + freq_hz / 700.0)


@lru_cache(maxsize=8)
def _kaldi_mel_banks(n_bins: int, n_fft: int, rate_hz: float, low_hz: float, high_hz: float) -> torch.Tensor:
    """Triangular filters on the Kaldi mel scale: [n_bins, n_fft // 2 + 1] (last column 0)."""
    n_fft_bins = n_fft // 2
    nyquist = 0.5 * rate_hz
    high_hz = high_hz + nyquist if high_hz <= 0.0 else high_hz
    mel_low, mel_high = _mel(low_hz), _mel(high_hz)
    delta = (mel_high - mel_low) / (n_bins + 1)
    b = torch.arange(n_bins).unsqueeze(1)
    left = mel_low + b * delta
    center = mel_low + (b + 1.0) * delta
    right = mel_low + (b + 2.0) * delta
    mel = _mel_tensor(rate_hz / n_fft * torch.arange(n_fft_bins)).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return F.pad(banks, (0, 1))


def kaldi_fbank(wave: torch.Tensor, *, rate_hz: int = 16000, n_mels: int = 80, frame_length_ms: float = 25.0,
                frame_shift_ms: float = 10.0, preemphasis: float = 0.97, low_hz: float = 20.0,
                high_hz: float = 0.0) -> torch.Tensor:
    """Kaldi log mel filterbank of a mono ``wave`` [samples] (float, [-1, 1]) -> [frames, n_mels].

    Frames are taken without padding ("snip edges"): ``1 + (samples - window) // shift`` of them.
    """
    wave = wave.reshape(-1).float()
    shift = int(rate_hz * frame_shift_ms * 0.001)
    size = int(rate_hz * frame_length_ms * 0.001)
    n_fft = 1 << (size - 1).bit_length()
    if wave.numel() < size:
        return wave.new_zeros(0, n_mels)
    n_frames = 1 + (wave.numel() - size) // shift
    frames = wave.as_strided((n_frames, size), (shift, 1))
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - preemphasis * previous
    window = torch.hann_window(size, periodic=False, dtype=frames.dtype, device=frames.device).pow(0.85)
    frames = F.pad(frames * window, (0, n_fft - size))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    banks = _kaldi_mel_banks(n_mels, n_fft, float(rate_hz), low_hz, high_hz).to(power.device, power.dtype)
    energies = torch.mm(power, banks.T)
    eps = torch.tensor(torch.finfo(torch.float32).eps, device=energies.device, dtype=energies.dtype)
    return torch.maximum(energies, eps).log()
