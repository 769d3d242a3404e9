"""English numbers in every shape a book uses them, said in words.

:func:`expand_numbers` runs the shapes from the most specific to the most general, so that
``$5.50`` is money before ``5.50`` could be a decimal and ``1920s`` is a decade before
``1920`` could be a year: negative signs, ranges, money, dates, times, percentages,
decades and plurals, ordinals, units, fractions, then plain numbers (four-digit numbers
from 1100 to 2099 read as years), then symbols. Nothing it returns contains a digit.
"""

from __future__ import annotations

import re

from castline.text.numbers import cardinal, digit_words, ordinal, small_int
from castline.text.typography import final_period

__all__ = ["expand_numbers", "say_cardinal", "say_number", "say_year", "MONTHS"]

MONTHS = (
    "January February March April May June July August September October November December".split()
)

_NUM = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"
_YEAR_CUES = frozenset(
    "in of year since by from until till circa c ad around about before after".split()
)


def say_cardinal(value: int) -> str:
    """``value`` in words; digit by digit when too large for a cardinal."""
    return cardinal(value, "en") or digit_words(str(value), "en") or ""


def say_number(integer: str, fraction: str | None = None) -> str:
    """``"1,234"`` -> ``"one thousand two hundred and thirty-four"``; a leading zero reads
    digit by digit (``"007"``); ``fraction`` digits follow ``point``."""
    digits = integer.replace(",", "")
    value = small_int(digits)
    if value is None or (len(digits) > 1 and digits.startswith("0")):
        words = digit_words(digits, "en") or ""
    else:
        words = say_cardinal(value)
    if fraction:
        words += " point " + (digit_words(fraction, "en") or "")
    return words


def say_year(year: int) -> str:
    """A year as it is read: 1865 eighteen sixty-five, 1900 nineteen hundred, 2005 two
    thousand five, 1805 eighteen oh five, 2000 two thousand; outside 1000..9999 a cardinal."""
    if not 1000 <= year <= 9999:
        return say_cardinal(year)
    century, rest = divmod(year, 100)
    if year % 1000 == 0 or 2000 <= year < 2010:
        thousands, units = divmod(year, 1000)
        return say_cardinal(thousands) + " thousand" + (" " + say_cardinal(units) if units else "")
    if rest == 0:
        return say_cardinal(century) + " hundred"
    if rest < 10:
        return f"{say_cardinal(century)} oh {say_cardinal(rest)}"
    return f"{say_cardinal(century)} {say_cardinal(rest)}"


def _say_ordinal(value: int) -> str:
    return ordinal(value, "en") or say_cardinal(value)


def _plural(words: str) -> str:
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + ("es" if words.endswith(("x", "s")) else "s")


def _spaced(match: re.Match[str], words: str) -> str:
    """``words`` with a space added where the match touched a letter: ``B2`` -> ``B two``."""
    text = match.string
    before = " " if match.start() > 0 and text[match.start() - 1].isalnum() else ""
    after = " " if match.end() < len(text) and text[match.end()].isalnum() else ""
    return before + words + after


def _is_year(value: int, match: re.Match[str]) -> bool:
    if 1100 <= value <= 2099:
        return True
    if 1000 <= value < 1100:
        before = re.search(r"(\w+)\W*$", match.string[max(0, match.start() - 20) : match.start()])
        return before is not None and before.group(1).lower() in _YEAR_CUES
    return False


# --- signs and ranges ----------------------------------------------------------------------
_NEGATIVE_RE = re.compile(
    r"(?:^|(?<=[\s(\[{\"\u201c'\u2018]))[-\u2212\u2012\u2013](?=[$\u00a3\u20ac]?\d)"
)
_RANGE_RE = re.compile(
    rf"(?<![\w.,:\-\u2013$\u00a3\u20ac\u00a5\u20b9])({_NUM})\s?[-\u2013\u2014]\s?({_NUM})"
    r"(?![\w:\-\u2013]|[.,]\d)"
)


def _range(match: re.Match[str]) -> str:
    first, second = match.group(1), match.group(2)
    start, end = small_int(first) or 0, small_int(second) or 0
    if "," not in first + second and 1000 <= start <= 2099 and len(first) == 4 and len(second) <= 4:
        if len(second) == 2 and end > start % 100:
            end += start - start % 100
        if 1000 <= end <= 2099:
            return _spaced(match, f"{say_year(start)} to {say_year(end)}")
    return _spaced(match, f"{say_number(first)} to {say_number(second)}")


# --- money -----------------------------------------------------------------------------------
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "\u00a3": ("pound", "pounds", "penny", "pence"),
    "\u20ac": ("euro", "euros", "cent", "cents"),
    "\u00a5": ("yen", "yen", "", ""),
    "\u20b9": ("rupee", "rupees", "paisa", "paise"),
}
_SCALE = r"thousand|million|billion|trillion"
_MONEY_RE = re.compile(
    rf"(?P<sym>[$\u00a3\u20ac\u00a5\u20b9])\s?(?P<int>{_NUM})(?:\.(?P<frac>\d+))?"
    rf"(?:\s?[-\u2013]\s?(?P<to>{_NUM})(?![.,]\d))?(?:\s?(?P<scale>{_SCALE})\b)?"
    r"(?:\s+(?P<s>\d{1,2})s\.?(?:\s*(?P<d>\d{1,2})d\.?)?(?!\w))?"
)
_MONEY_AFTER_RE = re.compile(
    rf"(?<![\w.,])(?P<int>{_NUM})(?:\.(?P<frac>\d+))?\s?(?P<sym>[$\u00a3\u20ac\u00a5])"
)
_LSD_RE = re.compile(
    r"(?<![\w.,])(?P<s>\d{1,2})s\.?\s*(?P<d>\d{1,2})d\.|(?<![\w.,])(?P<d2>\d{1,2})d\."
)


def _amount(count: int, one: str, many: str) -> str:
    return f"{say_cardinal(count)} {one if count == 1 else many}"


def _shillings_pence(shillings: str | None, pence: str | None) -> str:
    parts = []
    if shillings:
        parts.append(_amount(int(shillings), "shilling", "shillings"))
    if pence:
        parts.append(_amount(int(pence), "penny", "pence"))
    return " and ".join(parts)


def _money(match: re.Match[str]) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[match.group("sym")]
    integer, frac = match.group("int"), match.group("frac")
    scale = match.groupdict().get("scale")
    if match.groupdict().get("to"):  # $5-10: five to ten dollars
        integer = f"{say_number(integer, frac)} to {say_number(match.group('to'))}"
        return _spaced(match, f"{integer} {scale + ' ' if scale else ''}{many}")
    whole = small_int(integer)
    if scale or whole is None or (frac and len(frac) > 2) or not minor_one and frac:
        words = f"{say_number(integer, frac)} {scale + ' ' if scale else ''}{many}"
    else:
        minor = int((frac or "0").ljust(2, "0"))
        parts = [_amount(whole, one, many)] if whole or not minor else []
        if minor:
            parts.append(_amount(minor, minor_one, minor_many))
        words = " and ".join(parts)
    if match.groupdict().get("s"):
        words += " " + _shillings_pence(match.group("s"), match.group("d"))
    if match.group().endswith("."):
        words += final_period(match.string, match.end())
    return _spaced(match, words)


def _lsd(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 4) : match.start()]
    if match.group("d2") and before.lower() == "the ":
        return match.group()  # "the 3d.": an old spelling of "the 3rd"
    words = _shillings_pence(match.group("s"), match.group("d") or match.group("d2"))
    return _spaced(match, words + final_period(match.string, match.end()))


# --- dates and times -------------------------------------------------------------------------
_MONTH_NAMES = "|".join(MONTHS)
_ISO_DATE_RE = re.compile(r"(?<![\d-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\d-])")
_MONTH_DAY_RE = re.compile(
    rf"\b({_MONTH_NAMES})\s+([1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?![\w:]|[.,]\d)"
)
_DAY_MONTH_RE = re.compile(
    rf"(?<![\w.,])([1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(of\s+)?({_MONTH_NAMES})\b"
)
_TIME_RE = re.compile(
    r"(?<![\d:.])([01]?\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?(?![\d:])"
    r"(?:\s?(?:([ap])\.?m|([AP])\.?M)\b\.?)?"
)
_HOUR_RE = re.compile(r"(?<![\w.:,])(1[0-2]|0?[1-9])\s?(?:([ap])\.?m|([AP])\.?M)\b\.?")


def _iso_date(match: re.Match[str]) -> str:
    year, month, day = (int(g) for g in match.groups())
    return f"{MONTHS[month - 1]} {_say_ordinal(day)}, {say_year(year)}"


def _day_month(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 4) : match.start()].lower()
    article = "" if before.endswith("the ") else "the "
    return f"{article}{_say_ordinal(int(match.group(1)))} of {match.group(3)}"


def _minutes(value: int) -> str:
    return f"oh {say_cardinal(value)}" if value < 10 else say_cardinal(value)


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    meridiem = match.group(4) or match.group(5)
    words = say_cardinal(hour)
    if minute or match.group(3):
        words += " " + _minutes(minute)
    elif not meridiem:
        words += " o'clock"
    if match.group(3):
        words += " " + _minutes(int(match.group(3)))
    if meridiem:
        words += " " + meridiem.upper() + "M"
        if match.group().endswith("."):
            words += final_period(match.string, match.end())
    return _spaced(match, words)


def _hour(match: re.Match[str]) -> str:
    words = f"{say_cardinal(int(match.group(1)))} {(match.group(2) or match.group(3)).upper()}M"
    if match.group().endswith("."):
        words += final_period(match.string, match.end())
    return _spaced(match, words)


# --- percentages, plurals, ordinals, units ----------------------------------------------------
_PERCENT_RE = re.compile(rf"(?<![\w.,])({_NUM})(?:\.(\d+))?\s?%")
_PLURAL_RE = re.compile(rf"(?<![\w.,])(['\u2019]?)({_NUM})(['\u2019]?)s(?!\w)")
_ORDINAL_RE = re.compile(rf"(?<![\w.,])({_NUM})(st|nd|rd|th|ST|ND|RD|TH|d)(?!\w)")
_UNITS = {
    "ft": ("foot", "feet"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "yd": ("yard", "yards"), "yds": ("yard", "yards"),
    "mi": ("mile", "miles"), "km": ("kilometre", "kilometres"), "kg": ("kilogram", "kilograms"),
    "cm": ("centimetre", "centimetres"), "mm": ("millimetre", "millimetres"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometre per hour", "kilometres per hour"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "doz": ("dozen", "dozen"), "cwt": ("hundredweight", "hundredweight"),
}  # fmt: skip
_UNIT_NAMES = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_UNIT_RE = re.compile(rf"(?<![\w.,])({_NUM})(?:\.(\d+))?\s?({_UNIT_NAMES})(\.?)(?![\w/])")
_DEGREES_RE = re.compile(rf"(?<![\w.,])({_NUM})(?:\.(\d+))?\s?\u00b0\s?([CF](?![a-z]))?")


def _plural_number(match: re.Match[str]) -> str:
    before, integer, after = match.group(1), match.group(2), match.group(3)
    value = small_int(integer) or 0
    if len(integer) == 4 and after and value % 10:  # "1865's harvest": a possessive
        return _spaced(match, before + say_year(value) + after + "s")
    if len(integer) == 4 and value % 10 == 0 and 1000 <= value <= 2099:
        return _spaced(match, _plural(say_year(value)))
    return _spaced(match, _plural(say_number(integer)))


def _ordinal(match: re.Match[str]) -> str:
    integer, suffix = match.group(1), match.group(2)
    if suffix == "d" and integer[-1] not in "23":  # "2d", "3d": old spellings of 2nd, 3rd
        return match.group()
    value = small_int(integer)
    return _spaced(match, say_number(integer) if value is None else _say_ordinal(value))


def _unit(match: re.Match[str]) -> str:
    one, many = _UNITS[match.group(3)]
    singular = match.group(1) == "1" and not match.group(2)
    words = f"{say_number(match.group(1), match.group(2))} {one if singular else many}"
    if match.group(4):
        words += final_period(match.string, match.end())
    return _spaced(match, words)


def _degrees(match: re.Match[str]) -> str:
    scale = {"C": " Celsius", "F": " Fahrenheit"}.get(match.group(3) or "", "")
    singular = match.group(1) == "1" and not match.group(2)
    words = f"{say_number(match.group(1), match.group(2))} degree{'' if singular else 's'}{scale}"
    return _spaced(match, words)


# --- fractions -----------------------------------------------------------------------------
_VULGAR = {
    "\u00bd": (1, 2), "\u2153": (1, 3), "\u2154": (2, 3), "\u00bc": (1, 4), "\u00be": (3, 4),
    "\u2155": (1, 5), "\u2156": (2, 5), "\u2157": (3, 5), "\u2158": (4, 5), "\u2159": (1, 6),
    "\u215a": (5, 6), "\u2150": (1, 7), "\u215b": (1, 8), "\u215c": (3, 8), "\u215d": (5, 8),
    "\u215e": (7, 8), "\u2151": (1, 9), "\u2152": (1, 10),
}  # fmt: skip
_VULGAR_RE = re.compile(rf"(?:(?<![\w.,])({_NUM})\s?)?([{''.join(_VULGAR)}])")
_FRACTION_RE = re.compile(r"(?<![\w/.,])(?:(\d+)\s+)?(\d{1,2})/(\d{1,2})(?![\w/]|[.,]\d)")
_HASH_RE = re.compile(r"#\s?(?=\d)")
_TIMES_RE = re.compile(r"(?<=\d)\s?[x\u00d7]\s?(?=\d)")
_POINT_RE = re.compile(r"(?<![\w.])\.(\d+)")


def _say_fraction(numerator: int, denominator: int, mixed: bool) -> str:
    if denominator == 2:
        if numerator == 1:
            return "a half" if mixed else "one half"
        return f"{say_cardinal(numerator)} halves"
    name = "quarter" if denominator == 4 else _say_ordinal(denominator)
    if numerator == 1:
        return f"{'a' if mixed else 'one'} {name}"
    return f"{say_cardinal(numerator)} {_plural(name)}"


def _mixed(whole: str | None, fraction: str) -> str:
    return f"{say_number(whole)} and {fraction}" if whole else fraction


def _vulgar_fraction(match: re.Match[str]) -> str:
    numerator, denominator = _VULGAR[match.group(2)]
    whole = match.group(1)
    return _spaced(match, _mixed(whole, _say_fraction(numerator, denominator, bool(whole))))


def _fraction(match: re.Match[str]) -> str:
    whole, numerator, denominator = match.group(1), int(match.group(2)), int(match.group(3))
    if not 0 < numerator < denominator <= 16:
        words = f"{say_number(match.group(2))} slash {say_number(match.group(3))}"
        return _spaced(match, (say_number(whole) + " " if whole else "") + words)
    return _spaced(match, _mixed(whole, _say_fraction(numerator, denominator, bool(whole))))


# --- plain numbers and symbols ---------------------------------------------------------------
_NUMBER_RE = re.compile(rf"(?<!\d)({_NUM})(?:\.(\d+)(?![.,]?\d))?")
_DIGITS_RE = re.compile(r"\d+")
_SYMBOLS = {
    "&": " and ", "@": " at ", "%": " percent ", "+": " plus ", "=": " equals ",
    "\u00b0": " degrees ", "\u00a7": " section ", "\u00d7": " by ", "#": " number ",
    "$": " dollars ", "\u00a3": " pounds ", "\u20ac": " euros ", "\u00a5": " yen ",
    "|": ", ", "\\": " ", "~": " ", "^": " ", "<": " ", ">": " ", "\u2116": " number ",
}  # fmt: skip
_SYMBOL_RE = re.compile("[" + re.escape("".join(_SYMBOLS)) + "]")
_SLASH_RE = re.compile(r"(?<=\w)\s?/\s?(?=\w)")


def _number(match: re.Match[str]) -> str:
    integer, fraction = match.group(1), match.group(2)
    if fraction is None and len(integer) == 4 and _is_year(int(integer), match):
        return _spaced(match, say_year(int(integer)))
    return _spaced(match, say_number(integer, fraction))


_NUMERIC_RE = re.compile(rf"[\d{''.join(_VULGAR)}]")


def _symbols(text: str) -> str:
    text = text.replace("and/or", "and or")
    text = _SLASH_RE.sub(" slash ", text)
    return _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group()], text)


def expand_numbers(text: str) -> str:
    """Every number in ``text`` said in words (see the module docstring for the order)."""
    if _NUMERIC_RE.search(text) is None:
        return _symbols(text) if "/" in text or _SYMBOL_RE.search(text) else text
    text = _NEGATIVE_RE.sub("minus ", text)
    text = _ISO_DATE_RE.sub(_iso_date, text)
    text = _RANGE_RE.sub(_range, text)
    text = _MONEY_RE.sub(_money, text)
    text = _MONEY_AFTER_RE.sub(_money, text)
    text = _LSD_RE.sub(_lsd, text)
    text = _MONTH_DAY_RE.sub(lambda m: f"{m.group(1)} {_say_ordinal(int(m.group(2)))}", text)
    text = _DAY_MONTH_RE.sub(_day_month, text)
    text = _TIME_RE.sub(_time, text)
    text = _HOUR_RE.sub(_hour, text)
    text = _PERCENT_RE.sub(
        lambda m: _spaced(m, say_number(m.group(1), m.group(2)) + " percent"), text
    )
    text = _PLURAL_RE.sub(_plural_number, text)
    text = _ORDINAL_RE.sub(_ordinal, text)
    text = _UNIT_RE.sub(_unit, text)
    text = _DEGREES_RE.sub(_degrees, text)
    text = _VULGAR_RE.sub(_vulgar_fraction, text)
    text = _FRACTION_RE.sub(_fraction, text)
    text = _HASH_RE.sub("number ", text)
    text = _TIMES_RE.sub(" by ", text)
    text = _POINT_RE.sub(
        lambda m: _spaced(m, "point " + (digit_words(m.group(1), "en") or "")), text
    )
    text = _NUMBER_RE.sub(_number, text)
    text = _symbols(text)
    return _DIGITS_RE.sub(lambda m: _spaced(m, say_number(m.group())), text)
