"""Progress of long work, told to whoever listens: a terminal bar, a Prefect artifact.

Stages call :func:`report`; the CLI adds a listener that draws a progress bar, and the flow
keeps a Prefect progress artifact up to date. Listeners run in the reporting thread and must
be quick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Listener", "listen", "report"]

Listener = Callable[[str, int, int], None]
"""``listener(stage, done, total)``."""

_listeners: list[Listener] = []
_lock = threading.Lock()


def listen(listener: Listener) -> Callable[[], None]:
    """Add a listener; returns a function that removes it."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def report(stage: str, done: int, total: int) -> None:
    """Tell every listener that ``done`` of ``total`` units of ``stage`` are finished."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(stage, done, total)
