"""The engine interface: a batch of requests in, a batch of waveforms out.

How to add an engine
--------------------
1. Write ``voices/engines/<name>.py`` with a subclass of :class:`Engine`. Set the class
   attributes (``name``, ``clones``, ``preferred_batch_size``, ``max_chars``,
   ``phoneme_alphabet``).
2. Implement the class methods that work from the profile alone, without loading a model:
   :meth:`Engine.check` (reject bad ``params`` with a :class:`~castline.errors.VoiceError`
   naming the profile file), :meth:`Engine.fingerprint` (everything that changes the sound:
   model file digests, parameters, reference-clip digests) and, if voices can share a loaded
   model, :meth:`Engine.model_key`.
3. Implement :meth:`Engine.load` (build an instance for a model key) and
   :meth:`Engine.synthesize` (float32 mono waveforms at :attr:`Engine.sample_rate`, one per
   request, in request order). Raise :class:`~castline.errors.EngineError` for failures worth
   retrying and :class:`~castline.errors.InputError` subclasses for bad input.
4. Register the class path in ``ENGINES`` in ``voices/engines/__init__.py``.
5. Pronunciation lexicons (:mod:`castline.text.lexicon`) give a request's text either
   respellings (plain words: every engine reads them) or, where the engine names a
   :attr:`Engine.phoneme_alphabet` (``ipa``, ``arpabet``), the entry's phonemes in that
   alphabet written inside the text as ``[[ phonemes ]]``. An engine that sets the attribute
   must speak such a block as those phonemes, the rest of the text as usual, and raise a
   :class:`~castline.errors.LexiconError` naming a symbol it cannot say (never guess). It
   should also override :meth:`Engine.unknown_phonemes`, so that a lexicon entry the voice
   cannot say is refused, with its file and line, before a render starts.

A render never loads an engine whose utterances are all in the cache: the cache key needs
only :meth:`Engine.fingerprint`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from castline.errors import VoiceError
from castline.model import Hertz
from voices.profile import VoiceProfile

__all__ = ["Engine", "SynthesisRequest", "engine_params"]

P = TypeVar("P", bound=BaseModel)


def engine_params(voice: VoiceProfile, schema: type[P]) -> P:
    """``voice.params`` checked against an engine's schema; errors name the profile file and key."""
    try:
        return schema.model_validate(dict(voice.params))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(["params", *(str(p) for p in err["loc"])])
        raise VoiceError(voice.path or voice.name, f"{key}: {err['msg']}") from None


@dataclass(frozen=True)
class SynthesisRequest:
    """One utterance to speak."""

    text: str
    """Normalized text."""
    voice: VoiceProfile
    seed: int = 0
    """Seed for engines that sample; the same seed and text give the same take."""
    language: str = ""
    """Language of the text; empty means the voice's language."""

    @property
    def text_language(self) -> str:
        return self.language or self.voice.language


class Engine(ABC):
    """A speech synthesis engine. One instance holds one loaded model (see :meth:`model_key`)."""

    name: ClassVar[str]
    """Registry name, as written in a profile's ``engine:``."""
    clones: ClassVar[bool] = False
    """Whether the engine speaks in the voice of a reference clip."""
    preferred_batch_size: ClassVar[int] = 16
    """How many requests one :meth:`synthesize` call should get."""
    max_chars: ClassVar[int] = 400
    """The longest text one request should carry; longer sentences are split at clauses."""
    phoneme_alphabet: ClassVar[str | None] = None
    """The lexicon alphabet (``ipa``, ``arpabet``) this engine reads inside ``[[ ]]`` in a
    request's text; None: it reads respellings only (see "How to add an engine", step 5)."""

    sample_rate: Hertz
    """Rate of the returned waveforms."""
    languages: frozenset[str] = frozenset()
    """Languages the loaded model speaks (primary tags)."""

    @classmethod
    @abstractmethod
    def check(cls, voice: VoiceProfile) -> None:
        """Validate ``voice.params`` (and reference) without loading anything heavy."""

    @classmethod
    @abstractmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        """A digest of everything in ``voice`` that changes the sound, for cache keys."""

    @classmethod
    def model_key(cls, voice: VoiceProfile) -> str:
        """Voices with the same key share one loaded instance and may share a batch."""
        return cls.fingerprint(voice)

    @classmethod
    def unknown_phonemes(cls, voice: VoiceProfile, phonemes: Sequence[str]) -> list[tuple[str, ...]]:
        """For each of ``phonemes`` (written in :attr:`phoneme_alphabet`), the symbols ``voice``
        cannot say, in order, each once; known from the profile without loading the model.
        All of a lexicon's entries are asked about at once, so that what the check reads (a
        voice's symbol table) is read once. The default (an engine without an alphabet never
        gets phonemes) is none."""
        return [() for _ in phonemes]

    @classmethod
    def runs_on(cls, voice: VoiceProfile) -> str:
        """Where ``voice``'s model runs (``cpu``, ``cuda``, ``cuda:N``), known before it is
        loaded, so that a batch for a GPU can wait for the GPU's slot first (:mod:`flows.gpu`)."""
        return "cpu"

    @classmethod
    @abstractmethod
    def load(cls, voice: VoiceProfile) -> Engine:
        """Load the model that ``voice`` needs."""

    @abstractmethod
    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        """Speak each request; returns float32 mono arrays in [-1, 1], in request order."""
