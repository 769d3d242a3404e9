"""Where chapters start: the book's blocks laid end to end, and marks placed on them.

The blocks of all spine documents form one stream in reading order. Each TOC entry becomes a
:class:`Mark` at the block its anchor points to; a chapter is the stretch of blocks from its
mark to the next one, across documents. Marks are also added for the text before the first
entry, for Project Gutenberg's header and licence, and (provisionally) for documents that no
entry points into but that declare themselves front or back matter.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from tasks.ingest.epub_matter import partition_of
from tasks.ingest.epub_nav import Landmark, NavEntry, read_nav_toc, read_ncx_toc
from tasks.ingest.epub_package import Package
from tasks.ingest.epub_text import PG_END_LINE_RE, PG_END_RE, PG_START_RE, Block, DocText, extract_text
from tasks.ingest.safexml import ParsedXml

__all__ = ["Stream", "Mark", "toc_marks", "fallback_marks", "add_synthetic_marks", "add_document_marks"]

PG_HEADER_TITLE = "Project Gutenberg header"
PG_LICENCE_TITLE = "Project Gutenberg License"


@dataclass
class Stream:
    """The blocks of every spine document in reading order, and where each document starts."""

    blocks: list[Block] = field(default_factory=list)
    block_docs: list[str] = field(default_factory=list)
    docs: dict[str, DocText] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, package: Package, parsed: dict[str, ParsedXml]) -> Stream:
        wanted = _toc_targets(package, parsed)
        stream = cls()
        for item, linear in package.spine:
            if item.path in stream.docs or (not linear and item.path not in wanted):
                continue
            doc = parsed.get(item.path)
            if item.path == package.nav_path or doc is None:
                text = DocText(item.path)  # the TOC itself is not read; a missing file was warned about
            else:
                text = extract_text(item.path, doc.root)
            stream.docs[item.path] = text
            stream.starts[item.path] = len(stream.blocks)
            stream.blocks.extend(text.blocks)
            stream.block_docs.extend([item.path] * len(text.blocks))
        return stream

    def position(self, path: str, fragment: str) -> tuple[int | None, bool]:
        """Block index a (path, fragment) target points to, and whether the fragment was found."""
        doc = self.docs.get(path)
        if doc is None:
            return None, False
        if not fragment:
            return self.starts[path], True
        local = doc.anchors.get(fragment)
        if local is None:
            return self.starts[path], False
        return self.starts[path] + local, True

    def types_at(self, path: str, fragment: str) -> tuple[frozenset[str], ...]:
        doc = self.docs.get(path)
        if doc is None:
            return ()
        return doc.anchor_types.get(fragment, ()) if fragment else doc.start_types

    def doc_at(self, pos: int) -> str:
        return self.block_docs[min(pos, len(self.block_docs) - 1)]


def _toc_targets(package: Package, parsed: dict[str, ParsedXml]) -> set[str]:
    ignored: list[str] = []
    entries = read_nav_toc(package, parsed, ignored) + read_ncx_toc(package, parsed, ignored)
    return {e.target[0] for e in entries if e.target}


@dataclass
class Mark:
    """Where a chapter starts in the stream."""

    pos: int
    """Index of its first block in :attr:`Stream.blocks`."""
    order: int
    """Tie-breaker between marks at the same position: TOC order."""
    title: str
    depth: int = 1
    path: str = ""
    """The document it points into (archive path)."""
    fragment: str = ""
    kind: str = "toc"
    """``toc``, ``lead``, ``pg-header``, ``pg-licence``, ``heading``, ``document`` or ``document-split``."""
    labelled_only: bool = False
    """A TOC label with no link of its own (placed where its first child starts)."""


def toc_marks(package: Package, parsed: dict[str, ParsedXml], stream: Stream, warnings: list[str]) -> list[Mark]:
    """Chapter starts from the nav TOC, else the NCX (whichever places at least one entry)."""
    for reader in (read_nav_toc, read_ncx_toc):
        local: list[str] = []
        marks = _place_entries(reader(package, parsed, local), stream, local)
        if marks:
            warnings.extend(local)
            return marks
    return []


def _place_entries(entries: list[NavEntry], stream: Stream, warnings: list[str]) -> list[Mark]:
    marks: list[Mark] = []
    pending: list[NavEntry] = []
    for entry in entries:
        if entry.target is None:
            pending.append(entry)  # a label over its children: starts where its first child starts
            continue
        path, fragment = entry.target
        pos, found = stream.position(path, fragment)
        if pos is None:
            warnings.append(
                f"TOC entry {entry.title!r} points to {entry.href!r}, which is not in the reading order; skipped"
            )
            continue
        if not found:
            warnings.append(
                f"TOC entry {entry.title!r}: no anchor #{fragment} in {path}; it starts at the top of the document"
            )
        for label in pending:
            marks.append(Mark(pos, len(marks), label.title, label.depth, path, fragment, labelled_only=True))
        pending = []
        marks.append(Mark(pos, len(marks), entry.title, entry.depth, path, fragment if found else ""))
    if marks and [m.order for m in sorted(marks, key=lambda m: m.pos)] != [m.order for m in marks]:
        warnings.append("the table of contents is not in reading order; chapters follow the reading order")
    return sorted(marks, key=lambda m: (m.pos, m.order))


def fallback_marks(stream: Stream, warnings: list[str]) -> list[Mark]:
    """Chapter starts from h1/h2... headings, else one chapter per spine document."""
    levels = sorted({b.heading for b in stream.blocks if b.heading and not b.note})[:2]
    marks = [
        Mark(i, i, " ".join(b.text.split()), levels.index(b.heading) + 1, stream.doc_at(i), kind="heading")
        for i, b in enumerate(stream.blocks)
        if b.heading in levels and not b.note
    ]
    if marks:
        warnings.append("no usable table of contents; chapters follow the headings")
        return marks
    warnings.append("no usable table of contents or headings; one chapter per document")
    out = []
    for n, (path, doc) in enumerate((p, d) for p, d in stream.docs.items() if d.blocks):
        out.append(Mark(stream.starts[path], n, doc.title or f"Section {n + 1}", 1, path, kind="document"))
    return out


def add_synthetic_marks(marks: list[Mark], stream: Stream) -> list[Mark]:
    """The text before the first entry, and Project Gutenberg's header and licence."""
    lines = [b.text for b in stream.blocks]
    start = next((i for i, t in enumerate(lines) if PG_START_RE.match(t)), None)
    end = next((i for i, t in enumerate(lines) if PG_END_RE.match(t)), None)
    if end is not None:
        floor = start if start is not None else -1
        while end - 1 > floor and PG_END_LINE_RE.match(lines[end - 1]):
            end -= 1
        if not any(m.pos == end for m in marks):
            marks.append(Mark(end, len(marks), PG_LICENCE_TITLE, 1, stream.doc_at(end), kind="pg-licence"))
    if start is not None and (end is None or start < end):
        for mark in marks:
            if mark.pos <= start:
                mark.pos = start + 1
        marks.append(Mark(0, -1, PG_HEADER_TITLE, 1, stream.doc_at(0), kind="pg-header"))
    elif not marks or min(m.pos for m in marks) > 0:
        marks.append(Mark(0, -1, "", 1, stream.doc_at(0), kind="lead"))
    return sorted(marks, key=lambda m: (m.pos, m.order))


def add_document_marks(marks: list[Mark], stream: Stream, landmarks: list[Landmark]) -> list[Mark]:
    """Provisional marks for documents no mark falls in that declare themselves front or back matter.

    Such a document would silently join the chapter before it; a provisional mark lets it be
    classified on its own (see :mod:`tasks.ingest.epub_chapters`, which folds it back when its
    matter is the same), so a licence or colophon the TOC leaves out is not read as body.
    """
    starts = sorted(m.pos for m in marks)
    added: list[Mark] = []
    for path, doc in stream.docs.items():
        first = stream.starts[path]
        last = first + len(doc.blocks)
        at = bisect.bisect_left(starts, first)
        if not doc.blocks or first == 0 or (at < len(starts) and starts[at] < last):
            continue  # empty, at the very start (the lead), or some mark falls inside it
        types = doc.start_types + tuple(m.types for m in landmarks if m.path == path and not m.fragment)
        if partition_of(types) is not None:
            added.append(Mark(first, len(marks) + len(added), "", 1, path, kind="document-split"))
    return sorted(marks + added, key=lambda m: (m.pos, m.order))
