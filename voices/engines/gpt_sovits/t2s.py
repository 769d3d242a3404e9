"""The text-to-semantic stage of GPT-SoVITS: an autoregressive transformer with a KV cache.

The model reads the phones of the reference transcript and of the target text (each with its
1024-dim BERT features), then the semantic tokens of the reference clip, and continues the
semantic tokens for the target text at 25 tokens per second of speech, until it emits EOS.

Parameter names are those of the upstream ``Text2SemanticDecoder`` (``s1`` ``.ckpt`` files
hold them under ``weight`` with a ``model.`` prefix), so upstream checkpoints load unchanged.

Batching: every item of a batch has its own text, reference prompt, sampling settings and
seed. Items are left-padded to a common length; masks keep each item from seeing padding, so
an item's tokens are the ones it would get alone (up to floating-point rounding). An item
leaves the batch once it stops, at EOS or at its token budget.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from castline.errors import CheckpointError
from voices.engines.gpt_sovits.sampling import RowSampling, sample_rows

if TYPE_CHECKING:
    from voices.engines.gpt_sovits.checkpoints import S1Checkpoint

__all__ = [
    "BERT_DIM",
    "SEMANTIC_RATE_HZ",
    "T2SConfig",
    "SamplingSettings",
    "LengthPolicy",
    "T2SItem",
    "T2SResult",
    "Text2Semantic",
]

log = logging.getLogger(__name__)

BERT_DIM = 1024
"""Width of the BERT features that come with each phone."""
SEMANTIC_RATE_HZ = 25
"""Semantic tokens per second of speech."""
STATE_PREFIX = "model."
"""Prefix of the model's keys in an upstream ``s1`` checkpoint's ``weight`` dict."""

Finish = Literal["eos", "budget"]


@dataclass(frozen=True)
class T2SConfig:
    """Sizes of a text-to-semantic model (the ``model`` section of an ``s1`` checkpoint's config)."""

    vocab_size: int = 1025
    """Semantic tokens plus EOS."""
    phoneme_vocab_size: int = 732
    embedding_dim: int = 512
    hidden_dim: int = 512
    num_heads: int = 16
    num_layers: int = 24
    eos: int = 1024

    @property
    def ffn_dim(self) -> int:
        return 4 * self.hidden_dim

    @classmethod
    def from_checkpoint_config(cls, config: Mapping[str, Any], path: str | Path) -> T2SConfig:
        """Read the ``config`` dict of an ``s1`` checkpoint; a missing or bad value names ``path``."""
        model = config.get("model") if isinstance(config, Mapping) else None
        if not isinstance(model, Mapping):
            raise CheckpointError(path, "s1 checkpoint config has no 'model' section")
        keys = {
            "vocab_size": "vocab_size",
            "phoneme_vocab_size": "phoneme_vocab_size",
            "embedding_dim": "embedding_dim",
            "hidden_dim": "hidden_dim",
            "num_heads": "head",
            "num_layers": "n_layer",
            "eos": "EOS",
        }
        values: dict[str, int] = {}
        for name, key in keys.items():
            value = model.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CheckpointError(
                    path, f"s1 checkpoint config: model.{key} must be a positive integer, got {value!r}"
                )
            values[name] = value
        made = cls(**values)
        if made.eos != made.vocab_size - 1:
            raise CheckpointError(
                path, f"s1 checkpoint config: EOS ({made.eos}) must be vocab_size - 1 ({made.vocab_size - 1})"
            )
        if made.embedding_dim != made.hidden_dim or made.hidden_dim % made.num_heads:
            raise CheckpointError(
                path,
                f"s1 checkpoint config: embedding_dim ({made.embedding_dim}) must equal hidden_dim "
                f"({made.hidden_dim}) and be divisible by head ({made.num_heads})",
            )
        return made

    def to_checkpoint_config(self) -> dict[str, Any]:
        """The ``model`` section in upstream's spelling (used to write test and bench checkpoints)."""
        return {
            "vocab_size": self.vocab_size,
            "phoneme_vocab_size": self.phoneme_vocab_size,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "head": self.num_heads,
            "n_layer": self.num_layers,
            "linear_units": self.ffn_dim,
            "dropout": 0,
            "EOS": self.eos,
        }


@dataclass(frozen=True)
class SamplingSettings:
    """How one item draws its tokens (upstream defaults)."""

    top_k: int = 15
    """Keep the k most likely tokens; 0 keeps all."""
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    """Applied to every token already in the prompt or the output."""
    min_tokens: int = 11
    """EOS is forbidden before this many tokens (0.44 s), as upstream does."""


@dataclass(frozen=True)
class LengthPolicy:
    """Guards against runaway or truncated takes, relative to the target text's phone count.

    Speech runs at about two semantic tokens per phone (25 tokens/s, 10-15 phones/s).
    """

    max_tokens_per_phone: float = 7.0
    """Budget: a take may not be slower than this (3.5 times a typical pace)."""
    slack_tokens: int = 30
    """Added to the budget, for the pauses around short texts (1.2 s)."""
    hard_cap_tokens: int = 1500
    """No take is longer than this (60 s), whatever the text."""
    min_tokens_per_phone: float = 0.6
    """A take faster than this (40 phones/s) has dropped words."""

    def budget(self, target_phones: int) -> int:
        """Most tokens an item may generate for a text of ``target_phones`` phones."""
        wanted = math.ceil(self.max_tokens_per_phone * target_phones) + self.slack_tokens
        return max(1, min(self.hard_cap_tokens, wanted))

    def plausible(self, result: T2SResult, target_phones: int) -> bool:
        """Whether a take's length fits its text: it ended at EOS and is not implausibly short."""
        if result.finish != "eos":
            return False
        return result.num_tokens >= math.floor(self.min_tokens_per_phone * target_phones)


@dataclass(frozen=True)
class T2SItem:
    """One utterance to continue. Tensors may live on any device; they are moved as needed."""

    phones: torch.Tensor
    """Phone ids of the reference transcript then the target text, int64 ``[n_phones]``."""
    bert: torch.Tensor
    """BERT features of those phones, ``[1024, n_phones]`` (zeros for non-Chinese text)."""
    prompt: torch.Tensor
    """Semantic tokens of the reference clip, int64 ``[n_prompt]`` (may be empty)."""
    seed: int
    """Non-negative seed of this item's draws."""
    max_tokens: int
    """Token budget (see :meth:`LengthPolicy.budget`)."""
    sampling: SamplingSettings = field(default_factory=SamplingSettings)


@dataclass(frozen=True)
class T2SResult:
    """The semantic tokens generated for one item."""

    tokens: torch.Tensor
    """int64 ``[n_tokens]`` on the CPU, without EOS and without the prompt."""
    finish: Finish
    """``eos`` when the model ended the take, ``budget`` when the budget cut it."""

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.numel())

    @property
    def duration_s(self) -> float:
        """Length of the speech these tokens stand for, in seconds."""
        return self.num_tokens / SEMANTIC_RATE_HZ


# --- modules whose parameter names are upstream's ---------------------------------------


class TokenEmbedding(nn.Module):
    """A lookup table (key ``word_embeddings.weight``)."""

    def __init__(self, dim: int, vocab: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.word_embeddings(ids)


class SinePosition(nn.Module):
    """Adds ``alpha * sinusoid(position)``; ``alpha`` is the one learned parameter."""

    def __init__(self, dim: int, length: int = 4000) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self.table: torch.Tensor
        self.register_buffer("table", self._table(length), persistent=False)

    def _table(self, length: int) -> torch.Tensor:
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        rate = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * (-math.log(10000.0) / self.dim))
        table = torch.zeros(length, self.dim)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate)
        return table

    def rows(self, positions: torch.Tensor, limit: int | None = None) -> torch.Tensor:
        """``alpha * sinusoid`` at int64 ``positions`` (any shape), in the parameter dtype.

        ``limit`` bounds the positions from above if the caller knows it (saves a device sync).
        """
        if limit is None:
            limit = int(positions.max()) if positions.numel() else 0
        needed = limit + 1
        if needed > self.table.shape[0]:
            self.table = self._table(max(needed, 2 * self.table.shape[0])).to(self.table.device)
        return self.alpha * self.table[positions].to(self.alpha.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Positions 0..n-1 along the first axis of ``x`` (``[n, dim]``)."""
        return x + self.rows(torch.arange(x.shape[0], device=x.device))


class SelfAttention(nn.Module):
    """Packed q/k/v projection (``in_proj_weight``/``in_proj_bias``) and ``out_proj``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, cache: _LayerCache, start: int, mask: torch.Tensor) -> torch.Tensor:
        """Attend from ``x`` (``[B, T, D]``, at cache rows ``start..start+T``) to the cache."""
        batch, steps, dim = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(batch, steps, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        end = start + steps
        cache.keys[:, :, start:end] = k
        cache.values[:, :, start:end] = v
        out = F.scaled_dot_product_attention(q, cache.keys[:, :, :end], cache.values[:, :, :end], attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(batch, steps, dim))


class EncoderLayer(nn.Module):
    """Post-norm transformer layer with a ReLU feed-forward."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, heads)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x: torch.Tensor, cache: _LayerCache, start: int, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x, cache, start, mask))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class EncoderStack(nn.Module):
    def __init__(self, config: T2SConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(config.hidden_dim, config.num_heads, config.ffn_dim) for _ in range(config.num_layers)
        )


@dataclass
class _LayerCache:
    keys: torch.Tensor
    """``[B, heads, capacity, head_dim]``"""
    values: torch.Tensor


@dataclass
class _Batch:
    """Decoding state of the items still running (rows shrink as items finish)."""

    rows: list[int]
    """Original item index of each row."""
    caches: list[_LayerCache]
    key_valid: torch.Tensor
    """``[B, capacity]`` bool: which cache rows are real tokens (not left padding)."""
    next_position: torch.Tensor
    """``[B]`` audio position of the next token (prompt length + tokens so far)."""
    position_limit: int
    """An upper bound of :attr:`next_position`, kept on the host."""
    seen: torch.Tensor
    """``[B, vocab]`` bool: tokens in the prompt or output, for the repetition penalty."""
    seeds: torch.Tensor
    budgets: torch.Tensor
    sampling: RowSampling
    min_tokens: torch.Tensor
    tokens: list[list[int]] = field(default_factory=list)

    def keep(self, keep_rows: torch.Tensor) -> None:
        """Keep only the rows at indices ``keep_rows`` (a 1-D int64 tensor)."""
        index = keep_rows.to(self.key_valid.device)
        kept = keep_rows.tolist()  # rows leave rarely (once per item): a sync here is fine
        self.rows = [self.rows[i] for i in kept]
        self.tokens = [self.tokens[i] for i in kept]
        for cache in self.caches:
            cache.keys = cache.keys.index_select(0, index)
            cache.values = cache.values.index_select(0, index)
        self.key_valid = self.key_valid.index_select(0, index)
        self.next_position = self.next_position.index_select(0, index)
        self.seen = self.seen.index_select(0, index)
        self.seeds = self.seeds.index_select(0, index)
        self.budgets = self.budgets.index_select(0, index)
        self.min_tokens = self.min_tokens.index_select(0, index)
        self.sampling = self.sampling.select(index)


class Text2Semantic(nn.Module):
    """The upstream text-to-semantic model, for inference."""

    def __init__(self, config: T2SConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embedding_dim
        self.bert_proj = nn.Linear(BERT_DIM, dim)
        self.ar_text_embedding = TokenEmbedding(dim, config.phoneme_vocab_size)
        self.ar_text_position = SinePosition(dim)
        self.ar_audio_embedding = TokenEmbedding(dim, config.vocab_size)
        self.ar_audio_position = SinePosition(dim)
        self.h = EncoderStack(config)
        self.ar_predict_layer = nn.Linear(config.hidden_dim, config.vocab_size, bias=False)

    # --- loading --------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls, ckpt: S1Checkpoint, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> Text2Semantic:
        """Build the model from an upstream ``s1`` checkpoint (see :func:`checkpoints.load_s1`)."""
        config = T2SConfig.from_checkpoint_config(ckpt.config, ckpt.path)
        return cls.from_state(config, ckpt.state_dict, ckpt.path, device, dtype)

    @classmethod
    def from_state(
        cls,
        config: T2SConfig,
        state_dict: Mapping[str, torch.Tensor],
        path: str | Path,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Text2Semantic:
        """Build the model from an upstream ``weight`` dict (keys ``model.*``); errors name ``path``."""
        model = cls(config)
        model.load_upstream_state(state_dict, path)
        return model.to(device=device, dtype=dtype).eval()

    def load_upstream_state(self, state_dict: Mapping[str, torch.Tensor], path: str | Path) -> None:
        """Copy an upstream ``weight`` dict in, checking every key and shape."""
        ours = self.state_dict()
        theirs = {k[len(STATE_PREFIX):]: v for k, v in state_dict.items() if k.startswith(STATE_PREFIX)}
        missing = sorted(set(ours) - set(theirs))
        unexpected = sorted(set(theirs) - set(ours)) + sorted(k for k in state_dict if not k.startswith(STATE_PREFIX))
        if missing or unexpected:
            raise CheckpointError(
                path,
                f"not a GPT-SoVITS s1 model of this config: {len(missing)} missing keys "
                f"{_few(STATE_PREFIX + k for k in missing)}, {len(unexpected)} unexpected keys {_few(unexpected)}",
            )
        for key, tensor in theirs.items():
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != tuple(ours[key].shape):
                shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                raise CheckpointError(
                    path, f"s1 weight {STATE_PREFIX}{key} has shape {shape}, the config wants {tuple(ours[key].shape)}"
                )
        self.load_state_dict(theirs, strict=True)

    def upstream_state(self) -> dict[str, torch.Tensor]:
        """The parameters under upstream's key names (to write an ``s1`` checkpoint)."""
        return {STATE_PREFIX + k: v for k, v in self.state_dict().items()}

    # --- inference ------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.ar_predict_layer.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.ar_predict_layer.weight.dtype

    def _embed_item(self, item: T2SItem) -> torch.Tensor:
        """Text then prompt embeddings of one item, ``[n_phones + n_prompt, dim]``."""
        phones = item.phones.to(self.device, torch.int64)
        bert = item.bert.to(self.device, self.dtype)
        if bert.shape != (BERT_DIM, phones.shape[0]):
            raise ValueError(f"bert features must be [{BERT_DIM}, {phones.shape[0]}], got {list(bert.shape)}")
        text = self.ar_text_embedding(phones) + self.bert_proj(bert.transpose(0, 1))
        text = self.ar_text_position(text)
        prompt = self.ar_audio_position(self.ar_audio_embedding(item.prompt.to(self.device, torch.int64)))
        return torch.cat([text, prompt], dim=0)

    def _prefill_mask(self, pads: torch.Tensor, text_ends: torch.Tensor, length: int) -> torch.Tensor:
        """``[B, 1, L, L]`` bool, True where a query may attend to a key.

        Text attends to all of its item's text; prompt tokens attend to the text and causally
        to the prompt; a padding row attends only to itself (so it stays finite).
        """
        pos = torch.arange(length, device=pads.device)
        q, k = pos.view(1, -1, 1), pos.view(1, 1, -1)
        pad, end = pads.view(-1, 1, 1), text_ends.view(-1, 1, 1)
        real_key = k >= pad
        in_text = (q >= pad) & (q < end)
        text_rows = in_text & real_key & (k < end)
        audio_rows = (q >= end) & real_key & (k <= q)
        pad_rows = (q < pad) & (k == q)
        return (text_rows | audio_rows | pad_rows).unsqueeze(1)

    def _run_layers(self, x: torch.Tensor, caches: list[_LayerCache], start: int, mask: torch.Tensor) -> torch.Tensor:
        for layer, cache in zip(self.h.layers, caches):
            x = layer(x, cache, start, mask)
        return x

    def _start(self, items: Sequence[T2SItem]) -> tuple[_Batch, torch.Tensor, int]:
        """Prefill every item; returns the state, the first logits ``[B, vocab]`` and the prefill length."""
        cfg, device = self.config, self.device
        embedded = [self._embed_item(item) for item in items]
        lengths = [e.shape[0] for e in embedded]
        length = max(lengths)
        capacity = length + max(item.max_tokens for item in items)
        x = torch.zeros(len(items), length, cfg.hidden_dim, device=device, dtype=self.dtype)
        for row, e in enumerate(embedded):
            x[row, length - e.shape[0]:] = e
        pads = torch.tensor([length - n for n in lengths], device=device)
        text_ends = pads + torch.tensor([int(item.phones.shape[0]) for item in items], device=device)
        head_dim = cfg.hidden_dim // cfg.num_heads
        caches = [
            _LayerCache(
                torch.zeros(len(items), cfg.num_heads, capacity, head_dim, device=device, dtype=self.dtype),
                torch.zeros(len(items), cfg.num_heads, capacity, head_dim, device=device, dtype=self.dtype),
            )
            for _ in range(cfg.num_layers)
        ]
        hidden = self._run_layers(x, caches, 0, self._prefill_mask(pads, text_ends, length))
        logits = self.ar_predict_layer(hidden[:, -1])
        key_valid = torch.arange(capacity, device=device).unsqueeze(0) >= pads.unsqueeze(1)
        seen = torch.zeros(len(items), cfg.vocab_size, dtype=torch.bool, device=device)
        for row, item in enumerate(items):
            seen[row, item.prompt.to(device, torch.int64)] = True

        def per_item(values: list[Any], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        batch = _Batch(
            rows=list(range(len(items))),
            caches=caches,
            key_valid=key_valid,
            next_position=per_item([int(item.prompt.shape[0]) for item in items], torch.int64),
            position_limit=max(int(item.prompt.shape[0]) for item in items),
            seen=seen,
            seeds=per_item([item.seed for item in items], torch.int64),
            budgets=per_item([item.max_tokens for item in items], torch.int64),
            sampling=RowSampling.from_values(
                [item.sampling.top_k for item in items],
                [item.sampling.top_p for item in items],
                [item.sampling.temperature for item in items],
                [item.sampling.repetition_penalty for item in items],
                device,
            ),
            min_tokens=per_item([item.sampling.min_tokens for item in items], torch.int64),
            tokens=[[] for _ in items],
        )
        return batch, logits, length

    def _check_items(self, items: Sequence[T2SItem]) -> None:
        cfg = self.config
        for item in items:
            if item.phones.ndim != 1 or item.phones.numel() == 0:
                raise ValueError("each item needs a non-empty 1-D phones tensor")
            if item.max_tokens < 1:
                raise ValueError(f"max_tokens must be at least 1, got {item.max_tokens}")
            if item.seed < 0:
                raise ValueError(f"seeds must be non-negative, got {item.seed}")
            if item.prompt.numel() and int(item.prompt.max()) >= cfg.eos:
                raise ValueError(f"prompt tokens must be below EOS ({cfg.eos})")
            if int(item.phones.max()) >= cfg.phoneme_vocab_size or int(item.phones.min()) < 0:
                raise ValueError(f"phone ids must lie in [0, {cfg.phoneme_vocab_size})")

    @torch.inference_mode()
    def generate(self, items: Sequence[T2SItem], allow_eos: bool = True) -> list[T2SResult]:
        """Generate semantic tokens for every item, batched; results in item order.

        ``allow_eos=False`` ignores EOS so every item runs to its budget (for benchmarks).
        """
        if not items:
            return []
        self._check_items(items)
        eos = self.config.eos
        batch, logits, length = self._start(items)
        results: dict[int, T2SResult] = {}
        step = 0
        while True:
            count = torch.full_like(batch.budgets, step)
            forbid_eos = (count < batch.min_tokens) | (not allow_eos)
            logits = logits.float()
            logits[:, eos] = torch.where(forbid_eos, float("-inf"), logits[:, eos])
            tokens, penalized = sample_rows(logits, batch.seen, batch.sampling, batch.seeds, step)
            stop_eos = ~forbid_eos & ((tokens == eos) | (penalized.argmax(dim=-1) == eos))
            out_of_budget = ~stop_eos & (count + 1 >= batch.budgets)
            batch.seen[torch.arange(len(batch.rows), device=tokens.device), tokens] = True
            host = torch.stack([tokens, stop_eos, out_of_budget]).tolist()  # the step's one sync
            running = []
            for row, (token, at_eos, at_budget) in enumerate(zip(*host)):
                if batch.rows[row] in results:
                    continue  # finished earlier, still in the batch until the next compaction
                if not at_eos:
                    batch.tokens[row].append(int(token))
                if at_eos or at_budget:
                    results[batch.rows[row]] = T2SResult(
                        torch.tensor(batch.tokens[row], dtype=torch.int64), "eos" if at_eos else "budget"
                    )
                else:
                    running.append(row)
            if not running:
                break
            if self._should_compact(len(batch.rows) - len(running), len(batch.rows)):
                keep = torch.tensor(running, dtype=torch.int64, device=tokens.device)
                batch.keep(keep)
                tokens = tokens.index_select(0, keep)
            logits = self._decode_step(batch, tokens, length + step)
            step += 1
        return [results[i] for i in range(len(items))]

    def _should_compact(self, finished: int, rows: int) -> bool:
        """Whether finished rows should leave the batch now.

        Leaving copies every KV cache. On the CPU, where a row's cost is its arithmetic, rows
        leave at once; on a GPU, where a decode step costs about the same for 1 or 32 rows, they
        run on (their tokens ignored) until a quarter of the batch has finished.
        """
        if finished == 0:
            return False
        return self.device.type == "cpu" or 4 * finished >= rows

    def _decode_step(self, batch: _Batch, tokens: torch.Tensor, cache_row: int) -> torch.Tensor:
        """Feed one token per row (written at cache row ``cache_row``); returns the next logits."""
        positions = self.ar_audio_position.rows(batch.next_position, limit=batch.position_limit)
        x = self.ar_audio_embedding(tokens) + positions
        batch.next_position = batch.next_position + 1
        batch.position_limit += 1
        mask = batch.key_valid[:, : cache_row + 1].view(len(batch.rows), 1, 1, cache_row + 1)
        hidden = self._run_layers(x.unsqueeze(1), batch.caches, cache_row, mask)
        return self.ar_predict_layer(hidden[:, -1])


def _few(keys: Any, limit: int = 3) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}]"
