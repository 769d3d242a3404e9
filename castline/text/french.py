"""French for speech: titles of address, ordinals (``1er``, ``2e``, ``XIXe``), numbers with
space thousands and decimal commas, money, times (``10h30``), percentages.

Years are plain cardinals in French (1865 *mille huit cent soixante-cinq*), so there is no
year rule. Gender is not tracked: ``1`` is *un* except in ``1re``/``1ère``.
"""

from __future__ import annotations

import re

from castline.text.numbers import (
    ROMAN_PATTERN,
    cardinal,
    digit_words,
    ordinal,
    roman_to_int,
    small_int,
)
from castline.text.typography import final_period

__all__ = ["normalize", "NEVER_FINAL_ABBREVIATIONS", "NUMBER_ABBREVIATIONS", "CONJUNCTIONS"]

NEVER_FINAL_ABBREVIATIONS = frozenset(
    "m mm mme mmes mlle mlles dr pr me mgr st ste cf ex c.-à-d av apr j.-c".split()
)
"""Lower-cased words whose period never ends a French sentence."""

NUMBER_ABBREVIATIONS = frozenset("n no vol chap p t art".split())
"""Lower-cased words whose period does not end a sentence when a number follows."""

CONJUNCTIONS = frozenset(
    "et mais ou donc car ni or qui que qu dont lorsque quand puis parce puisque comme si "
    "tandis alors pendant afin".split()
)
"""Words a long French clause may be split before."""

_ROMAN = rf"(?=[IVXLCDM])({ROMAN_PATTERN})"
_NUM = r"\d{1,3}(?: \d{3})+(?![\d,]|,\d)|\d{1,3}(?:\.\d{3}){2,}(?!\d)|\d+"

_TITLES = {
    "M.": "Monsieur", "MM.": "Messieurs", "Mme": "Madame", "Mmes": "Mesdames",
    "Mlle": "Mademoiselle", "Mlles": "Mesdemoiselles", "Dr": "Docteur", "Pr": "Professeur",
    "Me": "Maître", "Mgr": "Monseigneur", "St": "Saint", "Ste": "Sainte", "Cie": "Compagnie",
}  # fmt: skip
_TITLE_RE = re.compile(
    r"(?<![\w.])(MM\.|M\.|Mmes|Mme|Mlles|Mlle|Dr|Pr|Me|Mgr|St|Ste|Cie)\.?(?=[\s-]+[A-ZÀ-Ý])"
)
_PHRASES = {
    "etc.": "et cetera", "c.-à-d.": "c'est-à-dire", "c-à-d": "c'est-à-dire",
    "p. ex.": "par exemple", "cf.": "confer", "av. J.-C.": "avant Jésus-Christ",
    "apr. J.-C.": "après Jésus-Christ", "J.-C.": "Jésus-Christ", "env.": "environ",
    "et Cie": "et Compagnie",
}  # fmt: skip
_PHRASE_RE = re.compile(
    r"(?<!\w)(?:"
    + "|".join(re.escape(p) for p in sorted(_PHRASES, key=len, reverse=True))
    + r")(?!(?<=\w)\w)"
)
_NUMERO_RE = re.compile(r"(?<![\w.])(?:n°|N°|no|No|nº|Nº)\.?\s?(?=\d)")
_BEFORE_NUMBER = {"vol.": "volume", "chap.": "chapitre", "p.": "page", "t.": "tome"}
_BEFORE_NUMBER_RE = re.compile(r"(?<![\w.])(vol\.|chap\.|p\.|t\.)\s?(?=\d)")

_ROMAN_ORDINAL_RE = re.compile(
    r"\b(?=[IVX])(X{0,3}(?:IX|IV|V?I{0,3}))(er|re|ère|e|ème|ᵉ|ᵉʳ)(?![\w'’])"
)
_ORDINAL_RE = re.compile(
    rf"(?<![\w.,])({_NUM})(er|re|ère|e|ème|eme|nde|nd|ᵉ|ᵉʳ|ʳᵉ)(?![\w'’])"
)
_KEYWORD_ROMAN_RE = re.compile(
    rf"\b((?i:chapitre|livre|partie|tome|acte|scène|volume|chant|section|article|titre|"
    rf"guerre mondiale|annexe)\s+){_ROMAN}(?![\w'’-])"
)
_REGNAL_RE = re.compile(
    rf"\b((?:Louis|Henri|Charles|François|Philippe|Napoléon|Jean|Pie|Léon|Grégoire|Benoît|"
    rf"Guillaume|Édouard|Richard|Frédéric|Pierre|Catherine|Élisabeth|Marie|Victoria|Alexandre|"
    rf"Nicolas|Ivan|Innocent|Clément|Paul|Sixte|Jules|Urbain|Boniface|Georges|Henry|George)\s+)"
    rf"{_ROMAN}(?![\w'’-])"
)

_CURRENCY_WORDS = {"€": "euros", "$": "dollars", "£": "livres", "¥": "yens", "F": "francs"}
_MONEY_AFTER_RE = re.compile(rf"(?<![\w.,])({_NUM})(?:,(\d{{1,2}}))?\s?(€|\$|£|¥|F\b|fr\.)")
_MONEY_BEFORE_RE = re.compile(rf"(€|\$|£|¥)\s?({_NUM})(?:,(\d{{1,2}}))?")
_TIME_RE = re.compile(r"(?<![\w.,:])([01]?\d|2[0-4])\s?(?:h|H|:)\s?([0-5]\d)?(?![\w:])")
_PERCENT_RE = re.compile(rf"(?<![\w.,])({_NUM})(?:,(\d+))?\s?%")
_RANGE_RE = re.compile(r"(?<![\w.,\-–])(\d+)\s?[-–—]\s?(\d+)(?![\w\-–]|[.,]\d)")
_NEGATIVE_RE = re.compile(r"(?:^|(?<=[\s(\[«\"]))[-−–](?=\d)")
_NUMBER_RE = re.compile(rf"(?<![\d.,])({_NUM})(?:,(\d+))?(?![\d])")
_DIGITS_RE = re.compile(r"\d+")
_SYMBOLS = {
    "&": " et ", "@": " arobase ", "%": " pour cent ", "+": " plus ", "=": " égale ",
    "°": " degrés ", "§": " paragraphe ", "#": " numéro ", "½": " et demi ", "€": " euros ",
    "$": " dollars ", "£": " livres ",
}  # fmt: skip
_SYMBOL_RE = re.compile("[" + re.escape("".join(_SYMBOLS)) + "]")


def _card(value: int) -> str:
    return cardinal(value, "fr") or digit_words(str(value), "fr") or ""


def _say(integer: str, fraction: str | None = None) -> str:
    """``"1 234"`` -> *mille deux cent trente-quatre*; ``fraction`` after *virgule*."""
    digits = integer.replace(" ", "").replace(".", "")
    value = small_int(digits)
    if value is None or (len(digits) > 1 and digits.startswith("0")):
        words = digit_words(digits, "fr") or ""
    else:
        words = _card(value)
    if fraction:
        if fraction.startswith("0") or len(fraction) > 3:
            words += " virgule " + (digit_words(fraction, "fr") or "")
        else:
            words += " virgule " + _card(int(fraction))
    return words


def _spaced(match: re.Match[str], words: str) -> str:
    text = match.string
    before = " " if match.start() > 0 and text[match.start() - 1].isalnum() else ""
    after = " " if match.end() < len(text) and text[match.end()].isalnum() else ""
    return before + words + after


def _french_ordinal(value: int, suffix: str) -> str:
    if value == 1:
        return "première" if suffix in ("re", "ère", "ʳᵉ") else "premier"
    return ordinal(value, "fr") or _card(value)


def _roman_ordinal(match: re.Match[str]) -> str:
    value = roman_to_int(match.group(1))
    if value is None:
        return match.group()
    return _french_ordinal(value, match.group(2))


def _roman_cardinal(match: re.Match[str]) -> str:
    value = roman_to_int(match.group(2))
    if value is None or (match.group(2) == "I" and match.re is _REGNAL_RE):
        return match.group(1) + ("premier" if match.group(2) == "I" else match.group(2))
    return match.group(1) + _card(value)


def _money(amount: str, cents: str | None, symbol: str) -> str:
    unit = _CURRENCY_WORDS.get(symbol.rstrip("."), "francs")
    if small_int(amount) == 1:
        unit = unit[:-1]
    words = f"{_say(amount)} {unit}"
    if cents and int(cents):
        words += " " + _card(int(cents.ljust(2, "0")))
    return words


def _ordinal(match: re.Match[str]) -> str:
    value = small_int(match.group(1))
    if value is None:
        return _spaced(match, _say(match.group(1)))
    return _spaced(match, _french_ordinal(value, match.group(2)))


def _time(match: re.Match[str]) -> str:
    hour = int(match.group(1))
    words = "une heure" if hour == 1 else f"{_card(hour)} heures"
    if match.group(2) and int(match.group(2)):
        words += " " + _card(int(match.group(2)))
    return _spaced(match, words)


def _range(match: re.Match[str]) -> str:
    return _spaced(match, f"{_say(match.group(1))} à {_say(match.group(2))}")


def _abbreviations(text: str) -> str:
    text = _PHRASE_RE.sub(lambda m: _PHRASES[m.group()] + (
        final_period(m.string, m.end()) if m.group() == "etc." else ""), text)
    text = _TITLE_RE.sub(lambda m: _TITLES[m.group(1)], text)
    text = _NUMERO_RE.sub("numéro ", text)
    return _BEFORE_NUMBER_RE.sub(lambda m: _BEFORE_NUMBER[m.group(1)] + " ", text)


def normalize(text: str) -> str:
    """French text (already through :func:`typography.clean`) with abbreviations expanded and
    numbers said in words."""
    text = _abbreviations(text)
    text = _ROMAN_ORDINAL_RE.sub(_roman_ordinal, text)
    text = _KEYWORD_ROMAN_RE.sub(_roman_cardinal, text)
    text = _REGNAL_RE.sub(_roman_cardinal, text)
    text = _NEGATIVE_RE.sub("moins ", text)
    text = _MONEY_BEFORE_RE.sub(
        lambda m: _spaced(m, _money(m.group(2), m.group(3), m.group(1))), text
    )
    text = _MONEY_AFTER_RE.sub(
        lambda m: _spaced(m, _money(m.group(1), m.group(2), m.group(3))), text
    )
    text = _PERCENT_RE.sub(lambda m: _spaced(m, _say(m.group(1), m.group(2)) + " pour cent"), text)
    text = _TIME_RE.sub(_time, text)
    text = _RANGE_RE.sub(_range, text)
    text = _ORDINAL_RE.sub(_ordinal, text)
    text = _NUMBER_RE.sub(lambda m: _spaced(m, _say(m.group(1), m.group(2))), text)
    text = _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group()], text)
    return _DIGITS_RE.sub(lambda m: _spaced(m, _say(m.group())), text)
