"""The engine registry.

Engines are imported on first use, so that a render that only uses Piper never imports
torch, and one whose utterances are all cached never loads a model.
"""

from __future__ import annotations

import importlib
import threading

from castline.errors import VoiceError
from voices.engines.base import Engine, SynthesisRequest
from voices.profile import VoiceProfile

__all__ = ["ENGINES", "Engine", "SynthesisRequest", "engine_class", "get_engine"]

ENGINES: dict[str, str] = {
    "piper": "voices.engines.piper:PiperEngine",
    "gpt-sovits": "voices.engines.gpt_sovits:GPTSoVITSEngine",
    "gpt-sovits-api": "voices.engines.gpt_sovits_api:GPTSoVITSAPIEngine",
}
"""Engine name -> ``module:Class``."""

_LOADED: dict[tuple[str, str], Engine] = {}
_LOCK = threading.Lock()


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
    return engine
