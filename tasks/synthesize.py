"""Synthesis: give every utterance its take, speaking only what the cache does not hold.

:func:`plan_takes` gives each utterance the cache key and seed of its take, from the engine
fingerprint of its voice, its text, the project seed and the language, without loading any
model. The keys that the cache lacks are grouped by loaded model (so one batch may hold
several speakers of one cloning model), sorted by length and cut into batches;
:func:`synthesize_batch` speaks one batch, passes its takes through the quality gate
(:mod:`tasks.qa`: checked, retaken when they fail) and stores each kept take as soon as the
batch is done. A crash loses at most the batch in flight; the next run starts from what is stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import numpy as np

from castline.cache import AudioStore, utterance_key
from castline.digest import digest
from castline.errors import EngineError
from castline.manifest.base import QualityGate
from castline.model import Hertz, Utterance
from tasks.qa import TakeQA, best_takes, gate_digest
from voices.engines import SynthesisRequest, engine_class, get_engine
from voices.profile import VoiceProfile

__all__ = [
    "voice_fingerprint", "plan_takes", "plan_batches", "voice_batch", "synthesize_batch", "with_durations", "is_retryable",
    "take_seed",
]

log = logging.getLogger(__name__)


def take_seed(text: str, fingerprint: str, project_seed: int) -> int:
    """A deterministic per-utterance seed, so a cached take can be reproduced."""
    return int(digest({"text": text, "voice": fingerprint, "seed": project_seed})[:8], 16)


def voice_fingerprint(voice: VoiceProfile) -> str:
    """What a take's cache key knows of its voice: the engine's fingerprint, and for a voice of
    the registry (``alice@3``) its version too, so that publishing or rolling back a version
    re-renders that voice's utterances and nothing else."""
    fingerprint = engine_class(voice).fingerprint(voice)
    return digest({"voice": fingerprint, "version": voice.name}) if "@" in voice.name else fingerprint


def plan_takes(
    utterances: Sequence[Utterance], voices: Mapping[str, VoiceProfile], *, language: str, seed: int = 0
) -> list[Utterance]:
    """The (cast) utterances with the cache key and seed of their takes; equal takes share a key."""
    fingerprints = {name: voice_fingerprint(v) for name, v in voices.items()}
    planned = []
    for u in utterances:
        said = spoken_text(u)
        s = take_seed(said, fingerprints[u.voice], seed)
        planned.append(replace(u, seed=s, cache_key=utterance_key(fingerprints[u.voice], said, s, language)))
    return planned


def spoken_text(u: Utterance) -> str:
    """What the engine is given: the text, as the pronunciation lexicon changed it (if it did)."""
    return u.pronounced if u.pronounced is not None else u.text


def _request(u: Utterance, voices: Mapping[str, VoiceProfile], language: str) -> SynthesisRequest:
    return SynthesisRequest(text=spoken_text(u), voice=voices[u.voice], seed=u.seed or 0, language=language)


def _key(u: Utterance) -> str:
    if u.cache_key is None:
        raise ValueError(f"utterance {u.id} has no take planned (see plan_takes)")
    return u.cache_key


def plan_batches(
    utterances: Sequence[Utterance], voices: Mapping[str, VoiceProfile], store: AudioStore, batch_size: int | None = None
) -> list[list[Utterance]]:
    """The takes the store lacks, one utterance per key, in batches that each hold one loaded
    model's takes, in book order: chapter by chapter, so that each chapter can be mastered
    while later ones are spoken, and by length within a chapter, so that a batch's takes are
    of similar length (less padding on a GPU)."""
    chapter_rank: dict[str, int] = {}
    groups: dict[tuple[str, str], dict[str, Utterance]] = defaultdict(dict)
    for u in utterances:
        chapter_rank.setdefault(u.chapter, len(chapter_rank))
        key = _key(u)
        if key in store:
            continue
        cls = engine_class(voices[u.voice])
        groups[(cls.name, cls.model_key(voices[u.voice]))].setdefault(key, u)
    batches = []
    for group in groups.values():
        size = batch_size or engine_class(voices[next(iter(group.values())).voice]).preferred_batch_size
        ordered = sorted(group.values(), key=lambda u: (chapter_rank[u.chapter], len(u.text)))
        batches += [ordered[i : i + size] for i in range(0, len(ordered), size)]
    return sorted(batches, key=lambda batch: chapter_rank[batch[0].chapter])


def voice_batch(
    batch: Sequence[Utterance], voices: Mapping[str, VoiceProfile], language: str, seeds: Sequence[int] | None = None
) -> tuple[list[np.ndarray], Hertz, str]:
    """Speak one batch (all on one loaded model), each with its take's seed or the one given;
    returns the takes, their rate and the engine's name."""
    requests = [_request(u, voices, language) for u in batch]
    if seeds is not None:
        requests = [replace(r, seed=s) for r, s in zip(requests, seeds)]
    engine = get_engine(requests[0].voice)
    audios = engine.synthesize(requests)
    if len(audios) != len(batch):
        raise EngineError(f"{engine.name} returned {len(audios)} takes for {len(batch)} requests")
    return list(audios), engine.sample_rate, engine.name


def synthesize_batch(
    batch: Sequence[Utterance], voices: Mapping[str, VoiceProfile], language: str, store: AudioStore,
    gate: QualityGate | None = None, on_engine: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> list[str]:
    """Speak one batch, pass every take through the quality ``gate`` (with its retakes; None or
    ``off``: no checks), and store each kept take with its seed and figures; returns the keys.

    ``on_engine`` is held while the engine speaks (a GPU's concurrency slot), not while the
    takes are checked.
    """
    def speak(utterances: Sequence[Utterance], seeds: Sequence[int] | None = None) -> list[np.ndarray]:
        with on_engine():
            return voice_batch(utterances, voices, language, seeds)[0]

    with on_engine():
        audios, rate, engine = voice_batch(batch, voices, language)
    if gate is None or gate.mode == "off":
        kept: list[tuple[np.ndarray, TakeQA | None]] = [(a, None) for a in audios]
    else:
        kept = list(best_takes(batch, audios, rate, voices, language, gate, speak))
    gate_id = gate_digest(gate) if gate is not None else ""
    for u, (audio, qa) in zip(batch, kept):
        meta: dict[str, object] = {"text": u.text, "voice": voices[u.voice].name, "engine": engine, "seed": u.seed or 0}
        if u.pronounced is not None:
            meta["pronounced"] = u.pronounced
        if qa is not None:
            meta |= {"seed": qa.seed, "qa": qa.to_meta(gate_id)}
        store.put(_key(u), audio, rate, meta)
    return [_key(u) for u in batch]


def with_durations(utterances: Sequence[Utterance], store: AudioStore) -> list[Utterance]:
    """The utterances with the duration of their stored takes filled in."""
    out = []
    for u in utterances:
        stored = store.get(_key(u))
        out.append(replace(u, duration=stored.duration_s if stored else None))
    return out


def is_retryable(exc: BaseException) -> bool:
    """Engine failures may be transient (a server restarting, GPU memory); bad input is not."""
    return isinstance(exc, (EngineError, OSError, TimeoutError)) and not isinstance(exc, FileNotFoundError)
