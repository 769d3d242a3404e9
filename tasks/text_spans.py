"""Sentence spans in a book's own XHTML: stretches of a block's text wrapped in ``<span id>``,
the text left exactly as it was, so that a reading system can highlight them.

A stretch is given in characters of a block (:class:`~tasks.ingest.epub_text.DocText` read with
``track``, so each character knows its text slot: an element's ``.text`` or ``.tail``). Its two
ends are placed in the lowest element that holds both. Where an end lies deeper, inside an
inline child such as ``<em>`` or ``<a>``, the stretch widens to take that child whole: a span
cannot open in one element and close in another. Consecutive stretches that overlap once
widened become one span (the sentences share a highlight). A stretch that would take in a
block-level element (a ``<span>`` holds phrasing content only) is not wrapped: the element that
holds it is highlighted instead, given an id where it has none.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TypeVar

from lxml import etree

from tasks.ingest.epub_text import BLOCK_TAGS, CharOrigin, DocText
from tasks.ingest.safexml import local_name

__all__ = ["Ids", "wrap_stretches"]

K = TypeVar("K", bound=Hashable)

ID_PREFIX = "castline-s"


@dataclass
class Ids:
    """Fresh element ids for one document: ``castline-s1``, ``castline-s2``... skipping any the
    document has already."""

    taken: set[str] = field(default_factory=set)
    count: int = 0

    @classmethod
    def of(cls, root: etree._Element) -> Ids:
        return cls({str(v) for v in root.xpath("//@id")})

    def new(self) -> str:
        while True:
            self.count += 1
            value = f"{ID_PREFIX}{self.count}"
            if value not in self.taken:
                self.taken.add(value)
                return value


@dataclass(frozen=True)
class _Point:
    """A place between characters: slot ``slot`` of ``element`` (0 is its ``.text``, ``j`` the
    ``.tail`` of its child ``j - 1``), ``offset`` characters in."""

    element: etree._Element
    slot: int
    offset: int


def _slot_text(element: etree._Element, slot: int) -> str:
    return (element.text if slot == 0 else element[slot - 1].tail) or ""


def _point(origin: CharOrigin, end: bool) -> _Point:
    """The point before (or with ``end``, after) the character at ``origin``."""
    assert origin is not None
    (node, kind), k = origin
    if kind == "text":
        return _Point(node, 0, k + end)
    parent = node.getparent()
    index = parent.index(node)
    if kind == "tail":
        return _Point(parent, index + 1, k + end)
    # an entity or an illuminated initial's alt text: not a slot, so before or after the node
    return _Point(parent, index + 1, 0) if end else _Point(parent, index, len(_slot_text(parent, index)))


def _ancestry(element: etree._Element) -> Iterator[etree._Element]:
    return chain([element], element.iterancestors())


def _lift(point: _Point, to: etree._Element, end: bool) -> _Point:
    """``point`` moved up to a slot of ``to``: before (or after) the child of ``to`` it is in."""
    if point.element is to:
        return point
    child = next(a for a in _ancestry(point.element) if a.getparent() is to)
    index = to.index(child)
    return _Point(to, index + 1, 0) if end else _Point(to, index, len(_slot_text(to, index)))


def _inside(child: etree._Element, origin: CharOrigin) -> bool:
    """Whether the character at ``origin`` is part of ``child``'s content."""
    if origin is None:
        return True
    (node, kind), _ = origin
    if kind == "tail" and node is child:
        return False
    return any(a is child for a in _ancestry(node))


@dataclass
class _Stretch:
    block: int
    start: int
    end: int
    keys: list[Hashable]
    first: _Point | None = None
    last: _Point | None = None


def _widen(stretch: _Stretch, origins: list[CharOrigin]) -> None:
    """Place the stretch's ends in the lowest element that holds both, widening its characters
    to any inline child it now takes whole."""
    while True:
        first, last = _point(origins[stretch.start], False), _point(origins[stretch.end - 1], True)
        above = {id(a) for a in _ancestry(last.element)}
        common = next(a for a in _ancestry(first.element) if id(a) in above)
        stretch.first, stretch.last = _lift(first, common, False), _lift(last, common, True)
        start, end = stretch.start, stretch.end
        if first.element is not common:
            child = common[stretch.first.slot]
            while start > 0 and _inside(child, origins[start - 1]):
                start -= 1
        if last.element is not common:
            child = common[stretch.last.slot - 1]
            while end < len(origins) and _inside(child, origins[end]):
                end += 1
        while origins[start] is None:  # a line break (<br/>): not a character of its own
            start += 1
        while origins[end - 1] is None:
            end -= 1
        if (start, end) == (stretch.start, stretch.end):
            return
        stretch.start, stretch.end = start, end


def _wrappable(first: _Point, last: _Point) -> bool:
    moved = first.element[first.slot : last.slot]
    return isinstance(first.element.tag, str) and not any(
        isinstance(n.tag, str) and local_name(n) in BLOCK_TAGS for c in moved for n in c.iter()
    )


def _wrap(first: _Point, last: _Point, span_id: str) -> None:
    element = first.element
    namespace = etree.QName(element).namespace
    span = element.makeelement(f"{{{namespace}}}span" if namespace else "span", {"id": span_id})
    head, tail = _slot_text(element, first.slot), _slot_text(element, last.slot)
    if first.slot == last.slot:
        span.text, span.tail = head[first.offset : last.offset], tail[last.offset :] or None
    else:
        moved = list(element[first.slot : last.slot])
        span.text = head[first.offset :] or None
        span.extend(moved)  # each child takes its tail along
        moved[-1].tail, span.tail = tail[: last.offset] or None, tail[last.offset :] or None
    if first.slot == 0:
        element.text = head[: first.offset] or None
    else:
        element[first.slot - 1].tail = head[: first.offset] or None
    element.insert(first.slot, span)


def wrap_stretches(doc: DocText, stretches: Sequence[tuple[int, int, int, K]], ids: Ids) -> dict[K, str]:
    """Wrap each ``(block, start, end, key)`` stretch of ``doc``'s blocks (in document order, not
    overlapping) in a span, in the document's tree; returns the id of the element that
    highlights each key. ``doc`` must have been read with ``track`` from that tree; its origins
    are stale afterwards."""
    if doc.origins is None:
        raise ValueError(f"{doc.path} was read without tracking where its text comes from")
    planned: list[_Stretch] = []
    for block, start, end, key in stretches:
        origins = doc.origins[block]
        if not 0 <= start < end <= len(origins) or origins[start] is None or origins[end - 1] is None:
            continue
        stretch = _Stretch(block, start, end, [key])
        _widen(stretch, origins)
        while planned and planned[-1].block == block and planned[-1].end > stretch.start:
            before = planned.pop()
            stretch = _Stretch(block, before.start, max(before.end, stretch.end), before.keys + stretch.keys)
            _widen(stretch, origins)
        planned.append(stretch)
    spans = [ids.new() if _wrappable(s.first, s.last) else None for s in planned]  # type: ignore[arg-type]
    found: dict[Hashable, str] = {}
    for stretch, span_id in zip(reversed(planned), reversed(spans)):  # the last first: the slots before it stay as they are
        assert stretch.first is not None and stretch.last is not None
        if span_id is not None:
            _wrap(stretch.first, stretch.last, span_id)
            target = span_id
        else:
            holder = stretch.first.element
            target = holder.get("id") or ids.new()
            holder.set("id", target)
        found.update(dict.fromkeys(stretch.keys, target))
    return found  # type: ignore[return-value]
