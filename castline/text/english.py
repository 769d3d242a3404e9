"""English for speech: abbreviations, Roman numerals in context, money, dates, numbers.

:func:`normalize` takes text that :func:`castline.text.typography.clean` has already
cleaned and returns it with every ASCII digit spelled out. Rules run in a fixed order:
abbreviations first (``No. 5`` needs its period), then Roman numerals in clear contexts
(``Henry VIII``, ``Chapter XII``), then the number shapes from the most specific (money,
dates, times, percentages, ranges, decades, ordinals, units, fractions) to plain numbers,
and symbols last.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from castline.text.english_numbers import MONTHS, expand_numbers
from castline.text.numbers import ROMAN_PATTERN, cardinal, ordinal, roman_to_int
from castline.text.typography import final_period

__all__ = [
    "normalize",
    "NEVER_FINAL_ABBREVIATIONS",
    "NUMBER_ABBREVIATIONS",
    "CONJUNCTIONS",
    "SENTENCE_STARTERS",
    "NUMBERED_KEYWORDS",
]

NEVER_FINAL_ABBREVIATIONS = frozenset(
    "mr mrs ms messrs mme mlle dr prof capt col gen lt sgt maj cmdr adm gov sen rep hon rev revd "
    "supt insp pres fr mt ft pte cpl e.g i.e viz cf vs v approx esp incl".split()
)
"""Lower-cased words whose period never ends an English sentence (titles, Latin)."""

NUMBER_ABBREVIATIONS = frozenset(
    "no nos p pp vol vols ch chap fig figs art sec para jan feb mar apr jun jul aug sep sept "
    "oct nov dec".split()
)
"""Lower-cased words whose period does not end a sentence when a number follows."""

CONJUNCTIONS = frozenset(
    "and but or nor yet so for which who whom whose that because although though while "
    "whereas when where whenever wherever if unless until till then as since after before".split()
)
"""Words a long clause may be split before (see :func:`castline.text.sentences.split_long`)."""

SENTENCE_STARTERS = frozenset(
    "the a an he she it i we they you his her its their this that there then but and so in on at "
    "when if".split()
)
"""Words that, capitalized after ``Baker St.``, suggest a new sentence rather than a saint."""

NUMBERED_KEYWORDS = (
    "chapter book part volume vol act scene canto section stave psalm article appendix lecture "
    "epistle plate table figure fig phase class grade type level war"
).split()
"""Words after which an upper-case Roman numeral is a cardinal: ``Chapter XII``, ``War II``."""

_REGNAL_NAMES = (
    "Henry Edward George William Charles James Richard John Louis Philip Philippe Elizabeth "
    "Mary Anne Victoria Peter Catherine Frederick Napoleon Pius Leo Gregory Innocent "
    "Benedict Clement Alexander Nicholas Ivan Gustavus Gustav Ferdinand Alfonso Otto Rudolf "
    "Francis Ptolemy Ramesses Rameses Amenhotep Thutmose Darius Xerxes Artaxerxes Antiochus "
    "Urban Boniface Paul Sixtus Julius Adrian Eugene Felix Stephen Sylvester Harold Malcolm "
    "David Robert Kenneth Duncan Constantine Justinian Theodosius Basil Michael Leopold "
    "Joseph Maximilian Wilhelm Friedrich Karl Carlos Juan Manuel Pedro Sancho Haakon Olaf "
    "Harald Magnus Eric Erik Christian Canute Valdemar Sigismund Casimir Wenceslas Vladimir "
    "Selim Suleiman Mehmed Murad Hugh"
).split()
_MONTH_ABBREVIATIONS = {m[:3]: m for m in MONTHS} | {"Sept": "September"}

_ROMAN = rf"(?=[IVXLCDM])({ROMAN_PATTERN})"

# --- abbreviations -----------------------------------------------------------------------
_ALWAYS_TITLES = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Messrs": "Messieurs", "Mme": "Madame",
    "Mmes": "Mesdames", "Mlle": "Mademoiselle", "MR": "Mister", "MRS": "Missus",
}  # fmt: skip
_NAME_TITLES = {
    "Prof": "Professor", "Capt": "Captain", "Col": "Colonel", "Gen": "General",
    "Lt": "Lieutenant", "Sgt": "Sergeant", "Maj": "Major", "Cmdr": "Commander",
    "Adm": "Admiral", "Gov": "Governor", "Sen": "Senator", "Rep": "Representative",
    "Hon": "Honourable", "Rev": "Reverend", "Revd": "Reverend", "Supt": "Superintendent",
    "Insp": "Inspector", "Pres": "President", "Fr": "Father", "Mt": "Mount", "Ft": "Fort",
    "Pte": "Private", "Cpl": "Corporal",
}  # fmt: skip
_PLAIN = {
    "etc": "et cetera", "&c": "et cetera", "e.g": "for example", "i.e": "that is",
    "viz": "namely", "cf": "compare", "vs": "versus", "approx": "approximately",
    "esp": "especially", "incl": "including",
}  # fmt: skip
_BEFORE_NUMBER = {
    "No": "number", "no": "number", "Nos": "numbers", "nos": "numbers", "p": "page",
    "pp": "pages", "Vol": "Volume", "vol": "volume", "Ch": "Chapter", "ch": "chapter",
    "Chap": "Chapter", "chap": "chapter", "Fig": "Figure", "fig": "figure",
}  # fmt: skip
_AFTER_NAME = {
    "Jr": "Junior", "Sr": "Senior", "Esq": "Esquire", "Co": "Company", "Bros": "Brothers",
    "Inc": "Incorporated", "Ltd": "Limited", "Ave": "Avenue", "Rd": "Road",
    "Blvd": "Boulevard", "Sq": "Square",
}  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first so that ``Mrs`` wins over ``Mr``."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_ALWAYS_RE = re.compile(rf"(?<![\w.])({_alternation(_ALWAYS_TITLES)})\.(?!\w)")
_ALWAYS_BARE_RE = re.compile(r"(?<![\w.])(Mr|Mrs|Ms|Messrs)(?=\s+[A-Z])")
_NAME_TITLE_RE = re.compile(
    rf"(?<![\w.])({_alternation(_NAME_TITLES)})(?:\.|(?=\s+[A-Z][a-z]))(?=\s+(?:the\s+)?[A-Z])"
)
_SAINT_DOCTOR_RE = re.compile(r"(?<![\w.'\u2019])(St|Dr|Ste|ST|DR)(\.|(?![\w'\u2019.]))")
_PLAIN_RE = re.compile(rf"(?<![\w.])({_alternation(_PLAIN)})\.", re.IGNORECASE)
_VERSUS_RE = re.compile(r"\b([A-Z][\w'\u2019-]*\s+)v\.(?=\s+[A-Z])")
_BEFORE_NUMBER_RE = re.compile(
    rf"(?<![\w.])({_alternation(_BEFORE_NUMBER)})\.(?=\s*(?:\d|{_ROMAN}\b))"
)
_MONTH_DOT_RE = re.compile(rf"(?<![\w.])({_alternation(_MONTH_ABBREVIATIONS)})\.?(?=\s+\d)")
_DAY_MONTH_DOT_RE = re.compile(rf"(?<=\d )({_alternation(_MONTH_ABBREVIATIONS)})\.")
_AFTER_NAME_RE = re.compile(rf"(?<=[\w&])(,?\s+)({_alternation(_AFTER_NAME)})\.(?!\w)")
_NAME_BEFORE_RE = re.compile(r"(?:[A-Z][\w'\u2019-]*|[A-Z]\w* and|&)$")
_ERA_RE = re.compile(r"(?<![\w.])(a\.m|p\.m|A\.M|P\.M|A\.D|B\.C|B\.C\.E|C\.E)\.(?!\w)")
_ACRONYM_RE = re.compile(r"(?<![\w.])((?:[A-Z]\.){2,})(?!\w)")
_INITIAL_RE = re.compile(r"(?<![\w.'\u2019])([A-HJ-Z])\.(?=\s+[A-Z])")


def _final_period(text: str, end: int) -> str:
    return final_period(text, end, SENTENCE_STARTERS)


def _capitalize_like(source: str, words: str) -> str:
    return words[:1].upper() + words[1:] if source[:1].isupper() else words


_TITLE_OR_PLACE = {
    "St": ("Saint", "Street"), "Dr": ("Doctor", "Drive"), "Ste": ("Sainte", "Sainte"),
}  # fmt: skip
_NEXT_NAME_RE = re.compile(r"\s+[\"'\u201c\u2018(]*([A-Z][\w'\u2019-]*)")
_PREVIOUS_WORD_RE = re.compile(r"([\w'\u2019-]+)[,.]?\s+$")


def _saint_or_doctor(match: re.Match[str]) -> str:
    """``St. Paul`` Saint Paul, ``Baker St.`` Baker Street; ``Dr. Watson``, ``Mulholland Dr.``

    A capitalized word after it makes a title, unless a name comes before and the next
    word usually starts a sentence (``Baker St. The house``); otherwise a name before it
    makes a place. The period stays when it also ended the sentence.
    """
    text, abbr = match.string, match.group(1).title()
    title, place = _TITLE_OR_PLACE[abbr]
    next_word = _NEXT_NAME_RE.match(text, match.end())
    prev_word = _PREVIOUS_WORD_RE.search(text[max(0, match.start() - 40) : match.start()])
    prev_is_name = prev_word is not None and (
        prev_word.group(1)[:1].isupper() or prev_word.group(1)[:1].isdigit()
    )
    if next_word is not None and not (
        prev_is_name and next_word.group(1).lower() in SENTENCE_STARTERS
    ):
        return title
    word = place if prev_is_name or abbr == "St" else title
    return word + (_final_period(text, match.end()) if match.group(2) == "." else "")


def _after_name(match: re.Match[str]) -> str:
    """``Pip, Esq.`` Pip, Esquire; ``Gabriel Sons & Co.`` ... and Company."""
    if _NAME_BEFORE_RE.search(match.string, max(0, match.start() - 40), match.start()) is None:
        return match.group()
    words = _AFTER_NAME[match.group(2)]
    return match.group(1) + words + _final_period(match.string, match.end())


_HINT_RE = re.compile(
    r"(?<![\w.])(&c|[A-Za-z]+(?:\.[A-Za-z]+)*)(?=\.)"
    rf"|\b({_alternation(set(_ALWAYS_TITLES) | set(_NAME_TITLES) | set(_MONTH_ABBREVIATIONS))}"
    r"|St|Dr|Ste|ST|DR)\b"
)
_SAINT_DOCTOR = frozenset(["St", "Dr", "Ste", "ST", "DR"])
_LOWER_KEYS = frozenset(_PLAIN) | {"a.m", "p.m", "a.d", "b.c", "b.c.e", "c.e"}


def _expand_abbreviations(text: str) -> str:
    """Titles, Latin abbreviations, months, initials and dotted acronyms in words.

    One scan collects the words that stand before a period (and bare titles); each rule
    then runs only if one of its words is there, which keeps long books fast.
    """
    hints = {a or b for a, b in _HINT_RE.findall(text)}
    if not hints:
        return text
    lower = {h.lower() for h in hints}
    if not hints.isdisjoint(_ALWAYS_TITLES):
        text = _ALWAYS_RE.sub(lambda m: _ALWAYS_TITLES[m.group(1)], text)
        text = _ALWAYS_BARE_RE.sub(lambda m: _ALWAYS_TITLES[m.group(1)], text)
    if not hints.isdisjoint(_NAME_TITLES):
        text = _NAME_TITLE_RE.sub(lambda m: _NAME_TITLES[m.group(1)], text)
    if not hints.isdisjoint(_SAINT_DOCTOR):
        text = _SAINT_DOCTOR_RE.sub(_saint_or_doctor, text)
    if not hints.isdisjoint(_BEFORE_NUMBER):
        text = _BEFORE_NUMBER_RE.sub(
            lambda m: _capitalize_like(m.group(1), _BEFORE_NUMBER[m.group(1)]), text
        )
    if not hints.isdisjoint(_MONTH_ABBREVIATIONS):
        text = _MONTH_DOT_RE.sub(lambda m: _MONTH_ABBREVIATIONS[m.group(1)], text)
        text = _DAY_MONTH_DOT_RE.sub(
            lambda m: _MONTH_ABBREVIATIONS[m.group(1)] + _final_period(m.string, m.end()), text
        )
    if "v" in hints:
        text = _VERSUS_RE.sub(r"\1versus", text)
    if not lower.isdisjoint(_LOWER_KEYS):
        text = _PLAIN_RE.sub(_expand_plain, text.replace("&c.", "etc."))
        text = _ERA_RE.sub(
            lambda m: m.group(1).replace(".", "").upper() + final_period(m.string, m.end()), text
        )
    if not hints.isdisjoint(_AFTER_NAME):
        text = _AFTER_NAME_RE.sub(_after_name, text)
    if any("." in h and h[:1].isupper() for h in hints):
        text = _ACRONYM_RE.sub(_spelled_acronym, text)
    if any(len(h) == 1 and h.isupper() for h in hints):
        text = _INITIAL_RE.sub(r"\1", text)
    return text


def _spelled_acronym(match: re.Match[str]) -> str:
    """``U.S.A.`` -> ``U S A``: letters an engine spells, without sentence-ending periods."""
    letters = " ".join(match.group(1).rstrip(".").split("."))
    return letters + _final_period(match.string, match.end())


def _expand_plain(match: re.Match[str]) -> str:
    key = match.group(1).lower()
    words = _PLAIN[key]
    suffix = final_period(match.string, match.end()) if key in ("etc", "&c") else ""
    return _capitalize_like(match.group(1), words) + suffix


# --- Roman numerals in context --------------------------------------------------------------
_NUMERAL_RE = re.compile(r"(?<![\w'\u2019-])[IVXLCDM]+(?=['\u2019]s\b|(?![\w'\u2019-]))")
_WORD_BEFORE_RE = re.compile(r"(\w+)(\.?)\s+$")
_RULER_BEFORE_RE = re.compile(
    r"\b(?:King|Queen|Pope|Emperor|Empress|Tsar|Czar|Kaiser|Sultan|Pharaoh|Prince|Princess|Duke)"
    r"\s+[A-Z][a-z]+\s+$"
)
_PRONOUN_NEXT_RE = re.compile(r"\s+(?:[a-z]|[A-Z]\w)")
_KEYWORDS = frozenset(NUMBERED_KEYWORDS)
_REGNAL = frozenset(_REGNAL_NAMES)


def _roman_in_context(match: re.Match[str]) -> str:
    """``Chapter XII`` -> ``Chapter twelve``, ``Henry VIII`` -> ``Henry the Eighth``."""
    numeral, text = match.group(), match.string
    value = roman_to_int(numeral)
    before = text[max(0, match.start() - 40) : match.start()]
    word = _WORD_BEFORE_RE.search(before)
    if value is None or word is None:
        return numeral
    name = word.group(1)
    if name.lower() in _KEYWORDS and (not word.group(2) or name.lower() in ("vol", "fig")):
        words = cardinal(value, "en") or numeral
        return words[:1].upper() + words[1:] if name.lower() == "war" else words  # War Two
    if name in _REGNAL or _RULER_BEFORE_RE.search(before):
        if word.group(2):
            return numeral
        # "Charles I was...": only "Charles I." / "Charles I, " / "Charles I of England".
        if numeral == "I" and _PRONOUN_NEXT_RE.match(text, match.end()) and not text.startswith(" of ", match.end()):
            return numeral
        words = ordinal(value, "en") or numeral
        return f"the {words[:1].upper()}{words[1:]}"
    return numeral


def normalize(text: str) -> str:
    """English text (already through :func:`typography.clean`) with abbreviations expanded and
    every number, Roman numeral in context and symbol said in words."""
    text = _expand_abbreviations(text)
    text = _NUMERAL_RE.sub(_roman_in_context, text)
    return expand_numbers(text)
