"""Reading an untrusted ZIP archive in memory, within limits.

Nothing is ever extracted to disk. Every member name is checked when the archive is opened
(absolute paths, ``..`` components, drive letters and backslash tricks are refused), and every
read is bounded twice: by the size the archive declares and by the bytes actually produced
while inflating, so a header that lies about a member's size cannot make us inflate more than
the limits allow.
"""

from __future__ import annotations

import lzma
import posixpath
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from castline.errors import InputError

__all__ = ["MiB", "ZipLimits", "SafeZip", "member_escapes"]

MiB = 1024 * 1024

_CHUNK_BYTES = 64 * 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_DAMAGE = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, struct.error, NotImplementedError
)


@dataclass(frozen=True)
class ZipLimits:
    """How much of an untrusted archive we agree to read."""

    max_members: int = 10_000
    """Most entries the archive may list (directories included)."""
    max_member_bytes: int = 64 * MiB
    """Most bytes one member may inflate to."""
    max_total_bytes: int = 512 * MiB
    """Most bytes all members read from one archive may inflate to, together."""
    max_ratio: float = 100.0
    """Highest inflated/compressed size ratio for members larger than :attr:`ratio_min_bytes`."""
    ratio_min_bytes: int = 1 * MiB
    """Members smaller than this (inflated) are not held to :attr:`max_ratio`."""


ErrorFactory = Callable[[Path, str], InputError]


def _size_text(n_bytes: int) -> str:
    if n_bytes % MiB == 0:
        return f"{n_bytes // MiB} MiB"
    return f"{n_bytes} bytes"


def member_escapes(name: str) -> str | None:
    """Why a member name would escape the archive root, or None when it is safe.

    Backslashes count as separators (so ``a\\..\\..\\x`` is caught too).
    """
    if "\x00" in name:
        return "a NUL byte in its name"
    flat = name.replace("\\", "/")
    if flat.startswith("/"):
        return "an absolute path"
    if _DRIVE_RE.match(flat):
        return "a drive letter"
    depth = 0
    for part in flat.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return "a '..' component"
        elif part not in ("", "."):
            depth += 1
    return None


def _canonical(name: str) -> str:
    """The lookup form of a member name: '/' separators, no '.' parts, NFC."""
    flat = posixpath.normpath(name.replace("\\", "/"))
    return unicodedata.normalize("NFC", flat.lstrip("/"))


class SafeZip:
    """An untrusted ZIP archive opened for bounded, in-memory reads.

    ``error`` builds the exception raised for every problem (it gets the archive path and a
    one-line description), so the caller chooses the error class.
    """

    def __init__(self, path: Path, limits: ZipLimits, error: ErrorFactory, kind: str = "ZIP") -> None:
        self.path = path
        self.limits = limits
        self._error = error
        self._read_bytes = 0
        self._zip = self._open(kind)
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._folded: dict[str, str] = {}
        self._index_members()

    # -- opening --------------------------------------------------------------------------

    def _open(self, kind: str) -> zipfile.ZipFile:
        try:
            with open(self.path, "rb") as probe:
                head = probe.read(4)
        except FileNotFoundError:
            raise self._error(self.path, "no such file") from None
        except IsADirectoryError:
            raise self._error(self.path, "is a directory, not a file") from None
        except OSError as exc:
            raise self._error(self.path, f"cannot be read: {exc.strerror or exc}") from None
        if not head:
            raise self._error(self.path, f"not {kind}: the file is empty")
        try:
            return zipfile.ZipFile(self.path)
        except _DAMAGE as exc:
            if head.startswith(b"PK"):
                problem = f"not {kind}: damaged or truncated ZIP archive ({exc})"
            else:
                problem = f"not {kind}: not a ZIP archive"
            raise self._error(self.path, problem) from None

    def _index_members(self) -> None:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_members:
            self.close()
            raise self._error(
                self.path, f"has {len(infos)} zip members; the limit is {self.limits.max_members}"
            )
        for info in infos:
            if not info.filename:  # zipfile's is_dir() would raise IndexError
                self.close()
                raise self._error(self.path, "a zip member has an empty name")
            why = member_escapes(info.orig_filename) or member_escapes(info.filename)
            if why:
                self.close()
                raise self._error(self.path, f"zip member {info.filename!r} escapes the archive ({why})")
            if info.is_dir():
                continue
            key = _canonical(info.filename)
            if key in self._members:
                self.close()
                raise self._error(self.path, f"zip member {info.filename!r} appears more than once")
            self._members[key] = info
            self._folded.setdefault(key.casefold(), key)

    # -- lookups --------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Member names (canonical form), in archive order; directories left out."""
        return list(self._members)

    def find(self, name: str) -> str | None:
        """The canonical name of the member ``name`` refers to, or None if there is none.

        Matches exactly first, then after Unicode NFC normalization, then ignoring case
        (archives made on case-insensitive file systems often disagree with their own hrefs).
        """
        if member_escapes(name):
            return None
        key = _canonical(name)
        if key in self._members:
            return key
        return self._folded.get(key.casefold())

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def declared_size(self, name: str) -> int:
        """The inflated size the archive declares for a member (not trusted for reading)."""
        return self._info(name).file_size

    def _info(self, name: str) -> zipfile.ZipInfo:
        key = self.find(name)
        if key is None:
            raise KeyError(name)
        return self._members[key]

    # -- reading --------------------------------------------------------------------------

    def read(self, name: str) -> bytes:
        """All bytes of one member, inflated in memory within the limits.

        Raises KeyError when there is no such member, and the caller's error for a member that
        is too large, too compressed, encrypted or damaged.
        """
        info = self._info(name)
        self._check_declared(info)
        budget = min(self.limits.max_member_bytes, info.file_size)
        try:
            if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                data = self._inflate(info, budget)
            else:
                data = self._read_with_zipfile(info, budget)
        except RuntimeError as exc:  # zipfile raises this for encrypted members
            raise self._error(self.path, f"zip member {info.filename!r} cannot be read: {exc}") from None
        except _DAMAGE as exc:
            raise self._error(self.path, f"zip member {info.filename!r} is damaged: {exc}") from None
        self._check_ratio(info.filename, len(data), info.compress_size)
        self._read_bytes += len(data)
        return data

    def _inflate(self, info: zipfile.ZipInfo, budget: int) -> bytes:
        """Inflate a stored or deflated member ourselves, never producing more than ``budget`` + 1 bytes.

        zipfile would stop at the declared size and report a CRC error; inflating here lets us
        tell a member that lies about its size from one that is merely damaged.
        """
        inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        chunks: list[bytes] = []
        produced = crc = 0
        with open(self.path, "rb") as raw_file:
            raw_file.seek(info.header_offset)
            header = raw_file.read(30)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile("bad local file header")
            name_bytes, extra_bytes = struct.unpack("<HH", header[26:30])
            raw_file.seek(name_bytes + extra_bytes, 1)
            remaining = info.compress_size
            while remaining > 0:
                raw = raw_file.read(min(_CHUNK_BYTES, remaining))
                if not raw:
                    raise zipfile.BadZipFile("the archive ends inside this member")
                remaining -= len(raw)
                data = raw if inflater is None else inflater.decompress(raw, budget + 1 - produced)
                produced += len(data)
                if produced > budget or (inflater is not None and inflater.unconsumed_tail):
                    raise self._error(self.path, self._too_big(info.filename, info.file_size))
                crc = zlib.crc32(data, crc)
                chunks.append(data)
        if inflater is not None and not inflater.eof:
            raise zipfile.BadZipFile("compressed data ends early")
        if crc != info.CRC:
            raise zipfile.BadZipFile("CRC-32 mismatch")
        return b"".join(chunks)

    def _read_with_zipfile(self, info: zipfile.ZipInfo, budget: int) -> bytes:
        """Other compression methods (bzip2, LZMA): zipfile inflates, we count."""
        chunks: list[bytes] = []
        produced = 0
        with self._zip.open(info) as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                produced += len(chunk)
                if produced > budget:
                    raise self._error(self.path, self._too_big(info.filename, info.file_size))
                chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self, shown: str, declared: int) -> str:
        if declared <= self.limits.max_member_bytes:
            return f"zip member {shown!r} expands beyond its declared size of {declared} bytes"
        return f"zip member {shown!r} expands beyond {_size_text(self.limits.max_member_bytes)}"

    def _check_declared(self, info: zipfile.ZipInfo) -> None:
        shown = info.filename
        if info.flag_bits & 0x1:
            raise self._error(self.path, f"zip member {shown!r} is encrypted")
        if info.file_size > self.limits.max_member_bytes:
            raise self._error(self.path, self._too_big(shown, info.file_size))
        self._check_ratio(shown, info.file_size, info.compress_size)
        if self._read_bytes + info.file_size > self.limits.max_total_bytes:
            raise self._error(
                self.path,
                f"archive expands beyond {_size_text(self.limits.max_total_bytes)} in total "
                f"(at zip member {shown!r})",
            )

    def _check_ratio(self, shown: str, inflated: int, compressed: int) -> None:
        if inflated <= self.limits.ratio_min_bytes:
            return
        ratio = inflated / max(compressed, 1)
        if ratio > self.limits.max_ratio:
            raise self._error(
                self.path,
                f"zip member {shown!r} has a compression ratio of {ratio:.0f}:1 "
                f"(the limit is {self.limits.max_ratio:.0f}:1)",
            )

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
