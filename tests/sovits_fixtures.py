"""Tiny random GPT-SoVITS models, written in the exact file formats upstream writes.

Shared by the GPT-SoVITS tests (checkpoints, decoder, reference, t2s, engine, text). Every
builder takes a destination path, writes the file (or directory) and returns its path, so a
test can do ``build_s2_pth(tmp_path / "voice.pth")``. Nothing here imports castline code: the
files are made from upstream's key names and shapes, so loading them tests our loaders.

Formats (upstream GPT-SoVITS, RVC-Boss/GPT-SoVITS):

- s1 ``.ckpt``: ``torch.save({"weight": {"model.<key>": fp16 tensor}, "config": dict, "info": str})``
  (a zip file starting with ``PK``).
- s2 ``.pth``: ``torch.save({"weight": {<key>: fp16 tensor}, "config": utils.HParams, "info": str})``
  without the ``enc_q.*`` keys; the config is a pickled ``utils.HParams`` object, as upstream's
  trainer writes it. v2Pro/v2ProPlus files have their first two bytes (``PK``) replaced by
  ``b"05"``/``b"06"``.
- HuBERT / BERT: ``save_pretrained`` directories (config.json + model.safetensors (+ tokenizer)).
- SV: a plain ERes2NetV2 state dict saved with ``torch.save`` (like
  ``pretrained_eres2netv2w24s4ep4.ckpt``).

The tiny models keep upstream's data settings (32 kHz, 2048-point spectrogram, hop 640,
1024 semantic codes, 732 phone symbols) and shrink only the widths; the widths that upstream
hard-codes (HuBERT 768, MRTE 512, style 128, SV 20480) are smaller here and are read from the
tensor shapes by our loaders. ``TINY_*`` constants tell other tests what the models expect.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "TINY_SSL_DIM",
    "TINY_BERT_DIM",
    "TINY_SV_DIM",
    "SAMPLE_RATE_HZ",
    "HOP_LENGTH",
    "N_PHONE_SYMBOLS_V2",
    "N_SEMANTIC_CODES",
    "VERSION_HEADERS",
    "s1_config",
    "s2_config",
    "s2_state_shapes",
    "sv_state_shapes",
    "build_s1_ckpt",
    "build_s2_pth",
    "build_hubert_dir",
    "build_bert_dir",
    "build_sv_ckpt",
    "SovitsAssets",
    "build_sovits_assets",
    "reference_clip",
    "no_mkldnn",
]

TINY_SSL_DIM = 32
"""Hidden size of the tiny HuBERT, hence the s2 ``ssl_proj`` / quantizer width (upstream 768)."""
TINY_BERT_DIM = 1024
"""Hidden size of the tiny BERT, hence the s1 ``bert_proj`` input (upstream 1024 too)."""
TINY_SV_M_CHANNELS = 4
TINY_SV_DIM = TINY_SV_M_CHANNELS * 8 * 4 * (80 // 8)
"""Width of the tiny SV embedding (upstream 20480 = 64 * 8 * 4 * 10)."""
SAMPLE_RATE_HZ = 32000
HOP_LENGTH = 640
N_PHONE_SYMBOLS_V2 = 732
N_PHONE_SYMBOLS_V1 = 322
N_SEMANTIC_CODES = 1024

VERSION_HEADERS = {"v3": b"03", "v4": b"04", "v2Pro": b"05", "v2ProPlus": b"06"}
"""The two bytes upstream's ``my_save2`` writes in place of ``PK``."""

_DEFAULT_S1_MODEL = {
    "vocab_size": 1025,
    "phoneme_vocab_size": N_PHONE_SYMBOLS_V2,
    "embedding_dim": 32,
    "hidden_dim": 32,
    "head": 2,
    "linear_units": 128,
    "n_layer": 2,
    "dropout": 0,
    "EOS": 1024,
    "random_bert": 0,
}

_TINY_S2_MODEL = {
    "inter_channels": 8,
    "hidden_channels": 16,
    "filter_channels": 32,
    "n_heads": 2,
    "n_layers": 2,
    "kernel_size": 3,
    "p_dropout": 0.1,
    "resblock": "1",
    "resblock_kernel_sizes": [3, 5],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "upsample_rates": [10, 8, 2, 2, 2],
    "upsample_initial_channel": 32,
    "upsample_kernel_sizes": [16, 16, 8, 2, 2],
    "n_layers_q": 3,
    "use_spectral_norm": False,
    "gin_channels": 16,
    "semantic_frame_rate": "25hz",
    "freeze_quantizer": True,
}
_TINY_PRO_GIN = 24
_TINY_MRTE_HIDDEN = 16
_TINY_STYLE_HIDDEN = 16


# --------------------------------------------------------------------------- configs


def s1_config(**model: Any) -> dict[str, Any]:
    """An s1 config as upstream's trainer stores it (s1longer-v2.yaml), model keys overridden."""
    return {
        "train": {
            "seed": 1234,
            "epochs": 15,
            "batch_size": 8,
            "save_every_n_epoch": 5,
            "precision": "16-mixed",
            "gradient_clip": 1.0,
            "if_save_latest": True,
            "if_save_every_weights": True,
            "half_weights_save_dir": "GPT_weights_v2",
            "exp_name": "tiny",
        },
        "optimizer": {
            "lr": 0.01,
            "lr_init": 1e-05,
            "lr_end": 0.0001,
            "warmup_steps": 2000,
            "decay_steps": 40000,
        },
        "data": {"max_eval_sample": 8, "max_sec": 54, "num_workers": 4, "pad_val": 1024},
        "model": {**_DEFAULT_S1_MODEL, **model},
        "inference": {"top_k": 15},
        "output_dir": "logs/tiny/logs_s1_v2",
    }


def s2_config(version: str = "v2", **model: Any) -> dict[str, Any]:
    """An s2 config (upstream s2.json layout) for the tiny model, model keys overridden."""
    base = dict(_TINY_S2_MODEL)
    if version in ("v2Pro", "v2ProPlus"):
        base.update(gin_channels=_TINY_PRO_GIN, p_dropout=0.0)
    base.update(model)
    return {
        "train": {
            "log_interval": 100,
            "eval_interval": 500,
            "seed": 1234,
            "epochs": 8,
            "learning_rate": 0.0001,
            "betas": [0.8, 0.99],
            "eps": 1e-09,
            "batch_size": 4,
            "fp16_run": True,
            "lr_decay": 0.999875,
            "segment_size": 20480,
            "init_lr_ratio": 1,
            "warmup_epochs": 0,
            "c_mel": 45,
            "c_kl": 1.0,
            "text_low_lr_rate": 0.4,
            "grad_ckpt": False,
        },
        "data": {
            "max_wav_value": 32768.0,
            "sampling_rate": SAMPLE_RATE_HZ,
            "filter_length": 2048,
            "hop_length": HOP_LENGTH,
            "win_length": 2048,
            "n_mel_channels": 128,
            "mel_fmin": 0.0,
            "mel_fmax": None,
            "add_blank": True,
            "n_speakers": 300,
            "cleaned_text": True,
        },
        "model": {**base, "version": version},
        "s2_ckpt_dir": "logs/tiny",
        "content_module": "cnhubert",
        "name": "tiny",
        "save_weight_dir": "SoVITS_weights_v2",
    }


# --------------------------------------------------------------------------- s2 key table


def _conv(shapes: dict, name: str, c_out: int, c_in: int, k: int, bias: bool = True) -> None:
    shapes[f"{name}.weight"] = (c_out, c_in, k)
    if bias:
        shapes[f"{name}.bias"] = (c_out,)


def _wn_conv(shapes: dict, name: str, c_out: int, c_in: int, k: int, transpose: bool = False) -> None:
    """A weight-normed conv (old-style weight_g / weight_v, bias first as upstream saves it)."""
    g_rows = c_in if transpose else c_out
    shapes[f"{name}.bias"] = (c_out,)
    shapes[f"{name}.weight_g"] = (g_rows, 1, 1)
    shapes[f"{name}.weight_v"] = (c_in, c_out, k) if transpose else (c_out, c_in, k)


def _attn_encoder(shapes: dict, name: str, hidden: int, filt: int, heads: int, layers: int, k: int) -> None:
    for i in range(layers):
        a = f"{name}.attn_layers.{i}"
        shapes[f"{a}.emb_rel_k"] = (1, 9, hidden // heads)
        shapes[f"{a}.emb_rel_v"] = (1, 9, hidden // heads)
        for c in "qkvo":
            _conv(shapes, f"{a}.conv_{c}", hidden, hidden, 1)
    for i in range(layers):
        shapes[f"{name}.norm_layers_1.{i}.gamma"] = (hidden,)
        shapes[f"{name}.norm_layers_1.{i}.beta"] = (hidden,)
    for i in range(layers):
        _conv(shapes, f"{name}.ffn_layers.{i}.conv_1", filt, hidden, k)
        _conv(shapes, f"{name}.ffn_layers.{i}.conv_2", hidden, filt, k)
    for i in range(layers):
        shapes[f"{name}.norm_layers_2.{i}.gamma"] = (hidden,)
        shapes[f"{name}.norm_layers_2.{i}.beta"] = (hidden,)


def _generator(shapes: dict, m: dict) -> None:
    uic, inter, gin = m["upsample_initial_channel"], m["inter_channels"], m["gin_channels"]
    _conv(shapes, "dec.conv_pre", uic, inter, 7)
    for i, (_u, k) in enumerate(zip(m["upsample_rates"], m["upsample_kernel_sizes"])):
        _wn_conv(shapes, f"dec.ups.{i}", uic // 2 ** (i + 1), uic // 2**i, k, transpose=True)
    n = 0
    ch = uic
    for i in range(len(m["upsample_rates"])):
        ch = uic // 2 ** (i + 1)
        for k, _d in zip(m["resblock_kernel_sizes"], m["resblock_dilation_sizes"]):
            groups = ("convs1", "convs2") if m["resblock"] == "1" else ("convs",)
            count = 3 if m["resblock"] == "1" else 2
            for g in groups:
                for j in range(count):
                    _wn_conv(shapes, f"dec.resblocks.{n}.{g}.{j}", ch, ch, k)
            n += 1
    shapes["dec.conv_post.weight"] = (1, ch, 7)
    _conv(shapes, "dec.cond", uic, gin, 1)


def _flow(shapes: dict, m: dict) -> None:
    inter, hidden, gin = m["inter_channels"], m["hidden_channels"], m["gin_channels"]
    n_layers = 4
    for f in range(0, 8, 2):
        p = f"flow.flows.{f}"
        _conv(shapes, f"{p}.pre", hidden, inter // 2, 1)
        for i in range(n_layers):
            _wn_conv(shapes, f"{p}.enc.in_layers.{i}", 2 * hidden, hidden, 5)
        for i in range(n_layers):
            out = 2 * hidden if i < n_layers - 1 else hidden
            _wn_conv(shapes, f"{p}.enc.res_skip_layers.{i}", out, hidden, 1)
        _wn_conv(shapes, f"{p}.enc.cond_layer", 2 * hidden * n_layers, gin, 1)
        _conv(shapes, f"{p}.post", inter // 2, hidden, 1)


def _style_encoder(shapes: dict, n_in: int, style: int, out: int) -> None:
    def lin(name: str, o: int, i: int) -> None:
        shapes[f"{name}.weight"] = (o, i)
        shapes[f"{name}.bias"] = (o,)

    lin("ref_enc.spectral.0.fc", style, n_in)
    lin("ref_enc.spectral.3.fc", style, style)
    for t in range(2):
        _conv(shapes, f"ref_enc.temporal.{t}.conv1.conv", 2 * style, style, 5)
    for w in ("w_qs", "w_ks", "w_vs", "fc"):
        lin(f"ref_enc.slf_attn.{w}", style, style)
    lin("ref_enc.fc.fc", out, style)


def s2_state_shapes(
    config: dict[str, Any],
    *,
    ssl_dim: int = TINY_SSL_DIM,
    sv_dim: int = TINY_SV_DIM,
    mrte_hidden: int = _TINY_MRTE_HIDDEN,
    style_hidden: int = _TINY_STYLE_HIDDEN,
    n_symbols: int = N_PHONE_SYMBOLS_V2,
    n_codes: int = N_SEMANTIC_CODES,
) -> OrderedDict[str, tuple[int, ...]]:
    """Upstream SynthesizerTrn's saved keys (no ``enc_q``) and shapes for ``config``.

    With upstream's sizes (``ssl_dim=768, sv_dim=20480, mrte_hidden=512, style_hidden=128``)
    and ``configs/s2.json`` this is exactly the key set upstream saves.
    """
    m = config["model"]
    version = m.get("version", "v2")
    hidden, filt, heads, layers, k = (
        m["hidden_channels"], m["filter_channels"], m["n_heads"], m["n_layers"], m["kernel_size"],
    )
    s: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    _conv(s, "enc_p.ssl_proj", hidden, ssl_dim, 1)
    _attn_encoder(s, "enc_p.encoder_ssl", hidden, filt, heads, layers // 2, k)
    _attn_encoder(s, "enc_p.encoder_text", hidden, filt, heads, layers, k)
    s["enc_p.text_embedding.weight"] = (n_symbols, hidden)
    for c in "qkvo":
        _conv(s, f"enc_p.mrte.cross_attention.conv_{c}", mrte_hidden, mrte_hidden, 1)
    _conv(s, "enc_p.mrte.c_pre", mrte_hidden, hidden, 1)
    _conv(s, "enc_p.mrte.text_pre", mrte_hidden, hidden, 1)
    _conv(s, "enc_p.mrte.c_post", hidden, mrte_hidden, 1)
    _attn_encoder(s, "enc_p.encoder2", hidden, filt, heads, layers // 2, k)
    _conv(s, "enc_p.proj", 2 * m["inter_channels"], hidden, 1)
    _generator(s, m)
    _flow(s, m)
    spec_channels = config["data"]["filter_length"] // 2 + 1
    _style_encoder(s, spec_channels if version == "v1" else 704, style_hidden, m["gin_channels"])
    stride = 2 if m.get("semantic_frame_rate", "25hz") == "25hz" else 1
    _conv(s, "ssl_proj", ssl_dim, ssl_dim, stride)
    cb = "quantizer.vq.layers.0._codebook"
    s[f"{cb}.inited"] = (1,)
    s[f"{cb}.cluster_size"] = (n_codes,)
    s[f"{cb}.embed"] = (n_codes, ssl_dim)
    s[f"{cb}.embed_avg"] = (n_codes, ssl_dim)
    if version in ("v2Pro", "v2ProPlus"):
        s["sv_emb.weight"] = (m["gin_channels"], sv_dim)
        s["sv_emb.bias"] = (m["gin_channels"],)
        s["ge_to512.weight"] = (mrte_hidden, m["gin_channels"])
        s["ge_to512.bias"] = (mrte_hidden,)
        s["prelu.weight"] = (m["gin_channels"],)
    return s


# --------------------------------------------------------------------------- random values


def _random_tensor(name: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """A value that keeps a random network's activations in a sane range."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("gamma", "running_var") or name.endswith("norm.weight"):
        return 1.0 + 0.1 * torch.rand(shape, generator=gen)
    if leaf in ("beta", "running_mean"):
        return 0.05 * torch.randn(shape, generator=gen)
    if leaf == "num_batches_tracked":
        return torch.tensor(100, dtype=torch.long)
    if leaf == "weight_g":
        return 0.5 + 0.5 * torch.rand(shape, generator=gen)
    if leaf in ("bias", "alpha", "inited") and len(shape) == 1 and shape[0] == 1:
        return torch.ones(shape)
    if leaf == "bias":
        return 0.02 * torch.randn(shape, generator=gen)
    if leaf == "cluster_size":
        return torch.ones(shape)
    if name.endswith("prelu.weight"):
        return torch.full(shape, 0.25)
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
    return torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))


def _random_state(shapes: OrderedDict[str, tuple[int, ...]], seed: int, half: bool) -> OrderedDict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, shape in shapes.items():
        t = _random_tensor(name, shape, gen)
        if name.endswith("._codebook.embed"):
            t = torch.randn(shape, generator=gen)
        if name.endswith("._codebook.embed_avg"):
            t = out[name.replace("embed_avg", "embed")].clone().float()
        if half and t.is_floating_point():
            t = t.half()
        out[name] = t
    return out


# --------------------------------------------------------------------------- writers


@contextlib.contextmanager
def _upstream_hparams_class() -> Iterator[type]:
    """A class pickled as ``utils.HParams`` (upstream's trainer config object)."""
    module = types.ModuleType("utils")

    class HParams:
        def __init__(self, **kwargs: Any) -> None:
            for key, value in kwargs.items():
                setattr(self, key, HParams(**value) if isinstance(value, dict) else value)

    HParams.__module__ = "utils"
    HParams.__qualname__ = "HParams"
    module.HParams = HParams  # type: ignore[attr-defined]
    previous = sys.modules.get("utils")
    sys.modules["utils"] = module
    try:
        yield HParams
    finally:
        if previous is None:
            sys.modules.pop("utils", None)
        else:
            sys.modules["utils"] = previous


def _save(obj: Any, path: Path, header: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    if header is not None:
        data = header + data[2:]
    path.write_bytes(data)
    return path


def build_s1_ckpt(path: str | Path, *, seed: int = 0, bert_dim: int = TINY_BERT_DIM, **small_config: Any) -> Path:
    """Write a tiny random s1 (text-to-semantic) ``.ckpt`` like upstream's ``s1_train.py``.

    ``small_config`` overrides ``config["model"]`` keys (``n_layer``, ``hidden_dim``...).
    """
    config = s1_config(**small_config)
    m = config["model"]
    d, e = m["hidden_dim"], m["embedding_dim"]
    shapes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    shapes["model.bert_proj.weight"] = (e, bert_dim)
    shapes["model.bert_proj.bias"] = (e,)
    shapes["model.ar_text_embedding.word_embeddings.weight"] = (m["phoneme_vocab_size"], e)
    shapes["model.ar_text_position.alpha"] = (1,)
    shapes["model.ar_audio_embedding.word_embeddings.weight"] = (m["vocab_size"], e)
    shapes["model.ar_audio_position.alpha"] = (1,)
    for i in range(m["n_layer"]):
        p = f"model.h.layers.{i}"
        shapes[f"{p}.self_attn.in_proj_weight"] = (3 * d, d)
        shapes[f"{p}.self_attn.in_proj_bias"] = (3 * d,)
        shapes[f"{p}.self_attn.out_proj.weight"] = (d, d)
        shapes[f"{p}.self_attn.out_proj.bias"] = (d,)
        shapes[f"{p}.linear1.weight"] = (4 * d, d)
        shapes[f"{p}.linear1.bias"] = (4 * d,)
        shapes[f"{p}.linear2.weight"] = (d, 4 * d)
        shapes[f"{p}.linear2.bias"] = (d,)
        for n in ("norm1", "norm2"):
            shapes[f"{p}.{n}.weight"] = (d,)
            shapes[f"{p}.{n}.bias"] = (d,)
    shapes["model.ar_predict_layer.weight"] = (m["vocab_size"], d)
    weight = _random_state(shapes, seed, half=True)
    return _save({"weight": weight, "config": config, "info": "GPT-e15"}, Path(path))


def build_s2_pth(
    path: str | Path,
    version: str = "v2",
    seed: int = 0,
    *,
    ssl_dim: int = TINY_SSL_DIM,
    sv_dim: int = TINY_SV_DIM,
    **model: Any,
) -> Path:
    """Write a tiny random s2 (SoVITS) ``.pth`` like upstream's ``process_ckpt.savee``.

    ``version`` is ``"v1"``, ``"v2"``, ``"v2Pro"`` or ``"v2ProPlus"``; the Pro ones get
    upstream's two-byte header. ``model`` overrides ``config["model"]`` keys.
    """
    if version not in ("v1", "v2", "v2Pro", "v2ProPlus"):
        raise ValueError(f"unsupported fixture version {version!r}")
    config = s2_config(version, **model)
    n_symbols = N_PHONE_SYMBOLS_V1 if version == "v1" else N_PHONE_SYMBOLS_V2
    shapes = s2_state_shapes(config, ssl_dim=ssl_dim, sv_dim=sv_dim, n_symbols=n_symbols)
    weight = _random_state(shapes, seed, half=True)
    # upstream's inference sets model.version itself; the trainer's saved config has it too
    with _upstream_hparams_class() as hparams:
        obj = {"weight": weight, "config": hparams(**config), "info": "8epoch_96iteration"}
        return _save(obj, Path(path), VERSION_HEADERS.get(version))


def sv_state_shapes(
    m_channels: int = TINY_SV_M_CHANNELS,
    num_blocks: tuple[int, int, int, int] = (1, 1, 1, 1),
    base_width: int = 24,
    scale: int = 4,
    expansion: int = 4,
    feat_dim: int = 80,
    embedding_size: int = 192,
) -> OrderedDict[str, tuple[int, ...]]:
    """ERes2NetV2's state-dict keys and shapes (upstream: m_channels 64, blocks 3,4,6,3)."""
    s: OrderedDict[str, tuple[int, ...]] = OrderedDict()

    def bn(name: str, c: int) -> None:
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            s[f"{name}.{leaf}"] = (c,)
        s[f"{name}.num_batches_tracked"] = ()

    def aff(name: str, c: int) -> None:
        inter = c // 4
        s[f"{name}.local_att.0.weight"] = (inter, 2 * c, 1, 1)
        s[f"{name}.local_att.0.bias"] = (inter,)
        bn(f"{name}.local_att.1", inter)
        s[f"{name}.local_att.3.weight"] = (c, inter, 1, 1)
        s[f"{name}.local_att.3.bias"] = (c,)
        bn(f"{name}.local_att.4", c)

    s["conv1.weight"] = (m_channels, 1, 3, 3)
    bn("bn1", m_channels)
    in_planes = m_channels
    for li, (mult, n, stride0) in enumerate(zip((1, 2, 4, 8), num_blocks, (1, 2, 2, 2)), start=1):
        planes = m_channels * mult
        width = int(math.floor(planes * (base_width / 64.0)))
        for b in range(n):
            stride = stride0 if b == 0 else 1
            p = f"layer{li}.{b}"
            s[f"{p}.conv1.weight"] = (width * scale, in_planes, 1, 1)
            bn(f"{p}.bn1", width * scale)
            for i in range(scale):
                s[f"{p}.convs.{i}.weight"] = (width, width, 3, 3)
            for i in range(scale):
                bn(f"{p}.bns.{i}", width)
            if li >= 3:
                for j in range(scale - 1):
                    aff(f"{p}.fuse_models.{j}", width)
            s[f"{p}.conv3.weight"] = (planes * expansion, width * scale, 1, 1)
            bn(f"{p}.bn3", planes * expansion)
            if stride != 1 or in_planes != planes * expansion:
                s[f"{p}.shortcut.0.weight"] = (planes * expansion, in_planes, 1, 1)
                bn(f"{p}.shortcut.1", planes * expansion)
            in_planes = planes * expansion
    s["layer3_ds.weight"] = (m_channels * 8 * expansion, m_channels * 4 * expansion, 3, 3)
    aff("fuse34", m_channels * 8 * expansion)
    stats_dim = int(feat_dim / 8) * m_channels * 8
    s["seg_1.weight"] = (embedding_size, stats_dim * expansion * 2)
    s["seg_1.bias"] = (embedding_size,)
    return s


def build_sv_ckpt(path: str | Path, *, seed: int = 0, m_channels: int = TINY_SV_M_CHANNELS) -> Path:
    """Write a tiny random ERes2NetV2 state dict (float32, plain ``torch.save``).

    Its v2Pro embedding has ``m_channels * 320`` values (``TINY_SV_DIM`` by default).
    """
    shapes = sv_state_shapes(m_channels=m_channels)
    state = _random_state(shapes, seed, half=False)
    return _save(state, Path(path))


def build_hubert_dir(path: str | Path, *, seed: int = 0, hidden_size: int = TINY_SSL_DIM) -> Path:
    """Write a tiny random HuBERT (50 frames/s at 16 kHz, like chinese-hubert-base)."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    path = Path(path)
    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="group",
        do_stable_layer_norm=False,
    )
    model = HubertModel(config).eval()
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    ).save_pretrained(path)
    return path


_BERT_CHARS = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么"
    "心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将"
    "广州市房地产介协会析猫狗你好世界今天气很北京上海电话号码"
)
_BERT_PUNCT = "，。！？、；：“”‘’（）《》,.!?;:'\"()-…—"


def build_bert_dir(path: str | Path, *, seed: int = 0, hidden_size: int = TINY_BERT_DIM) -> Path:
    """Write a tiny random Chinese BERT (masked-LM, 2 layers) with a character tokenizer.

    Like chinese-roberta-wwm-ext-large it has a ``vocab.txt`` of single characters, so each
    Chinese character is one token; ``hidden_states`` has 3 entries (so ``[-3]`` exists).
    """
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = list(dict.fromkeys(specials + list(_BERT_CHARS) + list(_BERT_PUNCT) + letters))
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, tokenize_chinese_chars=True)
    tokenizer.save_pretrained(path)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertForMaskedLM(config).eval().save_pretrained(path)
    return path


@contextlib.contextmanager
def no_mkldnn() -> Iterator[None]:
    """Run CPU convolutions without oneDNN: for tiny models with ever-changing lengths it
    spends seconds building kernels per new shape (use as an autouse fixture in tests)."""
    # mkldnn.flags() would also set TF32 and warn about Intel GPUs; torch types the flag as a
    # descriptor that mypy will not let us assign.
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


# --------------------------------------------------------------------------- bundles


@dataclass(frozen=True)
class SovitsAssets:
    """Paths of one complete tiny GPT-SoVITS model set."""

    s1_ckpt: Path
    s2_pth: Path
    hubert_dir: Path
    bert_dir: Path
    sv_ckpt: Path
    reference_wav: Path
    reference_text: str


LJ_TEXT = (
    "Printing, in the only sense with which we are at present concerned, differs from most if not "
    "from all the arts and crafts represented in the Exhibition"
)


def reference_clip(dest: str | Path, *, start_s: float = 0.0, duration_s: float = 4.0) -> Path:
    """Write a slice of ``tests/data/ljspeech_LJ001-0001.wav`` (22.05 kHz mono) to ``dest``."""
    import soundfile as sf

    src = Path(__file__).parent / "data" / "ljspeech_LJ001-0001.wav"
    audio, rate = sf.read(src, dtype="float32", always_2d=False)
    a = int(round(start_s * rate))
    b = a + int(round(duration_s * rate))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, audio[a:b], rate, subtype="PCM_16")
    return dest


def build_sovits_assets(root: str | Path, version: str = "v2", *, seed: int = 0, with_bert: bool = True) -> SovitsAssets:
    """Build every tiny model a GPT-SoVITS voice needs under ``root`` (a few seconds on CPU)."""
    root = Path(root)
    bert_dir = build_bert_dir(root / "bert") if with_bert else root / "bert"
    return SovitsAssets(
        s1_ckpt=build_s1_ckpt(root / "tiny-e15.ckpt", seed=seed),
        s2_pth=build_s2_pth(root / f"tiny_{version}_e8_s96.pth", version, seed),
        hubert_dir=build_hubert_dir(root / "hubert", seed=seed),
        bert_dir=bert_dir,
        sv_ckpt=build_sv_ckpt(root / "sv" / "pretrained_eres2netv2w24s4ep4.ckpt", seed=seed),
        reference_wav=reference_clip(root / "ref.wav", duration_s=4.0),
        reference_text="Printing, in the only sense with which we are at present concerned.",
    )

