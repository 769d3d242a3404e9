from __future__ import annotations

import time
from pathlib import Path

import pytest

from castline.model import Book, Chapter, from_table, to_table
from tasks.ingest import read_source
from tasks.script import Pacing, language_mismatch, select_chapters, unspoken_content, write_script

BOOK = Book(
    source=Path("book.epub"), title="B", authors=("A",), language="en",
    chapters=(
        Chapter("c001", "Title Page", ("B, by A.",), matter="front"),
        Chapter("c002", "CHAPTER I. The Start", ("It began in 1865. Mr. Smith arrived.", "Then it rained.")),
        Chapter("c003", "CHAPTER II. The End", ("It ended.",)),
        Chapter("c004", "Licence", ("Do what you like.",), matter="back"),
    ),
)


def titles(chapters) -> list[str]:
    return [c.title for c in chapters]


def test_default_selection_is_the_body() -> None:
    assert titles(select_chapters(BOOK)) == ["CHAPTER I. The Start", "CHAPTER II. The End"]
    assert len(select_chapters(BOOK, front_matter=True, back_matter=True)) == 4


def test_select_by_number_range_and_title() -> None:
    assert titles(select_chapters(BOOK, ["1-2", "Licence"])) == ["Title Page", "CHAPTER I. The Start", "Licence"]


@pytest.mark.parametrize("item", [0, 5, "3-9", "No Such Chapter"])
def test_bad_selection_names_the_item_and_the_book(item) -> None:
    with pytest.raises(ValueError, match=rf"{item!r}.*book\.epub|{item!r} is not a chapter number"):
        select_chapters(BOOK, [item])


def test_script_speaks_titles_normalizes_and_pauses() -> None:
    pacing = Pacing(sentence_s=0.4, paragraph_s=1.0, title_s=2.0)
    script = write_script(BOOK.chapters[1:3], language="en", pacing=pacing, max_chars=400)
    texts = [u.text for u in script]
    assert texts[0] == "Chapter one. The Start"
    assert "eighteen sixty-five" in texts[1] and texts[2].startswith("Mister Smith")
    assert [u.pause_after for u in script if u.chapter == "c002"] == [2.0, 0.4, 1.0, 1.0]
    assert [u.index for u in script if u.chapter == "c003"] == [0, 1]
    assert {u.voice for u in script} == {""} and {u.speaker for u in script} == {"narrator"}  # cast later
    assert len({u.id for u in script}) == len(script)


def test_long_sentences_are_cut_to_the_engine_limit() -> None:
    long = Chapter("c009", "X", ("word " * 120 + "end.",))
    script = write_script([long], language="en", pacing=Pacing(), max_chars=80, speak_titles=False)
    assert len(script) > 1 and all(len(u.text) <= 80 for u in script)
    assert " ".join(u.text for u in script).split() == ("word " * 120 + "end.").split()


def test_ids_are_stable_and_follow_the_text() -> None:
    a = write_script(BOOK.chapters[1:2], language="en", pacing=Pacing(), max_chars=400)
    b = write_script(BOOK.chapters[1:2], language="en", pacing=Pacing(), max_chars=400)
    assert [u.id for u in a] == [u.id for u in b]
    edited = Chapter("c002", "CHAPTER I. The Start", ("It began in 1866. Mr. Smith arrived.", "Then it rained."))
    c = write_script([edited], language="en", pacing=Pacing(), max_chars=400)
    assert [x.id == y.id for x, y in zip(a, c)] == [True, False, True, True]


def test_utterance_table_round_trip() -> None:
    script = write_script(BOOK.chapters[1:3], language="en", pacing=Pacing(), max_chars=400)
    table = to_table(script)
    assert list(table.columns[:7]) == ["id", "chapter", "index", "speaker", "text", "voice", "pause_after"]
    assert from_table(table) == script


# --- any text fits the engine ----------------------------------------------------------------------
def test_an_unbroken_60000_character_word_never_reaches_the_engine_whole() -> None:
    """Hostile review: a 60,000-character paragraph without a space or a punctuation mark went
    to the engine as one utterance (onnxruntime ran out of memory)."""
    word = "x" * 60_000
    for speak_titles in (True, False):
        chapter = Chapter("c001", word[:5000], (word, "Then it ended."))
        script = write_script([chapter], language="en", pacing=Pacing(), max_chars=400, speak_titles=speak_titles)
        assert all(len(u.text) <= 400 for u in script)
        body = [u.text for u in script if u.text.startswith("x")][(13 if speak_titles else 0) :]
        assert "".join(body) == word and script[-1].text == "Then it ended."


def test_a_title_with_nothing_to_say_is_not_sent_to_the_engine() -> None:
    chapter = Chapter("c001", "\U0001f642 * * *", ("It began.",))
    script = write_script([chapter], language="en", pacing=Pacing(), max_chars=400)
    assert [u.text for u in script] == ["It began."]


# --- unspoken_content ---------------------------------------------------------------------------------
def test_emoji_only_paragraphs_are_reported() -> None:
    chapter = Chapter("c003", "Interlude", ("She smiled.", "\U0001f642\U0001f642\U0001f642", "* * *", "\U0001f389"))
    script = write_script([chapter], language="en", pacing=Pacing(), max_chars=400)
    assert [u.text for u in script] == ["Interlude", "She smiled."]
    assert unspoken_content([chapter], "en", speak_titles=True) == [
        "chapter 3 'Interlude': 2 paragraphs have nothing to speak and are left out (e.g. '\U0001f642\U0001f642\U0001f642')"
    ]
    one = Chapter("c004", "Four", ("Words.", "\u2665" * 100))
    assert unspoken_content([one], "en", speak_titles=False) == [
        "chapter 4 'Four': 1 paragraph has nothing to speak and is left out (e.g. '" + "\u2665" * 59 + "\u2026')"
    ]


def test_a_punctuation_only_chapter_is_reported_as_room_tone() -> None:
    dots = Chapter("c007", "* * *", ("\u2026", "\u2014 \u2014 \u2014"))
    assert write_script([dots], language="en", pacing=Pacing(), max_chars=400) == []
    assert unspoken_content([dots], "en", speak_titles=True) == [
        "chapter 7 '* * *': nothing to speak, so it is left out of the audiobook "
        "(its title has nothing to say; its 2 paragraphs have nothing to say, e.g. '\u2026')"
    ]
    titled = Chapter("c008", "Interlude", ("* * *",))
    assert unspoken_content([titled], "en", speak_titles=True) == []  # the title is spoken
    assert unspoken_content([titled], "en", speak_titles=False) == [
        "chapter 8 'Interlude': nothing to speak, so it is left out of the audiobook "
        "(titles are not spoken; its paragraph has nothing to say: '* * *')"
    ]
    empty = Chapter("c009", "", ())
    assert unspoken_content([empty], "en", speak_titles=True) == [
        "chapter 9 (untitled): nothing to speak, so it is left out of the audiobook (its title has nothing to say; it has no text)"
    ]


def test_scene_breaks_and_notes_are_silent_without_a_warning() -> None:
    chapter = Chapter("c002", "Two", ("One.", "* * *", "\u2767", "[Illustration: The Rabbit]", "\u2042", "Two."))
    assert unspoken_content([chapter], "en", speak_titles=False) == []


def test_warnings_agree_with_the_script() -> None:
    chapters = [
        Chapter("c001", "\U0001f642", ("\U0001f642",)),
        Chapter("c002", "II", ("[1]", "1865.")),
        Chapter("c003", "", ("\u00a7",)),
        Chapter("c004", "Mr.", ("",)),
    ]
    for speak_titles in (True, False):
        script = write_script(chapters, language="en", pacing=Pacing(), max_chars=30, speak_titles=speak_titles)
        warnings = unspoken_content(chapters, "en", speak_titles=speak_titles)
        for n, chapter in enumerate(chapters, 1):
            silent = not any(u.chapter == chapter.id for u in script)
            assert any(w.startswith(f"chapter {n} ") and "left out of the audiobook" in w for w in warnings) == silent


def test_a_normal_english_book_gets_no_warning(data_dir: Path) -> None:
    book = read_source(data_dir / "pg19033_alice_epub2.epub")
    chapters = select_chapters(book)
    assert unspoken_content(chapters, "en", speak_titles=True) == []
    assert language_mismatch(book.language, chapters, "en") == []
    assert unspoken_content(BOOK.chapters[1:3], "en", speak_titles=False) == []
    assert language_mismatch("en", BOOK.chapters, "en-GB") == []


# --- language_mismatch --------------------------------------------------------------------------------
RUSSIAN = Chapter("c001", "Глава первая", ("Все счастливые семьи похожи друг на друга, каждая несчастливая семья несчастлива по-своему.",) * 3)
CHINESE = Chapter("c001", "第一回", ("滚滚长江东逝水，浪花淘尽英雄。是非成败转头空。青山依旧在，几度夕阳红。",) * 4)
JAPANESE = Chapter("c001", "一", ("山路を登りながら、こう考えた。智に働けば角が立つ。情に棹させば流される。",) * 4)
ARABIC = Chapter("c001", "الفصل الأول", ("في البدء كان الكلمة والكلمة كان عند الله وكان الكلمة الله",) * 4)


def test_a_cyrillic_book_read_as_english_is_reported() -> None:
    assert language_mismatch(None, [RUSSIAN], "en") == ["most of the text is in Cyrillic script, which 'en' voices do not read"]
    assert language_mismatch("ru", [RUSSIAN], "ru") == []
    assert language_mismatch("ru", [RUSSIAN], "uk") == ["the book says it is in 'ru' (dc:language) but is read as 'uk'"]


@pytest.mark.parametrize(
    ("chapter", "scripts"),
    [(CHINESE, "Han script"), (JAPANESE, "Hiragana and Han scripts"), (ARABIC, "Arabic script")],
)
def test_other_scripts_read_as_english_are_reported(chapter: Chapter, scripts: str) -> None:
    assert language_mismatch(None, [chapter], "en") == [f"most of the text is in {scripts}, which 'en' voices do not read"]


def test_a_latin_book_read_as_russian_is_reported() -> None:
    assert language_mismatch("en", BOOK.chapters * 5, "ru") == [
        "the book says it is in 'en' (dc:language) but is read as 'ru'",
        "most of the text is in Latin script, which 'ru' voices do not read",
    ]


@pytest.mark.parametrize(
    ("declared", "language", "warns"),
    [
        ("ru", "en", True), ("ru-RU", "en-US", True), ("fr", "en", True), ("eng", "en", False),
        ("English", "en", False), ("en-US", "en-GB", False), ("EN", "en", False), ("nb", "no", False),
        ("iw", "he", False), ("und", "en", False), ("", "en", False), (None, "en", False), ("fre", "fr", False),
    ],
)  # fmt: skip
def test_the_books_own_language_is_compared_by_primary_tag(declared: str | None, language: str, warns: bool) -> None:
    warnings = language_mismatch(declared, [], language)
    assert warnings == ([f"the book says it is in {declared!r} (dc:language) but is read as {language!r}"] if warns else [])


def test_no_script_warning_for_unknown_languages_or_little_text() -> None:
    assert language_mismatch(None, [RUSSIAN], "tlh") == []
    assert language_mismatch(None, [Chapter("c001", "", ("Да.",))], "en") == []
    assert language_mismatch(None, [Chapter("c001", "", ())], "en") == []
    assert language_mismatch(None, [RUSSIAN], "sr") == []  # Serbian is written in both scripts
    assert language_mismatch(None, [RUSSIAN], "sr-Latn") == [
        "most of the text is in Cyrillic script, which 'sr-Latn' voices do not read"
    ]


def test_language_mismatch_samples_a_long_book_quickly() -> None:
    paragraph = "It was the best of times, it was the worst of times, it was the age of wisdom. " * 5
    chapters = [Chapter(f"c{n:03d}", f"Chapter {n}", (paragraph,) * 500) for n in range(1, 61)]  # a 20-hour book
    started = time.perf_counter()
    assert language_mismatch("en", chapters, "en") == []
    # 30,000 paragraphs in English, then 210,000 in Russian: the sample spans the whole book
    russian = [Chapter(f"c{n:03d}", "", RUSSIAN.paragraphs * 1000) for n in range(100, 170)]
    assert language_mismatch("en", [*chapters, *russian[:5]], "en") == []  # a third in Russian: not most
    assert language_mismatch("en", [*chapters, *russian], "en") == [
        "most of the text is in Cyrillic script, which 'en' voices do not read"
    ]
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("cast", [False, True])
def test_each_utterance_knows_where_its_sentence_is_in_the_book(cast: bool) -> None:
    from tasks.attribution import Character

    chapter = Chapter("c001", "One", ("\u201cCome in,\u201d said the Hatter. \u201cSit down, please, at the table.\u201d",
                                      "Plain text here. More plain text follows it."))
    characters = {"Hatter": Character("Hatter")} if cast else None
    script = write_script([chapter], language="en", pacing=Pacing(), max_chars=16, characters=characters)
    assert script[0].paragraph is None  # the title is not the book's text
    for u in script[1:]:
        assert u.paragraph is not None and u.sentence_start is not None and u.sentence_end is not None
        sentence = chapter.paragraphs[u.paragraph][u.sentence_start : u.sentence_end]
        assert sentence == sentence.strip() and all(word.strip(",.\"") in sentence for word in u.text.split()), (u.text, sentence)
    sentences = {chapter.paragraphs[u.paragraph][u.sentence_start : u.sentence_end] for u in script[1:] if u.paragraph is not None}
    expected = {"Plain text here.", "More plain text follows it."}
    assert expected <= sentences
    if cast:  # the quotation and the speech tag are read (and highlighted) apart
        assert {"Come in,", "said the Hatter.", "Sit down, please, at the table."} <= sentences
    table = from_table(to_table(script))
    assert [(u.paragraph, u.sentence_start, u.sentence_end) for u in table] == [
        (u.paragraph, u.sentence_start, u.sentence_end) for u in script]
