"""From chapters to the script: the utterances to speak, in order, each cast to a voice.

The script is the utterance table (see :mod:`castline.model`): for each chapter, its title
(when titles are spoken), then every sentence of every paragraph, normalized for speech and
cut to the engine's maximum length, with the pause that follows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from castline.errors import ManifestError
from castline.manifest import ChapterSelection, Pauses
from castline.model import Book, Chapter, Utterance, utterance_id
from castline.text import normalize_title, script_paragraph, split_long

__all__ = ["select_chapters", "write_script", "NARRATOR"]

NARRATOR = "narrator"
"""The role that reads an audiobook's text."""

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def _numbers(item: int | str, book: Book, manifest: Path) -> list[int]:
    """1-based chapter numbers named by one ``chapters.select`` item."""
    count = len(book.chapters)
    if isinstance(item, int) or str(item).strip().isdigit():
        first = last = int(item)
    elif m := _RANGE.match(str(item)):
        first, last = int(m.group(1)), int(m.group(2))
    else:
        titles = [i for i, c in enumerate(book.chapters, 1) if c.title == item]
        if not titles:
            raise ManifestError(manifest, "chapters.select", f"no chapter titled {item!r} in {book.source.name}")
        return titles
    if not (1 <= first <= last <= count):
        raise ManifestError(
            manifest, "chapters.select", f"{item!r} is not a chapter number or range within 1-{count} of {book.source.name}"
        )
    return list(range(first, last + 1))


def select_chapters(book: Book, selection: ChapterSelection, manifest: Path) -> list[Chapter]:
    """The chapters to render, in book order.

    With ``select``, exactly the named chapters; otherwise the body, plus front or back
    matter if asked for.
    """
    if selection.select:
        wanted = {n for item in selection.select for n in _numbers(item, book, manifest)}
        return [c for i, c in enumerate(book.chapters, 1) if i in wanted]
    keep = {"body"} | ({"front"} if selection.front_matter else set()) | ({"back"} if selection.back_matter else set())
    return [c for c in book.chapters if c.matter in keep]


def write_script(
    chapters: Sequence[Chapter],
    *,
    language: str,
    voice: str,
    pauses: Pauses,
    max_chars: int,
    speak_titles: bool = True,
) -> list[Utterance]:
    """Every utterance of ``chapters``, read by the narrator cast to ``voice``."""
    script: list[Utterance] = []
    for chapter in chapters:
        lines: list[tuple[str, float]] = []
        if speak_titles and (title := normalize_title(chapter.title, language).strip()):
            pieces = split_long(title, max_chars, language)
            lines += [(p, pauses.sentence) for p in pieces[:-1]] + [(pieces[-1], pauses.title)]
        for paragraph in chapter.paragraphs:
            sentences = script_paragraph(paragraph, language, max_chars)
            lines += [(s, pauses.sentence) for s in sentences[:-1]]
            lines += [(s, pauses.paragraph) for s in sentences[-1:]]
        for index, (text, pause) in enumerate(lines):
            script.append(
                Utterance(
                    id=utterance_id(chapter.id, index, text),
                    chapter=chapter.id,
                    index=index,
                    speaker=NARRATOR,
                    text=text,
                    voice=voice,
                    pause_after=pause,
                )
            )
    return script
