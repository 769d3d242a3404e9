"""Text as a speech engine should read it: :func:`normalize_text` and :func:`normalize_title`.

Every language goes through the same frame: :func:`typography.clean`, the language's rules,
:func:`typography.finish`. English and French have their own rules (``english.py``,
``french.py``). Any other language gets its integers said by num2words when num2words says
that language safely (:data:`castline.text.numbers.NUM2WORDS_LANGUAGES`); decimals, signs
and everything else are left for the engine's own front end. Nothing here raises on odd
Unicode: unknown scripts, lone surrogates and control characters are dropped or passed on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from castline.text import english, french, typography
from castline.text.english_numbers import say_cardinal, say_year
from castline.text.numbers import (
    ROMAN_PATTERN,
    base_language,
    cardinal,
    roman_to_int,
    small_int,
    year,
)

__all__ = ["normalize_text", "normalize_title", "TITLE_KEYWORDS"]

TITLE_KEYWORDS = tuple(
    (
        " ".join(english.NUMBERED_KEYWORDS)
        + " chapitre livre partie tome acte scène chant kapitel buch teil band akt szene "
        "capítulo capitulo libro parte tomo acto capitolo hoofdstuk deel boek"
    ).split()
)
"""Words that number a division in titles, in the languages castline has met."""

_GENERIC_NUMBER_RE = re.compile(r"(?<![\d.,])\d+(?![\d]|[.,]\d)")
_CJK_START = 0x2E80  # below this, a letter next to a number gets a space
_CJK_LANGUAGES = frozenset(["ja", "zh", "yue", "wuu", "cmn"])


def _generic_rules(language: str) -> Callable[[str], str]:
    def say_integers(text: str) -> str:
        def say(match: re.Match[str]) -> str:
            value = small_int(match.group())
            if value is None:
                return match.group()
            words = (year(value, language) if len(match.group()) == 4 else None) or cardinal(
                value, language
            )
            if words is None:
                return match.group()
            text_ = match.string
            before = text_[match.start() - 1] if match.start() else ""
            after = text_[match.end()] if match.end() < len(text_) else ""
            pad_before = " " if before.isalnum() and ord(before) < _CJK_START else ""
            pad_after = " " if after.isalnum() and ord(after) < _CJK_START else ""
            return pad_before + words + pad_after

        return _GENERIC_NUMBER_RE.sub(say, text)

    return say_integers


def _rules(language: str) -> Callable[[str], str]:
    base = base_language(language)
    if base == "en":
        return english.normalize
    if base == "fr":
        return french.normalize
    return _generic_rules(language)


def normalize_text(text: str, language: str = "en") -> str:
    """``text`` as it should be spoken in ``language`` (a BCP 47 tag: ``en``, ``en-GB``, ``fr``).

    English: abbreviations expanded (``Mr.`` Mister, ``St. Paul`` Saint Paul, ``Baker St.``
    Baker Street), numbers, money, years, decades, times, ranges, percentages and ordinals
    in words, Roman numerals in clear contexts (``Henry VIII`` Henry the Eighth). Every
    language: whitespace collapsed, dashes, brackets and inner ellipses turned into comma
    pauses, quotes made ASCII, ``_emphasis_`` and footnote marks removed.
    """
    if not text:
        return ""
    cleaned = typography.clean(text)
    if not cleaned:
        return ""
    pause = "\u3001" if base_language(language) in _CJK_LANGUAGES else ", "
    return typography.finish(_rules(language)(cleaned), pause)


# --- titles ----------------------------------------------------------------------------------
_ROMAN = rf"(?=[IVXLCDM])(?:{ROMAN_PATTERN})"
_LEADING_NUMBER_RE = re.compile(
    rf"^(?P<num>{_ROMAN}|\d+)(?:\s*(?P<mark>[.:)\u2014\u2013-])\s*(?P<rest>\S.*)?|\s*$)", re.DOTALL
)
_KEYWORD_NUMBER_RE = re.compile(
    rf"\b(?P<kw>(?i:{'|'.join(TITLE_KEYWORDS)}))(?P<sep>\.?\s+)"
    rf"(?P<num>{_ROMAN}|\d+|(?i:{ROMAN_PATTERN})(?<=\w\w))(?![\w'\u2019-])"
)
_PRONOUN_I_RE = re.compile(r"(?<![\w'\u2019])i(?=$|[\s'\u2019,.;:!?])")
_SENTENCE_START_RE = re.compile(r"(^|[.!?:]\s+|^[\"'\u201c\u2018(]+)(\w)")


def _number_words(numeral: str, language: str) -> str | None:
    value = small_int(numeral) if numeral.isdigit() else roman_to_int(numeral)
    if value is None:
        return None
    if base_language(language) == "en":
        if len(numeral) == 4 and numeral.isdigit() and 1100 <= value <= 2099:
            return say_year(value)  # "1984", "2001: A Space Odyssey"
        return say_cardinal(value)
    return cardinal(value, language)


def _is_shouting(text: str) -> bool:
    """Mostly capitals (ignoring Roman numerals): ``I—DOWN THE RABBIT-HOLE``."""
    words = [w for w in re.findall(r"[^\W\d_]+", text) if roman_to_int(w) is None]
    letters = [c for w in words for c in w if c.isupper() or c.islower()]
    upper = sum(1 for c in letters if c.isupper())
    return upper >= 3 and upper >= 0.7 * len(letters)


def _sentence_case(text: str) -> str:
    text = _PRONOUN_I_RE.sub("I", text.lower())
    return _SENTENCE_START_RE.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def _keyword_number(match: re.Match[str], language: str) -> str:
    words = _number_words(match.group("num"), language)
    if words is None:
        return match.group()
    keyword = match.group("kw")
    if keyword.isupper() and len(keyword) > 1:
        keyword = keyword.title()
    return f"{keyword}{match.group('sep')}{words}"


def normalize_title(title: str, language: str = "en") -> str:
    """A chapter title as it should be spoken: ``CHAPTER IV. The Rabbit Sends in a Little
    Bill`` -> ``Chapter four. The Rabbit Sends in a Little Bill``; ``I—DOWN THE RABBIT-HOLE``
    -> ``One. Down the rabbit-hole``; ``Book II, Chapter XIV`` -> ``Book two, Chapter fourteen``.

    A leading bare numeral followed by a period, colon, bracket or dash (or alone) is the
    chapter number; a numeral after a division word (chapter, book, part...) is a number;
    a title in capitals is put in sentence case so that engines do not spell it. The rest
    goes through :func:`normalize_text`.
    """
    text = typography.clean(title or "")
    if not text:
        return ""
    shouting = _is_shouting(text)
    leading = _LEADING_NUMBER_RE.match(text)
    if leading is not None:
        numeral, mark = leading.group("num"), leading.group("mark") or ""
        value = (small_int(numeral) if numeral.isdigit() else roman_to_int(numeral)) or 0
        ambiguous = not numeral.isdigit() and (
            value > 300 or (len(numeral) == 1 and numeral in "LC" and mark != "\u2014")
        )
        words = None if ambiguous else _number_words(numeral, language)
        if words is not None:
            rest = leading.group("rest") or ""
            text = words[:1].upper() + words[1:] + (". " + rest if rest else "")
    text = _KEYWORD_NUMBER_RE.sub(lambda m: _keyword_number(m, language), text)
    if shouting:
        text = _sentence_case(text)
    return normalize_text(text, language)
