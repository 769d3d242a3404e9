"""Numbers as words, in any language num2words handles safely; Roman numerals.

num2words covers many languages but not all of them equally well: in 0.5.14 Amharic loops
forever on some integers, several Indian languages overflow past twelve digits, and some
languages mangle decimals or negative numbers. So this module only calls it for the
languages listed in :data:`NUM2WORDS_LANGUAGES` (checked on 0..2099 and random integers up
to 15 digits), only with non-negative integers below :data:`MAX_SPOKEN_INT`, and treats any
exception as "cannot say it" (``None``), leaving the caller to keep the digits.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from num2words import num2words

__all__ = [
    "MAX_SPOKEN_INT",
    "NUM2WORDS_LANGUAGES",
    "base_language",
    "num2words_language",
    "cardinal",
    "ordinal",
    "year",
    "digit_words",
    "small_int",
    "MAX_DIGITS",
    "roman_to_int",
    "ROMAN_PATTERN",
]

log = logging.getLogger(__name__)

MAX_SPOKEN_INT = 10**15
"""Integers at or above this are read digit by digit (nobody says "one quadrillion ...")."""

NUM2WORDS_LANGUAGES: frozenset[str] = frozenset(
    "ar az be bn ca ce cs cy da de en en_NG eo es es_CO es_CR es_GT es_NI es_VE fa fi fr "
    "fr_DZ he hu id is it ja ko kz lt lv nl no pl pt pt_BR ro ru sk sl sr sv "
    "tet tg th tr uk vi".split()
)
"""num2words 0.5.14 languages whose integer cardinals were checked to terminate and give
words for every integer below :data:`MAX_SPOKEN_INT` (not ``am``, which hangs, nor
``en_IN``, ``kn``, ``te``, which overflow, nor ``fr_BE``, ``fr_CH``, which say
"un millions")."""

_LANGUAGE_ALIASES = {"nb": "no", "nn": "no", "kk": "kz", "iw": "he", "in": "id"}


@lru_cache(maxsize=256)
def base_language(language: str) -> str:
    """The lower-case primary subtag: ``"en-GB"`` -> ``"en"``; ``""`` for junk."""
    head = re.split(r"[-_.@\s]", (language or "").strip().lower(), maxsplit=1)[0]
    return _LANGUAGE_ALIASES.get(head, head) if head.isalpha() else ""


@lru_cache(maxsize=64)
def num2words_language(language: str) -> str | None:
    """The num2words code to use for a BCP 47-ish tag (``pt-BR`` -> ``pt_BR``), or None."""
    parts = re.split(r"[-_]", (language or "").strip())
    if len(parts) >= 2:
        regional = f"{base_language(parts[0])}_{parts[1].upper()}"
        if regional in NUM2WORDS_LANGUAGES:
            return regional
    base = base_language(language)
    return base if base in NUM2WORDS_LANGUAGES else None


@lru_cache(maxsize=4096)
def _say(value: int, lang: str, to: str) -> str | None:
    try:
        words = num2words(value, lang=lang, to=to)
    except Exception as exc:  # num2words raises many kinds; any of them means "cannot say"
        log.debug("num2words(%r, lang=%r, to=%r) failed: %s", value, lang, to, exc)
        return None
    if not isinstance(words, str) or not words.strip() or any(c.isdigit() for c in words):
        return None
    return " ".join(words.replace(",", " ").split())


def cardinal(value: int, language: str) -> str | None:
    """``value`` in words (``42`` -> ``"forty-two"``), or None when it cannot be said.

    Negative values get the language's word for minus only through num2words' own output,
    which is checked for a few languages; callers handle the sign themselves.
    """
    lang = num2words_language(language)
    if lang is None or not 0 <= value < MAX_SPOKEN_INT:
        return None
    return _say(value, lang, "cardinal")


_YEAR_LANGUAGES = frozenset(["de", "nl"])


def year(value: int, language: str) -> str | None:
    """``value`` read as a year where the language reads years apart from cardinals (German
    *achtzehnhundertfünfundsechzig*, Dutch), else None: the caller uses :func:`cardinal`."""
    lang = num2words_language(language)
    if lang not in _YEAR_LANGUAGES or not 1100 <= value <= 1999:
        return None
    return _say(value, lang, "year")


def ordinal(value: int, language: str) -> str | None:
    """``value`` as an ordinal word (``22`` -> ``"twenty-second"``), or None."""
    lang = num2words_language(language)
    if lang is None or not 0 < value < MAX_SPOKEN_INT:
        return None
    return _say(value, lang, "ordinal")


MAX_DIGITS = 15
"""Longer digit runs are never turned into an ``int`` (Python refuses beyond 4300 digits)."""


def small_int(digits: str) -> int | None:
    """``int(digits)`` (separators ``,`` ``.`` and spaces ignored) when it has at most
    :data:`MAX_DIGITS` digits, else None: such runs are read digit by digit."""
    plain = "".join(ch for ch in digits if ch not in ", .\u00a0\u202f")
    if not plain or len(plain) > MAX_DIGITS:
        return None
    return int(plain)


def digit_words(digits: str, language: str) -> str | None:
    """Each digit said on its own (``"007"`` -> ``"zero zero seven"``), or None."""
    words = [cardinal(int(d), language) for d in digits if d.isdigit()]
    if not words or any(w is None for w in words):
        return None
    return " ".join(w for w in words if w)


ROMAN_PATTERN = r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
"""A well-formed upper-case Roman numeral (also matches the empty string: check length)."""

_ROMAN_FULL = re.compile(ROMAN_PATTERN, re.IGNORECASE)
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def roman_to_int(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral (either case), or None: ``"XIV"`` -> 14."""
    if not numeral or _ROMAN_FULL.fullmatch(numeral) is None:
        return None
    total = 0
    upper = numeral.upper()
    for i, ch in enumerate(upper):
        value = _ROMAN_VALUES[ch]
        if i + 1 < len(upper) and _ROMAN_VALUES[upper[i + 1]] > value:
            total -= value
        else:
            total += value
    return total
