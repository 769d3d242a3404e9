"""Process-wide settings: where castline keeps its state, and a quiet, local Prefect.

Call :func:`configure` before Prefect is imported. It only fills in what the environment
does not already say, so a user's ``PREFECT_API_URL`` (a real server, a work pool) wins.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["configure", "castline_home", "log_file", "shared_location", "STORAGE_ENV"]

STORAGE_ENV = "CASTLINE_STORAGE"
"""One location (a directory or an fsspec URL such as ``s3://bucket/castline``) for every
store that workers share: the utterance cache, the mastered chapters and the voice registry."""


def castline_home() -> Path:
    """castline's own state directory (``$CASTLINE_HOME``, default ``~/.castline``)."""
    return Path(os.environ.get("CASTLINE_HOME", Path.home() / ".castline")).expanduser()


def shared_location(store: str) -> str | None:
    """Where ``store`` (``utterances``, ``chapters``, ``voices``) lives under ``$CASTLINE_STORAGE``,
    or None when it is not set: set it once per worker, and each store's own setting
    (``CASTLINE_CACHE_DIR``, ``CASTLINE_VOICES``) still wins."""
    base = os.environ.get(STORAGE_ENV, "").strip()
    return f"{base.rstrip('/')}/{store}" if base else None


def log_file() -> Path:
    """The command line's log: everything, with tracebacks (the terminal shows warnings only)."""
    return castline_home() / "logs" / "castline.log"


_PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
}


def configure() -> None:
    """Fill in the environment for a quiet Prefect that keeps its database under castline's home."""
    for name, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("PREFECT_HOME", str(castline_home() / "prefect"))
    # Prefect creates its home but not the parents; without them its server never starts.
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
