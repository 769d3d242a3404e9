"""The engine registry, and the loaded models a process keeps.

Engines are imported on first use, so that a render that only uses Piper never imports
torch, and one whose utterances are all cached never loads a model.

Loaded models are kept in a least-recently-used cache of :data:`DEFAULT_LOADED_ENGINES`
entries (``CASTLINE_LOADED_ENGINES`` or :func:`set_loaded_engine_limit` changes it): a
long-lived worker that renders many voices keeps the ones it used last and lets the others
go, so its memory does not grow with every voice it has ever spoken. A batch already
running on an evicted model keeps its reference and finishes; the model is freed after it.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections import OrderedDict

from castline.errors import VoiceError
from voices.engines.base import Engine, SynthesisRequest
from voices.profile import VoiceProfile

__all__ = ["ENGINES", "Engine", "SynthesisRequest", "engine_class", "get_engine", "set_loaded_engine_limit", "loaded_engines"]

ENGINES: dict[str, str] = {
    "piper": "voices.engines.piper:PiperEngine",
    "gpt-sovits": "voices.engines.gpt_sovits:GPTSoVITSEngine",
    "gpt-sovits-api": "voices.engines.gpt_sovits_api:GPTSoVITSAPIEngine",
}
"""Engine name -> ``module:Class``."""

DEFAULT_LOADED_ENGINES = 4
"""Loaded models kept at most, unless ``CASTLINE_LOADED_ENGINES`` says otherwise."""

_LOADED: OrderedDict[tuple[str, str], Engine] = OrderedDict()
_LOCK = threading.Lock()


def _limit_from_environment() -> int:
    value = os.environ.get("CASTLINE_LOADED_ENGINES", "")
    if value.strip().isdigit() and int(value) >= 1:
        return int(value)
    if value:
        logging.getLogger(__name__).warning(
            "CASTLINE_LOADED_ENGINES=%r is not a whole number >= 1; keeping %d models", value[:50], DEFAULT_LOADED_ENGINES
        )
    return DEFAULT_LOADED_ENGINES


_limit = _limit_from_environment()


def set_loaded_engine_limit(limit: int) -> None:
    """Keep at most ``limit`` (>= 1) loaded models; the least recently used go first."""
    global _limit
    if limit < 1:
        raise ValueError(f"the loaded-engine limit must be at least 1, got {limit}")
    with _LOCK:
        _limit = limit
        _evict()


def loaded_engines() -> list[tuple[str, str]]:
    """``(engine name, model key)`` of the loaded models, least recently used first."""
    with _LOCK:
        return list(_LOADED)


def _evict() -> None:
    while len(_LOADED) > _limit:
        _LOADED.popitem(last=False)


def engine_class(voice: VoiceProfile) -> type[Engine]:
    """The engine class a profile names (its parameters are not checked here)."""
    target = ENGINES.get(voice.engine)
    if target is None:
        known = ", ".join(sorted(ENGINES))
        raise VoiceError(voice.path or voice.name, f"engine: unknown engine {voice.engine!r} (known: {known})")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_engine(voice: VoiceProfile) -> Engine:
    """The loaded engine instance for ``voice``, shared by every voice with the same model key."""
    cls = engine_class(voice)
    key = (cls.name, cls.model_key(voice))
    with _LOCK:
        engine = _LOADED.get(key)
        if engine is None:
            engine = _LOADED[key] = cls.load(voice)
            _evict()
        else:
            _LOADED.move_to_end(key)
    return engine
