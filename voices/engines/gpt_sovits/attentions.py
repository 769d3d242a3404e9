"""Masked transformer blocks of the SoVITS text encoder (inference only).

Tensors are channel-first, ``[batch, channels, frames]``, with a ``[batch, 1, frames]`` mask
of ones (valid) and zeros (padding). Padding never changes a valid frame: padded keys are
masked out of every softmax and every convolution sees zeros past an item's end, so a padded
batch gives what each item gives alone.

Parameter names follow upstream's ``module/attentions.py`` so its weights load unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ChannelLayerNorm", "MultiHeadAttention", "FFN", "Encoder", "MRTE"]

_MASKED_SCORE = -1e4
"""Score given to masked positions (upstream's value; finite, so no NaN rows in fp16)."""


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of ``[B, C, T]`` (parameters ``gamma``/``beta``)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return y.transpose(1, -1)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with 1x1-conv projections and optional relative positions.

    With ``window_size`` set (self-attention only), learned embeddings for the relative
    offsets ``-window..window`` are added to the keys and the values, shared by all heads.
    """

    def __init__(self, channels: int, out_channels: int, n_heads: int, window_size: int | None = None) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"{channels} channels do not split into {n_heads} heads")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        if window_size is not None:
            span = 2 * window_size + 1
            self.emb_rel_k = nn.Parameter(torch.zeros(1, span, self.k_channels))
            self.emb_rel_v = nn.Parameter(torch.zeros(1, span, self.k_channels))

    def forward(self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Queries from ``x`` [B, C, Tq], keys/values from ``c`` [B, C, Tk]; mask [B, 1, Tq, Tk]."""
        b, _, t_q = x.shape
        t_k = c.shape[2]
        h, d = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, d, t_q).transpose(2, 3) / math.sqrt(d)
        k = self.conv_k(c).view(b, h, d, t_k).transpose(2, 3)
        v = self.conv_v(c).view(b, h, d, t_k).transpose(2, 3)
        scores = torch.matmul(q, k.transpose(-2, -1))
        if self.window_size is not None:
            scores = scores + self._relative_key_scores(q)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, _MASKED_SCORE)
        p_attn = F.softmax(scores, dim=-1)
        out = torch.matmul(p_attn, v)
        if self.window_size is not None:
            out = out + self._relative_values(p_attn)
        out = out.transpose(2, 3).reshape(b, h * d, t_q)
        return self.conv_o(out)

    def _offsets(self, length: int) -> range:
        w = self.window_size or 0
        return range(-min(w, length - 1), min(w, length - 1) + 1)

    def _relative_key_scores(self, q: torch.Tensor) -> torch.Tensor:
        """Banded [B, H, T, T] scores: entry (i, j) is q_i . E_k[j - i] for |j - i| <= window."""
        t = q.shape[2]
        w = self.window_size or 0
        rel = torch.matmul(q, self.emb_rel_k.transpose(-2, -1).unsqueeze(0))  # [B, H, T, 2w+1]
        band = q.new_zeros(q.shape[0], q.shape[1], t, t)
        for off in self._offsets(t):
            rows = t - abs(off)
            start = max(-off, 0)
            band.diagonal(offset=off, dim1=-2, dim2=-1).copy_(rel[:, :, start:start + rows, off + w])
        return band

    def _relative_values(self, p_attn: torch.Tensor) -> torch.Tensor:
        """sum over offsets r of p(i, i + r) * E_v[r] -> [B, H, T, D]."""
        t = p_attn.shape[2]
        w = self.window_size or 0
        weights = p_attn.new_zeros(*p_attn.shape[:3], 2 * w + 1)
        for off in self._offsets(t):
            rows = t - abs(off)
            start = max(-off, 0)
            weights[:, :, start:start + rows, off + w] = p_attn.diagonal(offset=off, dim1=-2, dim2=-1)
        return torch.matmul(weights, self.emb_rel_v.unsqueeze(0))


class FFN(nn.Module):
    """Two 'same'-padded convolutions with a ReLU between, masked before each."""

    def __init__(self, in_channels: int, out_channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == 1:
            return x
        return F.pad(x, ((self.kernel_size - 1) // 2, self.kernel_size // 2))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(self._pad(x * x_mask)))
        x = self.conv_2(self._pad(x * x_mask))
        return x * x_mask


class Encoder(nn.Module):
    """Post-norm transformer encoder with relative-position self-attention (window 4)."""

    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int,
                 kernel_size: int = 1, window_size: int = 4) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(hidden, hidden, n_heads, window_size=window_size) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FFN(hidden, hidden, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for i in range(self.n_layers):
            x = self.norm_layers_1[i](x + self.attn_layers[i](x, x, attn_mask))
            x = self.norm_layers_2[i](x + self.ffn_layers[i](x, x_mask))
        return x * x_mask


class MRTE(nn.Module):
    """Multi-reference timbre encoder: content frames attend to the phones, plus the style.

    Widths come from the checkpoint (upstream: 192 content channels, 512 inside, 4 heads).
    """

    def __init__(self, content_channels: int, hidden: int, n_heads: int = 4) -> None:
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden, hidden, n_heads)
        self.c_pre = nn.Conv1d(content_channels, hidden, 1)
        self.text_pre = nn.Conv1d(content_channels, hidden, 1)
        self.c_post = nn.Conv1d(hidden, content_channels, 1)

    def forward(self, ssl_enc: torch.Tensor, ssl_mask: torch.Tensor, text: torch.Tensor,
                text_mask: torch.Tensor, ge: torch.Tensor) -> torch.Tensor:
        """``ge`` [B, hidden, 1] is the per-item style vector added to every frame."""
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)
        ssl_enc = self.c_pre(ssl_enc * ssl_mask)
        text_enc = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl_enc * ssl_mask, text_enc * text_mask, attn_mask) + ssl_enc + ge
        return self.c_post(x * ssl_mask)
