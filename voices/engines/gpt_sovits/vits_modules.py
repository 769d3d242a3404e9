"""VITS building blocks of the SoVITS decoder (inference only, batch-safe).

Tensors are ``[batch, channels, frames]`` with a ``[batch, 1, frames]`` mask. Each block
zeroes padded frames before a convolution reads them, so a padded batch gives what each
item gives alone. Parameter names follow upstream's ``module/modules.py`` and
``module/models.py``; weight-normed convolutions are plain convolutions here (the loader folds
``weight_g``/``weight_v`` into ``weight``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "LRELU_SLOPE",
    "WN",
    "ResidualCouplingBlock",
    "ResBlock1",
    "ResBlock2",
    "Generator",
    "MelStyleEncoder",
]

LRELU_SLOPE = 0.1


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def _gated(x_in: torch.Tensor, g_l: torch.Tensor | None, n_channels: int) -> torch.Tensor:
    z = x_in if g_l is None else x_in + g_l
    return torch.tanh(z[:, :n_channels]) * torch.sigmoid(z[:, n_channels:])


class WN(nn.Module):
    """WaveNet-style stack of gated dilated convolutions with a global condition."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int = 0) -> None:
        super().__init__()
        self.hidden = hidden
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            self.in_layers.append(nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=dilation,
                                            padding=_padding(kernel_size, dilation)))
            out = 2 * hidden if i < n_layers - 1 else hidden
            self.res_skip_layers.append(nn.Conv1d(hidden, out, 1))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        output = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None else None
        h2 = 2 * self.hidden
        for i in range(self.n_layers):
            g_l = cond[:, i * h2:(i + 1) * h2] if cond is not None else None
            acts = _gated(self.in_layers[i](x), g_l, self.hidden)
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :self.hidden]) * x_mask
                output = output + res_skip[:, self.hidden:]
            else:
                output = output + res_skip
        return output * x_mask


class _CouplingLayer(nn.Module):
    """Mean-only affine coupling (inverse direction only, as inference needs)."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int,
                 gin_channels: int) -> None:
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden, 1)
        self.enc = WN(hidden, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.post = nn.Conv1d(hidden, self.half_channels, 1)

    def inverse(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        x0, x1 = x[:, :self.half_channels], x[:, self.half_channels:]
        h = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        m = self.post(h) * x_mask
        return torch.cat([x0, (x1 - m) * x_mask], 1)


class _Flip(nn.Module):
    """Parameterless channel flip (keeps upstream's module indices)."""


class ResidualCouplingBlock(nn.Module):
    """Four coupling layers with channel flips between; :meth:`inverse` maps z_p -> z."""

    def __init__(self, channels: int, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int,
                 n_flows: int = 4, gin_channels: int = 0) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(_CouplingLayer(channels, hidden, kernel_size, dilation_rate, n_layers, gin_channels))
            self.flows.append(_Flip())

    def inverse(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        for flow in reversed(self.flows):
            if isinstance(flow, _CouplingLayer):
                x = flow.inverse(x, x_mask, g)
            else:
                x = torch.flip(x, [1])
        return x


class ResBlock1(nn.Module):
    """HiFi-GAN residual block type 1: three (dilated conv, conv) pairs."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)) for d in dilation)
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size)) for _ in dilation)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE) * x_mask)
            xt = c2(F.leaky_relu(xt, LRELU_SLOPE) * x_mask)
            x = xt + x
        return x * x_mask


class ResBlock2(nn.Module):
    """HiFi-GAN residual block type 2: dilated convolutions only."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d)) for d in dilation)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE) * x_mask) + x
        return x * x_mask


class Generator(nn.Module):
    """HiFi-GAN vocoder: latent frames [B, C, T] -> waveform [B, 1, T * prod(upsample_rates)]."""

    def __init__(self, initial_channel: int, resblock: str, resblock_kernel_sizes: list[int],
                 resblock_dilation_sizes: list[list[int]], upsample_rates: list[int],
                 upsample_initial_channel: int, upsample_kernel_sizes: list[int], gin_channels: int = 0) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.upsample_rates = list(upsample_rates)
        self.upsample_kernel_sizes = list(upsample_kernel_sizes)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            self.ups.append(nn.ConvTranspose1d(upsample_initial_channel // 2**i, upsample_initial_channel // 2 ** (i + 1),
                                               k, u, padding=(k - u) // 2))
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(len(self.ups)):
            ch = upsample_initial_channel // 2 ** (i + 1)
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, tuple(d)))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def upsampled_length(self, frames: int) -> int:
        """Output samples for ``frames`` input frames (ConvTranspose1d length rule per stage)."""
        n = frames
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes):
            n = (n - 1) * u - 2 * ((k - u) // 2) + k
        return n

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """``lengths`` [B] are the valid frames of each item; padded samples come out as zeros."""
        mask = _length_mask(lengths, x.shape[2], x.dtype)
        x = self.conv_pre(x * mask)
        if g is not None:
            x = x + self.cond(g)
        x = x * mask
        for i, (u, k) in enumerate(zip(self.upsample_rates, self.upsample_kernel_sizes)):
            x = self.ups[i](F.leaky_relu(x, LRELU_SLOPE))
            lengths = (lengths - 1) * u - 2 * ((k - u) // 2) + k
            mask = _length_mask(lengths, x.shape[2], x.dtype)
            x = x * mask
            xs = self.resblocks[i * self.num_kernels](x, mask)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x, mask)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x) * mask


def _length_mask(lengths: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, size] with ones in the first ``lengths[b]`` positions."""
    pos = torch.arange(size, device=lengths.device)
    return (pos.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1).to(dtype)


class _LinearNorm(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class _ConvNorm(nn.Module):
    def __init__(self, n_in: int, n_out: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_in, n_out, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Conv1dGLU(nn.Module):
    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = _ConvNorm(channels, 2 * channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        return x + y[:, :self.channels] * torch.sigmoid(y[:, self.channels:])


class _StyleAttention(nn.Module):
    """Self-attention of the style encoder (Linear projections, temperature sqrt(d_model))."""

    def __init__(self, n_head: int, d_model: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.d_k = d_model // n_head
        self.temperature = float(d_model) ** 0.5
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """x [B, T, D]; pad [B, T] True where padded (masked as keys)."""
        b, t, _ = x.shape
        h, d = self.n_head, self.d_k

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, h, d).transpose(1, 2)

        attn = torch.matmul(heads(self.w_qs(x)), heads(self.w_ks(x)).transpose(-2, -1)) / self.temperature
        attn = attn.masked_fill(pad[:, None, None, :], float("-inf"))
        out = torch.matmul(torch.softmax(attn, dim=-1), heads(self.w_vs(x)))
        return self.fc(out.transpose(1, 2).reshape(b, t, h * d)) + x


class MelStyleEncoder(nn.Module):
    """Reference spectrogram [B, n_in, T] -> style vector [B, out, 1] (masked mean over time)."""

    def __init__(self, n_in: int, hidden: int = 128, out: int = 256, kernel_size: int = 5, n_head: int = 2) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            _LinearNorm(n_in, hidden), nn.Mish(), nn.Identity(), _LinearNorm(hidden, hidden), nn.Mish(), nn.Identity())
        self.temporal = nn.Sequential(_Conv1dGLU(hidden, kernel_size), _Conv1dGLU(hidden, kernel_size))
        self.slf_attn = _StyleAttention(n_head, hidden)
        self.fc = _LinearNorm(hidden, out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mask`` [B, 1, T] (1 = valid)."""
        valid = mask.squeeze(1).unsqueeze(-1)  # [B, T, 1]
        pad = mask.squeeze(1) == 0
        h = self.spectral(x.transpose(1, 2)) * valid
        for glu in self.temporal:
            h = glu(h.transpose(1, 2)).transpose(1, 2) * valid
        h = self.fc(self.slf_attn(h, pad)) * valid
        length = valid.float().sum(dim=1)
        w = h.float().sum(dim=1) / length
        return w.to(x.dtype).unsqueeze(-1)
