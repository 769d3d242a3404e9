"""Synthesis as every flow runs it: one Prefect task per batch, retried with backoff when the
engine fails, holding the GPU's concurrency slot when it runs on one, each take claimed first
so that workers sharing a cache speak it once; progress on the terminal and as a Prefect
progress artifact."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from castline import progress
from castline.cache import AudioStore
from castline.claims import TakeClaims
from castline.manifest.base import QualityGate
from castline.model import Utterance
from flows.gpu import holding_gpu
from flows.preflight import Plan
from tasks.gate import GateReport, check_unchecked, gate_report
from tasks.synthesize import is_retryable, synthesize_batch
from voices.engines import engine_class
from voices.profile import VoiceProfile

__all__ = ["synthesize_batch_task", "speak", "gate_verdict"]


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(state.data, BaseException) and is_retryable(state.data)


def synthesize_batch_holding_gpu(
    batch: Sequence[Utterance], voices: Mapping[str, VoiceProfile], language: str, store: AudioStore,
    gate: QualityGate | None = None,
) -> list[str]:
    """:func:`~tasks.synthesize.synthesize_batch`, holding its GPU's slot while the engine
    speaks on one (:mod:`flows.gpu`), not while the takes are checked; each retry waits for
    the slot again."""
    voice = voices[batch[0].voice]
    device = engine_class(voice).runs_on(voice)
    return synthesize_batch(batch, voices, language, store, gate, on_engine=lambda: holding_gpu(device))


synthesize_batch_task = task(
    name="synthesize-batch",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_jitter_factor=0.2,
    retry_condition_fn=_retry_if_transient,
    cache_policy=NONE,
)(synthesize_batch_holding_gpu)


WAIT_POLL_S = 1.0
"""How often a render that waits for takes other workers claimed looks for them."""


def speak(
    batches: Sequence[Sequence[Utterance]], voices: Mapping[str, VoiceProfile], language: str, store: AudioStore,
    *, retries: int, gate: QualityGate | None = None, stored: Callable[[list[str]], None] | None = None,
) -> int:
    """Synthesize ``batches`` in order, each a task retried ``retries`` times, every take through
    the quality ``gate``; ``stored`` hears the keys of each batch as soon as they are in ``store``.

    Other workers may share the cache: each take is claimed first (:mod:`castline.claims`);
    takes another worker claimed are left to it and waited for after this process's own
    batches, and taken over if that worker dies. Returns the takes this process synthesized.
    """
    total = sum(len(b) for b in batches)
    # async_dispatch types the result as "UUID or a coroutine"; called from sync code it is the UUID
    artifact = cast(UUID, create_progress_artifact(0.0, description="Synthesis")) if FlowRunContext.get() else None
    run_batch = synthesize_batch_task.with_options(retries=retries)
    claims = TakeClaims(store.storage)
    done = synthesized = 0
    progress.report("synthesize", 0, total)

    def finished(keys: list[str]) -> None:
        nonlocal done
        if stored is not None:
            stored(keys)
        done += len(keys)
        progress.report("synthesize", done, total)
        if artifact:
            update_progress_artifact(artifact, 100.0 * done / total)

    pending = [list(b) for b in batches]
    while pending:
        waiting = []
        for batch in pending:
            mine, theirs, ready = [], [], []
            for u in batch:
                key = u.cache_key or ""
                if key in store:
                    ready.append(key)
                elif not claims.claim(key):
                    theirs.append(u)
                elif key in store:  # stored by the worker whose claim just ended
                    claims.release([key])
                    ready.append(key)
                else:
                    mine.append(u)
            if ready:
                finished(ready)
            if mine:
                with claims.renewing():
                    finished(run_batch(mine, voices, language, store, gate))
                synthesized += len(mine)
            if theirs:
                waiting.append(theirs)
        if waiting:
            time.sleep(WAIT_POLL_S)
        pending = waiting
    return synthesized


check_stored_task = task(name="check-takes", cache_policy=NONE)(check_unchecked)


def gate_verdict(plan: Plan, script: Sequence[Utterance], store: AudioStore, failed_files: Sequence[str],
                       where: Mapping[str, str] | None = None) -> GateReport:
    """The quality gate's verdict on a render's takes (figures measured now for stored takes
    that have none) and on its delivered files (``failed_files``: those that miss their
    loudness target); with the gate off, an empty one."""
    m = plan.project.manifest
    if m.qa.mode == "off":
        return gate_report(script, {}, m.qa, [], where)
    figures = check_stored_task(script, store, plan.cast.voices, m.language, m.qa)
    return gate_report(script, figures, m.qa, failed_files, where)
