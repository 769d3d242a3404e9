"""From chapters to the script: the utterances to speak, in order, each with its speaker.

The script is the utterance table (see :mod:`castline.model`): for each chapter, its title
(when titles are spoken), then every sentence of every paragraph, normalized for speech and
cut to the engine's maximum length, with the pause that follows it. An audiobook's text is
read by the narrator role; casting (:mod:`tasks.cast`) gives each role its voice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from castline.model import Book, Chapter, Seconds, Utterance, utterance_id
from castline.text import normalize_title, script_paragraph, split_long
from tasks.cast import NARRATOR

__all__ = ["Pacing", "select_chapters", "write_script"]


@dataclass(frozen=True)
class Pacing:
    """The silences between utterances."""

    sentence_s: Seconds = 0.45
    paragraph_s: Seconds = 0.9
    title_s: Seconds = 1.5
    """After a spoken chapter title."""

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def _numbers(item: int | str, book: Book) -> list[int]:
    """1-based chapter numbers named by one ``chapters.select`` item."""
    count = len(book.chapters)
    if isinstance(item, int) or str(item).strip().isdigit():
        first = last = int(item)
    elif m := _RANGE.match(str(item)):
        first, last = int(m.group(1)), int(m.group(2))
    else:
        titles = [i for i, c in enumerate(book.chapters, 1) if c.title == item]
        if not titles:
            raise ValueError(f"no chapter titled {item!r} in {book.source.name}")
        return titles
    if not (1 <= first <= last <= count):
        raise ValueError(f"{item!r} is not a chapter number or range within 1-{count} of {book.source.name}")
    return list(range(first, last + 1))


def select_chapters(
    book: Book, select: Sequence[int | str] | None = None, *, front_matter: bool = False, back_matter: bool = False
) -> list[Chapter]:
    """The chapters to render, in book order.

    With ``select`` (numbers as ``castline chapters`` lists them, ``"5-9"`` ranges or exact
    titles), exactly the named chapters; otherwise the body, plus front or back matter if
    asked for. Raises :class:`ValueError` for a number, range or title the book lacks.
    """
    if select:
        wanted = {n for item in select for n in _numbers(item, book)}
        return [c for i, c in enumerate(book.chapters, 1) if i in wanted]
    keep = {"body"} | ({"front"} if front_matter else set()) | ({"back"} if back_matter else set())
    return [c for c in book.chapters if c.matter in keep]


def write_script(
    chapters: Sequence[Chapter],
    *,
    language: str,
    pacing: Pacing,
    max_chars: int,
    speak_titles: bool = True,
) -> list[Utterance]:
    """Every utterance of ``chapters``, spoken by the narrator role (not yet cast)."""
    script: list[Utterance] = []
    for chapter in chapters:
        lines: list[tuple[str, float]] = []
        if speak_titles and (title := normalize_title(chapter.title, language).strip()):
            pieces = split_long(title, max_chars, language)
            lines += [(p, pacing.sentence_s) for p in pieces[:-1]] + [(pieces[-1], pacing.title_s)]
        for paragraph in chapter.paragraphs:
            sentences = script_paragraph(paragraph, language, max_chars)
            lines += [(s, pacing.sentence_s) for s in sentences[:-1]]
            lines += [(s, pacing.paragraph_s) for s in sentences[-1:]]
        for index, (text, pause) in enumerate(lines):
            script.append(
                Utterance(
                    id=utterance_id(chapter.id, index, text),
                    chapter=chapter.id,
                    index=index,
                    speaker=NARRATOR,
                    text=text,
                    pause_after=pause,
                )
            )
    return script
