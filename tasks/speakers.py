"""Who speaks each cue of a ``dub``: the manifest's ``speakers`` rules, then the subtitle file.

Precedence, for each cue:

1. the first manifest rule that matches it: by cue numbers (:attr:`Cue.index`, 1 is the first
   cue in time order), by a regular expression searched in its text (:attr:`Cue.text`: markup
   and the speaker prefix already removed), or by both, when a rule gives both;
2. else the speaker the file names (:attr:`Cue.speaker`: ASS ``Name``, WebVTT voice, ``NAME:``);
3. else :data:`DEFAULT_SPEAKER`.

Patterns come from a manifest, and Python's backtracking matcher has no time limit, so they are
bounded: at most :data:`MAX_PATTERN_CHARS` characters; no nested repetition such as ``(a+)+`` or
``(a|ab)*`` (the shapes that take exponential time to fail); searched in the first
:data:`MAX_SEARCHED_CHARS` characters of a cue only, which keeps the polynomial shapes
(``a*a*a*b``) to a fraction of a second per cue. Each is compiled once, when its rule is made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from castline.errors import quoted
from tasks.ingest.subtitles import Cue

__all__ = [
    "SpeakerRule",
    "DEFAULT_SPEAKER",
    "MAX_PATTERN_CHARS",
    "MAX_SEARCHED_CHARS",
    "parse_cue_ranges",
    "speaker_of",
    "assign_speakers",
]

DEFAULT_SPEAKER = "default"
"""The speaker of a cue that neither a rule nor the file gives one (the ``default`` voice reads it)."""

MAX_PATTERN_CHARS = 200
"""Longest ``pattern`` a rule may have."""

MAX_SEARCHED_CHARS = 300
"""How much of a cue's text a pattern is searched in (a cue is a line or two of some 40 characters)."""

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class SpeakerRule:
    """``speaker`` reads the cues in ``cues`` and/or those whose text matches ``pattern``.

    Raises ValueError (naming the bad value) for an empty speaker, a rule that selects nothing,
    a bad range, or a pattern that is too long, does not compile or could backtrack for ever.
    """

    speaker: str
    cues: tuple[tuple[int, int], ...] = ()
    """Inclusive ranges of :attr:`Cue.index`, as :func:`parse_cue_ranges` gives them."""
    pattern: str | None = None
    """A regular expression searched in :attr:`Cue.text`."""
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.speaker.strip():
            raise ValueError("a speaker rule needs a speaker name")
        if not self.cues and self.pattern is None:
            raise ValueError(f"the rule for {quoted(self.speaker, 60)} needs 'cues', 'pattern' or both")
        for first, last in self.cues:
            if not 1 <= first <= last:
                raise ValueError(f"cue range {first}-{last}: cue numbers start at 1 and a range cannot run backwards")
        if self.pattern is not None:
            object.__setattr__(self, "_regex", _compile(self.pattern))

    def matches(self, cue: Cue) -> bool:
        """Whether the rule selects ``cue`` (both its cue numbers and its pattern, when it has both)."""
        if self.cues and not any(first <= cue.index <= last for first, last in self.cues):
            return False
        return self._regex is None or self._regex.search(cue.text[:MAX_SEARCHED_CHARS]) is not None


def parse_cue_ranges(value: int | str | list[int | str]) -> tuple[tuple[int, int], ...]:
    """Cue numbers as inclusive ranges: ``3`` -> ``((3, 3),)``, ``"5-9"`` -> ``((5, 9),)``,
    ``[1, "4-6"]`` -> ``((1, 1), (4, 6))``; a string may also list them: ``"1, 4-6"``.

    Raises ValueError, quoting the bad item, for anything else (0, a backwards range, a word).
    """
    items: list[Any] = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError('no cue numbers given: use 3, "5-9" or a list such as [1, "4-6"]')
    ranges: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ValueError(f'cue numbers: {quoted(item, 40)} is not a cue number (3) or a range ("5-9")')
        if isinstance(item, int):
            ranges.append(_range(item, item, item))
            continue
        for part in item.split(",") if item.strip() else [item]:
            match = _RANGE.match(part)
            if match is None:
                raise ValueError(f'cue numbers: {quoted(part.strip(), 40)} is not a cue number (3) or a range ("5-9")')
            first = int(match.group(1))
            ranges.append(_range(first, int(match.group(2) or first), part.strip()))
    return tuple(ranges)


def _range(first: int, last: int, shown: object) -> tuple[int, int]:
    if first < 1:
        raise ValueError(f"cue numbers: {quoted(shown, 40)}: cues are numbered from 1")
    if last < first:
        raise ValueError(f"cue numbers: {quoted(shown, 40)} runs backwards")
    return first, last


def speaker_of(cue: Cue, rules: Sequence[SpeakerRule]) -> str:
    """The speaker of ``cue``: the first matching rule's, else the file's, else :data:`DEFAULT_SPEAKER`."""
    for rule in rules:
        if rule.matches(cue):
            return rule.speaker
    return cue.speaker or DEFAULT_SPEAKER


def assign_speakers(cues: Sequence[Cue], rules: Sequence[SpeakerRule]) -> list[str]:
    """The speaker of each cue, in order (see :func:`speaker_of`)."""
    return [speaker_of(cue, rules) for cue in cues]


# -- patterns -------------------------------------------------------------------------------

_SKIPPED_GROUP = re.compile(r"\(\?(?:#[^)]*|P=\w+)\)")  # a comment, a named backreference
_GROUP_OPEN = re.compile(r"\((?:\?(?:[:=!>|]|<[=!]|P?<\w+>|[aiLmsux-]+:?))?")
_CHARACTER_CLASS = re.compile(r"\[\^?\]?(?:\\.|[^\]\\])*\]")
_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d*(?:,\d*)?\})[?+]?")


def _compile(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, or ValueError quoting it: too long, invalid, or nested repetition."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"pattern {quoted(pattern, 60)} is longer than {MAX_PATTERN_CHARS} characters")
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"pattern {quoted(pattern, 80)} is not a valid regular expression: {err}") from None
    if _nested_repetition(pattern):
        raise ValueError(
            f"pattern {quoted(pattern, 80)} repeats a group that holds a repetition or an alternative "
            "(like '(a+)+'), which can take for ever to fail; repeat a character class instead (like '[a ]+')"
        )
    return regex


def _nested_repetition(pattern: str) -> bool:
    """Whether a repeated group holds a quantifier or an alternation (``(a+)+``, ``(a|ab)*``).

    A scan of a pattern that compiles (escapes and character classes stepped over), not a full
    parse: it may refuse a harmless pattern such as ``(?:ab|cd)+``, but no nested repetition
    gets through. A group made optional with ``?`` does not repeat and is not refused.
    """
    risky: list[bool] = []  # one per open group: does it hold a quantifier or a "|"?
    closed: bool | None = None  # the group that just closed was risky (None: no group just closed)
    i = 0
    while i < len(pattern):
        char, just_closed, closed = pattern[i], closed, None
        if char == "\\":
            i += 2
        elif char == "[":
            found = _CHARACTER_CLASS.match(pattern, i)
            i = found.end() if found else i + 1
        elif (comment := _SKIPPED_GROUP.match(pattern, i)) is not None:
            i = comment.end()
        elif char == "(":
            opened = _GROUP_OPEN.match(pattern, i)
            risky.append(False)
            i = opened.end() if opened else i + 1
        elif char == ")":
            closed = risky.pop() if risky else False
            if risky and closed:
                risky[-1] = True
            i += 1
        elif (quantifier := _QUANTIFIER.match(pattern, i)) is not None:
            if just_closed and not quantifier.group().startswith("?"):
                return True
            if risky:
                risky[-1] = True
            i = quantifier.end()
        else:
            if char == "|" and risky:
                risky[-1] = True
            i += 1
    return False
