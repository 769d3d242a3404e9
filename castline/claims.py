"""Claims on takes: workers that share one utterance cache synthesize each take once.

Atomic writes keep a shared cache correct whoever writes; claims keep it cheap. Before a
worker speaks a take the cache lacks, it claims the take's key by *creating* a small record
in the cache's storage, which only one writer can do (:meth:`~castline.storage.Storage.create_bytes`:
a hard link locally, a conditional PUT on an object store)::

    claims/4a/<key>/0      {"holder": "...", "host": "...", "pid": 4711, "renewed_s": ...}

A worker that finds a live claim leaves the take to its holder and waits for it to appear in
the cache. The holder renews its record every quarter of its timeout while it works and
deletes it once the take is stored (or its batch failed, so that another worker may try).

A worker that dies leaves its claim behind. A claim not renewed within its holder's timeout
(``CASTLINE_CLAIM_TIMEOUT_S``, default :data:`DEFAULT_TIMEOUT_S`) is dead, and so is one whose
holder was a process on this host that no longer runs (a killed render restarted at once
does not wait). A dead claim is superseded by creating the next *generation* (``claims/4a/<key>/1``),
which again only one worker can do. Times are the holders' clocks, so workers on several
machines need synchronized clocks (NTP), as Prefect's own leases do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from castline.storage import Storage

__all__ = ["TakeClaims", "DEFAULT_TIMEOUT_S", "TIMEOUT_ENV", "CLAIMS_PREFIX", "claim_timeout_s"]

log = logging.getLogger(__name__)

CLAIMS_PREFIX = "claims/"
"""Where claims live in a cache's storage; not audio entries (``castline gc`` skips them)."""
DEFAULT_TIMEOUT_S = 120.0
"""How long a claim outlives a dead holder on another machine, unless configured."""
TIMEOUT_ENV = "CASTLINE_CLAIM_TIMEOUT_S"

_TOKEN = uuid.uuid4().hex
"""This process's identity in the claims it writes."""


def claim_timeout_s() -> float:
    """``CASTLINE_CLAIM_TIMEOUT_S`` (seconds, more than 0), else :data:`DEFAULT_TIMEOUT_S`."""
    value = os.environ.get(TIMEOUT_ENV, "")
    try:
        timeout_s = float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        timeout_s = -1.0
    if not timeout_s > 0:
        log.warning("%s=%r is not a number of seconds > 0; using %g", TIMEOUT_ENV, value[:50], DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S
    return timeout_s


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux), or None if unknown or gone;
    with the pid it names a process even after its pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass(frozen=True)
class _Record:
    generation: int
    holder: str
    host: str
    pid: int
    started: str | None
    renewed_s: float
    timeout_s: float

    def dead(self, now_s: float) -> bool:
        if now_s - self.renewed_s > self.timeout_s:
            return True
        if self.host == socket.gethostname():
            if not _pid_alive(self.pid):
                return True
            return self.started is not None and _process_start(self.pid) != self.started
        return False


class TakeClaims:
    """The claims on the takes of one cache storage, held by this process."""

    def __init__(self, storage: Storage, timeout_s: float | None = None) -> None:
        self.storage = storage
        self.timeout_s = claim_timeout_s() if timeout_s is None else timeout_s
        self._held: dict[str, int] = {}  # key -> generation
        self._lock = threading.Lock()

    @staticmethod
    def _folder(key: str) -> str:
        return f"{CLAIMS_PREFIX}{key[:2]}/{key}/"

    def _body(self) -> bytes:
        pid = os.getpid()
        return json.dumps({
            "holder": _TOKEN, "host": socket.gethostname(), "pid": pid, "started": _process_start(pid),
            "renewed_s": time.time(), "timeout_s": self.timeout_s,
        }).encode()

    def _latest(self, key: str) -> _Record | None:
        """The newest generation's record; one being written or unreadable counts as just renewed."""
        folder = self._folder(key)
        generations = sorted(int(n[len(folder):]) for n in self.storage.list(folder) if n[len(folder):].isdigit())
        if not generations:
            return None
        generation = generations[-1]
        try:
            data = json.loads(self.storage.read_bytes(f"{folder}{generation}"))
            return _Record(generation, str(data["holder"]), str(data["host"]), int(data["pid"]), data.get("started"),
                           float(data["renewed_s"]), float(data["timeout_s"]))
        except FileNotFoundError:  # released meanwhile: free, but the next generation avoids a clash
            return _Record(generation, "", "", 0, None, 0.0, 0.0)
        except (ValueError, KeyError, TypeError):
            return _Record(generation, "", "", 0, None, time.time(), self.timeout_s)

    def claim(self, key: str) -> bool:
        """Claim ``key`` for this process: True if it holds it now (or held it already), False
        if a live claim of another worker holds it."""
        with self._lock:
            if key in self._held:
                return True
        latest = self._latest(key)
        if latest is not None and not latest.dead(time.time()):
            return False
        generation = 0 if latest is None else latest.generation + 1
        if latest is not None and latest.holder:
            log.info("take %s: the claim of pid %d on %s is dead; taking it over", key[:12], latest.pid, latest.host)
        if not self.storage.create_bytes(f"{self._folder(key)}{generation}", self._body()):
            return False
        with self._lock:
            self._held[key] = generation
        return True

    def renew(self) -> None:
        """Tell other workers that this process still works on the takes it holds."""
        with self._lock:
            held = list(self._held.items())
        body = self._body()
        for key, generation in held:
            self.storage.write_bytes(f"{self._folder(key)}{generation}", body)

    def release(self, keys: Iterable[str]) -> None:
        """Give up the claims on ``keys`` (their takes are stored, or will not be): every
        generation goes, the dead holders' too."""
        for key in keys:
            with self._lock:
                if self._held.pop(key, None) is None:
                    continue
            folder = self._folder(key)
            for name in list(self.storage.list(folder)):
                self.storage.delete(name)

    @contextlib.contextmanager
    def renewing(self) -> Iterator[None]:
        """Renew the held claims every quarter of the timeout while the block runs (a batch
        may take longer than the timeout), then release them all, however the block ends."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.timeout_s / 4):
                try:
                    self.renew()
                except Exception as exc:  # a missed renewal only risks a duplicate take
                    log.warning("could not renew take claims in %s: %s", self.storage.url, exc)

        thread = threading.Thread(target=beat, name="castline-claims", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            with self._lock:
                held = list(self._held)
            self.release(held)
