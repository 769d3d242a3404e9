"""Children die with castline, however castline dies.

castline starts child processes: ffmpeg for every encode and measurement, and Prefect's local
API server (uvicorn) for a render without ``PREFECT_API_URL``. If castline is killed (kill -9,
an OOM kill, a closed terminal) those children would be left running under PID 1. So
:func:`start` launches a small *reaper* process that holds the read end of a pipe whose write
end only castline holds, and castline tells it, through that pipe, which children it has
(:func:`adopt`, :func:`release`). The kernel closes the pipe when castline's process ends, in
any way at all; the reaper then reads end-of-file, terminates the children it was told about
that are still the same processes (same PID and start time), and exits.

``prctl(PR_SET_PDEATHSIG)`` would not do: it fires when the *thread* that started a child
ends, and castline starts children from worker threads.

Run as ``python -m castline.lifeline``, this module is the reaper.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

__all__ = ["start", "adopt", "release", "watched", "active"]

_lock = threading.Lock()
_pipe: int | None = None
_reaper: subprocess.Popen[bytes] | None = None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def active() -> bool:
    """Whether this process has a reaper."""
    return _pipe is not None


def start() -> None:
    """Start this process's reaper (once; later calls do nothing). Linux only: elsewhere a no-op."""
    global _pipe, _reaper
    with _lock:
        if _pipe is not None or not os.path.isdir("/proc"):
            return
        read_end, write_end = os.pipe()  # neither end is inherited by other children
        _reaper = subprocess.Popen(
            [sys.executable, "-m", "castline.lifeline"],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is castline's to handle, not the reaper's
        )
        os.close(read_end)
        _pipe = write_end


def _tell(line: str) -> None:
    with _lock:
        if _pipe is not None:
            os.write(_pipe, line.encode("ascii") + b"\n")


def adopt(pid: int) -> None:
    """The reaper terminates ``pid`` if castline dies while it runs."""
    started = _start_time(pid)
    if started is not None:
        _tell(f"+ {pid} {started}")


def release(pid: int) -> None:
    """``pid`` has ended (or castline has stopped it): forget it."""
    _tell(f"- {pid}")


@contextlib.contextmanager
def watched(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """``with watched(Popen(...)) as p:`` adopts the child for as long as the block runs."""
    adopt(process.pid)
    try:
        yield process
    finally:
        release(process.pid)


def _reap(children: dict[int, str]) -> None:
    alive = {pid for pid, started in children.items() if _start_time(pid) == started}
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pid for pid in alive if _start_time(pid) == children[pid]}
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    """The reaper: follow the pipe until castline is gone, then end its children."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: dict[int, str] = {}
    for raw in sys.stdin.buffer:
        op, _, rest = raw.decode("ascii", "replace").strip().partition(" ")
        pid_text, _, started = rest.partition(" ")
        if not pid_text.isdigit():
            continue
        if op == "+":
            children[int(pid_text)] = started
        elif op == "-":
            children.pop(int(pid_text), None)
    _reap(children)


if __name__ == "__main__":
    main()
