"""Typographic cleanup shared by every language: what a phonemizer should not see.

Two passes frame the language rules. :func:`clean` runs first: it removes what is never
spoken (control and zero-width characters, footnote marks, ``[Illustration]`` notes,
``_emphasis_`` underscores), unifies spaces, ellipses and dashes, and keeps the characters
the language rules need (en dashes in ranges, curly quotes). :func:`finish` runs last: dashes
and brackets become comma pauses (espeak-ng makes no pause for an em dash or an ellipsis),
quotes become ASCII, and the punctuation left over is tidied.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean", "finish", "collapse_spaces", "is_speakable", "final_period", "CLOSERS"]

_SURROGATES = re.compile(r"[\ud800-\udfff]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Zero width space, word joiner, BOM, soft hyphen, Mongolian vowel separator, bidi marks.
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LIGATURES = re.compile(r"[\ufb00-\ufb06]")
_SPACED_ELLIPSIS = re.compile(r"\.(?:[ \u00a0]?\.){2,}|\u2026+")
_LONG_DASHES = re.compile(r"[\u2015\u2e3a\u2e3b]|(?<!-)--+(?!-)|\u2014{2,}")
_EMPHASIS = re.compile(r"(?<![\w_])_(?=[^\s_])([^_]+?)(?<=[^\s_])_(?![\w_])")  # [^_]: linear time
_UNDERSCORES = re.compile(r"_+")
_NOTES = re.compile(r"\[(?:Illustration|Picture|Sidenote|Transcriber)[^\]]*\]", re.IGNORECASE)
_FOOTNOTE_REFS = re.compile(
    r"(?<=\S)(?:\[\d{1,3}\]|\{\d{1,3}\}|[\u00b9\u00b2\u00b3\u2070-\u2079]+)"
)
_MARKS = re.compile(r"[*\u2020\u2021\u00b6\u2042\u2051]+")

_EM_DASH = re.compile(r"\s*\u2014\s*")
_COMMA_THEN_CLOSER = re.compile(r",\s+([\"\u201d\u2019\u00bb])(?=\s|$|[,.;:!?])")
_NESTED_QUOTES = re.compile(
    r"(?<=[\u201c\u2018])\s+(?=[\u2018\u2019\u201c])|(?<=[\u2019\u201d])\s+(?=[\u2019\u201d])"
)
_SPACED_DASH = re.compile(r"(?<=\S)\s+[-\u2013\u2012]\s+(?=\S)|^\s*[-\u2013]\s+")
_BRACKETS = re.compile(r"\s*[()\[\]{}]\s*")
_ANY_BRACKET = re.compile(r"[()\[\]{}]")
_INNER_ELLIPSIS = re.compile(r"\s*\u2026(?=\s*[\w\"'\u201c\u2018(])")
_DOUBLE_QUOTES = re.compile(r"[\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u301d\u301e]")
_SINGLE_QUOTES = re.compile(r"[\u2018\u2019\u201a\u201b\u2039\u203a\u2032`\u00b4]")
_GUILLEMET_INNER = re.compile(r"(\u00ab)\s+|\s+(\u00bb)")

_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,.;:!?])")
_COMMA_RUNS = re.compile(r",(?:\s*,)+")
_COMMA_BEFORE_STOP = re.compile(r",\s*(?=[.;:!?])")
_COMMA_AFTER_STOP = re.compile(r"(?<=[.;:!?]),+")
_COMMA_AFTER_OPENER = re.compile(
    r"((?:^|(?<=\s))[\"'\u201c\u2018\u00ab]|[\u201c\u2018\u00ab])\s*,\s*"
)
_LEADING_JUNK = re.compile(r"^[\s,;:\u3001]+")
_IDEOGRAPHIC_COMMA_RUNS = re.compile(
    r"^\u3001+|(?<!\u3001)\u3001++$|\u3001(?=[\u3001\u3002\uff01\uff1f,.!?])"
    r"|(?<=[\u3001\u3002\uff01\uff1f])\u3001"
)
_TRAILING_COMMA = re.compile(r"[\s,]+(?=[\"'\u201d\u2019\u00bb]*\s*$)")
_EMPTY_QUOTES = re.compile(r"(?:^|(?<=\s))(?:\"\s*\"|'\s*')(?=\s|$)")


CLOSERS = "\"'\u201d\u2019\u00bb)]}"
"""Closing quotes and brackets that may follow a sentence's final period."""
_NEXT_WORD = re.compile(r"\s+[\"'\u201c\u2018\u00ab(\[]*(\w+)")


def final_period(text: str, end: int, starters: frozenset[str] | None = None) -> str:
    """``"."`` when the abbreviation whose period ends at ``end`` also ends its sentence.

    That is when only closers follow it, or when the next word is capitalized and is one
    of ``starters`` (lower-cased words that usually begin a sentence: ``the``, ``he``...),
    or any capitalized word when ``starters`` is None. An expanded abbreviation (``Street``)
    then keeps the period the sentence needs.
    """
    rest = text[end : end + 60].lstrip(CLOSERS)
    if not rest.strip():
        return "."
    word = _NEXT_WORD.match(rest)
    if word is None or not word.group(1)[:1].isupper():
        return ""
    return "." if starters is None or word.group(1).lower() in starters else ""


def collapse_spaces(text: str) -> str:
    """Every run of Unicode whitespace (no-break and ideographic spaces too) becomes one space."""
    return _SPACES.sub(" ", text).strip()


def is_speakable(text: str) -> bool:
    """True when ``text`` has at least one letter or digit (``"* * *"`` has none)."""
    return any(ch.isalnum() for ch in text)


def clean(text: str) -> str:
    """First pass: drop what is never spoken, unify spaces, ellipses (to ``…``) and dashes.

    Curly quotes, en dashes and em dashes (``—``) are kept for the language rules. Each
    substitution runs only when its characters are present (books are long).
    """
    if not text.isascii():
        text = _SURROGATES.sub("", text)
        text = unicodedata.normalize("NFC", text)
        text = _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
        text = _INVISIBLE.sub("", text)
        text = _FOOTNOTE_REFS.sub("", text)
        text = _MARKS.sub(" ", text)
        text = _LONG_DASHES.sub("\u2014", text)
        text = _SPACED_ELLIPSIS.sub("\u2026", text)
    text = _CONTROLS.sub(" ", text)
    if "[" in text or "{" in text:
        text = _NOTES.sub(" ", text)
        text = _FOOTNOTE_REFS.sub("", text)
    if "*" in text:
        text = _MARKS.sub(" ", text)
    if "_" in text:
        text = _EMPHASIS.sub(r"\1", text)
        text = _UNDERSCORES.sub(" ", text)
    if ".." in text or ". ." in text:
        text = _SPACED_ELLIPSIS.sub("\u2026", text)
    if "--" in text:
        text = _LONG_DASHES.sub("\u2014", text)
    return collapse_spaces(text)


def finish(text: str, pause: str = ", ") -> str:
    """Last pass: pauses for dashes, brackets and inner ellipses; ASCII quotes; tidy punctuation.

    ``pause`` is what a dash or an inner ellipsis becomes: ``", "``, or ``"、"`` for
    Chinese and Japanese.
    """
    if not text.isascii():
        text = _EM_DASH.sub(pause, text)
        text = _NESTED_QUOTES.sub("", text)
        text = _INNER_ELLIPSIS.sub(pause, text)
        text = text.replace("\u2026", "...")
        text = _GUILLEMET_INNER.sub(lambda m: m.group(1) or m.group(2), text)
    if " -" in text or "- " in text or "\u2013" in text or "\u2012" in text:
        text = _SPACED_DASH.sub(", ", text)
    if _ANY_BRACKET.search(text):
        text = _BRACKETS.sub(pause, text)
    text = _tidy(text)
    if "\u3001" in text:
        text = _IDEOGRAPHIC_COMMA_RUNS.sub("", text)
    if "," in text:
        text = _COMMA_THEN_CLOSER.sub(r",\1", text)
    if not text.isascii():
        text = _DOUBLE_QUOTES.sub('"', text)
        text = _SINGLE_QUOTES.sub("'", text)
    if '"' in text or "'" in text:
        text = _EMPTY_QUOTES.sub("", text)
    return collapse_spaces(text)


def _tidy(text: str) -> str:
    """Remove the stray commas and spaces that the substitutions above leave behind."""
    text = _SPACE_BEFORE_PUNCT.sub("", collapse_spaces(text))
    if "," in text:
        text = _COMMA_RUNS.sub(",", text)
        text = _COMMA_BEFORE_STOP.sub("", text)
        text = _COMMA_AFTER_STOP.sub("", text)
        text = _COMMA_AFTER_OPENER.sub(r"\1", text)
        text = _TRAILING_COMMA.sub("", text)
    return _LEADING_JUNK.sub("", text).strip()
