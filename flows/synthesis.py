"""Synthesis as every flow runs it: one Prefect task per batch, retried with backoff when the
engine fails, progress on the terminal and as a Prefect progress artifact."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext

from castline import progress
from castline.cache import AudioStore
from castline.model import Utterance
from tasks.synthesize import is_retryable, synthesize_batch
from voices.profile import VoiceProfile

__all__ = ["synthesize_batch_task", "speak"]


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(state.data, BaseException) and is_retryable(state.data)


synthesize_batch_task = task(
    name="synthesize-batch",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_jitter_factor=0.2,
    retry_condition_fn=_retry_if_transient,
    cache_policy=NONE,
)(synthesize_batch)


def speak(
    batches: Sequence[Sequence[Utterance]], voices: Mapping[str, VoiceProfile], language: str, store: AudioStore,
    *, retries: int, stored: Callable[[list[str]], None] | None = None,
) -> int:
    """Synthesize ``batches`` in order, each a task retried ``retries`` times; ``stored`` hears
    the keys of each batch as soon as they are in ``store``. Returns the takes synthesized."""
    total = sum(len(b) for b in batches)
    # async_dispatch types the result as "UUID or a coroutine"; called from sync code it is the UUID
    artifact = cast(UUID, create_progress_artifact(0.0, description="Synthesis")) if FlowRunContext.get() else None
    run_batch = synthesize_batch_task.with_options(retries=retries)
    done = 0
    progress.report("synthesize", 0, total)
    for batch in batches:
        keys = run_batch(batch, voices, language, store)
        if stored is not None:
            stored(keys)
        done += len(batch)
        progress.report("synthesize", done, total)
        if artifact:
            update_progress_artifact(artifact, 100.0 * done / total)
    return total
