"""Ingest: reading source files (EPUB now, subtitles later) into the domain model.

Each format has a reader, registered in :data:`SOURCE_READERS` under its format name;
:func:`read_source` picks one by the file's extension, then by sniffing its content.
To add a format: write ``tasks/ingest/<format>.py`` with a ``read_<format>(path) -> Book``
function and, if it can be recognised from its bytes, a sniffing function; then register both
here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from castline.errors import InputError
from castline.model import Book
from tasks.ingest.epub import ZipLimits, is_epub, read_epub

__all__ = ["SOURCE_READERS", "SOURCE_SNIFFERS", "EXTENSIONS", "read_source", "source_format", "read_epub", "ZipLimits"]

SOURCE_READERS: dict[str, Callable[[Path], Book]] = {"epub": read_epub}
"""Reader for each source format, by format name."""

SOURCE_SNIFFERS: dict[str, Callable[[Path], bool]] = {"epub": is_epub}
"""For each format that can be recognised from its content: a test that reads the file safely."""

EXTENSIONS: dict[str, str] = {".epub": "epub"}
"""File name extension (lower case) -> format name."""


def source_format(path: Path) -> str:
    """The format name of a source file: from its extension, else by sniffing its content."""
    path = Path(path)
    by_extension = EXTENSIONS.get(path.suffix.lower())
    if by_extension is not None:
        return by_extension
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    for name, sniff in SOURCE_SNIFFERS.items():
        if sniff(path):
            return name
    known = ", ".join(sorted(EXTENSIONS))
    raise InputError(path, f"unknown source format (known: {known})")


def read_source(path: Path) -> Book:
    """Read any supported source file into a :class:`~castline.model.Book`."""
    return SOURCE_READERS[source_format(path)](Path(path))
