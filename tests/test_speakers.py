"""tasks.speakers: cue ranges, rule precedence, and patterns that are refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tasks.ingest.subtitles import Cue, read_subtitles
from tasks.speakers import (
    DEFAULT_SPEAKER,
    MAX_PATTERN_CHARS,
    MAX_SEARCHED_CHARS,
    SpeakerRule,
    assign_speakers,
    parse_cue_ranges,
    speaker_of,
)


def cue(index: int, text: str = "Hello.", speaker: str | None = None) -> Cue:
    return Cue(index=index, start_s=float(index), end_s=index + 0.5, text=text, speaker=speaker, line=4 * index - 3)


# -- cue ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ranges"),
    [
        (3, ((3, 3),)),
        ("5-9", ((5, 9),)),
        (" 5 - 9 ", ((5, 9),)),
        ("7", ((7, 7),)),
        ([1, "4-6"], ((1, 1), (4, 6))),
        ("1, 4-6", ((1, 1), (4, 6))),
        (["2-2", 10], ((2, 2), (10, 10))),
    ],
)
def test_parse_cue_ranges(value: int | str | list[int | str], ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_cue_ranges(value) == ranges


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "cue numbers: 0: cues are numbered from 1"),
        ("0-3", "cue numbers: '0-3': cues are numbered from 1"),
        ("9-5", "cue numbers: '9-5' runs backwards"),
        ("five", "cue numbers: 'five' is not a cue number (3) or a range (\"5-9\")"),
        ("3-", "cue numbers: '3-' is not a cue number (3) or a range (\"5-9\")"),
        ("-3", "cue numbers: '-3' is not a cue number (3) or a range (\"5-9\")"),
        ("", "cue numbers: '' is not a cue number (3) or a range (\"5-9\")"),
        ([1, "x"], "cue numbers: 'x' is not a cue number (3) or a range (\"5-9\")"),
        ([], "no cue numbers given"),
        (True, 'cue numbers: True is not a cue number (3) or a range ("5-9")'),
        ([2.5], 'cue numbers: 2.5 is not a cue number (3) or a range ("5-9")'),
    ],
)
def test_bad_cue_ranges(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_cue_ranges(value)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


# -- precedence -----------------------------------------------------------------------------


def test_rule_then_file_then_default() -> None:
    rules = [SpeakerRule("bird", cues=((2, 3),)), SpeakerRule("owl", pattern=r"(?i)\bhoot\b")]
    assert speaker_of(cue(2, speaker="NARRATOR"), rules) == "bird"  # a rule beats the file
    assert speaker_of(cue(4, "Hoot, hoot!"), rules) == "owl"
    assert speaker_of(cue(5, speaker="NARRATOR"), rules) == "NARRATOR"
    assert speaker_of(cue(6), rules) == DEFAULT_SPEAKER == "default"
    assert speaker_of(cue(6), []) == "default"


def test_the_first_matching_rule_wins() -> None:
    rules = [SpeakerRule("first", cues=((1, 5),)), SpeakerRule("second", cues=((3, 3),))]
    assert [speaker_of(cue(n), rules) for n in (1, 3, 6)] == ["first", "first", "default"]


def test_a_rule_with_cues_and_pattern_needs_both() -> None:
    rule = SpeakerRule("guard", cues=((10, 20),), pattern="Halt")
    assert rule.matches(cue(12, "Halt! Who goes there?"))
    assert not rule.matches(cue(12, "Hello."))
    assert not rule.matches(cue(30, "Halt!"))


def test_assign_speakers_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bunny.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nNARRATOR: A quiet forest.\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nBIRD: Wake up!\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\nZzz...\n\n"
        "4\n00:00:07,000 --> 00:00:08,000\nBIRD: Tweet, tweet!\n"
    )
    cues = read_subtitles(path).cues
    assert assign_speakers(cues, []) == ["NARRATOR", "BIRD", "default", "BIRD"]
    # Patterns see the text without the prefix: "^Tweet" matches cue 4, "BIRD" matches nothing.
    rules = [
        SpeakerRule("bunny", cues=parse_cue_ranges("3")),
        SpeakerRule("robin", pattern="^Tweet"),
        SpeakerRule("x", pattern="BIRD"),
    ]
    assert assign_speakers(cues, rules) == ["NARRATOR", "BIRD", "bunny", "robin"]


# -- rules and their patterns ---------------------------------------------------------------


def test_a_rule_must_select_something() -> None:
    with pytest.raises(ValueError, match="the rule for 'bird' needs 'cues', 'pattern' or both"):
        SpeakerRule("bird")
    with pytest.raises(ValueError, match="needs a speaker name"):
        SpeakerRule("  ", cues=((1, 1),))
    with pytest.raises(ValueError, match="cue range 4-2: cue numbers start at 1"):
        SpeakerRule("bird", cues=((4, 2),))


def test_bad_patterns_are_named() -> None:
    with pytest.raises(ValueError, match=r"pattern '\(unclosed' is not a valid regular expression: missing \)"):
        SpeakerRule("bird", pattern="(unclosed")
    with pytest.raises(ValueError, match=f"is longer than {MAX_PATTERN_CHARS} characters"):
        SpeakerRule("bird", pattern="a" * (MAX_PATTERN_CHARS + 1))


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)+:", "(a|aa)*b", r"(?:x*y?)+z", "((ab)*c)+", "(a*){3}"])
def test_nested_repetition_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="repeats a group that holds a repetition or an alternative"):
        SpeakerRule("bird", pattern=pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(JOHN|MARY):",
        r"(?i)\bhoot\b",
        r"(?:Mr|Mrs)\.? Smith",
        "(ab)+",
        "(a+)?",
        r"[(a+)]+",
        r"\(a+\)+",
        r"\w+ \d{2,}",
        "(?P<n>a)(?P=n)+",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert SpeakerRule("bird", pattern=pattern).pattern == pattern


def test_patterns_search_a_bounded_text() -> None:
    rule = SpeakerRule("bird", pattern="needle")
    assert rule.matches(cue(1, "a needle in a haystack"))
    assert not rule.matches(cue(1, "hay " * MAX_SEARCHED_CHARS + "needle"))
    started = time.perf_counter()
    assert not SpeakerRule("slow", pattern=r"a+a+b").matches(cue(1, "a" * 100_000))
    assert time.perf_counter() - started < 2.0


def test_rules_are_values() -> None:
    rule = SpeakerRule("bird", cues=((1, 2),), pattern="x")
    assert rule == SpeakerRule("bird", cues=((1, 2),), pattern="x")
    assert hash(rule) == hash(SpeakerRule("bird", cues=((1, 2),), pattern="x"))
    assert "_regex" not in repr(rule)
