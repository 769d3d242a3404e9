from __future__ import annotations

from pathlib import Path

import pytest

from castline.model import Book, Chapter, from_table, to_table
from tasks.script import Pacing, select_chapters, write_script

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
