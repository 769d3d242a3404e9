"""Temporary files: the one way castline writes a file atomically, scratch folders, and
clearing away what a killed process left behind.

An atomic write puts the content in a temporary file in the target's own directory (a
unique, dot-prefixed name ending in ``.tmp``, so two writers never share one and listings skip
it) and renames it over the target only when it is complete; a rename within one file system
is atomic. A reader therefore sees the old file, no file, or the whole new one, and a failed
write removes its temporary file. Only a kill leaves one behind: :func:`remove_stale_temp_files`
clears those.

A scratch folder (:func:`scratch_dir`) lives in the system's temporary directory and carries
the creating process's id in its name, so :func:`remove_dead_scratch_dirs` can tell the
folders of dead processes from those of live ones.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from castline.errors import WriteError

__all__ = [
    "atomic_path",
    "write_text_atomic",
    "scratch_dir",
    "remove_stale_temp_files",
    "remove_dead_scratch_dirs",
    "write_failure",
    "reraise_as_write_failure",
    "TEMP_SUFFIX",
]

TEMP_SUFFIX = ".tmp"
"""Every temporary file castline writes beside a target ends in this (after a dot-prefixed name)."""

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK
"""What an ordinary new file gets (``mkstemp`` makes it private, 0600)."""


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``; it replaces ``target`` if the block succeeds.

    The block writes the file (itself or through a tool such as ffmpeg); on an exception the
    temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as exc:
        reraise_as_write_failure(target, exc)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, target)
    except Exception as exc:  # a full disk says "System error" in soundfile, "Error writing" in ffmpeg...
        reraise_as_write_failure(target, exc)
    finally:
        temporary.unlink(missing_ok=True)


_ERRNO_PROBLEMS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for its file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
}
_STDERR_PROBLEMS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                    "Permission denied": errno.EACCES, "Read-only file system": errno.EROFS}
_NEARLY_FULL_BYTES = 1 << 20


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(folder).free
    return None


def write_failure(path: Path, exc: BaseException) -> WriteError | None:
    """The one-line :class:`WriteError` for a failed write of ``path``, or None when ``exc``
    is not about the disk.

    Libraries say it their own way: an OSError's errno, ffmpeg's stderr ("No space left on
    device"), libsndfile's "System error.". When nothing names the cause, a file system with
    less than a megabyte free is taken to be the cause.
    """
    if isinstance(exc, WriteError):
        return exc
    code = getattr(exc, "errno", None)
    if code not in _ERRNO_PROBLEMS:
        said = f"{exc} {getattr(exc, 'stderr', '')}"
        code = next((c for text, c in _STDERR_PROBLEMS.items() if text in said), None)
    free = _free_bytes(Path(path).parent)
    if code is None and free is not None and free < _NEARLY_FULL_BYTES:
        code = errno.ENOSPC
    if code is None:
        return None
    where = f" ({free / 1e6:.1f} MB free there)" if free is not None and code in (errno.ENOSPC, errno.EDQUOT) else ""
    return WriteError(path, _ERRNO_PROBLEMS[code] + where)


def reraise_as_write_failure(path: Path, exc: Exception) -> NoReturn:
    """Raise :func:`write_failure`'s error for ``exc``, or ``exc`` itself when it is not about the disk."""
    failure = write_failure(path, exc)
    if failure is None:
        raise exc
    raise failure from exc


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def scratch_dir(purpose: str) -> tempfile.TemporaryDirectory[str]:
    """A private scratch folder (``castline-<pid>-<purpose>-...``), removed when the block ends."""
    return tempfile.TemporaryDirectory(prefix=f"castline-{os.getpid()}-{purpose}-")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's live process
        return True
    return True


_SCRATCH = re.compile(r"^castline-(\d+)-")


def remove_dead_scratch_dirs(folder: Path | None = None) -> int:
    """Remove the scratch folders of castline processes that no longer run; returns how many."""
    removed = 0
    for entry in Path(folder or tempfile.gettempdir()).glob("castline-*"):
        match = _SCRATCH.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def remove_stale_temp_files(root: Path, older_than_s: float = 0.0) -> int:
    """Remove the temporary files of interrupted atomic writes under ``root``; returns how many.

    Only files named as :func:`atomic_path` names them (dot-prefixed, ending in ``.tmp``)
    and last written more than ``older_than_s`` ago are removed: a live writer of a shared
    folder finishes its write in seconds.
    """
    removed = 0
    cutoff = time.time() - older_than_s
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                path = Path(folder) / name
                with contextlib.suppress(OSError):
                    if path.lstat().st_mtime <= cutoff:
                        path.unlink()
                        removed += 1
    return removed
