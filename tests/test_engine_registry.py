"""Loaded engines are kept in a bounded least-recently-used cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np
import pytest

import voices.engines as registry
from voices.engines import Engine, SynthesisRequest, get_engine, loaded_engines, set_loaded_engine_limit
from voices.profile import VoiceProfile


class CountingEngine(Engine):
    name: ClassVar[str] = "counting"
    loads: ClassVar[list[str]] = []

    def __init__(self, model: str) -> None:
        self.model = model
        self.sample_rate = 16000

    @classmethod
    def check(cls, voice: VoiceProfile) -> None:
        pass

    @classmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        return str(voice.params["model"])

    @classmethod
    def load(cls, voice: VoiceProfile) -> Engine:
        cls.loads.append(str(voice.params["model"]))
        return cls(str(voice.params["model"]))

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        return [np.zeros(10, dtype=np.float32) for _ in requests]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.ENGINES, "counting", f"{__name__}:CountingEngine")
    monkeypatch.setattr(registry, "_LOADED", type(registry._LOADED)())
    CountingEngine.loads.clear()
    yield
    set_loaded_engine_limit(registry.DEFAULT_LOADED_ENGINES)


def voice(model: str) -> VoiceProfile:
    return VoiceProfile(name=model, engine="counting", language="en", params={"model": model})


def test_the_least_recently_used_model_is_let_go(counting: None) -> None:
    set_loaded_engine_limit(2)
    a = get_engine(voice("a"))
    get_engine(voice("b"))
    assert get_engine(voice("a")) is a  # a hit makes "a" the most recently used
    get_engine(voice("c"))  # evicts "b"
    assert [key for _, key in loaded_engines()] == ["a", "c"]
    get_engine(voice("b"))
    assert CountingEngine.loads == ["a", "b", "c", "b"]


def test_lowering_the_limit_evicts_at_once(counting: None) -> None:
    for model in "abc":
        get_engine(voice(model))
    set_loaded_engine_limit(1)
    assert [key for _, key in loaded_engines()] == ["c"]
    with pytest.raises(ValueError):
        set_loaded_engine_limit(0)
