"""Pruning the audio stores: ``castline gc``.

The stores only grow: every edited sentence, mastering setting or voice version leaves its
old takes and chapters behind. :func:`prune` removes whole entries (the audio and its
sidecar together) that are older than a maximum age, then the oldest ones until the store is
under a maximum size. An entry's time is when it was written or last read by a render (a hit
touches its sidecar), so an age limit keeps what a nightly render still uses. On object
stores an object's time cannot be changed, so there it is the time of writing.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass

from castline.claims import CLAIMS_PREFIX
from castline.storage import Storage

__all__ = ["Pruned", "prune", "parse_age_s", "parse_size_bytes"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_age_s(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"2w"`` -> seconds."""
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"{text[:40]!r} is not an age such as 30d, 12h or 90m")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def parse_size_bytes(text: str) -> int:
    """``"10G"``, ``"500M"``, ``"2TB"`` (binary multiples) -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text[:40]!r} is not a size such as 10G or 500M")
    return int(float(match.group(1)) * _BYTES[match.group(2).lower()])


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed from a store and what it kept."""

    removed_entries: int
    removed_bytes: int
    kept_entries: int
    kept_bytes: int


@dataclass
class _Entry:
    names: list[str]
    size_bytes: int
    used_s: float


def _entries(storage: Storage) -> dict[str, _Entry]:
    """The store's entries by key: ``ab/<key>.flac`` and ``ab/<key>.json`` are one entry.
    Claims on takes (:mod:`castline.claims`) are not entries: their holders remove them."""
    entries: dict[str, _Entry] = defaultdict(lambda: _Entry([], 0, 0.0))
    for stored in storage.scan():
        if stored.name.startswith(CLAIMS_PREFIX):
            continue
        entry = entries[stored.name.rsplit(".", 1)[0]]
        entry.names.append(stored.name)
        entry.size_bytes += stored.size_bytes
        entry.used_s = max(entry.used_s, stored.modified_s)
    return entries


def prune(
    storage: Storage, *, max_age_s: float | None = None, max_size_bytes: int | None = None,
    now_s: float | None = None, dry_run: bool = False,
) -> Pruned:
    """Remove entries unused for more than ``max_age_s``, then the oldest until the rest fits
    in ``max_size_bytes``. With ``dry_run`` nothing is removed; the figures say what would be.
    """
    now_s = time.time() if now_s is None else now_s
    entries = sorted(_entries(storage).values(), key=lambda e: e.used_s)
    doomed = [e for e in entries if max_age_s is not None and now_s - e.used_s > max_age_s]
    kept = [e for e in entries if not (max_age_s is not None and now_s - e.used_s > max_age_s)]
    if max_size_bytes is not None:
        total = sum(e.size_bytes for e in kept)
        while kept and total > max_size_bytes:
            oldest = kept.pop(0)
            doomed.append(oldest)
            total -= oldest.size_bytes
    if not dry_run:
        for entry in doomed:
            for name in sorted(entry.names, key=lambda n: n.endswith(".json"), reverse=True):
                storage.delete(name)  # the sidecar first: a reader never finds a sidecar without its audio
    return Pruned(len(doomed), sum(e.size_bytes for e in doomed), len(kept), sum(e.size_bytes for e in kept))
