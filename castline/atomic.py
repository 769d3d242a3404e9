"""Writing a file atomically: the one way castline does it.

The content goes to a temporary file in the target's own directory (a unique, dot-prefixed
name, so two writers never share one and listings skip it) and is renamed over the target
only when it is complete; a rename within one file system is atomic. A reader therefore sees
the old file, no file, or the whole new one, never a half-written one, and a failed or
interrupted write removes its temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic", "TEMP_SUFFIX"]

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
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
