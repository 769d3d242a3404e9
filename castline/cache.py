"""Content-addressed audio stores: synthesized utterances and mastered chapters.

A key is the SHA-256 of everything that changes the sound (see :func:`utterance_key`). An
entry is an audio file plus a JSON sidecar, both written to a temporary name in the same
directory and renamed into place, audio first, so a reader that sees the sidecar always
finds complete audio. Several workers may share a store: two writers of the same key
write the same content, and the last rename wins.

    cache/utterances/4a/4a7f...e1.flac
    cache/utterances/4a/4a7f...e1.json   {"sample_rate": 22050, "duration": 3.97, "text": ...}
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from castline.digest import digest
from castline.model import Seconds

__all__ = ["AudioStore", "StoredAudio", "utterance_key", "CACHE_FORMAT"]

CACHE_FORMAT = 1
"""Bumped when the meaning of a key or the stored format changes."""


def utterance_key(engine_fingerprint: str, text: str, seed: int, language: str) -> str:
    """The cache key of one take: engine and voice identity, normalized text, seed, language."""
    return digest(
        {"format": CACHE_FORMAT, "engine": engine_fingerprint, "text": text, "seed": seed, "language": language}
    )


@dataclass(frozen=True)
class StoredAudio:
    """An entry of an :class:`AudioStore`."""

    key: str
    path: Path
    sample_rate: int
    duration: Seconds
    meta: dict[str, Any]

    def load(self) -> np.ndarray:
        """The audio as float32 mono."""
        audio, _ = sf.read(self.path, dtype="float32", always_2d=False)
        return audio


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AudioStore:
    """A directory of audio entries addressed by key (FLAC, 24-bit)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.flac", folder / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self._paths(key)[1].is_file()

    def get(self, key: str) -> StoredAudio | None:
        """The entry for ``key``, or None if it is not (completely) stored."""
        audio_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if not audio_path.is_file():
            return None
        return StoredAudio(key, audio_path, int(meta["sample_rate"]), float(meta["duration"]), meta)

    def put(self, key: str, audio: np.ndarray, sample_rate: int, meta: dict[str, Any] | None = None) -> StoredAudio:
        """Store ``audio`` (float mono) under ``key``, atomically."""
        audio_path, meta_path = self._paths(key)
        audio_path.parent.mkdir(parents=True, exist_ok=True)
        samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        if samples.size == 0:  # FLAC cannot hold zero frames; an empty take is 10 ms of silence
            samples = np.zeros(sample_rate // 100, dtype=np.float32)
        _write_atomic(audio_path, lambda tmp: sf.write(tmp, samples, sample_rate, format="FLAC", subtype="PCM_24"))
        record = dict(meta or {}, sample_rate=sample_rate, duration=len(samples) / sample_rate)
        _write_atomic(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(record, ensure_ascii=False, indent=1)))
        return StoredAudio(key, audio_path, sample_rate, record["duration"], record)
