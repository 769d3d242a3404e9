"""Content digests: the building blocks of cache keys and fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["digest", "file_sha256"]

_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def digest(value: Any) -> str:
    """SHA-256 of a JSON-serializable value in canonical form (sorted keys, no spaces)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) for this process."""
    path = Path(path)
    st = os.stat(path)
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        found = _FILE_DIGESTS.get(memo_key)
    if found:
        return found
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    value = h.hexdigest()
    with _LOCK:
        _FILE_DIGESTS[memo_key] = value
    return value
