"""The SoVITS decoder (v1, v2, v2Pro, v2ProPlus): semantic tokens + phones + reference -> audio.

:class:`SoVITSDecoder` loads an upstream s2 ``.pth`` unchanged (module and parameter names
follow upstream's ``SynthesizerTrn``) and decodes a whole batch in one forward pass: items
may differ in length, in reference clip and in speaker. Every stage is masked so that each
item comes out as it would alone (see :mod:`.attentions` and :mod:`.vits_modules`).

Inference path (upstream ``SynthesizerTrn.decode``): reference spectrogram -> style vector
``ge`` (v2Pro: plus the speaker-verification embedding, PReLU), or a style given per item
(an averaged timbre); semantic codes -> codebook
vectors, doubled to 50 frames/s; text encoder with MRTE -> prior mean/log-scale; sample
``z_p``; inverse flow; HiFi-GAN generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from castline.errors import CheckpointError
from voices.engines.gpt_sovits.attentions import MRTE, Encoder
from voices.engines.gpt_sovits.checkpoints import S2Checkpoint, check_state_dict
from voices.engines.gpt_sovits.mel import spectrogram
from voices.engines.gpt_sovits.vits_modules import Generator, MelStyleEncoder, ResidualCouplingBlock

__all__ = ["SoVITSDims", "SoVITSDecoder", "fold_weight_norm"]

_PRO_VERSIONS = ("v2Pro", "v2ProPlus")
_PAD_MULTIPLE = 8
"""Batch widths (tokens, phones, frames) are rounded up to this, so that fewer distinct
tensor shapes occur and convolution backends can reuse their kernels (padding is masked)."""
_IGNORED_SUFFIXES = ("._codebook.inited", "._codebook.cluster_size", "._codebook.embed_avg")
"""Training-only buffers of upstream's quantizer: present in files, unused at inference."""


@dataclass(frozen=True)
class SoVITSDims:
    """Sizes of a SoVITS model: from its config, and from tensor shapes where upstream
    hard-codes them (so small test models load through the same code)."""

    ssl_dim: int
    """Width of the HuBERT features (upstream 768)."""
    ssl_stride: int
    """Frames of HuBERT features per semantic token (2: 25 tokens/s from 50 frames/s)."""
    hidden: int
    inter: int
    filter: int
    n_heads: int
    n_layers: int
    kernel_size: int
    mrte_hidden: int
    style_in: int
    """Spectrogram bins the style encoder reads (v2: the first 704; v1: all)."""
    style_hidden: int
    n_symbols: int
    n_codes: int
    gin: int
    sv_dim: int
    """Width of the speaker-verification embedding (v2Pro: upstream 20480; else 0)."""

    @classmethod
    def from_checkpoint(cls, ckpt: S2Checkpoint) -> SoVITSDims:
        m, sd = ckpt.config["model"], ckpt.state_dict

        def dim(key: str, axis: int, default: int) -> int:
            t = sd.get(key)
            return int(t.shape[axis]) if t is not None and t.dim() > axis else default

        try:
            return cls(
                ssl_dim=dim("ssl_proj.weight", 0, 768),
                ssl_stride=dim("ssl_proj.weight", 2, 2),
                hidden=int(m["hidden_channels"]),
                inter=int(m["inter_channels"]),
                filter=int(m["filter_channels"]),
                n_heads=int(m["n_heads"]),
                n_layers=int(m["n_layers"]),
                kernel_size=int(m["kernel_size"]),
                mrte_hidden=dim("enc_p.mrte.c_pre.weight", 0, 512),
                style_in=dim("ref_enc.spectral.0.fc.weight", 1, 704),
                style_hidden=dim("ref_enc.spectral.0.fc.weight", 0, 128),
                n_symbols=dim("enc_p.text_embedding.weight", 0, 732),
                n_codes=dim("quantizer.vq.layers.0._codebook.embed", 0, 1024),
                gin=int(m["gin_channels"]),
                sv_dim=dim("sv_emb.weight", 1, 20480) if ckpt.version in _PRO_VERSIONS else 0,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(ckpt.path, f"s2 config 'model' section is incomplete or invalid ({exc})") from None


class _TextEncoder(nn.Module):
    """Upstream ``TextEncoder`` (``enc_p``): content frames + phones + style -> prior stats."""

    def __init__(self, d: SoVITSDims) -> None:
        super().__init__()
        self.inter = d.inter
        self.ssl_proj = nn.Conv1d(d.ssl_dim, d.hidden, 1)
        self.encoder_ssl = Encoder(d.hidden, d.filter, d.n_heads, d.n_layers // 2, d.kernel_size)
        self.encoder_text = Encoder(d.hidden, d.filter, d.n_heads, d.n_layers, d.kernel_size)
        self.text_embedding = nn.Embedding(d.n_symbols, d.hidden)
        self.mrte = MRTE(d.hidden, d.mrte_hidden)
        self.encoder2 = Encoder(d.hidden, d.filter, d.n_heads, d.n_layers // 2, d.kernel_size)
        self.proj = nn.Conv1d(d.hidden, 2 * d.inter, 1)

    def forward(self, y: torch.Tensor, y_lengths: torch.Tensor, text: torch.Tensor, text_lengths: torch.Tensor,
                ge: torch.Tensor, speeds: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``m_p, logs_p`` [B, inter, T'], their mask [B, 1, T'] and lengths T'_b."""
        y_mask = _mask(y_lengths, y.shape[2], y.dtype)
        y = self.encoder_ssl(self.ssl_proj(y * y_mask) * y_mask, y_mask)
        text_mask = _mask(text_lengths, text.shape[1], y.dtype)
        t = self.encoder_text(self.text_embedding(text).transpose(1, 2) * text_mask, text_mask)
        y = self.mrte(y, y_mask, t, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        if any(s != 1.0 for s in speeds):
            y, y_lengths = _stretch(y, y_lengths, speeds)
            y_mask = _mask(y_lengths, y.shape[2], y.dtype)
        stats = self.proj(y) * y_mask
        return stats[:, :self.inter], stats[:, self.inter:], y_mask, y_lengths


def _round_up(n: int) -> int:
    return -(-n // _PAD_MULTIPLE) * _PAD_MULTIPLE


def _pad_batch(seqs: Sequence[torch.Tensor]) -> torch.Tensor:
    """1-D sequences -> [B, width] zero-padded, width rounded up to :data:`_PAD_MULTIPLE`."""
    width = _round_up(max(s.numel() for s in seqs))
    return torch.stack([F.pad(s, (0, width - s.numel())) for s in seqs])


def _mask(lengths: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    pos = torch.arange(size, device=lengths.device)
    return (pos.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1).to(dtype)


def _stretch(y: torch.Tensor, lengths: torch.Tensor, speeds: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item, linear-interpolate its valid frames to ``int(T / speed) + 1`` (upstream's rule)."""
    items = []
    for b, speed in enumerate(speeds):
        n = int(lengths[b])
        yb = y[b:b + 1, :, :n]
        if speed != 1.0:
            yb = F.interpolate(yb, size=int(n / speed) + 1, mode="linear")
        items.append(yb)
    new_lengths = torch.tensor([i.shape[2] for i in items], device=y.device)
    width = _round_up(int(new_lengths.max()))
    return torch.cat([F.pad(i, (0, width - i.shape[2])) for i in items]), new_lengths


class _Codebook(nn.Module):
    def __init__(self, n_codes: int, dim: int) -> None:
        super().__init__()
        self.embed: torch.Tensor
        self.register_buffer("embed", torch.zeros(n_codes, dim))


class _VQLayer(nn.Module):
    def __init__(self, n_codes: int, dim: int) -> None:
        super().__init__()
        self._codebook = _Codebook(n_codes, dim)


class _ResidualVQ(nn.Module):
    def __init__(self, n_codes: int, dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_VQLayer(n_codes, dim)])


class _Quantizer(nn.Module):
    """Upstream's one-level residual VQ (``quantizer.vq.layers.0._codebook.embed``)."""

    def __init__(self, n_codes: int, dim: int) -> None:
        super().__init__()
        self.vq = _ResidualVQ(n_codes, dim)

    @property
    def embed(self) -> torch.Tensor:
        return cast(_VQLayer, self.vq.layers[0])._codebook.embed

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code (Euclidean) of each frame of ``x`` [B, D, T] -> [B, T] (float32 maths)."""
        e = self.embed.float()
        flat = x.float().transpose(1, 2).reshape(-1, x.shape[1])
        dist = -(flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1).unsqueeze(0))
        return dist.max(dim=-1).indices.view(x.shape[0], x.shape[2])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, T] -> vectors [B, D, T]."""
        return F.embedding(codes, self.embed).transpose(1, 2)


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace weight-norm pairs (``weight_g``/``weight_v``, or torch's parametrization keys)
    by the plain ``weight`` they stand for; float32 maths, other tensors unchanged."""
    pairs = (("weight_g", "weight_v"), ("parametrizations.weight.original0", "parametrizations.weight.original1"))
    out: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    for key in state:
        for g_leaf, v_leaf in pairs:
            if key == g_leaf or key.endswith("." + g_leaf):
                stem = key[: len(key) - len(g_leaf)]
                if stem + v_leaf in state:
                    g, v = state[key].float(), state[stem + v_leaf].float()
                    norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))
                    out[stem + "weight"] = v * (g / norm)
                    consumed.update((key, stem + v_leaf))
    out.update({k: v for k, v in state.items() if k not in consumed})
    return out


class SoVITSDecoder(nn.Module):
    """A loaded SoVITS model. Build it with :meth:`from_checkpoint`."""

    def __init__(self, config: Mapping[str, Any], dims: SoVITSDims, version: str) -> None:
        super().__init__()
        m, data = config["model"], config["data"]
        self.version = version
        self.dims = dims
        self.sample_rate = int(data["sampling_rate"])
        """Rate of the output waveforms in Hertz (32000 for v2)."""
        self.filter_length = int(data["filter_length"])
        self.hop_length = int(data["hop_length"])
        self.win_length = int(data["win_length"])
        self.path: Path | None = None
        self.enc_p = _TextEncoder(dims)
        self.dec = Generator(dims.inter, m["resblock"], m["resblock_kernel_sizes"], m["resblock_dilation_sizes"],
                             m["upsample_rates"], m["upsample_initial_channel"], m["upsample_kernel_sizes"],
                             gin_channels=dims.gin)
        self.flow = ResidualCouplingBlock(dims.inter, dims.hidden, 5, 1, 4, gin_channels=dims.gin)
        self.ref_enc = MelStyleEncoder(dims.style_in, dims.style_hidden, dims.gin)
        self.ssl_proj = nn.Conv1d(dims.ssl_dim, dims.ssl_dim, dims.ssl_stride, stride=dims.ssl_stride)
        self.quantizer = _Quantizer(dims.n_codes, dims.ssl_dim)
        if version in _PRO_VERSIONS:
            self.sv_emb = nn.Linear(dims.sv_dim, dims.gin)
            self.ge_to512 = nn.Linear(dims.gin, dims.mrte_hidden)
            self.prelu = nn.PReLU(num_parameters=dims.gin)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_checkpoint(cls, ckpt: S2Checkpoint, device: str | torch.device = "cpu",
                        dtype: torch.dtype = torch.float32) -> SoVITSDecoder:
        """Build the model an s2 checkpoint describes and load its weights.

        Raises :class:`CheckpointError` naming the file when config and weights disagree.
        """
        dims = SoVITSDims.from_checkpoint(ckpt)
        try:
            model = cls(ckpt.config, dims, ckpt.version)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(ckpt.path, f"s2 config does not describe a usable model ({exc!r})") from None
        state = {k: v for k, v in fold_weight_norm(ckpt.state_dict).items() if not k.endswith(_IGNORED_SUFFIXES)}
        expected = {k: v.shape for k, v in model.state_dict().items()}
        check_state_dict(ckpt.path, expected, state, f"SoVITS {ckpt.version} model its config describes")
        model.load_state_dict({k: v.float() for k, v in state.items()})
        model.path = ckpt.path
        return model.to(device=device, dtype=dtype).eval()

    @property
    def device(self) -> torch.device:
        return self.ssl_proj.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.ssl_proj.weight.dtype

    @property
    def needs_sv(self) -> bool:
        """Whether :meth:`decode` needs speaker-verification embeddings (v2Pro, v2ProPlus)."""
        return self.version in _PRO_VERSIONS

    @property
    def samples_per_token(self) -> int:
        """Output samples per semantic token at speed 1 (1280 at 32 kHz: 25 tokens/s)."""
        return self.dec.upsampled_length(4) - self.dec.upsampled_length(2)

    # ------------------------------------------------------------------ reference side

    @torch.no_grad()
    def reference_spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """Spectrogram of a reference clip at :attr:`sample_rate`: [samples] -> [1, bins, frames] float32."""
        wave = wave.reshape(1, -1).float()
        return spectrogram(wave, self.filter_length, self.hop_length, self.win_length)

    @torch.no_grad()
    def extract_latent(self, ssl: torch.Tensor) -> torch.Tensor:
        """HuBERT features [B, ssl_dim, T] -> semantic codes [B, 1, T // 2] (like upstream)."""
        x = self.ssl_proj(ssl.to(device=self.device, dtype=self.dtype))
        return self.quantizer.encode(x).unsqueeze(1)

    @torch.no_grad()
    def style_vector(self, refer_spec: torch.Tensor, sv_emb: torch.Tensor | None = None) -> torch.Tensor:
        """Style ``ge`` [1, gin, 1] of one reference spectrogram [1, bins, frames]."""
        refer = refer_spec.to(device=self.device, dtype=self.dtype).reshape(1, refer_spec.shape[-2], -1)
        mask = torch.ones(1, 1, refer.shape[2], device=self.device, dtype=self.dtype)
        ge = self.ref_enc(refer[:, :self.dims.style_in] * mask, mask)
        if self.needs_sv:
            if sv_emb is None:
                raise ValueError(f"SoVITS {self.version} needs a speaker-verification embedding per item")
            sv = self.sv_emb(sv_emb.to(device=self.device, dtype=self.dtype).reshape(1, -1))
            ge = self.prelu(ge + sv.unsqueeze(-1))
        return ge

    # ------------------------------------------------------------------ decoding

    @torch.no_grad()
    def decode(
        self,
        semantic: Sequence[torch.Tensor],
        phones: Sequence[torch.Tensor],
        refer_spec: Sequence[torch.Tensor],
        sv_emb: Sequence[torch.Tensor] | None = None,
        speed: float | Sequence[float] = 1.0,
        noise_scale: float | Sequence[float] = 0.5,
        seeds: Sequence[int] | None = None,
        styles: Sequence[torch.Tensor | None] | None = None,
    ) -> list[torch.Tensor]:
        """Decode a batch; returns one float32 CPU waveform per item at :attr:`sample_rate`.

        ``semantic[b]`` are the item's generated tokens ([T] LongTensor), ``phones[b]`` its
        target phone ids ([P]), ``refer_spec[b]`` its reference spectrogram ([1, bins, frames]),
        ``sv_emb[b]`` its speaker embedding (v2Pro). ``styles[b]``, when given and not None, is
        the item's style ``ge`` [1, gin, 1] made beforehand (an averaged timbre, see
        :mod:`.averaged`): it is used as is, in place of :meth:`style_vector` of ``refer_spec[b]``
        and ``sv_emb[b]``. ``speed`` > 1 speaks faster; ``speed``
        and ``noise_scale`` (the fraction of the prior's spread sampled) are one value or one
        per item. The noise of item ``b`` comes from ``torch.Generator().manual_seed(seeds[b])``
        when ``seeds`` is given, else from the global CPU generator, item after item, so a batch
        equals its items decoded one at a time in the same order. An item with no tokens gives
        an empty waveform. Raises ValueError when the lists do not line up.
        """
        n = len(semantic)
        speeds = [float(s) for s in speed] if isinstance(speed, Sequence) else [float(speed)] * n
        noises = [float(s) for s in noise_scale] if isinstance(noise_scale, Sequence) else [float(noise_scale)] * n
        for name, seq in (("phones", phones), ("refer_spec", refer_spec), ("speed", speeds), ("noise_scale", noises)):
            if len(seq) != n:
                raise ValueError(f"decode: {len(seq)} {name} for {n} items")
        if self.needs_sv and (sv_emb is None or len(sv_emb) != n):
            raise ValueError(f"decode: SoVITS {self.version} needs one sv_emb per item")
        if seeds is not None and len(seeds) != n:
            raise ValueError(f"decode: {len(seeds)} seeds for {n} items")
        if styles is not None and len(styles) != n:
            raise ValueError(f"decode: {len(styles)} styles for {n} items")
        codes = [s.reshape(-1).long() for s in semantic]
        keep = [b for b in range(n) if codes[b].numel() > 0]
        out = [torch.zeros(0)] * n
        if keep:
            waves = self._decode_batch(
                [codes[b] for b in keep], [phones[b].reshape(-1).long() for b in keep],
                [refer_spec[b] for b in keep], [sv_emb[b] for b in keep] if self.needs_sv and sv_emb else None,
                [speeds[b] for b in keep], [noises[b] for b in keep], [seeds[b] for b in keep] if seeds is not None else None,
                [styles[b] for b in keep] if styles is not None else None)
            for b, wave in zip(keep, waves):
                out[b] = wave
        return out

    def _styles(self, refer_spec: Sequence[torch.Tensor], sv_emb: Sequence[torch.Tensor] | None,
                given: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """[B, gin, 1], one style per item: the given one, else computed (each distinct reference once)."""
        memo: dict[tuple[int, int], torch.Tensor] = {}
        styles = []
        for b, spec in enumerate(refer_spec):
            style = given[b] if given is not None else None
            if style is not None:
                styles.append(self._given_style(style))
                continue
            sv = sv_emb[b] if sv_emb is not None else None
            key = (id(spec), id(sv))
            if key not in memo:
                memo[key] = self.style_vector(spec, sv)
            styles.append(memo[key])
        return torch.cat(styles, 0)

    def _given_style(self, style: torch.Tensor) -> torch.Tensor:
        """A style made beforehand, as [1, gin, 1] on this model's device and dtype."""
        if style.numel() != self.dims.gin:
            raise ValueError(f"decode: a style has {style.numel()} values; this model's have {self.dims.gin}")
        return style.to(device=self.device, dtype=self.dtype).reshape(1, self.dims.gin, 1)

    def _decode_batch(self, codes: list[torch.Tensor], phones: list[torch.Tensor], refer_spec: Sequence[torch.Tensor],
                      sv_emb: Sequence[torch.Tensor] | None, speeds: list[float], noise_scales: list[float],
                      seeds: Sequence[int] | None, styles: Sequence[torch.Tensor | None] | None = None) -> list[torch.Tensor]:
        dev, dtype = self.device, self.dtype
        if any(p.numel() == 0 for p in phones):
            raise ValueError("decode: every item needs at least one phone")
        ge = self._styles(refer_spec, sv_emb, styles)
        ge_text = self.ge_to512(ge.transpose(2, 1)).transpose(2, 1) if self.needs_sv else ge
        code_lengths = torch.tensor([c.numel() for c in codes], device=dev)
        tokens = _pad_batch(codes).to(dev)
        quantized = self.quantizer.decode(tokens).to(dtype)
        up = 2  # upstream always decodes at 25 Hz and doubles to the 50 Hz content rate
        quantized = quantized.repeat_interleave(up, dim=2)
        text = _pad_batch(phones).to(dev)
        text_lengths = torch.tensor([p.numel() for p in phones], device=dev)
        m_p, logs_p, y_mask, lengths = self.enc_p(quantized, code_lengths * up, text, text_lengths, ge_text, speeds)
        noise = self._noise(lengths, m_p.shape[1], m_p.shape[2], seeds).to(device=dev, dtype=dtype)
        scale = torch.tensor(noise_scales, device=dev, dtype=dtype).view(-1, 1, 1)
        z_p = m_p + noise * torch.exp(logs_p) * scale
        z = self.flow.inverse(z_p, y_mask, g=ge)
        wave = self.dec(z * y_mask, lengths, g=ge)
        samples = [self.dec.upsampled_length(int(n)) for n in lengths]
        return [wave[b, 0, :samples[b]].float().cpu() for b in range(len(codes))]

    @staticmethod
    def _noise(lengths: torch.Tensor, channels: int, width: int, seeds: Sequence[int] | None) -> torch.Tensor:
        """Standard normal noise [B, channels, width], drawn per item on the CPU, zero-padded."""
        parts = []
        for b, n in enumerate(lengths.tolist()):
            gen = torch.Generator().manual_seed(int(seeds[b])) if seeds is not None else None
            eps = torch.randn(channels, int(n), generator=gen)
            parts.append(F.pad(eps, (0, width - int(n))))
        return torch.stack(parts)
