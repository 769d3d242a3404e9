"""Property tests: whatever a source file holds, tasks.ingest.read_source ends in a Book or a
CastlineError, within a deadline: random bytes, and a small valid EPUB (tests/epub_fixtures.py)
with its members' XML, names, compression and sizes mutated, and its archive bytes patched.

Runs derandomized (the same examples every time, no example database written into the checkout).
``CASTLINE_HYPOTHESIS_EXAMPLES=4000 CASTLINE_HYPOTHESIS_RANDOM=1`` explores further.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from epub_fixtures import write_epub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from castline.errors import CastlineError
from castline.model import Book
from tasks.ingest import read_source

EXAMPLES = int(os.environ.get("CASTLINE_HYPOTHESIS_EXAMPLES", "500"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # a hang or a blow-up fails here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # write nothing into the checkout
    derandomize=not os.environ.get("CASTLINE_HYPOTHESIS_RANDOM"),
)


def _base_members() -> list[tuple[str, bytes, int]]:
    with tempfile.TemporaryDirectory(prefix="castline-prop-") as tmp:
        path = write_epub(
            Path(tmp) / "base.epub",
            [("Chapter 1", ["It was a dark night.", "Rain fell."]), ("Chapter 2", ["Fish & chips.", "The end."])],
            cover=b"\xff\xd8\xff\xe0" + b"\0" * 64,
        )
        with zipfile.ZipFile(path) as archive:
            return [(info.filename, archive.read(info), info.compress_type) for info in archive.infolist()]


BASE = _base_members()
NAMES = [name for name, _, _ in BASE]
XML_NAMES = [name for name in NAMES if name.endswith((".xml", ".opf", ".xhtml"))]


@contextlib.contextmanager
def source_file(data: bytes, name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="castline-prop-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path


def read_cleanly(data: bytes, name: str = "book.epub") -> Book | CastlineError:
    """The Book, or the CastlineError; any other exception fails the test."""
    with source_file(data, name) as path:
        try:
            book = read_source(path)
        except CastlineError as exc:
            assert str(exc).startswith(f"{path}: "), str(exc)
            return exc
    assert isinstance(book, Book)
    for chapter in book.chapters:
        assert isinstance(chapter.title, str) and all(isinstance(p, str) for p in chapter.paragraphs)
        "".join((chapter.title, *chapter.paragraphs)).encode("utf-8")  # no lone surrogates
    return book


def zipped(members: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": a duplicate member is one of the mutations
        for name, data, method in members:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def test_the_unmutated_base_reads() -> None:
    book = read_cleanly(zipped(BASE))
    assert isinstance(book, Book) and [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]


# -- any bytes --------------------------------------------------------------------------------------


@SETTINGS
@given(
    prefix=st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", zipped(BASE)[:200]]),
    data=st.binary(max_size=3000),
    name=st.sampled_from(["book.epub", "book.EPUB", "book.bin", "book"]),
)
def test_any_bytes(prefix: bytes, data: bytes, name: str) -> None:
    read_cleanly(prefix + data, name)


# -- mutated members --------------------------------------------------------------------------------

XML_TOKENS = [
    b"<", b">", b"/>", b"</p>", b"<p>", b"<br/>", b"<h1>", b"</h1>", b"<section>", b"</section>", b"<pre>", b"<sup>",
    b"&nbsp;", b"&amp;", b"&lt;", b"&unknown;", b"&#0;", b"&#xD800;", b"&#x110000;", b"&#99999999999999999999999;",
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"<!DOCTYPE html>", b"<![CDATA[", b"]]>", b"<?xml version='1.0'?>",
    b'<?xml version="1.0" encoding="utf-16"?>', b'encoding="latin-1"', b"\x00", b"\xff\xfe", b"\xef\xbb\xbf",
    b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x80\xa8", b"\n", b" ", b'xmlns="x"', b'xmlns:epub="y"',
    b'href="../../x"', b'href="#"', b'href=""', b'href="ch01.xhtml#nowhere"', b'href="http://x/y"', b'id=""',
    b'epub:type="cover"', b'epub:type="bodymatter"', b'epub:type="backmatter"', b'epub:type="footnote"',
    b'properties="nav"', b'properties="cover-image"', b'linear="no"', b'media-type="image/png"',
    b"<nav epub:type='toc'><ol><li>", b"</li></ol></nav>", b"<ol>", b"<li>", b"<a href='ch01.xhtml'>", b"</a>",
    b"<itemref idref='nav'/>", b"<itemref idref='nope'/>", b"<item id='x' href='%2e%2e/a' media-type='application/xhtml+xml'/>",
    b"<item id='y' href='cover.jpg' media-type='application/xhtml+xml'/>", b"<meta name='cover' content='ch1'/>",
    b"<guide><reference type='cover' href='ch01.xhtml'/></guide>", b"<img src='cover.jpg'/>", b"<svg><image href='x.jpg'/></svg>",
    b"*** START OF THE PROJECT GUTENBERG EBOOK X ***", b"*** END OF THE PROJECT GUTENBERG EBOOK X ***",
    b"<dc:title>", b"</dc:title>", b"<dc:language>", b"<aside epub:type='footnote' id='n1'>", b"<rt>", b"<ruby>",
]
ATTRIBUTE_RE = re.compile(rb'="([^"]*)"')
TAG_RE = re.compile(rb"<[^<>]*>")

edits = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "repeat", "truncate", "attribute", "drop-tag", "copy-tag"]),
    st.floats(0, 1),
    st.integers(0, 60),
    st.sampled_from(XML_TOKENS) | st.binary(max_size=12),
)


def edit_bytes(data: bytes, edit: tuple[str, float, int, bytes]) -> bytes:
    op, where, size, token = edit
    out = bytearray(data)
    at = int(where * len(out))
    end = min(len(out), at + size)
    if op == "delete":
        out[at:end] = b""
    elif op == "insert":
        out[at:at] = token
    elif op == "replace":
        out[at:end] = token
    elif op == "repeat":
        out[at:at] = bytes(out[at:end]) * 3
    elif op == "truncate":
        del out[at:]
    elif op == "attribute":
        values = list(ATTRIBUTE_RE.finditer(out))
        if values:
            match = values[int(where * len(values)) % len(values)]
            out[match.start(1) : match.end(1)] = token.replace(b'"', b"")
    else:
        tags = list(TAG_RE.finditer(out))
        if tags:
            match = tags[int(where * len(tags)) % len(tags)]
            if op == "drop-tag":
                out[match.start() : match.end()] = b""
            else:
                out[at:at] = bytes(out[match.start() : match.end()]) * (1 + size % 3)
    return bytes(out)


@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(XML_NAMES), st.lists(edits, min_size=1, max_size=6)), min_size=1, max_size=3))
def test_mutated_xml_and_xhtml(changes: list[tuple[str, list[tuple[str, float, int, bytes]]]]) -> None:
    members = {name: (name, data, method) for name, data, method in BASE}
    for name, member_edits in changes:
        _, data, method = members[name]
        for edit in member_edits:
            data = edit_bytes(data, edit)
        members[name] = (name, data, method)
    read_cleanly(zipped(list(members.values())))


ODD_NAMES = [
    "../escape.xhtml", "/abs.xhtml", "C:/drive.xhtml", "OEBPS\\ch01.xhtml", "OEBPS/./ch01.xhtml", "OEBPS/CH01.XHTML",
    "OEBPS/ch01.xhtml#x", "dir/", "OEBPS/e\u0301.xhtml", "OEBPS/\u00e9.xhtml", "x" * 300, "mimetype", "", " ",
    "META-INF/container.xml", "OEBPS/content.opf", "OEBPS/nav.xhtml", "OEBPS/cover.jpg",
]
METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]

member_ops = st.one_of(
    st.tuples(st.just("rename"), st.integers(0, 100), st.sampled_from(ODD_NAMES + NAMES)),
    st.tuples(st.just("delete"), st.integers(0, 100), st.none()),
    st.tuples(st.just("duplicate"), st.integers(0, 100), st.none()),
    st.tuples(st.just("method"), st.integers(0, 100), st.sampled_from(METHODS)),
    st.tuples(st.just("add"), st.integers(0, 100), st.sampled_from(ODD_NAMES)),
    st.tuples(st.just("content"), st.integers(0, 100), st.binary(max_size=64)),
)


@SETTINGS
@given(ops=st.lists(member_ops, min_size=1, max_size=5))
def test_mutated_member_names_methods_and_sets(ops: list[tuple[str, int, object]]) -> None:
    members = list(BASE)
    for op, index, arg in ops:
        if not members:
            break
        k = index % len(members)
        name, data, method = members[k]
        if op == "rename":
            members[k] = (str(arg), data, method)
        elif op == "delete":
            del members[k]
        elif op == "duplicate":
            members.append(members[k])
        elif op == "method" and isinstance(arg, int):
            members[k] = (name, data, arg)
        elif op == "add":
            members.append((str(arg), data, zipfile.ZIP_DEFLATED))
        elif op == "content" and isinstance(arg, bytes):
            members[k] = (name, arg, method)
    try:
        archive = zipped(members)
    except (ValueError, OSError):
        return  # zipfile itself refuses to write this
    read_cleanly(archive)


# -- patched archive bytes: sizes, flags, methods, offsets, counts, truncation ------------------------

CENTRAL_FIELDS = {
    "flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "compressed": (20, "<I"), "size": (24, "<I"),
    "name-length": (28, "<H"), "extra-length": (30, "<H"), "offset": (42, "<I"),
}
LOCAL_FIELDS = {"flags": (6, "<H"), "method": (8, "<H"), "compressed": (18, "<I"), "size": (22, "<I"), "name-length": (26, "<H")}
END_FIELDS = {"entries": (10, "<H"), "directory-size": (12, "<I"), "directory-offset": (16, "<I")}
NUMBERS = st.sampled_from([0, 1, 2, 8, 12, 14, 99, 0xFFFF, 0xFFFFFFFF, 1 << 20, 1 << 30]) | st.integers(0, 0xFFFFFFFF)

patches = st.one_of(
    st.tuples(st.just(b"PK\x01\x02"), st.sampled_from(sorted(CENTRAL_FIELDS)), st.integers(0, 20), NUMBERS),
    st.tuples(st.just(b"PK\x03\x04"), st.sampled_from(sorted(LOCAL_FIELDS)), st.integers(0, 20), NUMBERS),
    st.tuples(st.just(b"PK\x05\x06"), st.sampled_from(sorted(END_FIELDS)), st.just(0), NUMBERS),
    st.tuples(st.just(b"flip"), st.just(""), st.integers(0, 1 << 20), st.integers(0, 255)),
    st.tuples(st.just(b"cut"), st.just(""), st.integers(0, 1 << 20), st.just(0)),
)


def apply_patch(raw: bytearray, patch: tuple[bytes, str, int, int]) -> bytearray:
    signature, field, nth, value = patch
    if signature == b"flip":
        if raw:
            raw[nth % len(raw)] = value
        return raw
    if signature == b"cut":
        return raw[: nth % (len(raw) + 1)]
    starts = [m.start() for m in re.finditer(re.escape(signature), raw)]
    if not starts:
        return raw
    at = starts[nth % len(starts)]
    fields = {b"PK\x01\x02": CENTRAL_FIELDS, b"PK\x03\x04": LOCAL_FIELDS, b"PK\x05\x06": END_FIELDS}[signature]
    offset, fmt = fields[field]
    if at + offset + struct.calcsize(fmt) <= len(raw):
        struct.pack_into(fmt, raw, at + offset, value & (0xFFFF if fmt == "<H" else 0xFFFFFFFF))
    return raw


@SETTINGS
@given(patch_list=st.lists(patches, min_size=1, max_size=4), stored=st.booleans())
def test_patched_archive_headers(patch_list: list[tuple[bytes, str, int, int]], stored: bool) -> None:
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    raw = bytearray(zipped([(name, data, method if name != "mimetype" else zipfile.ZIP_STORED) for name, data, _ in BASE]))
    for patch in patch_list:
        raw = apply_patch(raw, patch)
    read_cleanly(bytes(raw), "book.epub" if stored else "book.bin")
