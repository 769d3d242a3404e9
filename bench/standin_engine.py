"""A stand-in engine for benchmarks: speech-like noise, as long as Piper would speak the text,
in microseconds, so that the pipeline around synthesis is what a benchmark measures.

Register it in the benchmark's own process (:func:`register`); it is never part of castline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from castline.digest import digest
from voices.engines import ENGINES, Engine, SynthesisRequest
from voices.profile import VoiceProfile

CHARACTERS_PER_S = 15.0
"""How fast the stand-in "speaks": about the bundled Piper voice's rate on English prose."""


class StandInEngine(Engine):
    """Syllable-shaped noise bursts at 22.05 kHz: speech's level, peaks and pauses, no words."""

    name: ClassVar[str] = "stand-in"
    preferred_batch_size: ClassVar[int] = 32

    def __init__(self) -> None:
        self.sample_rate = 22050
        self.languages = frozenset({"en"})

    @classmethod
    def check(cls, voice: VoiceProfile) -> None:
        pass

    @classmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        return digest({"engine": cls.name, "voice": voice.name})

    @classmethod
    def load(cls, voice: VoiceProfile) -> StandInEngine:
        return cls()

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        return [self._speak(r) for r in requests]

    def _speak(self, request: SynthesisRequest) -> np.ndarray:
        n = int(self.sample_rate * max(0.3, len(request.text) / CHARACTERS_PER_S))
        rng = np.random.default_rng(request.seed)
        t = np.arange(n) / self.sample_rate
        syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, None) ** 2  # four syllables a second
        voiced = np.sin(2 * np.pi * 140.0 * t) + 0.3 * rng.standard_normal(n)
        return (0.25 * syllables * voiced).astype(np.float32)


def register() -> None:
    """Make ``engine: stand-in`` usable in this process."""
    ENGINES["stand-in"] = f"{__name__}:StandInEngine"
