"""Sentences and utterance-sized pieces: :func:`split_sentences` and :func:`split_long`.

Both return stripped slices of their input, in order, so nothing is lost or moved: joining
the sentences (or pieces) with spaces gives back the input's words (a word longer than the
limit of :func:`split_long` is cut, between grapheme clusters). A sentence ends at
``.``, ``!``, ``?`` or an ellipsis (with any closing quotes and brackets after it) when
whitespace and something that can start a sentence follow; abbreviations, initials and a
lower-case continuation (``"Stop!" she cried.``) keep it going. A line break is always a
boundary (verse). CJK text ends a sentence after 。！？ and the closing brackets after them.
"""

from __future__ import annotations

import re
import unicodedata

from castline.text import english, french
from castline.text.numbers import base_language

__all__ = ["split_sentences", "split_long", "grapheme_boundary", "grapheme_boundaries"]

_LINE_BREAK_RE = re.compile(r"\r\n|[\n\r\v\f\u2028\u2029\x85]")
_CLOSERS = "\"'\u201d\u2019\u00bb\u203a)]}"
_OPENERS = "\"'\u201c\u2018\u00ab\u2039([{\u2014\u2013\u2015-"
_TERMINATOR_RE = re.compile(
    # Atomic, and never starting inside a run of marks: a run of 1,000 "!" or "." not followed
    # by a space is tried once, in linear time, not in every shorter way (cubic time).
    r"(?<![.!?\u2026\u203d\u2047-\u2049])(?<!\.[ \u00a0])"
    r"(?>(?:\.(?:[ \u00a0]?\.){2,}|\u2026+|[.!?\u203d\u2047-\u2049]+)[.!?\u2026\u203d]*)"
    rf"(?:[{re.escape(_CLOSERS)}]|[ \u00a0\u202f]+[\u00bb\u203a](?=\s|$))*(?=\s|$)"
)
_CJK_CLASS = (
    r"\u2e80-\u2fff\u3001-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uf900-\ufaff\uff00-\uffef"
)
_CJK_CLOSERS = "\u300d\u300f\uff09\u3015\u3011\u300b\u3009\u3017\u3019\u201d\u2019\"')"
_CJK_TERMINATOR_RE = re.compile(
    rf"(?:(?<![\u3002\uff01\uff1f\uff61])[\u3002\uff01\uff1f\uff61]++|(?<=[{_CJK_CLASS}])[!?]++)[{_CJK_CLOSERS}]*+"
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
_IN_WORD = 24.0
"""Added to a cut after punctuation that no space follows (``one,two``); offered only inside
a run without spaces that is longer than the limit."""
_HARD = 60.0
"""A cut between two characters of a run without spaces that is longer than the limit."""
_HARD_STEP = 8
"""Hard cuts are offered about every ``max_chars / 8`` characters (and CJK cuts between
characters every ``max_chars / 32``): even enough, and few enough that a 60,000-character run
costs no more to split than a page of words."""
_CJK_STEP = 32
_UNEVENNESS = 6.0
"""Weight of ((length - even length) / even length) squared, per piece."""

_SPACE_RUN_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"[^\W\d_]+")
_ATTACHED_DASH_RE = re.compile(r"[\u2014\u2013\u2015](?=\w)")
_STRONG_MARKS = ";:\u2014\u2013\u2015.!?\u2026\u3002\uff01\uff1f\uff1b\uff1a\u061b\u06d4"
_COMMA_MARKS = ",\u3001\uff0c\u060c"
_IN_WORD_MARKS = frozenset(_STRONG_MARKS + _COMMA_MARKS + "-/\\|\u2010\u2011\u2012\u00b7")
_CJK_CHAR_RE = re.compile(f"[{_CJK_CLASS}]")
_CJK_NO_BREAK_BEFORE = set(
    _CJK_CLOSERS + "\u3001\u3002\uff0c\uff01\uff1f\uff1a\uff1b\u30fc\u2026\u30fb"
)
_CJK_NO_BREAK_AFTER = set("\u300c\u300e\uff08\u3014\u3010\u300a\u3008\u3016\u3018\u201c\u2018(")
_CONJUNCTIONS = {"en": english.CONJUNCTIONS, "fr": french.CONJUNCTIONS}

Break = tuple[int, int, float]
"""A place to cut: (end of the left piece, start of the right piece, penalty)."""


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


def _breaks(text: str, language: str, max_chars: int) -> list[Break]:
    """Where ``text`` may be cut: spaces, attached dashes and, in CJK text, between characters."""
    conjunctions = _CONJUNCTIONS.get(base_language(language), frozenset())
    breaks: dict[int, Break] = {}
    for m in _SPACE_RUN_RE.finditer(text):
        penalty = _space_penalty(text, m.start(), m.end(), conjunctions)
        breaks[m.start()] = (m.start(), m.end(), penalty)
    for m in _ATTACHED_DASH_RE.finditer(text):
        breaks.setdefault(m.end(), (m.end(), m.end(), _STRONG))
    if _CJK_CHAR_RE.search(text):
        step, last, mark = max(1, max_chars // _CJK_STEP), 0, ""
        for i in range(1, len(text)):
            before, after = text[i - 1], text[i]
            if before not in _CLOSERS:
                mark = before  # the last character before i that is not a closer
            if i in breaks:
                last = breaks[i][1]
                continue
            if after.isspace() or before.isspace() or not grapheme_boundary(before, after):
                continue
            if after in _CJK_NO_BREAK_BEFORE or before in _CJK_NO_BREAK_AFTER:
                continue
            if mark in _STRONG_MARKS:
                breaks[i], last = (i, i, _STRONG), i
            elif mark in _COMMA_MARKS:
                breaks[i], last = (i, i, _COMMA), i
            elif (_CJK_CHAR_RE.match(before) or _CJK_CHAR_RE.match(after)) and i - last >= step:
                breaks[i], last = (i, i, _CHARACTER), i
    return [breaks[k] for k in sorted(breaks)]


# Grapheme clusters (UAX #29, without the rules that need Unicode property data that
# unicodedata lacks): a cut never separates a letter from its combining marks, the halves of a
# surrogate pair, an emoji from its modifiers, variation selectors or ZWJ sequence, a pair of
# regional indicators (a flag) or the jamo of a Hangul syllable.
_ZWJ = "\u200d"
_EXTEND_RANGES = ((0x200C, 0x200D), (0xFE00, 0xFE0F), (0x1F3FB, 0x1F3FF), (0xE0020, 0xE007F), (0xE0100, 0xE01EF))
_SPACING_MARKS = frozenset("\u0e33\u0eb3")
_PREPEND = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u08e2\U000110bd\U000110cd")
_REGIONAL_INDICATOR = (0x1F1E6, 0x1F1FF)
_HANGUL_L = ((0x1100, 0x115F), (0xA960, 0xA97C))
_HANGUL_V = ((0x1160, 0x11A7), (0xD7B0, 0xD7C6))
_HANGUL_T = ((0x11A8, 0x11FF), (0xD7CB, 0xD7FB))


def _within(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


def _hangul(ch: str) -> str:
    """The Hangul syllable type of ``ch``: ``L``, ``V``, ``T``, ``LV``, ``LVT`` or ``""``."""
    code = ord(ch)
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    if _within(code, _HANGUL_L):
        return "L"
    if _within(code, _HANGUL_V):
        return "V"
    if _within(code, _HANGUL_T):
        return "T"
    return ""


def _extends(ch: str) -> bool:
    """Whether ``ch`` belongs to the cluster before it (a mark, ZWJ, selector, modifier, tag)."""
    return (
        unicodedata.category(ch)[0] == "M" or ch in _SPACING_MARKS or _within(ord(ch), _EXTEND_RANGES)
    )


def grapheme_boundary(before: str, after: str) -> bool:
    """Whether a grapheme cluster boundary lies between the characters ``before`` and ``after``
    (regional indicators, which pair up, are left to :func:`grapheme_boundaries`)."""
    if _extends(after) or before == _ZWJ or before in _PREPEND:
        return False
    if "\ud800" <= before <= "\udbff" and "\udc00" <= after <= "\udfff":
        return False  # a surrogate pair (text decoded with surrogatepass)
    if before == "\r" and after == "\n":
        return False
    if before > "\u10ff" and after > "\u10ff":
        kind, next_kind = _hangul(before), _hangul(after)
        if kind and next_kind:
            return not (
                (kind == "L" and next_kind in ("L", "V", "LV", "LVT"))
                or (kind in ("LV", "V") and next_kind in ("V", "T"))
                or (kind in ("LVT", "T") and next_kind == "T")
            )
    return True


def grapheme_boundaries(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """The grapheme cluster boundaries strictly inside ``text[start:end]`` (``start`` is taken
    to be a boundary), in order."""
    end = len(text) if end is None else end
    found: list[int] = []
    regional = 0  # regional indicators just before i, since start
    for i in range(start + 1, end):
        before, after = text[i - 1], text[i]
        regional = regional + 1 if _within(ord(before), (_REGIONAL_INDICATOR,)) else 0
        if regional % 2 == 1 and _within(ord(after), (_REGIONAL_INDICATOR,)):
            continue  # the second half of a flag
        if grapheme_boundary(before, after):
            found.append(i)
    return found


def _in_word_breaks(text: str, start: int, end: int) -> list[Break]:
    """Cuts after punctuation inside ``text[start:end]``, a run without spaces (``one,two``)."""
    found: list[Break] = []
    mark = ""  # the last character before i that is not a closing quote or bracket
    for i in range(start + 1, end):
        if text[i - 1] not in _CLOSERS:
            mark = text[i - 1]
        if mark not in _IN_WORD_MARKS or text[i] in _IN_WORD_MARKS or text[i] in _CLOSERS:
            continue
        if grapheme_boundary(text[i - 1], text[i]):
            penalty = _STRONG if mark in _STRONG_MARKS else _COMMA if mark in _COMMA_MARKS else _SPACE
            found.append((i, i, _IN_WORD + penalty))
    return found


def _surrogate_pair_at(text: str, i: int) -> bool:
    return "\ud800" <= text[i - 1] <= "\udbff" and "\udc00" <= text[i] <= "\udfff"


def _hard_breaks(text: str, start: int, end: int, max_chars: int) -> list[Break]:
    """Cuts inside ``text[start:end]`` between grapheme clusters, about every ``max_chars / 8``
    characters and never more than ``max_chars`` apart.

    A cluster longer than ``max_chars`` (a letter under hundreds of combining marks) is cut
    between code points, though never inside a surrogate pair unless ``max_chars`` is 1.
    """
    candidates: list[int] = []
    previous = start
    for i in [*grapheme_boundaries(text, start, end), end]:
        if i - previous > max_chars:  # a cluster longer than a piece
            candidates.extend(
                j for j in range(previous + 1, i) if max_chars == 1 or not _surrogate_pair_at(text, j)
            )
        candidates.append(i)
        previous = i
    step = max(1, max_chars // _HARD_STEP)
    cuts: list[Break] = []
    last = start
    for index, i in enumerate(candidates[:-1]):
        if i - last >= step or candidates[index + 1] - last > max_chars:
            cuts.append((i, i, _HARD))
            last = i
    return cuts


def _fit(text: str, points: list[Break], max_chars: int) -> tuple[list[Break], list[bool]]:
    """``points`` plus cuts inside every stretch between two of them that is longer than
    ``max_chars``: after punctuation first, then between characters. No longer stretch is left.

    Also says which points must be cut at: those around such a stretch, so that a run too long
    for one piece is cut into pieces of its own and no ordinary word shares a piece with a part
    of it.
    """
    fitted: list[Break] = []
    must: list[bool] = []
    start = 0
    for point in [*points, (len(text), len(text), 0.0)]:
        end = point[0]
        if end - start > max_chars:
            if must:
                must[-1] = True
            inner = _in_word_breaks(text, start, end)
            previous = start
            for cut in [*inner, (end, end, 0.0)]:
                if cut[0] - previous > max_chars:
                    hard = _hard_breaks(text, previous, cut[0], max_chars)
                    fitted.extend(hard)
                    must.extend(False for _ in hard)
                if cut[0] < end:
                    fitted.append(cut)
                    must.append(False)
                previous = cut[1]
            fitted.append(point)
            must.append(True)
        else:
            fitted.append(point)
            must.append(False)
        start = point[1]
    return fitted[:-1], must[:-1]


def split_long(sentence: str, max_chars: int, language: str = "en") -> list[str]:
    """``sentence`` cut into pieces of at most ``max_chars`` characters, for any text.

    Cuts go after ``;`` ``:`` and dashes first, then after commas, then before conjunctions
    (*and*, *but*, *which*...), then at any space; CJK text may also be cut after 、，and
    between two characters. Among the ways with the fewest awkward cuts the most even one
    wins. A run without spaces longer than ``max_chars`` (a URL, a 60,000-letter "word") is
    cut after its punctuation if it can be, else between grapheme clusters: never between a
    letter and its combining marks, nor inside a surrogate pair or an emoji sequence (only a
    single cluster longer than ``max_chars`` is cut between its code points).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    text = sentence.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    points, must = _fit(text, _breaks(text, language, max_chars), max_chars)
    points.append((len(text), len(text), 0.0))
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
            if length > max_chars:
                break  # longer still for smaller j; _fit leaves no stretch longer than max_chars
            excess = length - even
            cost = best[j] + cost_here + weight * excess * excess
            if cost < best_cost:
                best_cost, best_j = cost, j
            if j > 0 and must[j - 1]:
                break  # a piece from further back would skip a cut that must be made
        best[k + 1], previous[k + 1] = best_cost, best_j
    spans: list[tuple[int, int]] = []
    k = len(points)
    while k > 0:
        j = previous[k]
        spans.append((starts[j], points[k - 1][0]))
        k = j
    pieces = (text[a:b].strip() for a, b in reversed(spans))
    return [p for p in pieces if p]
