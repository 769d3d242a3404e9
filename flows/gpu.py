"""GPU discipline: a batch synthesized on a GPU holds a slot of a Prefect global concurrency limit.

A worker runs each flow run in a process of its own, and a GPU shared by several of them would
have its memory split between models and its time between batches, or run out of memory. So
a batch whose engine runs on a GPU first takes a slot of the limit named after that GPU, and
gives it back when the batch is stored: one batch per GPU at a time by default. Batches on the
CPU take no slot, and the CPU stages (ingest, mastering, encoding) never wait for one; they go
on beside the synthesis.

    CASTLINE_GPU_LIMIT=NAME   the limit's name (default ``gpu-<host>``, and ``-cuda1`` etc. for
                              a device other than the first); workers that share a GPU share it
    CASTLINE_GPU_SLOTS=N      batches at once, when castline creates the limit (default 1); an
                              existing limit keeps its size (``prefect gcl update NAME --limit N``)

The limit is created the first time it is needed, so a worker needs nothing set up; a slot is
held per batch, not per utterance, because taking one costs a round trip to the server.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from castline.errors import SettingError

__all__ = ["gpu_limit_name", "gpu_slots", "holding_gpu", "LIMIT_ENV", "SLOTS_ENV"]

log = logging.getLogger(__name__)

LIMIT_ENV = "CASTLINE_GPU_LIMIT"
SLOTS_ENV = "CASTLINE_GPU_SLOTS"

_ensured: set[str] = set()


def gpu_limit_name(device: str) -> str:
    """The name of the concurrency limit of GPU ``device`` (``cuda``, ``cuda:1``) on this worker."""
    index = device.partition(":")[2]
    suffix = f"-cuda{index}" if index not in ("", "0") else ""
    base = os.environ.get(LIMIT_ENV, "").strip() or f"gpu-{socket.gethostname()}"
    return base + suffix


def gpu_slots() -> int:
    """``CASTLINE_GPU_SLOTS``: batches one GPU runs at once when castline creates its limit."""
    value = os.environ.get(SLOTS_ENV, "").strip()
    if not value:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise SettingError(SLOTS_ENV, value, "must be a whole number of batches, at least 1")
    return int(value)


def _ensure_limit(name: str) -> None:
    """Create the limit ``name`` with :func:`gpu_slots` slots unless it exists: without a limit,
    Prefect's ``concurrency`` would let every batch through."""
    if name in _ensured:
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            slots = gpu_slots()
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
                log.info("created the GPU concurrency limit %r with %d slot(s)", name, slots)
            except ObjectAlreadyExists:  # another flow run made it a moment ago
                pass
    _ensured.add(name)


@contextmanager
def holding_gpu(device: str) -> Iterator[None]:
    """Hold a slot of GPU ``device``'s limit for the block; on ``cpu`` (or anything but CUDA), nothing."""
    if not device.startswith("cuda"):
        yield
        return
    from prefect.concurrency.sync import concurrency

    name = gpu_limit_name(device)
    _ensure_limit(name)
    with concurrency(name, occupy=1, strict=True):
        yield
