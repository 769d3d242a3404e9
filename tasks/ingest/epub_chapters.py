"""From marks on the block stream to :class:`~castline.model.Chapter` objects.

Each mark owns the blocks up to the next mark. Note bodies are dropped unless the chapter is a
notes section; the heading(s) at the start that repeat the chapter title are dropped (the title
is spoken from :attr:`Chapter.title`); then every chapter is classified as front, body or back
matter (:mod:`tasks.ingest.epub_matter`). A document that the TOC leaves out but that declares
itself front or back matter stays a chapter of its own only where that changes its matter;
otherwise it is folded back into the chapter before it, as the TOC says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from castline.model import Chapter, Matter
from tasks.ingest.epub_layout import Mark, Stream
from tasks.ingest.epub_matter import ChapterFacts, LandmarkAt, classify, is_notes, norm_title
from tasks.ingest.epub_nav import Landmark
from tasks.ingest.epub_text import Block, DocText

__all__ = ["build_chapters"]

FRONT_MATTER_TITLE = "Front matter"


_TOKEN_RE = re.compile(r"\w+")
_NUMBERING_RE = re.compile(r"^(\d+|[ivxlcdm]+|[一二三四五六七八九十百千]+)$")


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(norm_title(text))


def _contains(outer: list[str], inner: list[str]) -> bool:
    if not inner or len(inner) > len(outer):
        return False
    return any(outer[i : i + len(inner)] == inner for i in range(len(outer) - len(inner) + 1))


def _heading_matches(heading: str, title: str, *, either_way: bool) -> bool:
    """Loose comparison: the heading's words are a run of the title's (or, with ``either_way``,
    the other way round), with or without a leading number (``1.`` against ``I.``)."""
    h, t = _tokens(heading), _tokens(title)

    def runs(a: list[str], b: list[str]) -> bool:
        return _contains(b, a) or (either_way and _contains(a, b))

    if runs(h, t):
        return True
    h = h[1:] if h and _NUMBERING_RE.match(h[0]) else h
    t = t[1:] if t and _NUMBERING_RE.match(t[0]) else t
    return bool(h and t) and runs(h, t)


def _drop_title_headings(blocks: list[Block], title: str) -> list[Block]:
    """Leave out the heading(s) at the start that repeat the chapter title."""
    i = 0
    while i < len(blocks) and blocks[i].heading and _heading_matches(blocks[i].text, title, either_way=i == 0):
        i += 1
    return blocks[i:]


_CJK_CHAR_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _size_in_words(paragraphs: list[str]) -> int:
    """Words for classification: whitespace-separated words, plus one per two CJK characters."""
    return sum(len(p.split()) + len(_CJK_CHAR_RE.findall(p)) // 2 for p in paragraphs)


def _lead_title(blocks: list[Block], doc: DocText | None, default: str = FRONT_MATTER_TITLE) -> str:
    """A title for a stretch of text no TOC entry names: its first heading, else its document's title."""
    for block in blocks:
        if block.heading:
            return " ".join(block.text.split())
    return (doc.title if doc else "") or default


def _same_target(first: Mark, second: Mark) -> bool:
    """Two TOC entries that link to the very same place (not a label over its first child)."""
    if first.kind != "toc" or second.kind != "toc" or first.labelled_only:
        return False
    return (first.path, first.fragment) == (second.path, second.fragment)


@dataclass
class _Piece:
    """A mark and the blocks it owns, with what was worked out from them."""

    mark: Mark
    blocks: list[Block]
    facts: ChapterFacts | None = None
    paragraphs: list[str] | None = None


def _pieces(marks: list[Mark], stream: Stream, warnings: list[str]) -> list[_Piece]:
    out: list[_Piece] = []
    for i, mark in enumerate(marks):
        following = marks[i + 1] if i + 1 < len(marks) else None
        stop = following.pos if following is not None else len(stream.blocks)
        span = stream.blocks[mark.pos : stop]
        if mark.kind in ("lead", "document-split"):
            if not any(not b.note for b in span):
                continue
            default = FRONT_MATTER_TITLE if mark.kind == "lead" else f"Section {len(out) + 1}"
            mark.title = _lead_title(span, stream.docs.get(mark.path), default)
        if not mark.title:
            mark.title = _lead_title(span, None) if span and span[0].heading else f"Section {len(out) + 1}"
        if following is not None and stop == mark.pos and _same_target(mark, following):
            warnings.append(
                f"TOC entries {mark.title!r} and {following.title!r} point to the same place; "
                f"{mark.title!r} has no text of its own"
            )
        out.append(_Piece(mark, span))
    return out


def _work_out(piece: _Piece, stream: Stream, end_marker: int | None) -> ChapterFacts:
    """Fill in a piece's paragraphs and classification facts (and return the facts)."""
    mark = piece.mark
    facts = ChapterFacts(
        mark.title, mark.pos, 0, stream.types_at(mark.path, mark.fragment), mark.path, mark.fragment, mark.kind,
        end_marker is not None and mark.pos > end_marker,
    )
    keep = [b for b in piece.blocks if not b.note or is_notes(facts)]
    paragraphs = [b.text for b in _drop_title_headings(keep, mark.title)]
    if mark.kind in ("pg-header", "pg-licence"):
        paragraphs = [p.replace("\n", " ") for p in paragraphs]  # hard-wrapped prose, not verse
    piece.paragraphs = paragraphs
    piece.facts = replace(facts, words=_size_in_words(paragraphs))
    return piece.facts


def _fold_document_splits(
    pieces: list[_Piece], matters: list[Matter], stream: Stream, end_marker: int | None
) -> tuple[list[_Piece], list[Matter]]:
    """Give a provisional document chapter back to the chapter before it when their matter agrees."""
    kept: list[_Piece] = []
    kept_matters: list[Matter] = []
    for piece, matter in zip(pieces, matters):
        if piece.mark.kind == "document-split" and kept and kept_matters[-1] == matter:
            kept[-1].blocks = kept[-1].blocks + piece.blocks
            _work_out(kept[-1], stream, end_marker)
            continue
        kept.append(piece)
        kept_matters.append(matter)
    return kept, kept_matters


def build_chapters(
    marks: list[Mark], stream: Stream, landmarks: list[Landmark], book_title: str, warnings: list[str]
) -> list[Chapter]:
    """The chapters of the book, in reading order, ids ``c001``... (warnings are appended to)."""
    end_marker = next((m.pos for m in marks if m.kind == "pg-licence"), None)
    pieces = _pieces(marks, stream, warnings)
    facts = [_work_out(piece, stream, end_marker) for piece in pieces]
    placed = [
        LandmarkAt(m.types, m.path, m.fragment, stream.position(m.path, m.fragment)[0], m.from_guide)
        for m in landmarks
    ]
    matters, notes = classify(facts, placed, book_title)
    warnings.extend(notes)
    pieces, matters = _fold_document_splits(pieces, matters, stream, end_marker)
    return [
        Chapter(
            id=f"c{n:03d}",
            title=piece.mark.title,
            paragraphs=tuple(piece.paragraphs or ()),
            matter=matter,
            href=f"{piece.mark.path}#{piece.mark.fragment}" if piece.mark.fragment else piece.mark.path,
            depth=piece.mark.depth,
        )
        for n, (piece, matter) in enumerate(zip(pieces, matters), 1)
    ]
