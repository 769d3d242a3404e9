"""tasks.ingest.safezip: bounded, in-memory reads of untrusted ZIP archives."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest

from castline.errors import EpubError, InputError
from tasks.ingest.safezip import MiB, SafeZip, ZipLimits, member_escapes


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def open_zip(path: Path, **limits: float) -> SafeZip:
    return SafeZip(path, ZipLimits(**limits), EpubError, kind="an EPUB")  # type: ignore[arg-type]


def patch_sizes(path: Path, member: str, *, declared: int | None = None, flags: int | None = None) -> None:
    """Rewrite a member's local and central headers: its uncompressed size and/or its flag bits."""
    raw = bytearray(path.read_bytes())
    encoded = member.encode()
    for signature, size_at, flag_at, name_at in ((b"PK\x03\x04", 22, 6, 30), (b"PK\x01\x02", 24, 8, 46)):
        at = raw.find(signature)
        while at >= 0:
            if raw[at + name_at : at + name_at + len(encoded)] == encoded:
                if declared is not None:
                    struct.pack_into("<I", raw, at + size_at, declared)
                if flags is not None:
                    struct.pack_into("<H", raw, at + flag_at, flags)
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "name, why",
    [
        ("../../evil", "a '..' component"),
        ("OEBPS/../../evil", "a '..' component"),
        ("a\\..\\..\\evil", "a '..' component"),
        ("/etc/passwd", "an absolute path"),
        ("\\\\server\\share\\x", "an absolute path"),
        ("C:/Windows/x", "a drive letter"),
        ("c:x", "a drive letter"),
        ("ok\x00.txt", "a NUL byte in its name"),
    ],
)
def test_escaping_member_names_are_recognised(name: str, why: str) -> None:
    assert member_escapes(name) == why


@pytest.mark.parametrize("name", ["mimetype", "OEBPS/a/../b.html", "./x/y.xhtml", "OPS/xhtml/表紙.xhtml", "a b/c%2"])
def test_ordinary_member_names_are_safe(name: str) -> None:
    assert member_escapes(name) is None


def test_reads_members_in_memory_and_finds_names_loosely(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "ok.zip",
        {
            "mimetype": b"application/epub+zip",
            "OPS/xhtml/Cafe\u0301.xhtml": b"<p>caf\xc3\xa9</p>",
            "Dir/Page.xhtml": b"P",
        },
    )
    with open_zip(path) as archive:
        assert archive.read("mimetype") == b"application/epub+zip"
        # NFC vs NFD, './' and case differences between an href and the stored name
        assert archive.find("OPS/xhtml/Caf\u00e9.xhtml") == "OPS/xhtml/Caf\u00e9.xhtml"
        assert archive.read("./OPS/xhtml/Caf\u00e9.xhtml") == b"<p>caf\xc3\xa9</p>"
        assert archive.read("dir/page.XHTML") == b"P"
        assert "missing.html" not in archive
        with pytest.raises(KeyError):
            archive.read("missing.html")
        assert archive.find("../mimetype") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.zip"]  # nothing extracted


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
def test_reads_every_common_compression(tmp_path: Path, compression: int) -> None:
    data = os.urandom(3000) + b"text " * 5000
    path = make_zip(tmp_path / "c.zip", {"a/b.bin": data}, compression)
    with open_zip(path) as archive:
        assert archive.read("a/b.bin") == data


@pytest.mark.parametrize(
    "bad_name", ["../../evil.xhtml", "/abs.xhtml", "C:/drive.xhtml", "x\\..\\..\\back.xhtml"]
)
def test_archive_with_an_escaping_member_is_refused_on_open(tmp_path: Path, bad_name: str) -> None:
    path = make_zip(tmp_path / "esc.zip", {"mimetype": b"application/epub+zip", bad_name: b"<html/>"})
    with pytest.raises(EpubError) as caught:
        open_zip(path)
    assert str(caught.value).startswith(f"{path}: zip member {bad_name!r} escapes the archive")
    assert not (tmp_path.parent / "evil.xhtml").exists()


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.html", b"one")
        with pytest.warns(UserWarning):
            archive.writestr("a.html", b"two")
    with pytest.raises(EpubError, match="appears more than once"):
        open_zip(path)


def test_a_member_with_an_empty_name_is_refused(tmp_path: Path) -> None:
    # Found by tests/test_properties_epub.py: zipfile's ZipInfo.is_dir() raised IndexError.
    path = tmp_path / "empty-name.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", b"application/epub+zip")
        archive.writestr(zipfile.ZipInfo(""), b"<html/>")
    with pytest.raises(EpubError, match=r": a zip member has an empty name$"):
        open_zip(path)


def test_damaged_lzma_member(tmp_path: Path) -> None:
    # Found by tests/test_properties_epub.py: lzma.LZMAError escaped read().
    path = make_zip(tmp_path / "lzma.zip", {"a.txt": b"hello world " * 100}, zipfile.ZIP_LZMA)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"a.txt") + len(b"a.txt")  # the local header's name; the member's data follows
    raw[at + 4 : at + 20] = b"\xff" * 16
    path.write_bytes(bytes(raw))
    with open_zip(path) as archive, pytest.raises(EpubError, match=r"zip member 'a.txt' is damaged"):
        archive.read("a.txt")


def test_too_many_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(10_001)}, zipfile.ZIP_STORED)
    with pytest.raises(EpubError, match=r"has 10001 zip members; the limit is 10000$"):
        open_zip(path)
    with open_zip(path, max_members=20_000) as archive:
        assert len(archive.names) == 10_001


def test_member_larger_than_the_limit_by_declared_size(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "big.zip", {"OEBPS/x.html": os.urandom(2 * MiB)})
    with open_zip(path, max_member_bytes=1 * MiB) as archive, pytest.raises(EpubError) as caught:
        archive.read("OEBPS/x.html")
    assert str(caught.value) == f"{path}: zip member 'OEBPS/x.html' expands beyond 1 MiB"


def test_default_limit_refuses_a_65_mib_member_without_inflating_it(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"OEBPS/x.html": b"<p>" + b" " * (65 * MiB) + b"</p>"})
    assert path.stat().st_size < 1 * MiB
    with open_zip(path) as archive, pytest.raises(EpubError, match="'OEBPS/x.html' expands beyond 64 MiB"):
        archive.read("OEBPS/x.html")


def test_lying_header_cannot_inflate_past_its_declared_size(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "liar.zip", {"OEBPS/x.html": b"\0" * (5 * MiB)})
    patch_sizes(path, "OEBPS/x.html", declared=1000)
    with open_zip(path) as archive:
        assert archive.declared_size("OEBPS/x.html") == 1000  # the header says 1000 bytes...
        with pytest.raises(EpubError) as caught:
            archive.read("OEBPS/x.html")  # ...and reading stops right after them
    assert str(caught.value) == f"{path}: zip member 'OEBPS/x.html' expands beyond its declared size of 1000 bytes"


def test_compression_ratio_limit(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "ratio.zip", {"zeros.bin": b"\0" * (4 * MiB), "small.bin": b"\0" * 100_000})
    with open_zip(path) as archive:
        assert archive.read("small.bin") == b"\0" * 100_000  # under 1 MiB: no ratio limit
        with pytest.raises(EpubError, match=r"'zeros.bin' has a compression ratio of \d+:1 \(the limit is 100:1\)"):
            archive.read("zeros.bin")


def test_total_limit_over_all_reads(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "total.zip", {f"m{i}.bin": os.urandom(400_000) for i in range(4)})
    with open_zip(path, max_total_bytes=1 * MiB) as archive:
        archive.read("m0.bin")
        archive.read("m1.bin")
        with pytest.raises(EpubError, match=r"archive expands beyond 1 MiB in total \(at zip member 'm2.bin'\)"):
            archive.read("m2.bin")


def test_damaged_member_data(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "crc.zip", {"a.txt": b"hello world " * 100}, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"hello world")
    raw[at] = ord("j")
    path.write_bytes(bytes(raw))
    with open_zip(path) as archive, pytest.raises(EpubError, match=r"zip member 'a.txt' is damaged: CRC-32 mismatch"):
        archive.read("a.txt")


def test_encrypted_member(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "enc.zip", {"a.txt": b"secret"})
    patch_sizes(path, "a.txt", flags=0x1)
    with open_zip(path) as archive, pytest.raises(EpubError, match="zip member 'a.txt' is encrypted"):
        archive.read("a.txt")


def test_not_a_zip_truncated_empty_and_missing(tmp_path: Path) -> None:
    random_bytes = tmp_path / "random.epub"
    random_bytes.write_bytes(os.urandom(5000))
    good = make_zip(tmp_path / "good.zip", {"a.txt": os.urandom(20_000)})
    truncated = tmp_path / "truncated.epub"
    truncated.write_bytes(good.read_bytes()[:10_000])
    empty = tmp_path / "empty.epub"
    empty.write_bytes(b"")
    cases = {
        random_bytes: "not an EPUB: not a ZIP archive",
        truncated: "not an EPUB: damaged or truncated ZIP archive",
        empty: "not an EPUB: the file is empty",
        tmp_path / "absent.epub": "no such file",
        tmp_path: "is a directory, not a file",
    }
    for path, message in cases.items():
        with pytest.raises(EpubError) as caught:
            open_zip(path)
        assert str(caught.value).startswith(f"{path}: {message}")
        assert "\n" not in str(caught.value)


def test_error_class_is_chosen_by_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError) as caught:
        SafeZip(path, ZipLimits(), InputError, kind="a ZIP")
    assert type(caught.value) is InputError and str(caught.value) == f"{path}: not a ZIP: not a ZIP archive"
