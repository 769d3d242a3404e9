from __future__ import annotations

from pathlib import Path

import pytest

from castline.errors import ManifestError
from castline.manifest import ChapterSelection, Pauses
from castline.model import Book, Chapter, from_table, to_table
from tasks.script import select_chapters, write_script

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
    assert titles(select_chapters(BOOK, ChapterSelection(), Path("m.yaml"))) == ["CHAPTER I. The Start", "CHAPTER II. The End"]
    both = ChapterSelection(front_matter=True, back_matter=True)
    assert len(select_chapters(BOOK, both, Path("m.yaml"))) == 4


def test_select_by_number_range_and_title() -> None:
    pick = ChapterSelection(select=["1-2", "Licence"])
    assert titles(select_chapters(BOOK, pick, Path("m.yaml"))) == ["Title Page", "CHAPTER I. The Start", "Licence"]


@pytest.mark.parametrize("item", [0, 5, "3-9", "No Such Chapter"])
def test_bad_selection_names_the_manifest_key(item) -> None:
    with pytest.raises(ManifestError, match=r"m\.yaml: chapters\.select: "):
        select_chapters(BOOK, ChapterSelection(select=[item]), Path("m.yaml"))


def test_script_speaks_titles_normalizes_and_pauses() -> None:
    pauses = Pauses(sentence=0.4, paragraph=1.0, title=2.0)
    script = write_script(BOOK.chapters[1:3], language="en", voice="joe", pauses=pauses, max_chars=400)
    texts = [u.text for u in script]
    assert texts[0] == "Chapter one. The Start"
    assert "eighteen sixty-five" in texts[1] and texts[2].startswith("Mister Smith")
    assert [u.pause_after for u in script if u.chapter == "c002"] == [2.0, 0.4, 1.0, 1.0]
    assert [u.index for u in script if u.chapter == "c003"] == [0, 1]
    assert {u.voice for u in script} == {"joe"} and {u.speaker for u in script} == {"narrator"}
    assert len({u.id for u in script}) == len(script)


def test_long_sentences_are_cut_to_the_engine_limit() -> None:
    long = Chapter("c009", "X", ("word " * 120 + "end.",))
    script = write_script([long], language="en", voice="joe", pauses=Pauses(), max_chars=80, speak_titles=False)
    assert len(script) > 1 and all(len(u.text) <= 80 for u in script)
    assert " ".join(u.text for u in script).split() == ("word " * 120 + "end.").split()


def test_ids_are_stable_and_follow_the_text() -> None:
    a = write_script(BOOK.chapters[1:2], language="en", voice="joe", pauses=Pauses(), max_chars=400)
    b = write_script(BOOK.chapters[1:2], language="en", voice="joe", pauses=Pauses(), max_chars=400)
    assert [u.id for u in a] == [u.id for u in b]
    edited = Chapter("c002", "CHAPTER I. The Start", ("It began in 1866. Mr. Smith arrived.", "Then it rained."))
    c = write_script([edited], language="en", voice="joe", pauses=Pauses(), max_chars=400)
    assert [x.id == y.id for x, y in zip(a, c)] == [True, False, True, True]


def test_utterance_table_round_trip() -> None:
    script = write_script(BOOK.chapters[1:3], language="en", voice="joe", pauses=Pauses(), max_chars=400)
    table = to_table(script)
    assert list(table.columns[:7]) == ["id", "chapter", "index", "speaker", "text", "voice", "pause_after"]
    assert from_table(table) == script
