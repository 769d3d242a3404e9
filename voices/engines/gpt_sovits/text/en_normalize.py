"""English text normalization as GPT-SoVITS does it before g2p.

Numbers, money, times, units, fractions and ordinals become words (with ``inflect``);
accents are stripped; every character outside ``A-Za-z'.,?!-`` and space is dropped;
a capital inside a word starts a new word (``DSPGAN`` -> ``D S P G A N``, read as letters);
runs of punctuation collapse to their first mark. Upstream's quirks are kept on purpose,
since checkpoints were trained on text normalized this way: ``;`` ``:`` and double quotes
vanish (no pause), ``1. `` at a word boundary reads as an ordinal (``first,``), ``2 + 2`` reads
as "two plus two" only with spaces around the operator.

One deliberate difference: a curly apostrophe (U+2019) counts as ``'`` (upstream drops it,
which turns "we’re" into "were").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache, partial
from typing import Any

__all__ = ["normalize_en", "collapse_punctuation"]

_PUNCT = "!?….,-"
_UNITS: dict[str, tuple[str, str]] = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("foot", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_OPERAND = rf"(?:-?\d+(?:\.\d+)?[{_SUPERSCRIPTS}]*|\.\d+[{_SUPERSCRIPTS}]*|[A-Za-z][{_SUPERSCRIPTS}]*)"
_OPERATORS = {"+": "plus", "-": "minus", "×": "times", "÷": "divided by", "=": "Equals"}

_RE_LIST_ORDINAL = re.compile(r"\b(\d+)\. ")
_RE_ARITHMETIC = re.compile(rf"({_OPERAND})\s+([+\-×÷=])\s+({_OPERAND})")
_RE_NEGATIVE = re.compile(r"(^|\s+)-(\d+)")
_RE_GROUPED = re.compile(r"(\d[\d,]+\d)")
_RE_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_RE_MEASURE = re.compile(r"\b(\d+(\.\d+)?)(km/h|km|m|ft|L|tbsp|tsp|h|min|s|°C|°F)\b")
_RE_MONEY = (
    (re.compile(r"£([\d.,]*\d+)"), ("pound", "pounds", "penny", "pence")),
    (re.compile(r"([\d.,]*\d+)£"), ("pound", "pounds", "penny", "pence")),
    (re.compile(r"\$([\d.,]*\d+)"), ("dollar", "dollars", "cent", "cents")),
    (re.compile(r"([(\d.,]*\d+)\$"), ("dollar", "dollars", "cent", "cents")),
)
_RE_DECIMAL = re.compile(r"(\d+\.\s*\d+)")
_RE_FRACTION = re.compile(r"(\d+)/(\d+)")
_RE_ORDINAL = re.compile(r"\d+(st|nd|rd|th)")
_RE_NUMBER = re.compile(r"\d+")
_RE_KEEP = re.compile(r"[^ A-Za-z'.,?!\-]")
_RE_INNER_CAPITAL = re.compile(r"(?<!^)(?<!\s)([A-Z])")


@lru_cache(maxsize=1)
def _inflect() -> Any:
    import inflect

    return inflect.engine()


_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()


def _words(n: int | str, **kwargs: Any) -> str:
    """A number in words; digit by digit past inflect's range (about 10**36)."""
    import inflect

    try:
        return str(_inflect().number_to_words(n, **kwargs))
    except inflect.NumOutOfRangeError:
        return " ".join(_DIGIT_WORDS[int(d)] for d in str(n) if d.isdigit())


def _ordinal(n: int | str) -> str:
    import inflect

    try:
        return str(_inflect().ordinal(n))
    except inflect.NumOutOfRangeError:
        return _words(n)


def _time(m: re.Match[str]) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    period = "a.m." if hours < 12 else "p.m."
    hours = hours - 12 if hours > 12 else hours
    if minutes == 0:
        return f"{_words(hours)} o'clock {period}"
    return f"{_words(hours)} {_words(minutes)} {period}"


def _measure(m: re.Match[str]) -> str:
    unit = m.group(3)
    singular = m.group(2) is None and int(m.group(1)) == 1
    return f"{m.group(1)} {_UNITS[unit][0 if singular else 1]}"


def _money(m: re.Match[str], names: tuple[str, str, str, str]) -> str:
    """``$6.24`` -> "6 dollars and 24 cents" (digits are spelled later)."""
    parts = m.group(1).split(".")
    one, many, one_sub, many_sub = names
    if len(parts) > 2:
        return f"{m.group(1)} {many}"
    main = int(parts[0]) if parts[0] else 0
    sub = int(parts[1].ljust(2, "0")) if len(parts) > 1 and parts[1] else 0
    said = []
    if main:
        said.append(f"{main} {one if main == 1 else many}")
    if sub:
        said.append(f"{sub} {one_sub if sub == 1 else many_sub}")
    return " and ".join(said) if said else f"zero {many}"


def _decimal(m: re.Match[str]) -> str:
    whole, frac = m.group(1).split(".")
    return whole + " point " + " ".join(frac)


def _fraction(m: re.Match[str]) -> str:
    top, bottom = int(m.group(1)), int(m.group(2))
    said = _words(top)
    if bottom == 1:
        return said
    if bottom == 2:
        return f"{said} {'half' if top == 1 else 'halves'}"
    name = _ordinal(_words(bottom))
    return f"{said} {name}{'s' if top > 1 else ''}"


def _number(m: re.Match[str]) -> str:
    """Cardinals; 1001-2999 read as years ("nineteen ninety-nine", "two thousand five")."""
    n = int(m.group(0))
    if not 1000 < n < 3000:
        return _words(n, andword="")
    if n == 2000:
        return "two thousand"
    if 2000 < n < 2010:
        return "two thousand " + _words(n % 100)
    if n % 100 == 0:
        return _words(n // 100) + " hundred"
    return _words(n, andword="", zero="oh", group=2).replace(", ", " ")


def _expand_numbers(text: str) -> str:
    text = _RE_LIST_ORDINAL.sub(lambda m: _ordinal(m.group(1)) + ", ", text)
    while _RE_ARITHMETIC.search(text):
        text = _RE_ARITHMETIC.sub(lambda m: f"{m.group(1)} {_OPERATORS[m.group(2)]} {m.group(3)}", text)
    text = _RE_NEGATIVE.sub(lambda m: f"{m.group(1)}negative {m.group(2)}", text)
    text = _RE_GROUPED.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _RE_TIME.sub(_time, text)
    text = _RE_MEASURE.sub(_measure, text)
    for pattern, names in _RE_MONEY:
        text = pattern.sub(partial(_money, names=names), text)
    text = _RE_DECIMAL.sub(_decimal, text)
    text = _RE_FRACTION.sub(_fraction, text)
    text = _RE_ORDINAL.sub(lambda m: _words(m.group(0)), text)
    return _RE_NUMBER.sub(_number, text)


def collapse_punctuation(text: str, after_space: bool = True) -> str:
    """Keep only the first of a run of punctuation marks (and drop marks after a space)."""
    lead = f"[{re.escape(_PUNCT)}\\s]" if after_space else f"[{re.escape(_PUNCT)}]"
    return re.sub(f"({lead})[{re.escape(_PUNCT)}]+", r"\1", text)


def normalize_en(text: str) -> str:
    """English text as the English g2p expects it (see the module docstring)."""
    text = text.replace("。", ".").replace("！", "!").replace("？", "?").replace("\u2019", "'")
    text = _expand_numbers(text)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = text.replace("%", " percent")
    text = _RE_KEEP.sub("", text)
    text = re.sub(r"(?i)i\.e\.", "that is", text)
    text = re.sub(r"(?i)e\.g\.", "for example", text)
    text = _RE_INNER_CAPITAL.sub(r" \1", text)
    return collapse_punctuation(text)
