"""Pronunciations for words that no dictionary knows, from the g2p-en package's model.

The ``g2p-en`` wheel ships a small GRU encoder-decoder (``checkpoint20.npz``, 3.3 MB) that
spells a lower-case word as ARPAbet. We run it here in numpy and never import ``g2p_en``
itself: its import tries to download NLTK data, which castline must not do.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from castline.errors import VoiceError

__all__ = ["g2p_en_dir", "NeuralG2P", "predict"]

_GRAPHEMES = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
_VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
_PHONEMES = ("<pad>", "<unk>", "<s>", "</s>") + tuple(
    sorted([v + s for v in _VOWELS for s in "012"] + _CONSONANTS + ["UW"])
)
"""The model's output vocabulary: specials, then ARPAbet in sorted order (with a bare UW)."""
_START, _END = 2, 3
MAX_PHONES = 20
"""The model spells at most this many phones per word."""


def g2p_en_dir() -> Path:
    """The installed g2p-en package directory, found without importing the package."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceError("g2p-en", "English needs the g2p-en package (pip install g2p-en)")
    return Path(list(spec.submodule_search_locations)[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class NeuralG2P:
    """The g2p-en GRU seq2seq, greedy decoding, float32 on the CPU."""

    def __init__(self, weights: Path) -> None:
        try:
            with np.load(weights) as npz:
                self._w = {k: npz[k].astype(np.float32) for k in npz.files}
        except (OSError, ValueError) as exc:
            raise VoiceError(weights, f"cannot read the g2p-en model: {exc}") from None
        self._g2i = {g: i for i, g in enumerate(_GRAPHEMES)}

    def _step(self, x: np.ndarray, h: np.ndarray, prefix: str) -> np.ndarray:
        """One GRU cell update (PyTorch gate layout: reset, update, new)."""
        w = self._w
        gi = x @ w[f"{prefix}_w_ih"].T + w[f"{prefix}_b_ih"]
        gh = h @ w[f"{prefix}_w_hh"].T + w[f"{prefix}_b_hh"]
        size = h.shape[-1]
        reset = _sigmoid(gi[:, :size] + gh[:, :size])
        update = _sigmoid(gi[:, size : 2 * size] + gh[:, size : 2 * size])
        new = np.tanh(gi[:, 2 * size :] + reset * gh[:, 2 * size :])
        return (1.0 - update) * new + update * h

    def __call__(self, word: str) -> list[str]:
        """ARPAbet for a lower-case word (characters outside a-z count as unknown)."""
        unk = self._g2i["<unk>"]
        ids = [self._g2i.get(ch, unk) for ch in word] + [self._g2i["</s>"]]
        h = np.zeros((1, self._w["enc_w_hh"].shape[1]), np.float32)
        for i in ids:
            h = self._step(self._w["enc_emb"][i][None, :], h, "enc")
        prev, out = _START, []
        for _ in range(MAX_PHONES):
            h = self._step(self._w["dec_emb"][prev][None, :], h, "dec")
            logits = h @ self._w["fc_w"].T + self._w["fc_b"]
            prev = int(logits.argmax())
            if prev == _END:
                break
            out.append(_PHONEMES[prev] if prev < len(_PHONEMES) else "<unk>")
        return out


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> NeuralG2P:
    return NeuralG2P(g2p_en_dir() / "checkpoint20.npz")


@lru_cache(maxsize=4096)
def _predict_cached(word: str) -> tuple[str, ...]:
    with _LOCK:
        return tuple(_model()(word))


def predict(word: str) -> list[str]:
    """Guess the pronunciation of one lower-case word."""
    return list(_predict_cached(word))
