"""Property tests of the text frontend: any text in, utterances no longer than the engine's limit
out (or a CastlineError), nothing speakable lost, no hang.

Runs derandomized (the same examples every time, no example database written into the checkout).
``CASTLINE_HYPOTHESIS_EXAMPLES=5000 CASTLINE_HYPOTHESIS_RANDOM=1`` explores further.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from castline.errors import CastlineError
from castline.model import Chapter
from castline.text import (
    has_speech,
    is_speakable,
    normalize_text,
    normalize_title,
    script_paragraph,
    script_title,
    split_long,
    split_sentences,
)
from castline.text.sentences import grapheme_boundaries
from tasks.script import Pacing, language_mismatch, unspoken_content, write_script

EXAMPLES = int(os.environ.get("CASTLINE_HYPOTHESIS_EXAMPLES", "400"))
PROPERTIES = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=3),  # a hang or a quadratic blow-up fails; a busy machine does not
    database=None,
    derandomize=not os.environ.get("CASTLINE_HYPOTHESIS_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LANGUAGES = st.sampled_from(["en", "fr", "en-GB", "fr-CA"])
MAX_CHARS = st.integers(min_value=20, max_value=400)

TOKENS = [
    # English and French abbreviations, numbers, money, dates, Roman numerals
    "Mr.", "Mrs.", "Dr.", "St.", "e.g.", "i.e.", "etc.", "&c.", "No.", "p.", "Vol.", "U.S.A.", "a.m.",
    "J.", "M.", "Mme", "MM.", "c.-à-d.", "J.-C.", "n°", "1er", "2e", "XIXe", "Henry VIII", "Chapter XII",
    "CHAPTER IV.", "I", "1865", "1,234,567", "3.14", "-5", "007", "£5", "$3.50", "5%", "10h30", "1 234,5",
    "1920s", "22nd", "1990-2000", "½", "9" * 30, "0." + "1" * 20, "12:30", "§", "&", "@", "+", "=", "°",
    # typography
    "...", "…", ". . .", "—", "--", "–", "―", "(", ")", "[", "]", "{1}", "[12]", "¹", "*", "* * *", "_", "_x_",
    "[Illustration]", "\u201c", "\u201d", "\u2018", "\u2019", "«", "»", "'", '"', "!", "?", "?!", ";", ":", ",",
    # other scripts and odd Unicode
    "日本語", "。", "、", "「", "」", "こんにちは", "Привет", "مرحبا", "שלום", "Ελλάδα", "नमस्ते", "สวัสดี", "한국어",
    "🙂", "👩\u200d👩\u200d👧", "👍🏽", "🇯🇵", "❤\ufe0f", "a\u0301", "\u0301", "e\u0308\u0301\u0302", "ﬁ",
    "\u200b", "\u00ad", "\ufeff", "\u202e", "\x00", "\x1b", "\ud83d", "\ude42", "\u2028", "\u00a0", "\u3000",
    "x" * 25, "supercalifragilisticexpialidocious", "well-to-do", "http://example.com/a/b?c=d",
]  # fmt: skip
SEPARATORS = st.sampled_from([" ", " ", " ", "", "\n", "  ", "\t", "\u00a0", ", ", ". "])
LONG_RUNS = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "ab,", "x-", "日", "🙂", "a\u0301", "1", "\u0301", "🇯🇵", "한", "\ud83d\ude42", ".", "Ж"]),
    st.integers(min_value=1, max_value=600),
)
ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates, controls, unassigned too
PIECES = st.one_of(st.sampled_from(TOKENS), st.text(ANY_CHARACTER, max_size=8), st.text(max_size=8), LONG_RUNS)
TEXT = st.one_of(
    st.lists(st.tuples(PIECES, SEPARATORS), max_size=40).map(lambda parts: "".join(a + b for a, b in parts)),
    st.text(ANY_CHARACTER, max_size=300),
)


def letters_and_digits(texts: list[str]) -> list[str]:
    return [ch for text in texts for ch in text if ch.isalnum()]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_utterances(pieces: object, max_chars: int) -> None:
    assert isinstance(pieces, list)
    for piece in pieces:
        assert isinstance(piece, str)
        assert 0 < len(piece) <= max_chars, (len(piece), piece[:80])
        assert piece == piece.strip() and is_speakable(piece)


def assert_cuts_between_clusters(text: str, pieces: list[str], max_chars: int) -> None:
    """Every cut falls at whitespace or between grapheme clusters, unless it is inside one
    cluster longer than ``max_chars`` (which must then be cut)."""
    boundaries = set(grapheme_boundaries(text))
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found >= 0 and not text[position:found].strip()
        if found > 0 and not text[found - 1].isspace() and found not in boundaries:
            before = max((b for b in boundaries if b < found), default=0)
            after = min((b for b in boundaries if b > found), default=len(text))
            assert after - before > max_chars, (text[before:found], text[found:after])
            if max_chars > 1:
                assert not ("\ud800" <= text[found - 1] <= "\udbff" and "\udc00" <= text[found] <= "\udfff")
        position = found + len(piece)


@PROPERTIES
@given(text=TEXT, language=LANGUAGES, max_chars=MAX_CHARS)
def test_script_paragraph_fits_and_loses_nothing(text: str, language: str, max_chars: int) -> None:
    try:
        pieces = script_paragraph(text, language, max_chars)
    except CastlineError:
        return
    assert_utterances(pieces, max_chars)
    spoken = [normalize_text(s, language) for s in split_sentences(text, language)]
    assert letters_and_digits(pieces) == letters_and_digits(spoken)  # nothing speakable lost
    assert has_speech(text, language) == bool(pieces)


@PROPERTIES
@given(
    text=TEXT,
    language=st.sampled_from(["de", "es", "ja", "zh", "ru", "ar", "hi", "ko", "th", "tlh", "", "en-US-x-a", "_"]),
    max_chars=MAX_CHARS,
)
def test_other_languages_fit_too(text: str, language: str, max_chars: int) -> None:
    try:
        pieces = script_paragraph(text, language, max_chars)
        title = script_title(text, language, max_chars)
    except CastlineError:
        return
    assert_utterances(pieces, max_chars)
    assert_utterances(title, max_chars)
    assert has_speech(text, language) == bool(pieces)


@PROPERTIES
@given(text=TEXT, language=LANGUAGES, max_chars=st.integers(min_value=1, max_value=400))
def test_split_long_fits_keeps_everything_and_respects_clusters(text: str, language: str, max_chars: int) -> None:
    pieces = split_long(text, max_chars, language)
    assert all(0 < len(p) <= max_chars and p == p.strip() for p in pieces)
    assert squash("".join(pieces)) == squash(text)
    assert_cuts_between_clusters(text.strip(), pieces, max_chars)
    assert pieces == split_long(text, max_chars, language)


@PROPERTIES
@given(title=TEXT, language=LANGUAGES, max_chars=MAX_CHARS)
def test_titles_fit(title: str, language: str, max_chars: int) -> None:
    try:
        spoken = normalize_title(title, language)
        pieces = script_title(title, language, max_chars)
    except CastlineError:
        return
    assert isinstance(spoken, str)
    assert_utterances(pieces, max_chars)
    assert letters_and_digits(pieces) == letters_and_digits([spoken])


@PROPERTIES
@given(text=TEXT, language=LANGUAGES)
def test_normalize_text_gives_clean_text(text: str, language: str) -> None:
    try:
        spoken = normalize_text(text, language)
    except CastlineError:
        return
    assert isinstance(spoken, str) and spoken == spoken.strip()
    assert not re.search(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f]", spoken)
    assert normalize_text(text, language) == spoken


CHAPTERS = st.lists(st.tuples(TEXT, st.lists(TEXT, max_size=4)), max_size=3).map(
    lambda items: [Chapter(f"c{n:03d}", title, tuple(paragraphs)) for n, (title, paragraphs) in enumerate(items, 1)]
)


@PROPERTIES
@given(chapters=CHAPTERS, language=LANGUAGES, max_chars=MAX_CHARS, speak_titles=st.booleans())
def test_write_script_and_its_warnings_agree(
    chapters: list[Chapter], language: str, max_chars: int, speak_titles: bool
) -> None:
    try:
        script = write_script(chapters, language=language, pacing=Pacing(), max_chars=max_chars, speak_titles=speak_titles)
    except CastlineError:
        return
    assert all(0 < len(u.text) <= max_chars for u in script)
    warnings = unspoken_content(chapters, language, speak_titles=speak_titles)
    warnings += language_mismatch(chapters[0].title if chapters else None, chapters, language)
    for warning in warnings:  # one printable line
        assert isinstance(warning, str) and warning.encode("utf-8")
        assert all(ch.isprintable() or ch == "\u200d" for ch in warning), warning
    for n, chapter in enumerate(chapters, 1):
        silent = not any(u.chapter == chapter.id for u in script)
        room_tone = [w for w in warnings if w.startswith(f"chapter {n} ") and "left out of the audiobook" in w]
        assert bool(room_tone) == silent, warnings


def test_a_grapheme_cluster_longer_than_the_limit_is_cut_between_code_points() -> None:
    text = "a" + "\u0301" * 50
    pieces = split_long(text, 20)
    assert "".join(pieces) == text and all(len(p) <= 20 for p in pieces)
    assert [unicodedata.category(c)[0] for c in pieces[0][:2]] == ["L", "M"]
