"""Content-addressed audio stores: synthesized utterances and mastered chapters.

A key is the SHA-256 of everything that changes the sound (see :func:`utterance_key`). An
entry is an audio file plus a JSON sidecar in a :class:`~castline.storage.Storage` (a local
directory or an fsspec URL), each written atomically, audio first, so a reader that sees the
sidecar always finds complete audio. Several workers may share a store: two writers of the
same key write the same content, and the last write wins.

    4a/4a7f...e1.flac
    4a/4a7f...e1.json   {"sample_rate": 22050, "duration": 3.97, "text": ...}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from castline.digest import digest
from castline.model import Hertz, Seconds
from castline.storage import Storage
from castline.tempfiles import reraise_as_write_failure, scratch_dir

__all__ = ["AudioStore", "StoredAudio", "utterance_key", "CACHE_FORMAT"]

CACHE_FORMAT = 1
"""Bumped when the meaning of a key or the stored format changes."""


def utterance_key(engine_fingerprint: str, text: str, seed: int, language: str) -> str:
    """The cache key of one take: engine and voice identity, normalized text, seed, language."""
    return digest(
        {"format": CACHE_FORMAT, "engine": engine_fingerprint, "text": text, "seed": seed, "language": language}
    )


def _audio_name(key: str) -> str:
    return f"{key[:2]}/{key}.flac"


def _meta_name(key: str) -> str:
    return f"{key[:2]}/{key}.json"


@dataclass(frozen=True)
class StoredAudio:
    """An entry of an :class:`AudioStore`."""

    key: str
    sample_rate: Hertz
    duration_s: Seconds
    meta: dict[str, Any]
    """The sidecar: what the writer recorded, plus ``sample_rate`` and ``duration`` (seconds)."""
    storage: Storage = field(repr=False, compare=False)

    def local_path(self) -> Path:
        """A local file with the audio (FLAC), for ffmpeg and soundfile."""
        return self.storage.local_path(_audio_name(self.key))

    def load(self) -> np.ndarray:
        """The audio as float32 mono."""
        audio, _ = sf.read(self.local_path(), dtype="float32", always_2d=False)
        return audio


class AudioStore:
    """Audio entries addressed by key (FLAC, 24-bit) in a storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def __contains__(self, key: str) -> bool:
        return self.storage.exists(_meta_name(key))

    def get(self, key: str) -> StoredAudio | None:
        """The entry for ``key``, or None if it is not (completely) stored.

        A hit marks the entry as used (see :meth:`~castline.storage.Storage.touch`), so
        ``castline gc --max-age`` keeps what renders still read.
        """
        try:
            meta = json.loads(self.storage.read_bytes(_meta_name(key)))
        except (FileNotFoundError, ValueError):
            return None
        if not self.storage.exists(_audio_name(key)):
            return None
        self.storage.touch(_meta_name(key))
        return StoredAudio(key, int(meta["sample_rate"]), float(meta["duration"]), meta, self.storage)

    def put(self, key: str, audio: np.ndarray, sample_rate: Hertz, meta: dict[str, Any] | None = None) -> StoredAudio:
        """Store ``audio`` (float mono) under ``key``, atomically."""
        samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        if samples.size == 0:  # FLAC cannot hold zero frames; an empty take is 10 ms of silence
            samples = np.zeros(sample_rate // 100, dtype=np.float32)
        with scratch_dir("store") as scratch:
            local = Path(scratch) / "audio.flac"
            try:
                sf.write(local, samples, sample_rate, format="FLAC", subtype="PCM_24")
            except (OSError, RuntimeError) as exc:  # libsndfile reports a full disk as "System error."
                reraise_as_write_failure(local, exc)
            return self.put_file(key, local, meta)

    def annotate(self, entry: StoredAudio, **fields: Any) -> StoredAudio:
        """Add ``fields`` to an entry's sidecar (atomically); its audio, which is what the key
        stands for, never changes (the quality gate's figures of a take checked later)."""
        record = {**entry.meta, **fields}
        self.storage.write_bytes(_meta_name(entry.key), json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
        return StoredAudio(entry.key, entry.sample_rate, entry.duration_s, record, self.storage)

    def put_file(self, key: str, flac: Path, meta: dict[str, Any] | None = None) -> StoredAudio:
        """Store a FLAC file made elsewhere (say, streamed to disk) under ``key``, atomically."""
        info = sf.info(str(flac))
        self.storage.put_file(_audio_name(key), flac)
        record = dict(meta or {}, sample_rate=info.samplerate, duration=info.frames / info.samplerate)
        self.storage.write_bytes(_meta_name(key), json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
        return StoredAudio(key, info.samplerate, record["duration"], record, self.storage)
