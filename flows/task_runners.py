"""Which task runner a render fans its chapters out on, chosen by the environment per flow call.

    CASTLINE_TASK_RUNNER=threads   (the default) a thread pool in the flow's own process
    CASTLINE_TASK_RUNNER=dask      Dask: a local cluster of worker processes started for the
                                   flow run, or the scheduler at CASTLINE_DASK_ADDRESS
    CASTLINE_TASK_WORKERS=N        threads, or local Dask processes (default 2); a scheduler
                                   at an address brings its own workers

The choice lives in the environment, not in a flow parameter, because it belongs to the machine
(a worker with many cores, a Dask cluster beside it), not to the book. A task that runs on Dask
gets its arguments pickled and gives back everything it made in its return value.

To add a kind, write a function from the environment to a ``TaskRunner`` and register it in
:data:`RUNNERS`; its key is then a value of ``CASTLINE_TASK_RUNNER``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from castline.errors import SettingError

__all__ = ["RUNNER_ENV", "WORKERS_ENV", "DASK_ADDRESS_ENV", "DEFAULT_WORKERS", "RUNNERS", "chosen_task_runner"]

RUNNER_ENV = "CASTLINE_TASK_RUNNER"
WORKERS_ENV = "CASTLINE_TASK_WORKERS"
DASK_ADDRESS_ENV = "CASTLINE_DASK_ADDRESS"
DEFAULT_WORKERS = 2
"""Threads or local processes when ``CASTLINE_TASK_WORKERS`` is unset: two chapters are mastered
at once beside the synthesis, as before the runner could be chosen."""


def _workers(env: Mapping[str, str]) -> int:
    """``CASTLINE_TASK_WORKERS``, or :data:`DEFAULT_WORKERS` when it is unset or empty."""
    value = env.get(WORKERS_ENV, "").strip()
    if not value:
        return DEFAULT_WORKERS
    if not value.isdigit() or int(value) < 1:
        raise SettingError(WORKERS_ENV, value, "must be a whole number of workers, at least 1")
    return int(value)


def threads(env: Mapping[str, str]) -> TaskRunner[Any]:
    """A thread pool in the flow's process: nothing to start, and task arguments are shared, not copied."""
    return ThreadPoolTaskRunner(max_workers=_workers(env))


def dask(env: Mapping[str, str]) -> TaskRunner[Any]:
    """The Dask scheduler at ``CASTLINE_DASK_ADDRESS``, else a local cluster of worker processes
    of one thread each (so N workers master N chapters at once, as N threads do), without a
    dashboard, started and stopped with the flow run."""
    from prefect_dask import DaskTaskRunner  # only when chosen: it imports dask and distributed

    address = env.get(DASK_ADDRESS_ENV, "").strip()
    if address:
        return DaskTaskRunner(address=address)
    cluster = {"n_workers": _workers(env), "processes": True, "threads_per_worker": 1, "dashboard_address": None}
    return DaskTaskRunner(cluster_kwargs=cluster)


RUNNERS: dict[str, Callable[[Mapping[str, str]], TaskRunner[Any]]] = {"threads": threads, "dask": dask}
"""``CASTLINE_TASK_RUNNER`` value -> the function that builds that runner from the environment."""


def chosen_task_runner(env: Mapping[str, str] | None = None) -> TaskRunner[Any]:
    """The task runner ``env`` (the process environment by default) chooses; a value that is not
    a key of :data:`RUNNERS` is one :class:`~castline.errors.SettingError` naming the allowed ones."""
    env = os.environ if env is None else env
    kind = env.get(RUNNER_ENV, "").strip().lower() or "threads"
    if kind not in RUNNERS:
        raise SettingError(RUNNER_ENV, env[RUNNER_ENV], f"unknown task runner; use one of: {', '.join(RUNNERS)}")
    return RUNNERS[kind](env)
