"""Choosing the next semantic token: filters on logits and a seeded, batch-independent draw.

Every function works on a batch of rows (``[batch, vocab]`` logits) with one parameter value
per row, so utterances with different sampling settings and seeds can share a batch.

The order of the filters follows the upstream GPT-SoVITS sampler, which its checkpoints were
tuned with: repetition penalty, then top-p (on the untempered logits), then temperature, then
top-k. The random draw is a Gumbel-max race whose noise is a counter-based hash of
``(seed, step, token)``: a row's draw depends on its own seed and step only, never on which
other rows share the batch, nor on the device (CPU and GPU draw the same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "RowSampling",
    "apply_repetition_penalty",
    "top_p_filter",
    "top_k_filter",
    "counter_uniform",
    "sample_rows",
]

_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class RowSampling:
    """Sampling settings, one value per batch row (1-D tensors on the logits' device)."""

    top_k: torch.Tensor
    """Keep the k most likely tokens (int64); ``<= 0`` keeps all."""
    top_p: torch.Tensor
    """Nucleus: keep the smallest set of tokens whose probability reaches p (float32); 1 keeps all."""
    temperature: torch.Tensor
    """Divides the logits (float32); values below 1e-5 are raised to 1e-5."""
    repetition_penalty: torch.Tensor
    """Shrinks the logits of tokens already seen (float32); 1 disables it."""
    widest_top_k: int = -1
    """The largest k of any row, 0 when some row keeps all tokens; -1: not known yet (found on use)."""
    any_top_p: bool = True
    """Whether some row has ``top_p < 1`` (False lets the sort be skipped)."""

    @classmethod
    def from_values(
        cls,
        top_k: list[int],
        top_p: list[float],
        temperature: list[float],
        repetition_penalty: list[float],
        device: torch.device | str = "cpu",
    ) -> RowSampling:
        """Settings from per-row Python values (the host-side summaries are computed here, so
        sampling a step needs no device-to-host copy)."""
        return cls(
            top_k=torch.tensor(top_k, dtype=torch.int64, device=device),
            top_p=torch.tensor(top_p, dtype=torch.float32, device=device),
            temperature=torch.tensor(temperature, dtype=torch.float32, device=device),
            repetition_penalty=torch.tensor(repetition_penalty, dtype=torch.float32, device=device),
            widest_top_k=0 if any(k <= 0 for k in top_k) else max(top_k, default=0),
            any_top_p=any(p < 1.0 for p in top_p),
        )

    def select(self, rows: torch.Tensor) -> RowSampling:
        """The settings of the rows at indices ``rows`` (used when finished rows leave a batch)."""
        top_k = self.top_k[rows]
        top_p = self.top_p[rows]
        widest = 0 if bool((top_k <= 0).any()) else int(top_k.max()) if top_k.numel() else 0
        return RowSampling(top_k, top_p, self.temperature[rows], self.repetition_penalty[rows],
                           widest_top_k=widest, any_top_p=bool((top_p < 1.0).any()))


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """Penalize each token already seen once (however often it was seen).

    A positive logit is divided by the penalty and a negative one multiplied by it, so a seen
    token always becomes less likely. ``seen`` is a ``[batch, vocab]`` bool mask.
    """
    p = penalty.to(logits.dtype).unsqueeze(1)
    penalized = torch.where(logits < 0, logits * p, logits / p)
    return torch.where(seen, penalized, logits)


def top_p_filter(logits: torch.Tensor, top_p: torch.Tensor, any_top_p: bool | None = None) -> torch.Tensor:
    """Set to -inf every token outside the row's nucleus; the most likely token always stays.

    ``any_top_p=False`` says no row filters (skips the work without asking the device).
    """
    if any_top_p is None:
        any_top_p = bool((top_p < 1.0).any())
    if not any_top_p:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative > top_p.to(cumulative.dtype).unsqueeze(1)
    drop_sorted[:, 0] = False
    drop_sorted &= (top_p < 1.0).unsqueeze(1)
    drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def top_k_filter(logits: torch.Tensor, top_k: torch.Tensor, widest: int = -1) -> torch.Tensor:
    """Set to -inf every token below the row's k-th largest logit (ties with it stay).

    ``widest`` is the largest k of any row (0: some row keeps everything), if the caller knows it.
    """
    vocab = logits.shape[-1]
    k = torch.where(top_k <= 0, torch.full_like(top_k, vocab), top_k.clamp(max=vocab))
    if widest < 0:
        widest = int(k.max())
    widest = vocab if widest == 0 else min(widest, vocab)
    if widest >= vocab and bool((k >= vocab).all()):
        return logits
    ranked = torch.topk(logits, widest, dim=-1).values
    pivot = ranked.gather(1, (k - 1).unsqueeze(1))
    return logits.masked_fill(logits < pivot, float("-inf"))


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for 32-bit values held in int64, without int64 overflow."""
    low = x * (c & 0xFFFF)
    high = ((x * (c >> 16)) & 0xFFFF) << 16
    return (low + high) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit avalanche hash (xorshift-multiply finalizer)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def counter_uniform(seeds: torch.Tensor, step: int | torch.Tensor, vocab: int) -> torch.Tensor:
    """Uniform numbers in (0, 1), ``[batch, vocab]`` float32, a pure function of (seed, step, token).

    ``seeds`` holds one non-negative int64 per row (64-bit seeds are folded to two 32-bit
    halves); ``step`` is the index of the token being drawn (an int or one int64 per row).
    """
    seeds = seeds.to(torch.int64)
    lo = seeds & _MASK32
    hi = (seeds >> 32) & _MASK32
    step_t = torch.as_tensor(step, dtype=torch.int64, device=seeds.device).expand_as(seeds) & _MASK32
    key = _mix32(lo ^ _mix32(hi ^ _mix32(step_t ^ 0x9E3779B9)))
    token = torch.arange(vocab, dtype=torch.int64, device=seeds.device)
    h = _mix32(key.unsqueeze(1) ^ _mul32(token.unsqueeze(0) + 1, 0x85EBCA6B))
    h = _mix32(h ^ (key.unsqueeze(1) >> 7))
    return ((h >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))


def sample_rows(
    logits: torch.Tensor,
    seen: torch.Tensor,
    settings: RowSampling,
    seeds: torch.Tensor,
    step: int | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per row.

    Returns ``(tokens, penalized)``: the drawn token ids (int64, ``[batch]``) and the logits
    after the repetition penalty alone (float32), whose argmax the caller may use to stop.
    """
    logits = logits.float()
    penalized = apply_repetition_penalty(logits, seen, settings.repetition_penalty)
    filtered = top_p_filter(penalized, settings.top_p, settings.any_top_p)
    filtered = filtered / settings.temperature.clamp(min=1e-5).unsqueeze(1)
    filtered = top_k_filter(filtered, settings.top_k, settings.widest_top_k)
    log_probs = torch.log_softmax(filtered, dim=-1)
    gumbel = -torch.log(-torch.log(counter_uniform(seeds, step, logits.shape[-1])))
    tokens = torch.argmax(log_probs + gumbel, dim=-1)
    return tokens, penalized
