"""Which writing system a text is in, and which ones a language is written in.

:func:`script_of` names the script of one letter (``"Latin"``, ``"Cyrillic"``, ``"Han"``...)
from a table of Unicode blocks, falling back on the first word of the character's Unicode
name for scripts outside the table (``"Armenian"``, ``"Georgian"``); :func:`script_counts`
counts the letters of a text by script. :data:`LANGUAGE_SCRIPTS` says which scripts a
language is normally written in, for the languages castline's engines speak;
:func:`expected_scripts` reads it for a BCP 47 tag (a script subtag such as ``sr-Latn`` wins).
Only :mod:`unicodedata` is used.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from castline.text.numbers import base_language

__all__ = [
    "LANGUAGE_SCRIPTS",
    "script_of",
    "script_counts",
    "expected_scripts",
    "language_name",
]

_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latin"),
    (0x0061, 0x007A, "Latin"),
    (0x00AA, 0x00AA, "Latin"),
    (0x00BA, 0x00BA, "Latin"),
    (0x00C0, 0x02AF, "Latin"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x0870, 0x08FF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x1100, 0x11FF, "Hangul"),
    (0x1C80, 0x1C8F, "Cyrillic"),
    (0x1D00, 0x1D7F, "Latin"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x1F00, 0x1FFF, "Greek"),
    (0x2C60, 0x2C7F, "Latin"),
    (0x2DE0, 0x2DFF, "Cyrillic"),
    (0x2E80, 0x2FDF, "Han"),
    (0x3005, 0x3007, "Han"),
    (0x3021, 0x3029, "Han"),
    (0x3038, 0x303B, "Han"),
    (0x3041, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"),
    (0x3131, 0x318E, "Hangul"),
    (0x31F0, 0x31FF, "Katakana"),
    (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"),
    (0xA640, 0xA69F, "Cyrillic"),
    (0xA720, 0xA7FF, "Latin"),
    (0xA8E0, 0xA8FF, "Devanagari"),
    (0xA960, 0xA97F, "Hangul"),
    (0xAB30, 0xAB6F, "Latin"),
    (0xAC00, 0xD7FF, "Hangul"),
    (0xF900, 0xFAFF, "Han"),
    (0xFB00, 0xFB06, "Latin"),
    (0xFB1D, 0xFB4F, "Hebrew"),
    (0xFB50, 0xFDFF, "Arabic"),
    (0xFE70, 0xFEFF, "Arabic"),
    (0xFF21, 0xFF3A, "Latin"),
    (0xFF41, 0xFF5A, "Latin"),
    (0xFF66, 0xFF9F, "Katakana"),
    (0xFFA0, 0xFFDC, "Hangul"),
    (0x1B000, 0x1B16F, "Hiragana"),
    (0x20000, 0x323AF, "Han"),
)
_STARTS = [start for start, _, _ in _BLOCKS]

_NAME_SCRIPTS = {"CJK": "Han", "HANGUL": "Hangul", "HIRAGANA": "Hiragana", "KATAKANA": "Katakana"}
"""Unicode name prefixes that do not spell the script's usual name."""


@lru_cache(maxsize=8192)
def script_of(ch: str) -> str:
    """The script of the letter ``ch``: ``"Latin"``, ``"Cyrillic"``, ``"Han"``, ``"Hiragana"``...
    (from the first word of its Unicode name outside the common blocks), ``""`` when unknown."""
    code = ord(ch)
    index = bisect_right(_STARTS, code) - 1
    if index >= 0 and code <= _BLOCKS[index][1]:
        return _BLOCKS[index][2]
    name = unicodedata.name(ch, "")
    if not name:
        return ""
    first = name.split(" ", 1)[0]
    return _NAME_SCRIPTS.get(first, first.title())


def script_counts(texts: Iterable[str], max_letters: int | None = None) -> Counter[str]:
    """How many letters of ``texts`` each script has (digits, marks and symbols not counted),
    up to ``max_letters`` letters in all."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        for ch in text:
            if ch.isalpha():
                counts[script_of(ch)] += 1
                total += 1
                if max_letters is not None and total >= max_letters:
                    return counts
    return counts


_LATIN = frozenset({"Latin"})
_LANGUAGES_BY_SCRIPT: dict[frozenset[str], str] = {
    _LATIN: (
        "en fr de es it pt nl ca gl eu oc pl cs sk sl hr bs ro hu fi et sv da no nb nn is fo "
        "lv lt tr az uz vi id ms tl sw eo cy ga gd br af sq mt la lb rm fy ha yo ig zu xh so "
        "mi haw qu ku tk"
    ),
    frozenset({"Cyrillic"}): "ru uk be bg mk kk kz ky mn tg tt ba cv ce os",
    frozenset({"Latin", "Cyrillic"}): "sr",
    frozenset({"Greek"}): "el",
    frozenset({"Han"}): "zh cmn yue wuu",
    frozenset({"Han", "Hiragana", "Katakana"}): "ja",
    frozenset({"Hangul", "Han"}): "ko",
    frozenset({"Arabic"}): "ar fa ur ps ug sd ckb",
    frozenset({"Hebrew"}): "he yi",
    frozenset({"Devanagari"}): "hi mr ne sa mai bho",
    frozenset({"Thai"}): "th",
}
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    language: scripts for scripts, languages in _LANGUAGES_BY_SCRIPT.items() for language in languages.split()
}
"""Primary language subtag -> the scripts its books are written in (a few Latin letters in
any book are expected and not listed). Languages not here get no script check."""

_SCRIPT_SUBTAGS = {
    "latn": _LATIN,
    "cyrl": frozenset({"Cyrillic"}),
    "grek": frozenset({"Greek"}),
    "arab": frozenset({"Arabic"}),
    "hebr": frozenset({"Hebrew"}),
    "deva": frozenset({"Devanagari"}),
    "thai": frozenset({"Thai"}),
    "hans": frozenset({"Han"}),
    "hant": frozenset({"Han"}),
    "hani": frozenset({"Han"}),
    "jpan": frozenset({"Han", "Hiragana", "Katakana"}),
    "kore": frozenset({"Hangul", "Han"}),
    "hang": frozenset({"Hangul"}),
}


def expected_scripts(language: str) -> frozenset[str] | None:
    """The scripts a text in ``language`` (a BCP 47 tag) is written in, or None when unknown.

    A script subtag decides (``sr-Latn``, ``uz-Cyrl``, ``zh-Hant``); otherwise the primary
    language's entry in :data:`LANGUAGE_SCRIPTS`.
    """
    subtags = (language or "").replace("_", "-").lower().split("-")
    for subtag in subtags[1:]:
        if len(subtag) == 4 and subtag in _SCRIPT_SUBTAGS:
            return _SCRIPT_SUBTAGS[subtag]
    return LANGUAGE_SCRIPTS.get(base_language(language))


_ISO639_2 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "ita": "it",
    "por": "pt", "dut": "nl", "nld": "nl", "rus": "ru", "ukr": "uk", "bul": "bg", "chi": "zh",
    "zho": "zh", "jpn": "ja", "kor": "ko", "ara": "ar", "per": "fa", "fas": "fa", "heb": "he",
    "gre": "el", "ell": "el", "hin": "hi", "tha": "th", "pol": "pl", "cze": "cs", "ces": "cs",
    "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "hun": "hu", "tur": "tr", "lat": "la",
    "cat": "ca", "rum": "ro", "ron": "ro", "vie": "vi", "ind": "id", "srp": "sr",
}  # fmt: skip
_ENGLISH_NAMES = {
    "english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it",
    "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh", "japanese": "ja",
    "korean": "ko", "arabic": "ar", "hebrew": "he", "greek": "el", "latin": "la",
}  # fmt: skip
_NO_LANGUAGE = frozenset({"und", "mul", "zxx", "mis"})


def language_name(tag: str | None) -> str:
    """The primary language of a ``dc:language`` value as a two-letter code where one is known
    (``"en-US"``, ``"eng"`` and ``"English"`` all give ``"en"``); ``""`` for none or ``und``."""
    base = base_language(tag or "")
    if not base or base in _NO_LANGUAGE:
        return ""
    return _ISO639_2.get(base) or _ENGLISH_NAMES.get(base) or base
