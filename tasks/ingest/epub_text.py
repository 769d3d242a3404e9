"""Readable text of one XHTML content document, as a list of blocks in reading order.

A block is one paragraph as a listener hears it: the text of a ``p``, ``li``, ``blockquote``,
heading, table cell, or the direct text of a ``div``. Whitespace is collapsed; a ``<br/>``
becomes a line break inside the paragraph (verse), and an empty line (two breaks) starts a new
paragraph. What a listener must not hear is left out: images, SVG, MathML, scripts, the nav,
page-number markers, footnote markers, running headers, line numbers and ruby readings. Note
bodies (``aside``, ``epub:type`` footnote/endnote/rearnote...) are kept but flagged, so the
caller can drop them from body chapters and keep them in a notes chapter.

Every ``id`` seen, even on skipped elements, is recorded as an anchor: the index of the first
block at or after it, which is where a TOC entry pointing there starts.

Asked to (``track=True``), it also records where in the document each character of each block
comes from (:data:`CharOrigin`): the read-along (:mod:`tasks.readalong`) wraps sentences of the
book's own XHTML in spans by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from tasks.ingest.epub_nav import epub_types
from tasks.ingest.safexml import entity_text, local_name, text_content

__all__ = [
    "Block", "DocText", "CharOrigin", "extract_text", "collapse_text", "collapse_mapped", "PG_START_RE", "PG_END_RE",
    "PG_END_LINE_RE",
]

_BR = "\u2028"
"""Stands for ``<br/>`` while text is gathered (real newlines in the source are only whitespace)."""

BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption center dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main ol p pre "
    "section summary table tbody td tfoot th thead tr ul".split()
)
SKIP_TAGS = frozenset(
    "head title script style svg math img image video audio object embed iframe canvas map rt rp "
    "template noscript button input select textarea nav picture source track link meta".split()
)
VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
SKIP_TYPES = frozenset({"pagebreak", "noteref", "toc", "landmarks", "page-list", "loi", "lot"})
SKIP_CLASSES = frozenset(
    "pagenum pageno page-number pagenumber page-num pagebreak page-break lnum linenum line-number "
    "linenumber lineno line-num oeb-header oeb-footer noteref footnote-ref fnref footnoteref "
    "running-header running-footer".split()
)
NOTE_TYPES = frozenset(
    {"footnote", "endnote", "rearnote", "footnotes", "endnotes", "rearnotes", "note", "notes", "annotation"}
)
NOTE_CLASSES = frozenset({"footnote", "footnotes", "endnote", "endnotes", "fnote"})
VERSE_CLASSES = frozenset({"linegroup", "line-group", "stanza", "verse", "poem", "poetry", "lg"})
VERSE_TYPES = frozenset({"verse", "poem", "lyrics", "song"})
SECTIONING_TAGS = frozenset({"body", "section", "article", "main", "div", "header", "figure", "aside"})

_MARKER_RE = re.compile(r"^\s*[\[(]?\s*(\d{1,4}[a-z]?|[*†‡§¶#]{1,3}|[a-z]|[ivxlc]{1,6})\s*[\])]?\s*$", re.I)
_BRACKETED_RE = re.compile(r"^\s*[\[(].*[\])]\s*$")
_PAGE_LABEL_RE = re.compile(r"^\s*[\[{(]?\s*(pg\.?|page|p\.)\s*[0-9ivxlc]+\s*[\]})]?\s*$", re.I)
_DROP_CAP_RE = re.compile(r"^[^\W\d_]$")
_DISPLAY_NONE_RE = re.compile(r"display\s*:\s*none", re.I)
_INVISIBLE_RE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_BREAK_RE = re.compile(f"(?<=[{_CJK}])[ \\t\\r\\f\\v]*\\n\\s*(?=[{_CJK}])")
PG_START_RE = re.compile(r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG E-?(BOOK|TEXT)", re.I)
PG_END_RE = re.compile(r"^\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG E-?(BOOK|TEXT)", re.I)
PG_END_LINE_RE = re.compile(r"^End of (the |this )?Project Gutenberg", re.I)


@dataclass(frozen=True)
class Block:
    """One paragraph of readable text and where it came from."""

    text: str
    heading: int = 0
    """1-6 for the text of an ``h1``-``h6``, 0 otherwise."""
    note: bool = False
    """Inside a footnote/endnote body."""


Slot = tuple[etree._Element, str]
"""Where a piece of text sits: ``(element, "text")`` is the element's ``.text``, ``(element,
"tail")`` its ``.tail``; ``(entity, "entity")`` an entity reference and ``(img, "alt")`` the
alternative text of an illuminated initial, which are not text slots of their own."""
CharOrigin = tuple[Slot, int] | None
"""A character of a block: its slot and its index there; None for a line break (``<br/>``)."""


@dataclass
class DocText:
    """The blocks of one content document and the anchors into them."""

    path: str
    blocks: list[Block] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)
    """Element id -> index of the first block at or after that element."""
    anchor_types: dict[str, tuple[frozenset[str], ...]] = field(default_factory=dict)
    """Element id -> semantics of the element and its ancestors, outermost first."""
    start_types: tuple[frozenset[str], ...] = ()
    """Semantics of ``body`` and the sectioning elements that open it, outermost first."""
    title: str = ""
    """The document's ``<title>``."""
    origins: list[list[CharOrigin]] | None = None
    """With ``track``: for each block, where each character of its text comes from."""


def collapse_text(text: str) -> str:
    """Collapse runs of whitespace to one space; drop invisible characters (soft hyphens, ZWSP, BOM)."""
    text = _INVISIBLE_RE.sub("", text)
    if "\n" in text:
        text = _CJK_BREAK_RE.sub("", text)
    return " ".join(text.split())


def collapse_mapped(text: str) -> tuple[str, list[int]]:
    """:func:`collapse_text` of ``text``, and for each of its characters the index in ``text``
    it comes from (a collapsed run of whitespace: its first character)."""
    kept = [i for i, ch in enumerate(text) if not _INVISIBLE_RE.match(ch)]
    visible = "".join(text[i] for i in kept)
    if "\n" in visible:
        joined = {j for m in _CJK_BREAK_RE.finditer(visible) for j in range(m.start(), m.end())}
        kept = [i for j, i in enumerate(kept) if j not in joined]
    out: list[str] = []
    where: list[int] = []
    space: int | None = None
    for i in kept:
        ch = text[i]
        if ch.isspace():
            space = i if space is None else space
            continue
        if space is not None and out:
            out.append(" ")
            where.append(space)
        space = None
        out.append(ch)
        where.append(i)
    return "".join(out), where


def _classes(node: etree._Element) -> frozenset[str]:
    return frozenset((node.get("class") or "").lower().split())


def _short_text(node: etree._Element) -> str | None:
    """The text of a small element (at most a few descendants), else None."""
    for count, _ in enumerate(node.iter(), 1):
        if count > 4:
            return None
    return text_content(node)


def _is_marker_link(node: etree._Element, name: str, in_sup: bool) -> bool:
    """A footnote marker such as <sup><a href="#fn1">1</a></sup> or <a href="#n3">[3]</a>."""
    if name != "a" or "#" not in (node.get("href") or ""):
        return False
    text = _short_text(node)
    if text is None or not _MARKER_RE.match(text):
        return False
    hints = " ".join([node.get("class") or "", node.get("id") or "", node.get("href") or ""]).lower()
    return in_sup or _BRACKETED_RE.match(text) is not None or any(h in hints for h in ("note", "fn", "foot"))


def _skipped(node: etree._Element, name: str, types: frozenset[str], in_sup: bool) -> bool:
    if name in SKIP_TAGS or types & SKIP_TYPES or _classes(node) & SKIP_CLASSES:
        return True
    if node.get("hidden") is not None or node.get("aria-hidden") == "true":
        return True
    if _DISPLAY_NONE_RE.search(node.get("style") or ""):
        return True
    if _is_marker_link(node, name, in_sup):
        return True
    if name in ("span", "a", "sup", "small"):
        text = _short_text(node)
        if text is not None and _PAGE_LABEL_RE.match(text):
            return True
        if name == "sup" and text is not None and _MARKER_RE.match(text) and node.find(".//{*}a") is not None:
            return True
    return False


def _is_note(name: str, types: frozenset[str], classes: frozenset[str]) -> bool:
    return name == "aside" or bool(types & NOTE_TYPES) or bool(classes & NOTE_CLASSES)


def _has_direct_text(node: etree._Element) -> bool:
    if (node.text or "").strip():
        return True
    return any((child.tail or "").strip() for child in node)


def _is_verse(node: etree._Element, types: frozenset[str]) -> bool:
    return bool(_classes(node) & VERSE_CLASSES or types & VERSE_TYPES)


class _Walker:
    """Walks one document body, gathering inline text into runs and flushing runs into blocks."""

    def __init__(self, doc: DocText) -> None:
        self.doc = doc
        self.run: list[str] = []
        self.slots: list[Slot | None] = []
        """Where each piece of :attr:`run` comes from (kept when tracking)."""
        self.heading = 0
        self.note_depth = 0
        self.verse_depth = 0
        self.pre_depth = 0
        self.sup_depth = 0
        self.types_stack: list[frozenset[str]] = []

    # -- runs -----------------------------------------------------------------------------

    def text(self, value: str | None, slot: Slot | None = None) -> None:
        if value:
            self.run.append(value.replace("\n", _BR) if self.pre_depth else value)
            self.slots.append(slot)

    def hard_break(self) -> None:
        """A ``<br/>``: a line break, always."""
        self.run.append(_BR)
        self.slots.append(None)

    def line_break(self) -> None:
        """A line break, unless the run is empty or already ends with one."""
        for piece in reversed(self.run):
            tail = piece.rstrip(" \t\r\n")
            if tail:
                if not tail.endswith(_BR):
                    self.hard_break()
                return

    def flush(self) -> None:
        pieces, slots = self.run, self.slots
        self.run, self.slots = [], []
        raw = "".join(pieces)
        if not raw.strip():
            return
        origins: list[CharOrigin] | None = None
        if self.doc.origins is not None:
            origins = [(slot, k) if slot else None for piece, slot in zip(pieces, slots) for k in range(len(piece))]
        lines: list[tuple[str, list[CharOrigin] | None]] = []
        at = 0
        for piece in raw.split(_BR):
            if origins is None:
                line, where = collapse_text(piece), None
            else:
                line, positions = collapse_mapped(piece)
                where = [origins[at + i] for i in positions]
            at += len(piece) + 1
            if not line or PG_START_RE.match(line) or PG_END_RE.match(line) or PG_END_LINE_RE.match(line):
                self.emit(lines)
                lines = []
                if line:
                    self.emit([(line, where)])
            else:
                lines.append((line, where))
        self.emit(lines)

    def emit(self, lines: list[tuple[str, list[CharOrigin] | None]]) -> None:
        if lines:
            block = Block("\n".join(line for line, _ in lines), heading=self.heading, note=self.note_depth > 0)
            self.doc.blocks.append(block)
            if self.doc.origins is not None:
                self.doc.origins.append([o for n, (_, where) in enumerate(lines) for o in ([None] if n else []) + (where or [])])

    # -- elements -------------------------------------------------------------------------

    def anchor(self, node: etree._Element, types: frozenset[str]) -> None:
        keys = ("id", "{http://www.w3.org/XML/1998/namespace}id", "name")
        for key in keys if local_name(node) == "a" else keys[:2]:
            value = node.get(key)
            if value and value not in self.doc.anchors:
                self.doc.anchors[value] = len(self.doc.blocks)
                self.doc.anchor_types[value] = tuple(self.types_stack) + (types,)

    def anchors_inside(self, node: etree._Element) -> None:
        """Record ids inside a skipped element: a page marker can still be a link target."""
        for child in node.iter():
            if isinstance(child.tag, str):
                self.anchor(child, epub_types(child))

    def visit_children(self, node: etree._Element, lines: bool = False) -> None:
        """Visit the content of ``node``; with ``lines``, each child element starts a new line."""
        self.text(node.text, (node, "text"))
        for child in node:
            if isinstance(child, etree._Entity):
                self.text(entity_text(child), (child, "entity"))
            elif isinstance(child.tag, str):
                if lines:
                    self.line_break()
                self.visit(child)
            self.text(child.tail, (child, "tail"))

    def visit(self, node: etree._Element) -> None:
        name = local_name(node)
        types = epub_types(node)
        if name in VOID_TAGS and name != "br":
            self.anchor(node, types)
            if name == "hr":
                self.flush()  # a scene break ends the paragraph
            elif name == "img" and _DROP_CAP_RE.match(node.get("alt") or ""):
                self.text(node.get("alt"), (node, "alt"))  # an illuminated initial: "T" + "he house"
            self.visit_children(node)  # void elements have no content: any is a recovery artefact
            return
        if _skipped(node, name, types, self.sup_depth > 0):
            self.anchors_inside(node)
            return
        self.anchor(node, types)
        if name == "br":
            self.hard_break()
            self.visit_children(node)  # a recovered <br> may wrap the text after it
            return
        if name not in BLOCK_TAGS:
            self.sup_depth += name == "sup"
            self.visit_children(node)
            self.sup_depth -= name == "sup"
            return
        self.visit_block(node, name, types)

    def visit_block(self, node: etree._Element, name: str, types: frozenset[str]) -> None:
        note = _is_note(name, types, _classes(node))
        verse = _is_verse(node, types)
        if self.verse_depth and not verse:
            self.line_break()  # a line of a poem
        else:
            self.flush()
        level = int(name[1]) if len(name) == 2 and name[0] == "h" and name[1].isdigit() else 0
        saved_heading = self.heading
        self.heading = level or self.heading
        self.note_depth += note
        self.verse_depth += verse
        self.pre_depth += name == "pre"
        self.types_stack.append(types)
        self.visit_children(node, lines=verse and not _has_direct_text(node))
        self.types_stack.pop()
        self.pre_depth -= name == "pre"
        self.verse_depth -= verse
        if self.verse_depth and not verse:
            self.line_break()
        else:
            self.flush()
        self.note_depth -= note
        self.heading = saved_heading


def _start_types(body: etree._Element) -> tuple[frozenset[str], ...]:
    """Semantics of body and of the first-child containers that open it, outermost first."""
    chain = [epub_types(body)]
    node = body
    while True:
        child = next((c for c in node if isinstance(c.tag, str)), None)
        if child is None or local_name(child) not in SECTIONING_TAGS:
            break
        chain.append(epub_types(child))
        node = child
    return tuple(chain)


def extract_text(path: str, root: etree._Element, *, track: bool = False) -> DocText:
    """The blocks and anchors of one parsed content document (and with ``track``, where each
    character of each block comes from)."""
    doc = DocText(path, origins=[] if track else None)
    head_title = next((n for n in root.iter() if local_name(n) == "title"), None)
    if head_title is not None:
        doc.title = collapse_text(text_content(head_title))
    body = next((n for n in root.iter() if local_name(n) == "body"), None)
    if body is None:
        if local_name(root) != "html":
            return doc  # an SVG or other non-HTML document: no text to read
        body = root
    walker = _Walker(doc)
    walker.anchor(root, epub_types(root))
    walker.visit(body)
    walker.flush()
    doc.start_types = _start_types(body)
    return doc

