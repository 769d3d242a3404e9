"""Sentences and utterance-sized pieces: :func:`split_sentences` and :func:`split_long`.

Both return stripped slices of their input, in order, so nothing is lost or moved: joining
the sentences (or pieces) with spaces gives back the input's words. A sentence ends at
``.``, ``!``, ``?`` or an ellipsis (with any closing quotes and brackets after it) when
whitespace and something that can start a sentence follow; abbreviations, initials and a
lower-case continuation (``"Stop!" she cried.``) keep it going. A line break is always a
boundary (verse). CJK text ends a sentence after 。！？ and the closing brackets after them.
"""

from __future__ import annotations

import re

from castline.text import english, french
from castline.text.numbers import base_language

__all__ = ["split_sentences", "split_long"]

_LINE_BREAK_RE = re.compile(r"\r\n|[\n\r\v\f\u2028\u2029\x85]")
_CLOSERS = "\"'\u201d\u2019\u00bb\u203a)]}"
_OPENERS = "\"'\u201c\u2018\u00ab\u2039([{\u2014\u2013\u2015-"
_TERMINATOR_RE = re.compile(
    r"(?:\.(?:[ \u00a0]?\.){2,}|\u2026+|[.!?\u203d\u2047-\u2049]+)[.!?\u2026\u203d]*"
    rf"(?:[{re.escape(_CLOSERS)}]|[ \u00a0\u202f]+[\u00bb\u203a](?=\s|$))*(?=\s|$)"
)
_CJK_CLASS = (
    r"\u2e80-\u2fff\u3001-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uf900-\ufaff\uff00-\uffef"
)
_CJK_CLOSERS = "\u300d\u300f\uff09\u3015\u3011\u300b\u3009\u3017\u3019\u201d\u2019\"')"
_CJK_TERMINATOR_RE = re.compile(
    rf"(?:[\u3002\uff01\uff1f\uff61]+|(?<=[{_CJK_CLASS}])[!?]+)[{_CJK_CLOSERS}]*+"
    r"(?![\u3002\uff01\uff1f\uff61!?\u3068\u3063\u3001\uff0c,])"
)
_WORD_BEFORE_RE = re.compile(r"([\w.'\u2019&-]*\w)[.]?$")
_NEXT_RE = re.compile(rf"[{re.escape(_OPENERS)}\s]*(.)(.?)", re.DOTALL)

_GENERIC_NEVER_FINAL = frozenset("sr sra srta dña hr fr frl nr z.b u.a bzw ca s d.h vgl".split())
_ORDINAL_DOT_LANGUAGES = frozenset(
    "de da no nb nn fi is cs sk sl hr sr bs pl hu et lv lt tr".split()
)
"""Languages that write ordinals as ``1.``: ``am 1. Mai`` does not end a sentence."""
_NEVER_FINAL = english.NEVER_FINAL_ABBREVIATIONS | french.NEVER_FINAL_ABBREVIATIONS
_BEFORE_NUMBER = english.NUMBER_ABBREVIATIONS | french.NUMBER_ABBREVIATIONS


def _never_final(language: str) -> frozenset[str]:
    if base_language(language) in ("en", "fr"):
        return _NEVER_FINAL
    return _NEVER_FINAL | _GENERIC_NEVER_FINAL


def _is_boundary(
    text: str, match: re.Match[str], never_final: frozenset[str], ordinal_dots: bool
) -> bool:
    """Whether the terminator ``match`` ends a sentence, from the words around it."""
    nxt = _NEXT_RE.match(text, match.end())
    if nxt is None or not nxt.group(1):
        return True
    first, second = nxt.group(1), nxt.group(2)
    core = match.group().rstrip(_CLOSERS + " \u00a0\u202f")
    if first.islower():
        return False
    if core == ".":
        word = _WORD_BEFORE_RE.search(text, max(0, match.start() - 40), match.start() + 1)
        token = word.group(1) if word is not None else ""
        lower = token.lower()
        if lower in never_final:
            # only "Baker St. The house..." ends; "St. Paul" and "Mr. Smith" go on
            if lower != "st":
                return False
            return _after_name(text, match, token) and _starter_follows(text, match)
        if len(token) == 1 and token.isupper() and token != "I":
            return False  # an initial: J. R. R. Tolkien
        if "." in token and token[:1].isupper():
            return _starter_follows(text, match)  # "the U.S. Army" goes on, "...U.S. Then" ends
        if first.isdigit():
            return lower not in _BEFORE_NUMBER
        return not (ordinal_dots and token.isdigit() and len(token) <= 2)
    if core[:1] in (".", "\u2026"):
        # "Well... I suppose": the pronoun I goes on; another capital may start a sentence.
        return not (first == "I" and not second.isalpha())
    return True


_NAME_BEFORE_RE = re.compile(r"[A-Z]\w*\s+$")
_NEXT_WORD_RE = re.compile(r"\s+[\"'\u201c\u2018]*([A-Za-z]+)")


def _after_name(text: str, match: re.Match[str], token: str) -> bool:
    """Whether a capitalized word comes just before ``token`` (``Baker St.``)."""
    start = match.start() - len(token)
    return _NAME_BEFORE_RE.search(text, max(0, start - 40), start) is not None


def _starter_follows(text: str, match: re.Match[str]) -> bool:
    """Whether the next word usually starts a sentence (``The``, ``He``, ``Then``...)."""
    after = _NEXT_WORD_RE.match(text, match.end())
    return bool(after and after.group(1).lower() in english.SENTENCE_STARTERS)


def _line_boundaries(line: str, never_final: frozenset[str], ordinal_dots: bool) -> list[int]:
    ends = [
        m.end()
        for m in _TERMINATOR_RE.finditer(line)
        if _is_boundary(line, m, never_final, ordinal_dots)
    ]
    ends.extend(m.end() for m in _CJK_TERMINATOR_RE.finditer(line))
    return sorted(set(ends))


def split_sentences(paragraph: str, language: str = "en") -> list[str]:
    """The sentences of ``paragraph``, each a stripped slice of it, in order.

    Line breaks inside the paragraph (verse) always separate sentences; blank pieces are
    dropped. See the module docstring for what ends a sentence.
    """
    if not paragraph:
        return []
    never_final = _never_final(language)
    ordinal_dots = base_language(language) in _ORDINAL_DOT_LANGUAGES
    sentences: list[str] = []
    for line in _LINE_BREAK_RE.split(paragraph):
        start = 0
        for end in _line_boundaries(line, never_final, ordinal_dots) + [len(line)]:
            piece = line[start:end].strip()
            if piece:
                sentences.append(piece)
            start = end
    return sentences


# --- long sentences ---------------------------------------------------------------------------
_PIECE_COST = 4.0
"""Cost of one more piece, against the penalties below: one extra piece is worth it to cut
at commas rather than in the middle of a clause."""
_STRONG, _COMMA, _CONJUNCTION, _SPACE, _CHARACTER = 0.0, 2.0, 6.0, 14.0, 16.0
_UNEVENNESS = 6.0
"""Weight of ((length - even length) / even length) squared, per piece."""

_SPACE_RUN_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"[^\W\d_]+")
_ATTACHED_DASH_RE = re.compile(r"[\u2014\u2013\u2015](?=\w)")
_STRONG_MARKS = ";:\u2014\u2013\u2015.!?\u2026\u3002\uff01\uff1f\uff1b\uff1a"
_COMMA_MARKS = ",\u3001\uff0c\u060c"
_CJK_CHAR_RE = re.compile(f"[{_CJK_CLASS}]")
_CJK_NO_BREAK_BEFORE = set(
    _CJK_CLOSERS + "\u3001\u3002\uff0c\uff01\uff1f\uff1a\uff1b\u30fc\u2026\u30fb"
)
_CJK_NO_BREAK_AFTER = set("\u300c\u300e\uff08\u3014\u3010\u300a\u3008\u3016\u3018\u201c\u2018(")
_CONJUNCTIONS = {"en": english.CONJUNCTIONS, "fr": french.CONJUNCTIONS}


def _mark_before(text: str, index: int) -> str:
    """The character before ``index``, looking past closing quotes and brackets."""
    while index > 0 and text[index - 1] in _CLOSERS:
        index -= 1
    return text[index - 1] if index > 0 else ""


def _space_penalty(text: str, start: int, end: int, conjunctions: frozenset[str]) -> float:
    mark = _mark_before(text, start)
    if mark in _STRONG_MARKS or text[end : end + 1] in "\u2014\u2013\u2015":
        return _STRONG
    if mark in _COMMA_MARKS:
        return _COMMA
    word = _WORD_RE.match(text, end)
    if word is not None and word.group().lower() in conjunctions:
        return _CONJUNCTION
    return _SPACE


def _breaks(text: str, language: str) -> list[tuple[int, int, float]]:
    """Where ``text`` may be cut: (end of the left piece, start of the right, penalty)."""
    conjunctions = _CONJUNCTIONS.get(base_language(language), frozenset())
    breaks: dict[int, tuple[int, int, float]] = {}
    for m in _SPACE_RUN_RE.finditer(text):
        penalty = _space_penalty(text, m.start(), m.end(), conjunctions)
        breaks[m.start()] = (m.start(), m.end(), penalty)
    for m in _ATTACHED_DASH_RE.finditer(text):
        breaks.setdefault(m.end(), (m.end(), m.end(), _STRONG))
    if _CJK_CHAR_RE.search(text):
        for i in range(1, len(text)):
            before, after = text[i - 1], text[i]
            if i in breaks or after.isspace() or before.isspace():
                continue
            if after in _CJK_NO_BREAK_BEFORE or before in _CJK_NO_BREAK_AFTER:
                continue
            mark = _mark_before(text, i)
            if mark in _STRONG_MARKS:
                breaks[i] = (i, i, _STRONG)
            elif mark in _COMMA_MARKS:
                breaks[i] = (i, i, _COMMA)
            elif _CJK_CHAR_RE.match(before) or _CJK_CHAR_RE.match(after):
                breaks[i] = (i, i, _CHARACTER)
    return [breaks[k] for k in sorted(breaks)]


def split_long(sentence: str, max_chars: int, language: str = "en") -> list[str]:
    """``sentence`` cut into pieces of at most ``max_chars`` characters, never inside a word.

    Cuts go after ``;`` ``:`` and dashes first, then after commas, then before conjunctions
    (*and*, *but*, *which*...), then at any space; CJK text may also be cut after 、，and,
    as a last resort, between two characters. Among the ways with the fewest awkward cuts
    the most even one wins. A single word longer than ``max_chars`` is a piece of its own.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    text = sentence.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    points = _breaks(text, language) + [(len(text), len(text), 0.0)]
    even = len(text) / -(-len(text) // max_chars)
    weight = _UNEVENNESS / (even * even)
    starts = [0] + [start for _, start, _ in points]  # starts[j]: piece start after point j-1
    best = [0.0] + [0.0] * len(points)  # best[j]: cost of the text up to point j-1
    previous = [0] * (len(points) + 1)
    for k, (cut, _, penalty) in enumerate(points):
        cost_here = _PIECE_COST + penalty
        best_cost, best_j = float("inf"), k
        for j in range(k, -1, -1):
            length = cut - starts[j]
            if length > max_chars and j < k:
                break  # longer still for smaller j; only a single unbreakable word may exceed
            excess = length - even
            cost = best[j] + cost_here + weight * excess * excess
            if cost < best_cost:
                best_cost, best_j = cost, j
        best[k + 1], previous[k + 1] = best_cost, best_j
    spans: list[tuple[int, int]] = []
    k = len(points)
    while k > 0:
        j = previous[k]
        spans.append((starts[j], points[k - 1][0]))
        k = j
    return [text[a:b] for a, b in reversed(spans) if text[a:b].strip()]
