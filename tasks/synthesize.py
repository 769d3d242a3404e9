"""Synthesis: give every utterance its take, speaking only what the cache does not hold.

:func:`plan_takes` computes each utterance's cache key from the engine fingerprint of its
voice, its text, its seed and its language, without loading any model. The keys that the
cache lacks are grouped by loaded model (so one batch may hold several speakers of one
cloning model), sorted by length and cut into batches; :func:`synthesize_batch` speaks one
batch and stores each take as soon as the batch returns. A crash loses at most the batch in
flight; the next run starts from what is stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from castline.cache import AudioStore, utterance_key
from castline.digest import digest
from castline.errors import EngineError
from castline.model import Utterance
from voices.engines import SynthesisRequest, engine_class, get_engine
from voices.profile import VoiceProfile

__all__ = ["Take", "plan_takes", "plan_batches", "synthesize_batch", "with_durations", "is_retryable"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Take:
    """What to synthesize for one utterance, and where its audio lives in the cache."""

    key: str
    request: SynthesisRequest


def take_seed(text: str, fingerprint: str, project_seed: int) -> int:
    """A deterministic per-utterance seed, so a cached take can be reproduced."""
    return int(digest({"text": text, "voice": fingerprint, "seed": project_seed})[:8], 16)


def plan_takes(
    utterances: Sequence[Utterance], voices: Mapping[str, VoiceProfile], *, language: str, seed: int = 0
) -> list[Take]:
    """One take per utterance, in script order (identical takes share a key)."""
    fingerprints = {name: engine_class(v).fingerprint(v) for name, v in voices.items()}
    takes = []
    for u in utterances:
        voice = voices[u.voice]
        s = take_seed(u.text, fingerprints[u.voice], seed)
        key = utterance_key(fingerprints[u.voice], u.text, s, language)
        takes.append(Take(key, SynthesisRequest(text=u.text, voice=voice, seed=s, language=language)))
    return takes


def plan_batches(takes: Sequence[Take], store: AudioStore, batch_size: int | None = None) -> list[list[Take]]:
    """The missing takes, deduplicated, grouped by loaded model, sorted by length, in batches."""
    groups: dict[tuple[str, str], dict[str, Take]] = defaultdict(dict)
    for take in takes:
        if take.key in store:
            continue
        cls = engine_class(take.request.voice)
        groups[(cls.name, cls.model_key(take.request.voice))].setdefault(take.key, take)
    batches = []
    for (name, _), group in groups.items():
        size = batch_size or engine_class(next(iter(group.values())).request.voice).preferred_batch_size
        ordered = sorted(group.values(), key=lambda t: len(t.request.text))
        batches += [ordered[i : i + size] for i in range(0, len(ordered), size)]
    return batches


def synthesize_batch(batch: Sequence[Take], store: AudioStore) -> list[str]:
    """Speak one batch (all on one loaded model) and store every take; returns the keys."""
    engine = get_engine(batch[0].request.voice)
    audios = engine.synthesize([t.request for t in batch])
    if len(audios) != len(batch):
        raise EngineError(f"{engine.name} returned {len(audios)} takes for {len(batch)} requests")
    for take, audio in zip(batch, audios):
        r = take.request
        store.put(take.key, audio, engine.sample_rate, {"text": r.text, "voice": r.voice.name, "engine": engine.name, "seed": r.seed})
    return [t.key for t in batch]


def with_durations(utterances: Sequence[Utterance], takes: Sequence[Take], store: AudioStore) -> list[Utterance]:
    """The utterances with their cache key and synthesized duration filled in."""
    out = []
    for u, t in zip(utterances, takes):
        stored = store.get(t.key)
        out.append(replace(u, cache_key=t.key, duration=stored.duration if stored else None))
    return out


def is_retryable(exc: BaseException) -> bool:
    """Engine failures may be transient (a server restarting, GPU memory); bad input is not."""
    return isinstance(exc, (EngineError, OSError, TimeoutError)) and not isinstance(exc, FileNotFoundError)
