"""The GPT-SoVITS text-to-semantic model: loading upstream s1 files, batched sampling, stopping."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from sovits_fixtures import build_s1_ckpt  # noqa: E402

from castline.errors import CheckpointError  # noqa: E402
from voices.engines.gpt_sovits.checkpoints import load_s1  # noqa: E402
from voices.engines.gpt_sovits.sampling import (  # noqa: E402
    RowSampling,
    apply_repetition_penalty,
    counter_uniform,
    sample_rows,
    top_k_filter,
    top_p_filter,
)
from voices.engines.gpt_sovits.t2s import (  # noqa: E402
    LengthPolicy,
    SamplingSettings,
    T2SConfig,
    T2SItem,
    T2SResult,
    Text2Semantic,
)

EOS = 1024


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def s1_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_s1_ckpt(tmp_path_factory.mktemp("s1") / "tiny-e15.ckpt", seed=3)


@pytest.fixture()
def model(s1_path: Path) -> Text2Semantic:
    return Text2Semantic.from_checkpoint(load_s1(s1_path))


def make_items(specs: list[tuple[int, int, int]], sampling: list[SamplingSettings] | None = None) -> list[T2SItem]:
    """Items from (phones, prompt tokens, budget) triples; prompt tokens avoid 0..99."""
    gen = torch.Generator().manual_seed(11)
    items = []
    for i, (n_phones, n_prompt, budget) in enumerate(specs):
        items.append(
            T2SItem(
                phones=torch.randint(0, 732, (n_phones,), generator=gen),
                bert=torch.randn(1024, n_phones, generator=gen),
                prompt=torch.randint(100, 1024, (n_prompt,), generator=gen),
                seed=1000 + i,
                max_tokens=budget,
                sampling=sampling[i] if sampling else SamplingSettings(),
            )
        )
    return items


def make_stoppable(model: Text2Semantic) -> Text2Semantic:
    """Make EOS likely right after any token below 100 was fed back (so items stop at various steps)."""
    with torch.no_grad():
        model.ar_audio_embedding.word_embeddings.weight[:100, 0] += 20.0
        for layer in model.h.layers:  # let feature 0 pass every layer norm unchanged in sign
            for norm in (layer.norm1, layer.norm2):
                assert isinstance(norm, torch.nn.LayerNorm)
                norm.weight[0], norm.bias[0] = 1.0, 0.0
        model.ar_predict_layer.weight[EOS] = 0.0
        model.ar_predict_layer.weight[EOS, 0] = 5.0
    return model


def same(a: T2SResult, b: T2SResult) -> bool:
    return a.finish == b.finish and torch.equal(a.tokens, b.tokens)


# --- loading -------------------------------------------------------------------------------


def test_loads_the_upstream_s1_format(s1_path: Path, model: Text2Semantic) -> None:
    ckpt = load_s1(s1_path)
    assert model.config == T2SConfig(
        vocab_size=1025, phoneme_vocab_size=732, embedding_dim=32, hidden_dim=32, num_heads=2, num_layers=2, eos=1024
    )
    assert set(model.upstream_state()) == set(ckpt.state_dict)
    assert model.dtype == torch.float32  # stored fp16, run in the dtype asked for
    key = "model.h.layers.1.self_attn.in_proj_weight"
    assert torch.equal(model.upstream_state()[key], ckpt.state_dict[key].float())


def test_real_v2_size_has_upstream_key_names() -> None:
    keys = set(Text2Semantic(T2SConfig(num_layers=2)).upstream_state())
    for key in (
        "model.ar_text_embedding.word_embeddings.weight",
        "model.ar_audio_embedding.word_embeddings.weight",
        "model.bert_proj.weight",
        "model.bert_proj.bias",
        "model.ar_text_position.alpha",
        "model.ar_audio_position.alpha",
        "model.h.layers.1.self_attn.in_proj_weight",
        "model.h.layers.1.self_attn.in_proj_bias",
        "model.h.layers.1.self_attn.out_proj.weight",
        "model.h.layers.1.linear1.weight",
        "model.h.layers.1.linear2.bias",
        "model.h.layers.1.norm1.weight",
        "model.h.layers.1.norm2.bias",
        "model.ar_predict_layer.weight",
    ):
        assert key in keys
    assert len(keys) == 7 + 2 * 12


def test_wrong_shapes_name_the_file(tmp_path: Path) -> None:
    ckpt = load_s1(build_s1_ckpt(tmp_path / "odd.ckpt"))
    ckpt.config["model"]["n_layer"] = 3
    with pytest.raises(CheckpointError, match=r"odd\.ckpt.*missing keys"):
        Text2Semantic.from_checkpoint(ckpt)
    ckpt.config["model"].update(n_layer=2, phoneme_vocab_size=500)
    with pytest.raises(CheckpointError, match=r"odd\.ckpt.*ar_text_embedding.*shape"):
        Text2Semantic.from_checkpoint(ckpt)
    ckpt.config["model"].update(phoneme_vocab_size=732, EOS=7)
    with pytest.raises(CheckpointError, match=r"odd\.ckpt.*EOS"):
        Text2Semantic.from_checkpoint(ckpt)
    ckpt.config["model"].update(EOS=1024, head="two")
    with pytest.raises(CheckpointError, match=r"odd\.ckpt.*model\.head"):
        Text2Semantic.from_checkpoint(ckpt)


# --- generation ------------------------------------------------------------------------------


def test_shapes_and_determinism_under_a_seed(model: Text2Semantic) -> None:
    items = make_items([(9, 12, 40), (20, 5, 40)])
    first = model.generate(items)
    again = model.generate(items)
    assert [r.num_tokens for r in first] == [40, 40]
    for r in first:
        assert r.tokens.dtype == torch.int64 and r.tokens.ndim == 1
        assert int(r.tokens.max()) < EOS and int(r.tokens.min()) >= 0
    assert all(same(a, b) for a, b in zip(first, again))
    other_seed = T2SItem(items[0].phones, items[0].bert, items[0].prompt, seed=5, max_tokens=40)
    assert not torch.equal(model.generate([other_seed])[0].tokens, first[0].tokens)


def test_batched_equals_one_at_a_time(model: Text2Semantic) -> None:
    sampling = [
        SamplingSettings(),
        SamplingSettings(top_k=5, temperature=0.7),
        SamplingSettings(top_k=0, top_p=0.8, repetition_penalty=1.0),
        SamplingSettings(top_k=30, top_p=0.95, temperature=1.3, repetition_penalty=2.0),
        SamplingSettings(top_k=1),
    ]
    # different text lengths, prompt lengths (one empty) and budgets: several "speakers"
    items = make_items([(7, 30, 25), (31, 4, 40), (15, 0, 18), (3, 17, 33), (22, 9, 12)], sampling)
    batched = model.generate(items)
    alone = [model.generate([item])[0] for item in items]
    assert [r.num_tokens for r in batched] == [25, 40, 18, 33, 12]
    assert all(same(a, b) for a, b in zip(batched, alone))
    assert all(same(a, b) for a, b in zip(model.generate(items[::-1]), alone[::-1]))


def test_prefill_logits_match_within_tolerance(model: Text2Semantic) -> None:
    items = make_items([(7, 30, 5), (31, 4, 5), (15, 0, 5)])
    with torch.inference_mode():
        _, batched, _ = model._start(items)
        alone = torch.cat([model._start([item])[1] for item in items])
    assert batched.shape == (3, 1025)
    assert torch.allclose(batched, alone, atol=1e-5)


def test_items_stop_at_their_own_eos_and_leave_the_batch(model: Text2Semantic, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_stoppable(model)
    items = make_items([(5, 10, 60), (12, 3, 60), (20, 25, 12), (8, 0, 60), (30, 14, 60), (9, 9, 60)])
    rows_per_step: list[int] = []
    original = Text2Semantic._decode_step

    def counting(self: Text2Semantic, batch, tokens, cache_row):
        rows_per_step.append(len(batch.rows))
        return original(self, batch, tokens, cache_row)

    monkeypatch.setattr(Text2Semantic, "_decode_step", counting)
    batched = model.generate(items)
    monkeypatch.undo()
    alone = [model.generate([item])[0] for item in items]
    assert all(same(a, b) for a, b in zip(batched, alone))
    finishes = [r.finish for r in batched]
    assert "eos" in finishes and finishes[2] == "budget"
    assert len({r.num_tokens for r in batched}) >= 3
    for r in batched:
        assert EOS not in r.tokens.tolist()
        assert r.num_tokens >= SamplingSettings().min_tokens
    assert rows_per_step[0] == 6 and rows_per_step[-1] == 1
    assert rows_per_step == sorted(rows_per_step, reverse=True)


@pytest.mark.parametrize("policy", ["never", "quarter"])
def test_finished_rows_kept_in_the_batch_do_not_change_results(
    model: Text2Semantic, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    model = make_stoppable(model)
    items = make_items([(5, 10, 60), (12, 3, 60), (20, 25, 12), (8, 0, 60), (30, 14, 60), (9, 9, 60)])
    alone = [model.generate([item])[0] for item in items]
    rule = {"never": lambda self, finished, rows: False,  # as if every row ran to the end
            "quarter": lambda self, finished, rows: finished > 0 and 4 * finished >= rows}[policy]  # the GPU rule
    monkeypatch.setattr(Text2Semantic, "_should_compact", rule)
    assert all(same(a, b) for a, b in zip(model.generate(items), alone))


def test_eos_is_forbidden_before_min_tokens(model: Text2Semantic) -> None:
    with torch.no_grad():
        last = model.h.layers[-1].norm2
        assert isinstance(last, torch.nn.LayerNorm)
        last.weight[0], last.bias[0] = 0.0, 1.0  # feature 0 of the output is always 1
        model.ar_predict_layer.weight[EOS] = 0.0
        model.ar_predict_layer.weight[EOS, 0] = 1e3  # so EOS wins whenever it may
    items = make_items([(6, 8, 100), (6, 8, 100)], [SamplingSettings(), SamplingSettings(min_tokens=20)])
    results = model.generate(items)
    assert [(r.finish, r.num_tokens) for r in results] == [("eos", 11), ("eos", 20)]


def test_allow_eos_false_runs_to_the_budget(model: Text2Semantic) -> None:
    results = make_stoppable(model).generate(make_items([(6, 8, 70), (9, 3, 45)]), allow_eos=False)
    assert [(r.finish, r.num_tokens) for r in results] == [("budget", 70), ("budget", 45)]


def test_bad_items_are_refused(model: Text2Semantic) -> None:
    (item,) = make_items([(6, 8, 10)])
    with pytest.raises(ValueError, match="bert"):
        model.generate([T2SItem(item.phones, item.bert[:, :3], item.prompt, 0, 10)])
    with pytest.raises(ValueError, match="EOS"):
        model.generate([T2SItem(item.phones, item.bert, torch.tensor([EOS]), 0, 10)])
    assert model.generate([]) == []


# --- length policy ----------------------------------------------------------------------------


def test_length_policy_budget_and_plausibility() -> None:
    policy = LengthPolicy()
    assert policy.budget(10) == 100
    assert policy.budget(10_000) == policy.hard_cap_tokens
    tokens = torch.zeros(40, dtype=torch.int64)
    assert policy.plausible(T2SResult(tokens, "eos"), target_phones=20)
    assert not policy.plausible(T2SResult(tokens, "budget"), target_phones=20)
    assert not policy.plausible(T2SResult(tokens[:11], "eos"), target_phones=60)
    assert T2SResult(tokens, "eos").duration_s == pytest.approx(1.6)


# --- sampling functions -------------------------------------------------------------------------


def test_repetition_penalty_shrinks_seen_tokens_only() -> None:
    logits = torch.tensor([[2.0, -2.0, 1.0, -1.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, torch.tensor([2.0]))
    assert out.tolist() == [[1.0, -4.0, 1.0, -1.0]]


def test_top_k_keeps_k_per_row_and_ties() -> None:
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 3.0, 3.0, 0.0, 2.0]])
    out = top_k_filter(logits, torch.tensor([2, 2]))
    assert torch.isfinite(out).tolist() == [[True, True, False, False, False], [False, True, True, False, False]]
    assert torch.isfinite(top_k_filter(logits, torch.tensor([0, 9]))).all()


def test_top_p_keeps_the_nucleus_and_at_least_one() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.97, 0.01, 0.01, 0.01]])
    out = top_p_filter(probs.log(), torch.tensor([0.9, 0.5]))
    assert torch.isfinite(out).tolist() == [[True, True, False, False], [True, False, False, False]]
    unfiltered = top_p_filter(probs.log(), torch.tensor([1.0, 1.0]))
    assert torch.isfinite(unfiltered).all()
    mixed = top_p_filter(probs.log(), torch.tensor([1.0, 0.5]))
    assert torch.isfinite(mixed[0]).all() and torch.isfinite(mixed[1]).sum() == 1


def test_counter_uniform_is_per_row_and_reproducible() -> None:
    seeds = torch.tensor([1, 2, 3, 2**40 + 7])
    u = counter_uniform(seeds, 5, 1025)
    assert u.shape == (4, 1025) and float(u.min()) > 0.0 and float(u.max()) < 1.0
    assert torch.equal(counter_uniform(seeds[2:3], 5, 1025), u[2:3])  # batch composition does not matter
    assert not torch.equal(counter_uniform(seeds, 6, 1025), u)
    assert abs(float(u.mean()) - 0.5) < 0.02
    assert not torch.equal(u[0], u[1])


def test_sampling_follows_the_distribution_and_greedy_at_top_k_1() -> None:
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1, 1e-9])).repeat(2000, 1)
    seeds = torch.arange(2000)

    def settings(top_k: int) -> RowSampling:
        n = logits.shape[0]
        return RowSampling(
            top_k=torch.full((n,), top_k),
            top_p=torch.ones(n),
            temperature=torch.ones(n),
            repetition_penalty=torch.ones(n),
        )

    seen = torch.zeros_like(logits, dtype=torch.bool)
    tokens, _ = sample_rows(logits, seen, settings(0), seeds, step=3)
    freq = torch.bincount(tokens, minlength=4).float() / 2000
    assert torch.allclose(freq[:3], torch.tensor([0.6, 0.3, 0.1]), atol=0.04)
    greedy, _ = sample_rows(logits, seen, settings(1), seeds, step=3)
    assert bool((greedy == 0).all())
