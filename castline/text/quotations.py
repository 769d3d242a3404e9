"""Quotations: which stretches of a paragraph are spoken by a character, which by the narrator.

:func:`split_quotations` cuts a paragraph into :class:`Span` s, narration and quotation, in
reading order. The marks:

- double quotes, straight ``"`` or curly ``“ ”``, and single quotes, straight ``'`` or curly
  ``‘ ’``. A quotation opens with either kind; inside it, the other kind nests (a quote within
  the quotation stays part of it) and the same kind closes it;
- a single mark between letters (``don’t``), or one that could close but no single quotation is
  open (``the Rabbits’ house``), is an apostrophe. One that opens but is never closed in the
  paragraph, where the next paragraph does not open with a quotation mark either (``‘tis``,
  ``’round``), is an apostrophe too;
- a quotation interrupted by a speech tag (``"Come," said the Hatter, "sit down."``) gives two
  quotation spans with the tag between them, in the narrator's voice;
- a quotation left open at the end of a paragraph, the next paragraph opening with a
  quotation mark, runs over both (English convention: each paragraph of a long speech opens
  with a mark and only the last one closes it). :attr:`Span.continued` marks the span that
  carries it on.

The marks themselves are not part of a span's text (they are not spoken).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Span", "split_quotations", "split_paragraphs"]

_DOUBLE_OPEN, _DOUBLE_CLOSE = "\u201c", "\u201d"
_SINGLE_OPEN, _SINGLE_CLOSE = "\u2018", "\u2019"
_OPENERS_BEFORE = set(" \t\n([{\u2014\u2013-/") | {_DOUBLE_OPEN, _SINGLE_OPEN, '"', "'"}
"""Characters after which a mark opens a quotation (and the start of the paragraph)."""


@dataclass(frozen=True)
class Span:
    """A stretch of a paragraph: narration, or (part of) a quotation."""

    text: str
    quoted: bool
    continued: bool = False
    """A quotation span that carries on a quotation left open at the end of the paragraph before."""
    open_at_end: bool = False
    """A quotation span still open when its paragraph ends."""


def _kind(ch: str) -> str | None:
    if ch in ('"', _DOUBLE_OPEN, _DOUBLE_CLOSE):
        return '"'
    if ch in ("'", _SINGLE_OPEN, _SINGLE_CLOSE):
        return "'"
    return None


def _role(text: str, i: int, stack: list[str]) -> str:
    """What the mark at ``text[i]`` does: ``open``, ``close`` or ``none`` (an apostrophe)."""
    ch = text[i]
    kind = _kind(ch)
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    can_open = (before in _OPENERS_BEFORE or i == 0) and not after.isspace()
    can_close = not before.isspace() and not after.isalnum()
    if kind == '"':
        if ch == _DOUBLE_OPEN:
            return "open"
        if ch == _DOUBLE_CLOSE:
            return "close" if '"' in stack else "none"
        if '"' in stack and (can_close or not can_open):
            return "close"
        return "open" if can_open else "none"
    if before.isalnum() and after.isalnum():
        return "none"  # don't, o'clock
    if "'" in stack and can_close and ch != _SINGLE_OPEN:
        return "close"
    if can_open and ch != _SINGLE_CLOSE:
        return "open"
    return "none"


def _scan(text: str, skip: set[int]) -> tuple[list[tuple[int, int]], int | None]:
    """Outer quotations of ``text`` as (start, end) of their content, and where an outer
    quotation left open at the end began (its mark), if one is. Marks at ``skip`` are apostrophes."""
    stack: list[str] = []
    spans: list[tuple[int, int]] = []
    opened_at: int | None = None
    for i, ch in enumerate(text):
        kind = _kind(ch)
        if kind is None or i in skip:
            continue
        role = _role(text, i, stack)
        if role == "open":
            if not stack:
                opened_at = i
            if not stack or stack[-1] != kind:  # the same kind cannot open inside itself: an apostrophe
                stack.append(kind)
            continue
        if role == "close" and kind in stack:
            while stack and stack.pop() != kind:
                pass
            if not stack and opened_at is not None:
                spans.append((opened_at + 1, i))
                opened_at = None
    return spans, (opened_at if stack else None)


def split_quotations(paragraph: str, *, continues: bool = False, next_opens: bool = False) -> list[Span]:
    """``paragraph`` as narration and quotation spans, in order (spans with no text but
    spaces and punctuation between quotations are dropped).

    ``continues``: the paragraph before left a quotation open (its first quotation, if it
    opens the paragraph, carries that one on). ``next_opens``: the next paragraph starts with a
    quotation mark, so a quotation left open here may run on into it; otherwise an unclosed
    single mark is an apostrophe.
    """
    skip: set[int] = set()
    while True:
        quotes, left_open = _scan(paragraph, skip)
        if left_open is None or next_opens or _kind(paragraph[left_open]) == '"':
            break
        skip.add(left_open)  # 'tis, 'round: an apostrophe after all
    if left_open is not None:
        quotes.append((left_open + 1, len(paragraph)))
    spans: list[Span] = []
    at = 0
    for n, (start, end) in enumerate(quotes):
        narration = paragraph[at : start - 1]
        if narration.strip():
            spans.append(Span(narration.strip(), False))
        if paragraph[start:end].strip():
            first = n == 0 and not paragraph[: start - 1].strip()
            spans.append(
                Span(paragraph[start:end].strip(), True, continued=continues and first,
                     open_at_end=left_open is not None and n == len(quotes) - 1)
            )
        at = end + 1
    if paragraph[at:].strip():
        spans.append(Span(paragraph[at:].strip(), False))
    return [s for s in spans if s.quoted or any(ch.isalnum() for ch in s.text)]


def split_paragraphs(paragraphs: list[str] | tuple[str, ...]) -> list[list[Span]]:
    """:func:`split_quotations` of each paragraph, a quotation left open at the end of one
    carried on by the next when it opens with a quotation mark."""
    result: list[list[Span]] = []
    continues = False
    for n, paragraph in enumerate(paragraphs):
        following = paragraphs[n + 1].lstrip() if n + 1 < len(paragraphs) else ""
        next_opens = bool(following) and _kind(following[0]) is not None and _role(following, 0, []) == "open"
        spans = split_quotations(paragraph, continues=continues, next_opens=next_opens)
        result.append(spans)
        continues = bool(spans) and spans[-1].open_at_end and next_opens
    return result
