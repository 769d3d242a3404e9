"""The ``audiobook`` manifest: one EPUB, read by the cast voices, mastered to ACX."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt, StrictStr, field_validator, model_validator

from castline.errors import quoted
from castline.manifest.base import ManifestBase, MultilineTagText, OutputBase, PathText, Section, TagText
from castline.model import Decibels, Seconds

__all__ = ["AudiobookManifest", "ChapterSelection", "Pauses", "Mastering", "AudiobookOutput", "CharacterEntry", "Dialogue", "Credits",
           "RetailSample"]


def _chapter_item(value: object) -> object:
    """One ``chapters.select`` item: a number from 1, or a string (a range or a title)."""
    if isinstance(value, bool):
        raise ValueError(
            f"not a valid chapter: {str(value).lower()} is a yes/no value; "
            'give a number (3), a range ("5-9") or an exact title'
        )
    if isinstance(value, int) and value < 1:
        raise ValueError(f"not a valid chapter: {value}; chapters are numbered from 1 (see castline chapters)")
    if not isinstance(value, int | str):
        raise ValueError(
            f"not a valid chapter: {quoted(value, 60)}; give a number (3), a range (\"5-9\") or an exact title"
        )
    return value


ChapterItem = Annotated[StrictInt | StrictStr, BeforeValidator(_chapter_item)]
"""A chapter number (``3``), a range (``"5-9"``) or an exact title; never a boolean."""


class ChapterSelection(Section):
    """Which chapters of the book to render."""

    select: list[ChapterItem] | None = None
    """Chapters by number as ``castline chapters`` lists them (``3``, ``"5-9"``) or by exact
    title; when given, exactly these are rendered, matter or not. An empty list is an error
    (leave ``select`` out to render every body chapter)."""
    front_matter: bool = Field(False, strict=True)
    """Also render front matter (cover, title page, copyright, Project Gutenberg header...)."""
    back_matter: bool = Field(False, strict=True)
    """Also render back matter (licence, colophon, notes...)."""
    speak_titles: bool = Field(True, strict=True)
    """Speak each chapter's title at its start."""

    @field_validator("select")
    @classmethod
    def _not_empty(cls, select: list[int | str] | None) -> list[int | str] | None:
        if select is not None and not select:
            raise ValueError("an empty selection selects nothing; leave 'select' out to render every body chapter")
        return select


class Pauses(Section):
    """Silences, in seconds."""

    sentence: Seconds = Field(0.45, ge=0, le=5, strict=True)
    paragraph: Seconds = Field(0.9, ge=0, le=10, strict=True)
    title: Seconds = Field(1.5, ge=0, le=10, strict=True)
    """After the spoken chapter title."""
    head: Seconds = Field(0.75, ge=0.5, le=1.0, strict=True)
    """Room tone at the start of each chapter (ACX: 0.5-1 s)."""
    tail: Seconds = Field(2.5, ge=1.0, le=5.0, strict=True)
    """Room tone at the end of each chapter (ACX: 1-5 s)."""


class Mastering(Section):
    """Loudness targets; the defaults meet ACX."""

    rms_db: Decibels = Field(-20.0, ge=-23.0, le=-18.0, strict=True)
    """Target RMS level in dBFS (ACX: -23 to -18)."""
    peak_db: Decibels = Field(-3.5, ge=-60.0, le=-3.0, strict=True)
    """Peak ceiling in dBFS (ACX: at most -3)."""
    room_tone_db: Decibels = Field(-72.0, ge=-120.0, le=-60.0, strict=True)
    """Level of the room tone laid under the speech, dBFS RMS (ACX noise floor: at most -60)."""


class CharacterEntry(Section):
    """A character of the book: the voice role that speaks its quotations, the other names
    the text gives it, and its gender (for ``he``/``she`` in speech tags)."""

    role: str | None = None
    """A role of ``voices`` (default: the ``dialogue`` role if there is one, else the narrator)."""
    aliases: list[TagText] = []
    """Other names in the text: ``the Mad Hatter``, ``Mrs. Joe``; ``I`` for a first-person narrator."""
    gender: Literal["female", "male"] | None = None


class Dialogue(Section):
    """How quotations are attributed (:mod:`tasks.attribution`) and corrected."""

    default_speaker: TagText = Field("unknown", min_length=1)
    """The speaker of a quotation the sieve cannot attribute."""
    cast_sheet: PathText | None = None
    """The cast sheet (``castline cast`` writes it; a render applies it), relative to the
    manifest; default: ``<manifest name>.cast.csv`` beside it."""


class Credits(Section):
    """Opening and closing credits: each its own file and its own M4B chapter (ACX asks for both)."""

    opening: bool = Field(True, strict=True)
    """Title, author and narration credit, before the first chapter."""
    closing: bool = Field(True, strict=True)
    """"The End" and the copyright line, after the last."""
    narration: TagText = Field("Narrated by {narrator}, a digital voice.", min_length=1)
    """The narration credit; ``{narrator}`` is the narrator of the tags."""
    copyright: TagText | None = None
    """The closing credits' copyright line (``Copyright 2026 Lantern Press.``); none by default."""


class RetailSample(Section):
    """The retail sample: an excerpt of the first body chapter's narration, mastered like the
    rest, delivered as an MP3 (``<name> - Retail Sample.mp3``)."""

    enabled: bool = Field(True, strict=True)
    length_s: Seconds = Field(180.0, ge=60.0, le=300.0, strict=True)
    """At most this long, cut at a sentence boundary (retailers ask for 1-5 minutes)."""


AudiobookFormat = Literal["m4b", "mp3"]


def _m4b_only() -> list[AudiobookFormat]:
    return ["m4b"]


class AudiobookOutput(OutputBase):
    """What to deliver and where."""

    formats: list[AudiobookFormat] = Field(default_factory=_m4b_only, min_length=1)
    name: str | None = None
    """File name stem of the M4B (default: from the title)."""
    m4b_bitrate: str = Field("64k", pattern=r"^\d{2,3}k$")
    mp3_bitrate: str = Field("192k", pattern=r"^\d{2,3}k$")
    """ACX asks for 192k constant bit rate."""
    packages: list[Literal["acx", "lpf"]] = []
    """Store packages (:mod:`tasks.packages`): ``acx`` (an ACX/Findaway folder), ``lpf`` (a W3C
    Audiobooks package). They are made of the chapter MP3s, which are then delivered too."""
    readalong: bool = Field(False, strict=True)
    """Also deliver the read-along (:mod:`tasks.readalong`): the book as an EPUB 3 with Media
    Overlays (from an EPUB 3 source) and a WebVTT file per chapter. Made of the chapter MP3s,
    which are then delivered too."""
    max_chapter_minutes: float = Field(120.0, gt=0.0, le=120.0)
    """Longer chapters are split at paragraph boundaries into numbered parts (retailers refuse
    files over 120 minutes); estimated from the text before anything is spoken."""


class AudiobookManifest(ManifestBase):
    """An audiobook production: one EPUB, read by the cast voices, mastered to ACX.

    The smallest one::

        kind: audiobook
        title: "Alice's Adventures in Wonderland"
        author: Lewis Carroll
        language: en
        source: alice.epub
        voices:
          narrator: joe
    """

    kind: Literal["audiobook"]
    title: TagText = Field(min_length=1)
    author: TagText = Field(min_length=1)
    source: PathText
    """The EPUB, relative to the manifest."""
    narrator: TagText | None = None
    """The narrator's name for the tags (default: the narrator voice's name)."""
    year: int | None = Field(None, ge=0, le=9999, strict=True)
    publisher: TagText | None = None
    description: MultilineTagText | None = None
    genre: TagText = "Audiobook"
    cover: PathText | None = None
    """Cover image file (default: the book's own cover, if any)."""
    chapters: ChapterSelection = ChapterSelection()
    characters: dict[TagText, CharacterEntry] = {}
    """Character name -> its entry. With characters (or a ``dialogue`` voice), quotations are
    spoken by their speakers' voices; without, the narrator reads everything."""
    dialogue: Dialogue = Dialogue()
    lexicon: PathText | None = None
    """A pronunciation lexicon (YAML or W3C PLS), relative to the manifest; the book's own PLS
    lexicons apply too, this one's entries first."""
    pauses: Pauses = Pauses()
    credits: Credits = Credits()
    sample: RetailSample = RetailSample()
    mastering: Mastering = Mastering()
    output: AudiobookOutput = AudiobookOutput()

    @field_validator("voices")
    @classmethod
    def _needs_narrator(cls, voices: dict[str, str]) -> dict[str, str]:
        if "narrator" not in voices:
            raise ValueError("an audiobook needs a 'narrator' voice")
        return voices

    @model_validator(mode="after")
    def _roles_exist(self) -> AudiobookManifest:
        for name, character in self.characters.items():
            if character.role is not None and character.role not in self.voices:
                raise ValueError(f"characters.{name}.role: {character.role!r} is not a role of 'voices' "
                                 f"({', '.join(sorted(self.voices))})")
        return self

    @property
    def attributes_dialogue(self) -> bool:
        """Whether quotations get their speakers' voices: characters are listed or a ``dialogue`` voice is."""
        return bool(self.characters) or "dialogue" in self.voices

    def input_files(self) -> dict[str, str]:
        files = {"source": self.source}
        if self.cover:
            files["cover"] = self.cover
        if self.lexicon:
            files["lexicon"] = self.lexicon
        return files
