"""The SoVITS decoder: shapes, batching equal to one-at-a-time, determinism, building blocks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import pytest
import torch
from sovits_fixtures import HOP_LENGTH, TINY_SSL_DIM, TINY_SV_DIM, build_s2_pth, no_mkldnn
from torch import nn

from voices.engines.gpt_sovits.attentions import MultiHeadAttention
from voices.engines.gpt_sovits.checkpoints import load_s2
from voices.engines.gpt_sovits.sovits import SoVITSDecoder, fold_weight_norm

TOL = 1e-5


@pytest.fixture(autouse=True)
def _fast_cpu_convolutions():
    with no_mkldnn():
        yield


@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SoVITSDecoder]:
    root = tmp_path_factory.mktemp("s2")
    return {v: SoVITSDecoder.from_checkpoint(load_s2(build_s2_pth(root / f"{v}.pth", v, seed=3)))
            for v in ("v2", "v2Pro")}


def _batch(n_sem: list[int], n_ph: list[int], n_ref: list[int], sv: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sem = [torch.randint(0, 1024, (n,), generator=g) for n in n_sem]
    ph = [torch.randint(1, 732, (n,), generator=g) for n in n_ph]
    refs = [torch.rand(1, 1025, n, generator=g) * 3 for n in n_ref]
    svs = [torch.randn(1, TINY_SV_DIM, generator=g) for _ in n_sem] if sv else None
    return sem, ph, refs, svs


def test_loaded_model_facts(decoders: dict[str, SoVITSDecoder]) -> None:
    dec = decoders["v2"]
    assert dec.sample_rate == 32000
    assert dec.samples_per_token == 2 * HOP_LENGTH
    assert not dec.needs_sv and decoders["v2Pro"].needs_sv
    assert dec.dims.ssl_dim == TINY_SSL_DIM and decoders["v2Pro"].dims.sv_dim == TINY_SV_DIM
    assert not dec.training
    assert dec.path is not None and dec.path.name == "v2.pth"


@pytest.mark.parametrize("version", ["v2", "v2Pro"])
def test_decode_lengths(decoders: dict[str, SoVITSDecoder], version: str) -> None:
    dec = decoders[version]
    sem, ph, refs, svs = _batch([4, 9, 6], [5, 9, 3], [120, 90, 200], dec.needs_sv)
    waves = dec.decode(sem, ph, refs, svs, noise_scale=0.5, seeds=[1, 2, 3])
    assert [w.numel() for w in waves] == [n * dec.samples_per_token for n in (4, 9, 6)]
    assert all(w.dtype == torch.float32 and w.device.type == "cpu" for w in waves)
    assert all(torch.isfinite(w).all() and 0 < w.abs().max() <= 1 for w in waves)
    fast = dec.decode(sem, ph, refs, svs, speed=1.25, seeds=[1, 2, 3])
    assert [w.numel() for w in fast] == [(int(2 * n / 1.25) + 1) * HOP_LENGTH for n in (4, 9, 6)]


@pytest.mark.parametrize("version", ["v2", "v2Pro"])
def test_batched_decode_equals_one_at_a_time(decoders: dict[str, SoVITSDecoder], version: str) -> None:
    dec = decoders[version]
    sem, ph, refs, svs = _batch([12, 5, 18, 8], [11, 30, 4, 17], [150, 64, 211, 150], dec.needs_sv, seed=5)
    refs[3] = refs[0]  # two items share a speaker
    speeds = [1.0, 0.9, 1.2, 1.0]
    noises = [0.6, 0.6, 0.3, 0.0]
    seeds = [11, 12, 13, 14]
    batch = dec.decode(sem, ph, refs, svs, speed=speeds, noise_scale=noises, seeds=seeds)
    for b in range(4):
        alone = dec.decode([sem[b]], [ph[b]], [refs[b]], [svs[b]] if svs else None, speed=speeds[b],
                           noise_scale=noises[b], seeds=[seeds[b]])[0]
        assert alone.shape == batch[b].shape
        assert torch.allclose(alone, batch[b], atol=TOL, rtol=0), (b, (alone - batch[b]).abs().max())


def test_batch_with_global_rng_equals_items_in_order(decoders: dict[str, SoVITSDecoder]) -> None:
    dec = decoders["v2"]
    sem, ph, refs, _ = _batch([10, 14], [6, 8], [100, 80], False, seed=9)
    torch.manual_seed(123)
    batch = dec.decode(sem, ph, refs, noise_scale=0.8)
    torch.manual_seed(123)
    singles = [dec.decode([s], [p], [r], noise_scale=0.8)[0] for s, p, r in zip(sem, ph, refs)]
    for a, b in zip(batch, singles):
        assert torch.allclose(a, b, atol=TOL, rtol=0)


def test_seeds_make_decoding_deterministic(decoders: dict[str, SoVITSDecoder]) -> None:
    dec = decoders["v2Pro"]
    sem, ph, refs, svs = _batch([12], [7], [90], True, seed=2)
    first = dec.decode(sem, ph, refs, svs, noise_scale=0.7, seeds=[42])[0]
    again = dec.decode(sem, ph, refs, svs, noise_scale=0.7, seeds=[42])[0]
    other = dec.decode(sem, ph, refs, svs, noise_scale=0.7, seeds=[43])[0]
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-4
    quiet = dec.decode(sem, ph, refs, svs, noise_scale=0.0, seeds=[42])[0]
    assert torch.equal(quiet, dec.decode(sem, ph, refs, svs, noise_scale=0.0, seeds=[7])[0])


def test_style_is_computed_once_per_distinct_reference(decoders: dict[str, SoVITSDecoder]) -> None:
    dec = decoders["v2"]
    sem, ph, refs, _ = _batch([5, 6, 7], [3, 3, 3], [80, 80, 80], False)
    calls = []
    handle = dec.ref_enc.register_forward_hook(lambda *_: calls.append(1))
    try:
        dec.decode(sem, ph, [refs[0], refs[1], refs[0]], seeds=[0, 1, 2])
    finally:
        handle.remove()
    assert len(calls) == 2


def test_empty_items_and_bad_arguments(decoders: dict[str, SoVITSDecoder]) -> None:
    dec = decoders["v2Pro"]
    sem, ph, refs, svs = _batch([6, 8], [4, 4], [50, 50], True)
    sem[0] = torch.zeros(0, dtype=torch.long)
    waves = dec.decode(sem, ph, refs, svs, seeds=[0, 1])
    assert waves[0].numel() == 0 and waves[1].numel() == 8 * dec.samples_per_token
    with pytest.raises(ValueError, match="sv_emb"):
        dec.decode(sem, ph, refs, None)
    with pytest.raises(ValueError, match="1 phones for 2 items"):
        dec.decode(sem, ph[:1], refs, svs)
    with pytest.raises(ValueError, match="seeds"):
        dec.decode(sem, ph, refs, svs, seeds=[1])


def test_extract_latent(decoders: dict[str, SoVITSDecoder]) -> None:
    dec = decoders["v2"]
    ssl = torch.randn(2, TINY_SSL_DIM, 101)
    codes = dec.extract_latent(ssl)
    assert codes.shape == (2, 1, 50) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < dec.dims.n_codes
    # a frame equal to a codebook vector after projection maps back to that code
    assert torch.equal(dec.extract_latent(ssl[:1])[0], codes[0])


def test_fold_weight_norm_matches_torch() -> None:
    torch.manual_seed(0)
    conv = nn.utils.weight_norm(nn.Conv1d(3, 5, 3))
    convt = nn.utils.weight_norm(nn.ConvTranspose1d(4, 2, 6, 2))
    with torch.no_grad():
        weight_g = cast(torch.Tensor, conv.weight_g)  # added by weight_norm at run time
        weight_g.mul_(torch.rand_like(weight_g) + 0.5)
    folded = fold_weight_norm({f"a.{k}": v for k, v in conv.state_dict().items()}
                              | {f"b.{k}": v for k, v in convt.state_dict().items()})
    assert set(folded) == {"a.weight", "a.bias", "b.weight", "b.bias"}
    x = torch.randn(1, 3, 9)
    plain = nn.Conv1d(3, 5, 3)
    plain.load_state_dict({"weight": folded["a.weight"], "bias": folded["a.bias"]})
    assert torch.allclose(plain(x), conv(x), atol=1e-6)
    assert torch.allclose(folded["b.weight"], convt.weight, atol=1e-6)
    para = nn.utils.parametrizations.weight_norm(nn.Conv1d(3, 5, 3))
    folded = fold_weight_norm(para.state_dict())
    assert torch.allclose(folded["weight"], para.weight, atol=1e-6)


def _naive_relative_attention(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """Relative-position self-attention written out entry by entry (as the VITS paper defines it)."""
    b, c, t = x.shape
    h, d, w = mha.n_heads, mha.k_channels, mha.window_size
    assert w is not None  # the relative-position path only exists with a window
    q = mha.conv_q(x).view(b, h, d, t)
    k = mha.conv_k(x).view(b, h, d, t)
    v = mha.conv_v(x).view(b, h, d, t)
    ek, ev = mha.emb_rel_k[0], mha.emb_rel_v[0]
    out = torch.zeros(b, h, d, t)
    for i in range(t):
        scores = torch.zeros(b, h, t)
        for j in range(t):
            s = (q[..., i] * k[..., j]).sum(-1)
            if abs(j - i) <= w:
                s = s + (q[..., i] * ek[j - i + w]).sum(-1)
            scores[..., j] = s / math.sqrt(d)
        p = torch.softmax(scores, dim=-1)
        for j in range(t):
            val = v[..., j]
            if abs(j - i) <= w:
                val = val + ev[j - i + w]
            out[..., i] += p[..., j, None] * val
    return mha.conv_o(out.reshape(b, h * d, t))


@pytest.mark.parametrize("length", [1, 3, 4, 5, 12])
def test_relative_attention_matches_definition(length: int) -> None:
    torch.manual_seed(length)
    mha = MultiHeadAttention(8, 8, 2, window_size=4)
    with torch.no_grad():
        mha.emb_rel_k.normal_()
        mha.emb_rel_v.normal_()
    x = torch.randn(2, 8, length)
    assert torch.allclose(mha(x, x), _naive_relative_attention(mha, x), atol=1e-5)


def test_padding_does_not_change_attention() -> None:
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 8, 2, window_size=4)
    x = torch.randn(1, 8, 6)
    padded = torch.cat([x, torch.randn(1, 8, 4)], dim=2)
    mask = torch.cat([torch.ones(1, 1, 6), torch.zeros(1, 1, 4)], dim=2)
    attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
    assert torch.allclose(mha(padded, padded, attn_mask)[..., :6], mha(x, x), atol=1e-6)


def test_dtype_and_device_arguments(tmp_path: Path) -> None:
    ckpt = load_s2(build_s2_pth(tmp_path / "v2.pth", "v2"))
    dec = SoVITSDecoder.from_checkpoint(ckpt, device="cpu", dtype=torch.float64)
    assert dec.dtype == torch.float64 and dec.device.type == "cpu"
    sem, ph, refs, _ = _batch([5], [4], [60], False)
    assert dec.decode(sem, ph, refs, seeds=[0])[0].dtype == torch.float32
