from __future__ import annotations

from pathlib import Path

import numpy as np

from castline.cache import AudioStore, utterance_key
from castline.storage import LocalStorage


def test_put_get_round_trip(tmp_path: Path) -> None:
    store = AudioStore(LocalStorage(tmp_path))
    audio = (0.5 * np.sin(np.arange(22050) / 10)).astype(np.float32)
    key = utterance_key("fp", "Hello.", 1, "en")
    assert key not in store and store.get(key) is None
    stored = store.put(key, audio, 22050, {"text": "Hello."})
    assert key in store
    again = store.get(key)
    assert again is not None and again.sample_rate == 22050 and again.meta["text"] == "Hello."
    assert abs(again.duration_s - 1.0) < 1e-9
    np.testing.assert_allclose(again.load(), audio, atol=1e-6)  # 24-bit FLAC
    assert stored.local_path() == again.local_path() == tmp_path / key[:2] / f"{key}.flac"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_sidecar_without_audio_is_a_miss(tmp_path: Path) -> None:
    store = AudioStore(LocalStorage(tmp_path))
    stored = store.put("ab" * 32, np.zeros(100, dtype=np.float32), 16000)
    stored.local_path().unlink()
    assert store.get("ab" * 32) is None


def test_empty_take_is_stored_as_a_short_silence(tmp_path: Path) -> None:
    stored = AudioStore(LocalStorage(tmp_path)).put("cd" * 32, np.zeros(0, dtype=np.float32), 22050)
    assert stored.load().size == 220 and not stored.load().any()


def test_key_covers_everything_that_changes_the_sound() -> None:
    base = utterance_key("fp", "Hello.", 1, "en")
    assert base == utterance_key("fp", "Hello.", 1, "en")
    assert len({base, utterance_key("fp2", "Hello.", 1, "en"), utterance_key("fp", "Hello!", 1, "en"),
                utterance_key("fp", "Hello.", 2, "en"), utterance_key("fp", "Hello.", 1, "fr")}) == 5


def test_a_store_on_an_fsspec_url_round_trips_and_gives_ffmpeg_a_local_file(tmp_path: Path) -> None:
    from castline.storage import FsspecStorage

    store = AudioStore(FsspecStorage(f"memory://castline-test-cache/{tmp_path.name}"))
    audio = (0.25 * np.sin(np.arange(16000) / 7)).astype(np.float32)
    key = utterance_key("fp", "Hi.", 0, "en")
    store.put(key, audio, 16000, {"text": "Hi."})
    again = store.get(key)
    assert key in store and again is not None and again.meta["text"] == "Hi."
    assert again.local_path().is_file() and again.local_path().suffix == ".flac"
    np.testing.assert_allclose(again.load(), audio, atol=1e-6)
