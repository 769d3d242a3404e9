"""castline gc: pruning the stores by age and size, whole entries at a time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from castline.cache import AudioStore
from castline.gc import parse_age_s, parse_size_bytes, prune
from castline.storage import FsspecStorage, LocalStorage

DAY_S = 86400.0


def fill(store: AudioStore, ages_days: dict[str, float], now_s: float) -> None:
    for key, age in ages_days.items():
        store.put(key * 32, np.full(16000, 0.1, dtype=np.float32), 16000)
        for suffix in (".flac", ".json"):
            os.utime(store.storage.local_path(f"{key}/{key * 32}{suffix}"), (now_s - age * DAY_S,) * 2)


def test_entries_older_than_the_age_go_whole(tmp_path: Path) -> None:
    store, now = AudioStore(LocalStorage(tmp_path)), time.time()
    fill(store, {"aa": 40, "bb": 10, "cc": 1}, now)
    result = prune(store.storage, max_age_s=30 * DAY_S, now_s=now)
    assert (result.removed_entries, result.kept_entries) == (1, 2)
    assert sorted(store.storage.list()) == ["bb/" + "bb" * 32 + ".flac", "bb/" + "bb" * 32 + ".json",
                                           "cc/" + "cc" * 32 + ".flac", "cc/" + "cc" * 32 + ".json"]


def test_the_oldest_go_until_the_store_fits(tmp_path: Path) -> None:
    store, now = AudioStore(LocalStorage(tmp_path)), time.time()
    fill(store, {"aa": 3, "bb": 2, "cc": 1}, now)
    entry_bytes = sum(f.size_bytes for f in store.storage.scan() if f.name.startswith("cc/"))
    dry = prune(store.storage, max_size_bytes=entry_bytes + 1, now_s=now, dry_run=True)
    assert dry.removed_entries == 2 and len(list(store.storage.list())) == 6  # a dry run removes nothing
    done = prune(store.storage, max_size_bytes=entry_bytes + 1, now_s=now)
    assert done == dry and [k for k in ("aa", "bb", "cc") if k * 32 in store] == ["cc"]


def test_a_cache_hit_keeps_an_entry_young(tmp_path: Path) -> None:
    store, now = AudioStore(LocalStorage(tmp_path)), time.time()
    fill(store, {"aa": 40, "bb": 40}, now)
    assert store.get("aa" * 32) is not None  # a render read it today
    prune(store.storage, max_age_s=30 * DAY_S)
    assert "aa" * 32 in store and "bb" * 32 not in store


def test_claims_on_takes_are_not_entries(tmp_path: Path) -> None:
    store, now = AudioStore(LocalStorage(tmp_path)), time.time()
    fill(store, {"aa": 40}, now)
    claim = "claims/bb/" + "bb" * 32 + "/0"
    store.storage.write_bytes(claim, b"{}")
    os.utime(store.storage.local_path(claim), (now - 40 * DAY_S,) * 2)
    result = prune(store.storage, max_age_s=30 * DAY_S, now_s=now)
    assert (result.removed_entries, result.kept_entries) == (1, 0)
    assert list(store.storage.list()) == [claim]  # its holder removes it, not gc


def test_pruning_works_on_an_fsspec_store(tmp_path: Path) -> None:
    store = AudioStore(FsspecStorage(f"memory://castline-gc/{tmp_path.name}"))
    store.put("ab" * 32, np.zeros(1600, dtype=np.float32), 16000)
    assert prune(store.storage, max_size_bytes=0).removed_entries == 1 and "ab" * 32 not in store


@pytest.mark.parametrize("text, seconds", [("30d", 30 * DAY_S), ("12h", 43200), ("90m", 5400), ("2w", 14 * DAY_S)])
def test_ages(text: str, seconds: float) -> None:
    assert parse_age_s(text) == seconds


@pytest.mark.parametrize("text, size", [("10G", 10 << 30), ("500M", 500 << 20), ("2TB", 2 << 40), ("4096", 4096)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("bad", ["30", "ten days", "-1d"])
def test_a_bad_age_says_what_it_wanted(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an age such as 30d"):
        parse_age_s(bad)
