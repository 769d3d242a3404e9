"""Speaker verification for SoVITS v2Pro: ERes2NetV2 and the embedding upstream feeds the decoder.

Upstream (``GPT_SoVITS/sv.py``, ``eres2net/ERes2NetV2.py``) loads
``pretrained_eres2netv2w24s4ep4.ckpt`` (a plain state dict: base width 24, scale 4, expansion
4, 64 channels, blocks 3/4/6/3) and takes, for a 16 kHz clip, the time-mean of the fused
last-stage feature map (``forward3``), not the 192-dim x-vector: 64 * 8 * 4 * 10 = 20480
values. :class:`SpeakerVerifier` does the same from 80-bin Kaldi fbanks (:func:`.mel.kaldi_fbank`).

The network's sizes are read from the checkpoint's tensor shapes, so smaller test models load
through the same code. Parameter names follow upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from castline.errors import CheckpointError
from voices.engines.gpt_sovits.checkpoints import check_state_dict, read_torch_file
from voices.engines.gpt_sovits.mel import kaldi_fbank

__all__ = ["ERes2NetV2Dims", "ERes2NetV2", "SpeakerVerifier"]

SV_RATE_HZ = 16000
"""Sample rate the SV model expects."""
_N_MELS = 80


class _ReLU20(nn.Hardtanh):
    """ReLU clipped at 20 (upstream's ReLU)."""

    def __init__(self) -> None:
        super().__init__(0.0, 20.0)


class _AFF(nn.Module):
    """Attentional feature fusion of two maps with the same shape."""

    def __init__(self, channels: int, r: int = 4) -> None:
        super().__init__()
        inter = channels // r
        self.local_att = nn.Sequential(
            nn.Conv2d(channels * 2, inter, 1), nn.BatchNorm2d(inter), nn.SiLU(),
            nn.Conv2d(inter, channels, 1), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor, ds_y: torch.Tensor) -> torch.Tensor:
        w = 1.0 + torch.tanh(self.local_att(torch.cat((x, ds_y), dim=1)))
        return x * w + ds_y * (2.0 - w)


class _Block(nn.Module):
    """ERes2NetV2 basic block: 1x1 conv, ``scale`` chained 3x3 convs on channel splits
    (summed, or fused with AFF when ``fuse``), 1x1 conv, shortcut."""

    def __init__(self, in_planes: int, out_planes: int, width: int, scale: int, stride: int, fuse: bool) -> None:
        super().__init__()
        self.width, self.scale, self.fuse = width, scale, fuse
        self.conv1 = nn.Conv2d(in_planes, width * scale, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(scale))
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale))
        if fuse:
            self.fuse_models = nn.ModuleList(_AFF(width) for _ in range(scale - 1))
        self.relu = _ReLU20()
        self.conv3 = nn.Conv2d(width * scale, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        splits = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, 1)
        outs = []
        sp = splits[0]
        for i in range(self.scale):
            if i > 0:
                sp = self.fuse_models[i - 1](sp, splits[i]) if self.fuse else sp + splits[i]
            sp = self.relu(self.bns[i](self.convs[i](sp)))
            outs.append(sp)
        out = self.bn3(self.conv3(torch.cat(outs, 1)))
        return self.relu(out + self.shortcut(x))


@dataclass(frozen=True)
class ERes2NetV2Dims:
    """ERes2NetV2 sizes (upstream: 64 channels, blocks (3, 4, 6, 3), widths 24/48/96/192, scale 4, expansion 4)."""

    m_channels: int
    num_blocks: tuple[int, ...]
    widths: tuple[int, ...]
    scale: int
    expansion: int
    embedding_size: int

    @property
    def sv_dim(self) -> int:
        """Length of the v2Pro embedding (time-mean of the fused map)."""
        return self.m_channels * 8 * self.expansion * (_N_MELS // 8)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> ERes2NetV2Dims:
        """Read the sizes off the tensor shapes; raises KeyError if a key they need is absent."""
        m = int(state["conv1.weight"].shape[0])
        blocks = []
        for layer in range(1, 5):
            ids = {int(k.split(".")[1]) for k in state if re.match(rf"layer{layer}\.\d+\.", k)}
            blocks.append(max(ids) + 1 if ids else 0)
        widths = tuple(int(state[f"layer{i}.0.convs.0.weight"].shape[0]) for i in range(1, 5))
        scale = len({k for k in state if re.match(r"layer1\.0\.convs\.\d+\.weight$", k)})
        expansion = int(state["layer1.0.conv3.weight"].shape[0]) // m
        return cls(m, tuple(blocks), widths, scale, expansion, int(state["seg_1.weight"].shape[0]))


class ERes2NetV2(nn.Module):
    """The ERes2NetV2 speaker network (inference, :meth:`pro_embedding` only)."""

    def __init__(self, d: ERes2NetV2Dims) -> None:
        super().__init__()
        m, e = d.m_channels, d.expansion
        self.conv1 = nn.Conv2d(1, m, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m)
        self.in_planes = m
        self.layer1 = self._layer(d, 1, 0, 1, fuse=False)
        self.layer2 = self._layer(d, 2, 1, 2, fuse=False)
        self.layer3 = self._layer(d, 4, 2, 2, fuse=True)
        self.layer4 = self._layer(d, 8, 3, 2, fuse=True)
        self.layer3_ds = nn.Conv2d(m * 4 * e, m * 8 * e, 3, padding=1, stride=2, bias=False)
        self.fuse34 = _AFF(m * 8 * e)
        stats_dim = (_N_MELS // 8) * m * 8
        self.seg_1 = nn.Linear(stats_dim * e * 2, d.embedding_size)

    def _layer(self, d: ERes2NetV2Dims, mult: int, index: int, stride: int, fuse: bool) -> nn.Sequential:
        out_planes = d.m_channels * mult * d.expansion
        blocks = []
        for j in range(d.num_blocks[index]):
            blocks.append(_Block(self.in_planes, out_planes, d.widths[index], d.scale, stride if j == 0 else 1, fuse))
            self.in_planes = out_planes
        return nn.Sequential(*blocks)

    def pro_embedding(self, feats: torch.Tensor) -> torch.Tensor:
        """Fbank features [B, frames, 80] -> [B, sv_dim] (upstream ``forward3``)."""
        x = feats.permute(0, 2, 1).unsqueeze(1)
        out = torch.relu(self.bn1(self.conv1(x)))
        out3 = self.layer3(self.layer2(self.layer1(out)))
        fused = self.fuse34(self.layer4(out3), self.layer3_ds(out3))
        return fused.flatten(start_dim=1, end_dim=2).mean(-1)


class SpeakerVerifier:
    """Loaded ERes2NetV2 that makes the v2Pro speaker embedding of a 16 kHz clip."""

    def __init__(self, model: ERes2NetV2, dims: ERes2NetV2Dims, path: Path) -> None:
        self.model = model
        self.dims = dims
        self.path = path

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None) -> SpeakerVerifier:
        """Load upstream's SV checkpoint (a plain state dict). fp16 on CUDA unless ``dtype`` says otherwise."""
        path = Path(path)
        state = read_torch_file(path)
        if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(path, "not an ERes2NetV2 state dict")
        try:
            dims = ERes2NetV2Dims.from_state_dict(state)
        except (KeyError, IndexError, ValueError) as exc:
            raise CheckpointError(path, f"not an ERes2NetV2 state dict (no {exc})") from None
        model = ERes2NetV2(dims)
        check_state_dict(path, {k: v.shape for k, v in model.state_dict().items()}, state, "ERes2NetV2 model")
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
        device = torch.device(device)
        if dtype is None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        return cls(model.to(device=device, dtype=dtype).eval(), dims, path)

    @property
    def sv_dim(self) -> int:
        return self.dims.sv_dim

    @torch.no_grad()
    def embed(self, wav16k: torch.Tensor) -> torch.Tensor:
        """Embedding of a 16 kHz clip ([samples] or [B, samples], floats in [-1, 1]) -> [B, sv_dim] float32.

        Fbanks are computed in float32 (upstream computes them in the model's dtype).
        """
        waves = wav16k.reshape(1, -1) if wav16k.dim() == 1 else wav16k
        param = next(self.model.parameters())
        feats = torch.stack([kaldi_fbank(w.float().cpu(), rate_hz=SV_RATE_HZ, n_mels=_N_MELS) for w in waves])
        out = self.model.pro_embedding(feats.to(device=param.device, dtype=param.dtype))
        return out.float().cpu()
