"""One render at a time per output directory.

Two renders writing into one output directory would stage, publish and prune each other's
files. A render therefore holds an exclusive ``flock`` on the directory's lock file for as
long as it runs. The kernel drops the lock when the holder's process ends, however it ends
(kill -9 included), so a lock file left behind by a killed render never blocks the next one:
only a live holder does. The file says who holds it, so a refusal can name the other render.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from castline.errors import OutputInUseError

__all__ = ["output_lock"]


def _holder() -> str:
    command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200]
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} on {socket.gethostname()}, since {started}: {command}"


@contextlib.contextmanager
def output_lock(lock_path: Path, output_dir: Path) -> Iterator[None]:
    """Hold the output directory's lock; raises :class:`OutputInUseError` if a live render holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip() or "holder unknown"
            raise OutputInUseError(output_dir, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode("utf-8") + b"\n", 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
