"""The domain: a book is made of chapters; a chapter is read as utterances.

These are plain dataclasses linked by ids. The utterance table of a project (one row per
:class:`Utterance`) is the script everybody works from: the script stage writes it with each
utterance's speaker, casting fills the voice, planning the cache key and seed of its take,
synthesis the duration; it is saved next to the outputs so a person can read it.

Every quantity carries its unit: the aliases :data:`Seconds`, :data:`Decibels` and
:data:`Hertz` in types, and ``_s``, ``_db``, ``_hz``, ``_lufs`` suffixes in names. The
utterance's time fields keep the utterance table's column names (``pause_after``,
``duration``, ``start``, ``end``), all in seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pandas takes half a second to import; only the table needs it
    import pandas as pd


__all__ = [
    "Seconds",
    "Decibels",
    "Hertz",
    "Matter",
    "Chapter",
    "Cover",
    "image_media_type",
    "Book",
    "Utterance",
    "utterance_id",
    "to_table",
    "from_table",
]

Seconds = float
"""A duration or a time position, in seconds."""
Decibels = float
"""A level in dB (dBFS for sample levels, LUFS for loudness)."""
Hertz = int
"""A sample rate."""

Matter = Literal["front", "body", "back"]
"""Where a chapter sits in the book: front matter (cover, title page, copyright...), the
body, or back matter (licence, colophon, notes...)."""


@dataclass(frozen=True)
class Chapter:
    """One entry of the book's table of contents and the text it covers."""

    id: str
    """Stable id within the book, from the entry's position in reading order: ``c001``..."""
    title: str
    """The title as the table of contents gives it (whitespace collapsed); used for chapter marks."""
    paragraphs: tuple[str, ...]
    """The readable text, one paragraph per item, as in the book (not yet normalized for speech).
    The chapter's own heading is left out: the title is spoken from :attr:`title`."""
    matter: Matter = "body"
    """Front matter, body or back matter; front and back matter are skipped by default."""
    href: str = ""
    """Where the chapter starts in the source: ``document.xhtml#anchor``."""
    depth: int = 1
    """Nesting depth in the table of contents (1 = top level)."""
    speak_title: bool = True
    """Whether the title is spoken at its start (when titles are): not for the credits."""

    @property
    def word_count(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


def image_media_type(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` by the data's signature; None for any other data."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


@dataclass(frozen=True)
class Cover:
    """Cover art taken from the book (or given in the manifest)."""

    data: bytes
    media_type: str
    """``image/jpeg`` or ``image/png``."""


@dataclass(frozen=True)
class Book:
    """What ingest reads from an EPUB: metadata and chapters in reading order."""

    source: Path
    title: str
    authors: tuple[str, ...]
    language: str | None
    chapters: tuple[Chapter, ...]
    cover: Cover | None = None
    warnings: tuple[str, ...] = ()
    """Problems that did not stop reading (a missing media file, a TOC entry that points nowhere)."""
    pronunciation_lexicons: tuple[tuple[str, bytes], ...] = ()
    """The book's own W3C PLS lexicons: (path in the EPUB, the document), unparsed
    (:mod:`castline.text.lexicon` reads them)."""
    epub_version: str = ""
    """The package's version: ``3.0``, ``2.0``... (only an EPUB 3 can carry Media Overlays)."""

    def chapter(self, chapter_id: str) -> Chapter:
        for chapter in self.chapters:
            if chapter.id == chapter_id:
                return chapter
        raise KeyError(chapter_id)


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech by one speaker: the unit of synthesis and caching."""

    id: str
    """Stable id: chapter, position and a hash of the text (see :func:`utterance_id`)."""
    chapter: str
    """Id of the :class:`Chapter` (or, for dubbing, the cue track) it belongs to."""
    index: int
    """Position within the chapter; 0 is the spoken chapter title when titles are spoken."""
    speaker: str
    """The role that speaks it (``narrator``); the manifest casts roles to voices."""
    text: str
    """The text as it is spoken: normalized for speech (numbers and abbreviations expanded)."""
    voice: str = ""
    """The voice profile cast for :attr:`speaker` (empty until cast)."""
    pause_after: Seconds = 0.0
    """Silence after this utterance (a sentence, paragraph or title pause)."""
    duration: Seconds | None = None
    """Length of the synthesized audio, once known."""
    cache_key: str | None = None
    """Content address of its take in the utterance cache, once planned."""
    start: Seconds | None = None
    """Dubbing only: where the cue this line must fit starts (None for audiobooks)."""
    end: Seconds | None = None
    """Dubbing only: where that cue ends."""
    seed: int | None = None
    """The take's seed (sampling engines), once planned: the same seed gives the same take."""
    pronounced: str | None = None
    """The text as the engine is given it, where pronunciation lexicon entries changed it
    (respellings in place, phonemes in ``[[ ]]``); None where they did not."""
    attributed_by: str = ""
    """How :attr:`speaker` was found (:mod:`tasks.attribution`): ``narration``, ``tag``,
    ``vocative``, ``pronoun``, ``turn``, ``default`` or ``sheet``; empty where nobody asked."""
    paragraph: int | None = None
    """Which of its chapter's :attr:`~Chapter.paragraphs` it reads from; None for a spoken
    title, the credits and dubbing (text that is not the book's)."""
    sentence_start: int | None = None
    """Where in that paragraph the sentence it is (part of) starts, in characters..."""
    sentence_end: int | None = None
    """...and ends (exclusive): the read-along's highlight (:mod:`tasks.readalong`)."""


def utterance_id(chapter: str, index: int, text: str) -> str:
    """A stable id from source position and text: ``c003-0012-1a2b3c4d``."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{chapter}-{index:04d}-{digest}"


TABLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Utterance))
_OPTIONAL_INTS = ("paragraph", "sentence_start", "sentence_end")


def to_table(utterances: Iterable[Utterance]) -> pd.DataFrame:
    """The utterance table: one row per utterance, columns in :class:`Utterance` order."""
    import pandas as pd

    rows = [asdict(u) for u in utterances]
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return table.astype({"index": "int64", "pause_after": "float64", "duration": "float64", "seed": "Int64"}
                        | dict.fromkeys(_OPTIONAL_INTS, "Int64"))


def from_table(table: pd.DataFrame) -> list[Utterance]:
    """Back from the table to :class:`Utterance` objects (NaN becomes None)."""
    import pandas as pd

    out = []
    for row in table.to_dict(orient="records"):
        clean: dict[str, Any] = {str(k): (None if pd.isna(v) else v) for k, v in row.items()}
        clean["index"] = int(clean["index"])
        clean["pause_after"] = float(clean["pause_after"] or 0.0)
        for name in ("seed", *_OPTIONAL_INTS):
            clean[name] = None if clean.get(name) is None else int(clean[name])
        clean["attributed_by"] = clean.get("attributed_by") or ""
        out.append(Utterance(**{k: clean[k] for k in TABLE_COLUMNS if k in clean}))
    return out
