"""Where castline keeps its content-addressed stores: a local directory or any fsspec URL.

A :class:`Storage` is a flat namespace of named blobs. A name is a relative POSIX path of
plain components (``"4a/4a7f...e1.flac"``); names starting with a dot are reserved for the
temporary and probe files the implementations write. The contract every implementation keeps:

* a write is atomic: a reader sees the old entry, nothing, or the whole new entry, never a
  part, and a failed write leaves no entry and no temporary file behind;
* several processes may write the same name at once; one complete write wins;
* :meth:`Storage.create_bytes` writes a name only if it does not exist yet, and of several
  processes creating one name exactly one succeeds (claims, :mod:`castline.claims`);
* ``local_path`` gives a local file for tools that need one (ffmpeg, soundfile).

Open a store with :func:`open_storage`, which checks it can be used before any work starts and
turns every problem into one :class:`~castline.errors.StorageError` that names the setting.
To add an implementation, subclass :class:`Storage`, pass each name through ``_check_name``,
keep the atomicity promise with whatever the backend offers (a rename, a single PUT) and
implement ``_probe`` (the usability check) and make :func:`open_storage` choose it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
from fsspec.registry import known_implementations

from castline.errors import StorageError
from castline.tempfiles import TEMP_SUFFIX, atomic_path

__all__ = ["Storage", "StoredFile", "LocalStorage", "FsspecStorage", "open_storage"]

# Object stores: one PUT is already atomic and "rename" is copy + delete, so write directly.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})
_PROBE = b"castline storage probe\n"
_CREATE_LOCK = threading.Lock()


def _check_name(name: str) -> str:
    """Reject names that could escape the store or collide with its temporary files."""
    if not name or "\\" in name or "\0" in name or name.startswith("/"):
        raise ValueError(f"invalid storage name {name!r}: must be a non-empty relative POSIX path")
    for part in name.split("/"):
        if not part or part.startswith("."):
            raise ValueError(f"invalid storage name {name!r}: empty, '.', '..' or hidden component {part!r}")
    return name


def _replace_atomically(path: Path, write: Callable[[str], object]) -> None:
    """Write ``path`` through :func:`~castline.tempfiles.atomic_path`, making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        write(str(temporary))


def _check_prefix(prefix: str) -> str:
    """A folder-like prefix: "" for everything, else a valid name with one trailing slash."""
    return "" if prefix == "" else _check_name(prefix.removesuffix("/")) + "/"


@dataclass(frozen=True)
class StoredFile:
    """One entry of a storage, as :meth:`Storage.scan` lists it."""

    name: str
    size_bytes: int
    modified_s: float
    """When it was written or last touched, in seconds since the epoch."""


class Storage(ABC):
    """A flat namespace of named blobs ("4a/4a7f...e1.flac"), each written atomically."""

    url: str
    """What the user configured (a path or a URL), for messages."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether the entry is stored, so callers can skip work that was already done."""

    @abstractmethod
    def read_bytes(self, name: str) -> bytes:
        """The whole entry; FileNotFoundError when absent, so a miss is never mistaken for data."""

    @abstractmethod
    def write_bytes(self, name: str, data: bytes) -> None:
        """Store ``data`` atomically: a reader sees the old entry, nothing, or the whole new one."""

    @abstractmethod
    def create_bytes(self, name: str, data: bytes) -> bool:
        """Store ``data`` only if ``name`` does not exist: True if this call created it, False if
        it existed. Of several writers creating one name at once, exactly one gets True."""

    @abstractmethod
    def put_file(self, name: str, local: Path) -> None:
        """Atomically store a copy of a local file, so large audio never has to sit in memory."""

    @abstractmethod
    def local_path(self, name: str) -> Path:
        """A local file holding the entry, for tools that only read paths (ffmpeg, soundfile)."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove the entry; missing is not an error, so clean-ups can be repeated safely."""

    def list(self, prefix: str = "") -> Iterator[str]:
        """Names under a folder-like prefix ("4a/" or ""), recursively, in no set order; no temp files."""
        return (entry.name for entry in self.scan(prefix))

    @abstractmethod
    def scan(self, prefix: str = "") -> Iterator[StoredFile]:
        """Like :meth:`list`, with each entry's size and time, for pruning (``castline gc``)."""

    @abstractmethod
    def touch(self, name: str) -> None:
        """Mark the entry as used now, so pruning by age keeps what renders still use.

        Best effort: where the backend cannot change an object's time (object stores), an
        entry's time stays the time it was written.
        """

    @abstractmethod
    def _probe(self) -> None:
        """Create the root, write, read back and delete a probe object: open_storage's check."""


class LocalStorage(Storage):
    """Files under a local directory; atomic through a temporary file and ``os.replace``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = str(root)

    def _path(self, name: str) -> Path:
        return self.root / _check_name(name)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def read_bytes(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def write_bytes(self, name: str, data: bytes) -> None:
        _replace_atomically(self._path(name), lambda tmp: Path(tmp).write_bytes(data))

    def create_bytes(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The content goes into a temporary file first and is then hard-linked to the name: a
        # link never replaces an existing file, so the name appears exclusively and complete.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True

    def put_file(self, name: str, local: Path) -> None:
        _replace_atomically(self._path(name), lambda tmp: shutil.copyfile(local, tmp))

    def local_path(self, name: str) -> Path:
        path = self._path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{self.url}: no entry {name!r}")
        return path

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def scan(self, prefix: str = "") -> Iterator[StoredFile]:
        prefix = _check_prefix(prefix)
        for folder, dirs, files in os.walk(self.root / prefix):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = Path(folder).relative_to(self.root).as_posix()
            for file in sorted(files):
                if not file.startswith("."):
                    with contextlib.suppress(FileNotFoundError):  # removed while we looked
                        st = os.lstat(os.path.join(folder, file))
                        yield StoredFile(file if rel == "." else f"{rel}/{file}", st.st_size, st.st_mtime)

    def touch(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(name))

    def _probe(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f".castline-probe-{uuid.uuid4().hex}"
        path.write_bytes(_PROBE)
        data = path.read_bytes()
        path.unlink()
        if data != _PROBE:
            raise OSError("the probe object read back different bytes")


class FsspecStorage(Storage):
    """Any fsspec filesystem (s3://, gs://, memory://, file://, ...) under a root URL.

    ``local_path`` keeps downloaded entries in a local mirror and reuses them without asking
    the backend again. That is safe because castline's audio entries are content-addressed:
    a name never changes content. Writes and deletes through this object drop the mirror copy.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        # A fresh instance, not fsspec's cached one: credentials and endpoints are read now,
        # and the instance open_storage probed is the one that is used.
        self.fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
        self.root: str = root.rstrip("/")
        protocols = {self.fs.protocol} if isinstance(self.fs.protocol, str) else set(self.fs.protocol)
        self.object_store = bool(protocols & _OBJECT_STORES)
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.mirror = Path(tempfile.gettempdir()) / "castline-storage" / digest

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    def _write_atomic(self, name: str, write: Callable[[str], object]) -> None:
        path = self._path(_check_name(name))
        if self.object_store:
            write(path)
            (self.mirror / name).unlink(missing_ok=True)
            return
        if self.fs.isdir(path):  # mv would move the temp file into the folder and report success
            raise IsADirectoryError(f"{self.url}: {name!r} is a folder")
        parent, _, base = path.rpartition("/")
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.{base}.{uuid.uuid4().hex}.tmp" if parent else f".{base}.{uuid.uuid4().hex}.tmp"
        try:
            write(tmp)
            self.fs.mv(tmp, path)
            (self.mirror / name).unlink(missing_ok=True)
        except BaseException:
            with contextlib.suppress(Exception):  # the temp file may never have been made
                self.fs.rm_file(tmp)
            raise

    def exists(self, name: str) -> bool:
        path = self._path(_check_name(name))
        self.fs.invalidate_cache(path)  # a cached listing would hide other writers' entries
        return bool(self.fs.isfile(path))

    def read_bytes(self, name: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(_check_name(name))))

    def write_bytes(self, name: str, data: bytes) -> None:
        self._write_atomic(name, lambda target: self.fs.pipe_file(target, data))

    def create_bytes(self, name: str, data: bytes) -> bool:
        # fsspec's exclusive mode: a conditional PUT (If-None-Match: *) on object stores, an
        # exclusive open on file systems.
        path = self._path(_check_name(name))
        parent = path.rpartition("/")[0]
        if parent and not self.object_store:
            self.fs.makedirs(parent, exist_ok=True)
        try:
            # In one process the lock makes a check-then-create mode (memory://) exclusive too.
            with _CREATE_LOCK, self.fs.open(path, "xb") as out:
                out.write(data)
        except FileExistsError:
            return False
        return True

    def put_file(self, name: str, local: Path) -> None:
        if not Path(local).is_file():  # fsspec would store a folder as a folder
            raise FileNotFoundError(f"{local}: not a file")
        self._write_atomic(name, lambda target: self.fs.put_file(str(local), target))

    def local_path(self, name: str) -> Path:
        target = self.mirror / _check_name(name)
        if not target.is_file():

            def download(tmp: str) -> None:
                with self.fs.open(self._path(name), "rb") as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)

            _replace_atomically(target, download)
        return target

    def delete(self, name: str) -> None:
        (self.mirror / _check_name(name)).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(name))

    def scan(self, prefix: str = "") -> Iterator[StoredFile]:
        base = self._path(_check_prefix(prefix)).rstrip("/")
        self.fs.invalidate_cache(base)
        start = len(self.root) + 1 if self.root else 0
        found: dict[str, dict[str, Any]] = self.fs.find(base, detail=True)
        for path in sorted(found):
            rel = path[start:]
            if (path.startswith(base + "/") or not base) and not any(p.startswith(".") for p in rel.split("/")):
                yield StoredFile(rel, int(found[path].get("size") or 0), _modified_s(found[path]))

    def touch(self, name: str) -> None:
        if not self.object_store:  # an object's time cannot change without rewriting it
            with contextlib.suppress(FileNotFoundError, NotImplementedError, ValueError):
                self.fs.touch(self._path(_check_name(name)), truncate=False)

    def _probe(self) -> None:
        if self.root and not self.object_store:
            self.fs.makedirs(self.root, exist_ok=True)
        path = self._path(f".castline-probe-{uuid.uuid4().hex}")
        self.fs.pipe_file(path, _PROBE)
        data = bytes(self.fs.cat_file(path))
        self.fs.rm_file(path)
        if data != _PROBE:
            raise OSError("the probe object read back different bytes")


def _modified_s(info: dict[str, Any]) -> float:
    """An fsspec entry's time in epoch seconds, whichever key and type the backend uses."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def _describe(exc: BaseException) -> str:
    """The exception type and its first line, short enough for one line of a message."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def open_storage(location: str | Path, *, setting: str, timeout_s: float = 20.0) -> Storage:
    """The storage at ``location``, checked to be usable, or one StorageError naming ``setting``.

    A Path or a string without "://" is a local directory (created); any URL goes to fsspec.
    The check runs in a daemon thread so an unreachable endpoint with retries cannot hang it.
    """
    url = str(location)
    local = isinstance(location, Path) or "://" not in url
    if not local:
        known = set(fsspec.available_protocols())
        for part in url.split("::"):
            proto = part.split("://", 1)[0] if "://" in part else part
            if proto not in known:
                examples = ", ".join(p for p in ("file", "memory", "s3", "gcs", "az", "http", "sftp") if p in known)
                problem = f"unknown storage protocol {proto!r} (known: {examples}, ...; or use a directory path)"
                raise StorageError(setting, url, problem)

    result: list[Storage] = []
    failure: list[BaseException] = []

    def attempt() -> None:
        try:
            storage: Storage = LocalStorage(Path(location).expanduser()) if local else FsspecStorage(url)
            storage._probe()
            result.append(storage)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=attempt, name="castline-storage-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if result:
        return result[0]
    if not failure:
        raise StorageError(setting, url, f"not reachable within {timeout_s:g} s")
    exc = failure[0]
    if isinstance(exc, ImportError) and not local:
        proto = url.split("::")[-1].split("://", 1)[0]
        impl = known_implementations.get(proto, {})
        package = impl.get("class", "").split(".")[0]
        hint = f"; install it with: pip install {package}" if package and package != "fsspec" else ""
        problem = f"protocol {proto!r} needs a package that is not installed ({impl.get('err') or _describe(exc)}){hint}"
        raise StorageError(setting, url, problem) from exc
    raise StorageError(setting, url, f"cannot use this storage: {_describe(exc)}") from exc
