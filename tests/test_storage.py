"""castline.storage: one contract for every implementation, and open_storage's preflight."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_fixtures import aws_env, new_bucket

import castline.storage
from castline.errors import StorageError
from castline.storage import FsspecStorage, LocalStorage, Storage, open_storage

SETTING = "--cache-dir / CASTLINE_CACHE_DIR"


def _cleanup(storage: Storage) -> None:
    if isinstance(storage, FsspecStorage):
        shutil.rmtree(storage.mirror, ignore_errors=True)
        if storage.fs.exists(storage.root):
            storage.fs.rm(storage.root, recursive=True)


@pytest.fixture(params=["local", "memory", "file"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    made: Storage
    if request.param == "local":
        made = LocalStorage(tmp_path / "store")
    elif request.param == "memory":
        made = FsspecStorage(f"memory://castline-test-{uuid.uuid4().hex}")
    else:
        made = FsspecStorage(f"file://{tmp_path}/store")
    yield made
    _cleanup(made)


def raw_files(storage: Storage) -> list[str]:
    """Every file actually under the root, temporary ones included, relative to the root."""
    if isinstance(storage, LocalStorage):
        return sorted(p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*") if p.is_file())
    assert isinstance(storage, FsspecStorage)
    if not storage.fs.exists(storage.root):
        return []
    return sorted(p[len(storage.root) + 1 :] for p in storage.fs.find(storage.root))


NAME = "4a/4a7f00e1.flac"


def test_bytes_round_trip(storage: Storage) -> None:
    assert not storage.exists(NAME)
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(NAME)
    storage.write_bytes(NAME, b"\x00audio\xff")
    assert storage.exists(NAME)
    assert storage.read_bytes(NAME) == b"\x00audio\xff"
    assert not storage.exists("4a")  # a folder is not an entry


def test_file_round_trip(storage: Storage, tmp_path: Path) -> None:
    local = tmp_path / "take.flac"
    local.write_bytes(os.urandom(300_000))
    storage.put_file(NAME, local)
    assert storage.read_bytes(NAME) == local.read_bytes()
    assert local.exists()  # a copy, not a move


def test_exists_delete_and_list(storage: Storage) -> None:
    names = ["4a/x.flac", "4a/x.json", "4a/deep/w.bin", "4b/z.flac", "top.txt"]
    for name in names:
        storage.write_bytes(name, name.encode())
    assert sorted(storage.list()) == sorted(names)
    assert sorted(storage.list("4a/")) == ["4a/deep/w.bin", "4a/x.flac", "4a/x.json"]
    assert sorted(storage.list("4a")) == ["4a/deep/w.bin", "4a/x.flac", "4a/x.json"]
    assert list(storage.list("4a/deep/")) == ["4a/deep/w.bin"]
    assert list(storage.list("zz/")) == []
    storage.delete("4a/x.flac")
    assert not storage.exists("4a/x.flac")
    storage.delete("4a/x.flac")  # missing is not an error
    storage.delete("never/was.flac")
    assert sorted(storage.list("4a/")) == ["4a/deep/w.bin", "4a/x.json"]
    with pytest.raises(ValueError):
        list(storage.list("../"))


def test_list_hides_temp_and_probe_files(storage: Storage) -> None:
    storage.write_bytes(NAME, b"entry")
    leftovers = ["4a/.4a7f00e1.flac.k2j3.tmp", ".castline-probe-0123", ".top.tmp"]  # as a crashed writer leaves them
    for leftover in leftovers:
        if isinstance(storage, LocalStorage):
            (storage.root / leftover).write_bytes(b"partial")
        else:
            assert isinstance(storage, FsspecStorage)
            storage.fs.pipe_file(f"{storage.root}/{leftover}", b"partial")
    assert sorted(raw_files(storage)) == sorted([NAME, *leftovers])
    assert list(storage.list()) == [NAME]
    assert list(storage.list("4a/")) == [NAME]


def test_create_only_if_absent(storage: Storage) -> None:
    assert storage.create_bytes("claims/4a/k/0", b"first")
    assert not storage.create_bytes("claims/4a/k/0", b"second")
    assert storage.read_bytes("claims/4a/k/0") == b"first"
    assert [n for n in raw_files(storage)] == ["claims/4a/k/0"]  # no temporary file left


def test_of_concurrent_creators_exactly_one_wins(storage: Storage) -> None:
    won: list[bytes] = []
    start = threading.Barrier(8)

    def create(data: bytes) -> None:
        start.wait()
        if storage.create_bytes("claims/4a/k/0", data):
            won.append(data)

    threads = [threading.Thread(target=create, args=(bytes([n]) * 100,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and storage.read_bytes("claims/4a/k/0") == won[0]


def test_local_path(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.local_path(NAME)
    storage.write_bytes(NAME, b"flac bytes")
    path = storage.local_path(NAME)
    assert path.is_file()
    assert path.read_bytes() == b"flac bytes"
    assert storage.local_path(NAME) == path
    if isinstance(storage, LocalStorage):
        assert path == storage.root / NAME
        umask = os.umask(0o022)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600
    else:
        assert isinstance(storage, FsspecStorage)
        digest = hashlib.sha256(storage.url.encode()).hexdigest()[:16]
        assert path == Path(tempfile.gettempdir()) / "castline-storage" / digest / NAME
        storage.fs.pipe_file(f"{storage.root}/{NAME}", b"changed behind its back")
        assert storage.local_path(NAME).read_bytes() == b"flac bytes"  # the mirror is reused
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file in the mirror


def test_overwrite_replaces(storage: Storage, tmp_path: Path) -> None:
    storage.write_bytes(NAME, b"old")
    assert storage.local_path(NAME).read_bytes() == b"old"
    storage.write_bytes(NAME, b"new, longer")
    assert storage.read_bytes(NAME) == b"new, longer"
    assert storage.local_path(NAME).read_bytes() == b"new, longer"
    (tmp_path / "third").write_bytes(b"3")
    storage.put_file(NAME, tmp_path / "third")
    assert storage.read_bytes(NAME) == b"3"
    assert raw_files(storage) == [NAME]


BAD_NAMES = ["", "/abs.flac", "a\\b.flac", "a/../b.flac", "..", ".", "a/./b", "a\0b", "a//b", "a/", ".hidden", "4a/.x.tmp"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_rejected(storage: Storage, name: str, tmp_path: Path) -> None:
    local = tmp_path / "f"
    local.write_bytes(b"x")
    for call in (
        lambda: storage.exists(name),
        lambda: storage.read_bytes(name),
        lambda: storage.write_bytes(name, b"x"),
        lambda: storage.put_file(name, local),
        lambda: storage.local_path(name),
        lambda: storage.delete(name),
    ):
        with pytest.raises(ValueError, match="invalid storage name"):
            call()
    assert raw_files(storage) == []


def test_no_temp_files_after_writes(storage: Storage, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"file")
    for i in range(5):
        storage.write_bytes(f"{i:02x}/{i}.flac", b"x" * i)
        storage.put_file(f"{i:02x}/{i}.json", tmp_path / "f")
    expected = sorted([f"{i:02x}/{i}.flac" for i in range(5)] + [f"{i:02x}/{i}.json" for i in range(5)])
    assert raw_files(storage) == expected
    assert sorted(storage.list()) == expected


def test_failed_write_leaves_no_entry_and_no_temp_file(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.put_file(NAME, tmp_path / "missing.flac")
    assert not storage.exists(NAME)
    assert [f for f in raw_files(storage) if not f.endswith("/")] == []
    storage.write_bytes(NAME, b"old")
    with pytest.raises(FileNotFoundError):
        storage.put_file(NAME, tmp_path / "missing.flac")
    with pytest.raises(OSError):
        storage.put_file(NAME, tmp_path)  # a folder
    with pytest.raises(OSError):
        storage.write_bytes("4a", b"a name that is a folder")
    assert storage.read_bytes(NAME) == b"old"
    assert raw_files(storage) == [NAME]


def test_failure_at_commit_removes_temp_file(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk on fire")

    if isinstance(storage, LocalStorage):
        monkeypatch.setattr(castline.storage.os, "replace", boom)
    else:
        assert isinstance(storage, FsspecStorage)
        monkeypatch.setattr(storage.fs, "mv", boom)
    with pytest.raises(OSError, match="disk on fire"):
        storage.write_bytes(NAME, b"data")
    assert not storage.exists(NAME)
    assert raw_files(storage) == []


def test_concurrent_writers_leave_one_complete_entry(storage: Storage) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(6)]
    storage.write_bytes(NAME, payloads[0])
    start = threading.Barrier(len(payloads) + 1)
    errors: list[BaseException] = []
    seen: list[bytes] = []

    def write(data: bytes) -> None:
        try:
            start.wait()
            for _ in range(4):
                storage.write_bytes(NAME, data)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        start.wait()
        for _ in range(20):
            seen.append(storage.read_bytes(NAME))

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert storage.read_bytes(NAME) in payloads
    assert seen and all(data in payloads for data in seen)
    assert raw_files(storage) == [NAME]


# --- open_storage -------------------------------------------------------------------------


def test_open_storage_path_gives_local_storage(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "new" / "cache", setting=SETTING)
    assert isinstance(storage, LocalStorage)
    assert (tmp_path / "new" / "cache").is_dir()
    assert os.listdir(tmp_path / "new" / "cache") == []  # the probe is gone
    as_string = open_storage(str(tmp_path / "other"), setting=SETTING)
    assert isinstance(as_string, LocalStorage)
    assert as_string.root == tmp_path / "other"


def test_open_storage_unusable_directory(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StorageError) as err:
        open_storage(tmp_path / "a-file" / "cache", setting=SETTING)
    assert err.value.setting == SETTING
    assert str(err.value).startswith(f"{SETTING}: ")
    assert "Error" in err.value.problem  # the exception type is quoted


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_open_storage_urls(kind: str, tmp_path: Path) -> None:
    url = f"memory://castline-test-{uuid.uuid4().hex}/cache" if kind == "memory" else f"file://{tmp_path}/cache"
    storage = open_storage(url, setting=SETTING)
    try:
        assert isinstance(storage, FsspecStorage)
        assert storage.url == url
        assert list(storage.list()) == []  # the probe is gone
        storage.write_bytes(NAME, b"abc")
        assert storage.local_path(NAME).read_bytes() == b"abc"
        if kind == "file":
            assert (tmp_path / "cache" / NAME).read_bytes() == b"abc"
    finally:
        _cleanup(storage)


def test_open_storage_unknown_protocol() -> None:
    with pytest.raises(StorageError) as err:
        open_storage("nosuch://x", setting=SETTING)
    assert SETTING in str(err.value)
    assert "'nosuch'" in err.value.problem
    assert "s3" in err.value.problem  # lists known protocols


def test_open_storage_missing_package() -> None:
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed")
    with pytest.raises(StorageError) as err:
        open_storage("gcs://bucket/cache", setting=SETTING)
    assert "gcsfs" in err.value.problem
    assert SETTING in str(err.value)


def test_open_storage_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FsspecStorage, "_probe", lambda self: time.sleep(3))
    began = time.monotonic()
    with pytest.raises(StorageError, match=r"not reachable within 0\.3 s"):
        open_storage("memory://castline-slow", setting=SETTING, timeout_s=0.3)
    assert time.monotonic() - began < 2


def test_open_storage_quotes_first_line_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: FsspecStorage) -> None:
        raise PermissionError("denied " + "x" * 500 + "\nsecond line")

    monkeypatch.setattr(FsspecStorage, "_probe", fail)
    with pytest.raises(StorageError) as err:
        open_storage("memory://castline-denied", setting=SETTING)
    assert "PermissionError: denied" in err.value.problem
    assert "second line" not in err.value.problem
    assert len(err.value.problem) < 260


# --- S3 -------------------------------------------------------------------------------------


def test_open_storage_s3_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("s3fs")
    with socket.socket() as sock:  # a port that was free a moment ago and that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    aws_env(monkeypatch, f"http://127.0.0.1:{port}")
    began = time.monotonic()
    with pytest.raises(StorageError) as err:
        open_storage("s3://castline-bucket/cache", setting=SETTING, timeout_s=3)
    assert time.monotonic() - began < 5
    assert err.value.setting == SETTING
    assert err.value.url == "s3://castline-bucket/cache"


def test_open_storage_s3_without_credentials(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_env(monkeypatch, moto_endpoint, credentials=False)
    with pytest.raises(StorageError) as err:
        open_storage("s3://castline-nocreds/cache", setting=SETTING, timeout_s=10)
    assert "credentials" in err.value.problem.lower()


def test_open_storage_s3_round_trip(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_env(monkeypatch, moto_endpoint)
    bucket = new_bucket()
    storage = open_storage(f"s3://{bucket}/cache", setting=SETTING, timeout_s=10)
    try:
        assert isinstance(storage, FsspecStorage) and storage.object_store
        assert list(storage.list()) == []  # the probe is gone
        monkeypatch.setattr(storage.fs, "mv", None)  # one PUT is atomic: an object store never renames
        storage.write_bytes(NAME, b"s3 bytes")
        (tmp_path / "take.flac").write_bytes(b"a file")
        storage.put_file("4b/4b.flac", tmp_path / "take.flac")
        assert storage.exists(NAME)
        assert storage.read_bytes(NAME) == b"s3 bytes"
        assert storage.local_path("4b/4b.flac").read_bytes() == b"a file"
        assert sorted(storage.list()) == ["4a/4a7f00e1.flac", "4b/4b.flac"]
        storage.delete(NAME)
        assert not storage.exists(NAME)
        assert raw_files(storage) == ["4b/4b.flac"]
        assert storage.create_bytes("claims/4b/k/0", b"one") and not storage.create_bytes("claims/4b/k/0", b"two")
        assert storage.read_bytes("claims/4b/k/0") == b"one"  # a conditional PUT (If-None-Match)
        storage.delete("claims/4b/k/0")
        FsspecStorage(storage.url).write_bytes("4b/other.flac", b"from another worker")
        assert storage.exists("4b/other.flac")  # not hidden by a cached listing
    finally:
        _cleanup(storage)

    with pytest.raises(StorageError, match="NoSuchBucket|does not exist|FileNotFoundError"):
        open_storage("s3://castline-no-such-bucket/cache", setting=SETTING, timeout_s=10)
