"""The ``audiobook`` manifest: one EPUB, read by the cast voices, mastered to ACX."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from castline.manifest.base import ManifestBase, OutputBase, Section
from castline.model import Decibels, Seconds

__all__ = ["AudiobookManifest", "ChapterSelection", "Pauses", "Mastering", "AudiobookOutput"]


class ChapterSelection(Section):
    """Which chapters of the book to render."""

    select: list[int | str] | None = None
    """Chapters by number as ``castline chapters`` lists them (``3``, ``"5-9"``) or by exact
    title; when given, exactly these are rendered, matter or not."""
    front_matter: bool = False
    """Also render front matter (cover, title page, copyright, Project Gutenberg header...)."""
    back_matter: bool = False
    """Also render back matter (licence, colophon, notes...)."""
    speak_titles: bool = True
    """Speak each chapter's title at its start."""


class Pauses(Section):
    """Silences, in seconds."""

    sentence: Seconds = Field(0.45, ge=0, le=5)
    paragraph: Seconds = Field(0.9, ge=0, le=10)
    title: Seconds = Field(1.5, ge=0, le=10)
    """After the spoken chapter title."""
    head: Seconds = Field(0.75, ge=0.5, le=1.0)
    """Room tone at the start of each chapter (ACX: 0.5-1 s)."""
    tail: Seconds = Field(2.5, ge=1.0, le=5.0)
    """Room tone at the end of each chapter (ACX: 1-5 s)."""


class Mastering(Section):
    """Loudness targets; the defaults meet ACX."""

    rms_db: Decibels = Field(-20.0, ge=-23.0, le=-18.0)
    """Target RMS level in dBFS (ACX: -23 to -18)."""
    peak_db: Decibels = Field(-3.5, le=-3.0)
    """Peak ceiling in dBFS (ACX: at most -3)."""
    room_tone_db: Decibels = Field(-72.0, le=-60.0)
    """Level of the room tone laid under the speech, dBFS RMS (ACX noise floor: at most -60)."""


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
    title: str = Field(min_length=1)
    author: str = Field(min_length=1)
    source: str
    """The EPUB, relative to the manifest."""
    narrator: str | None = None
    """The narrator's name for the tags (default: the narrator voice's name)."""
    year: int | None = Field(None, ge=0, le=9999)
    publisher: str | None = None
    description: str | None = None
    genre: str = "Audiobook"
    cover: str | None = None
    """Cover image file (default: the book's own cover, if any)."""
    chapters: ChapterSelection = ChapterSelection()
    pauses: Pauses = Pauses()
    mastering: Mastering = Mastering()
    output: AudiobookOutput = AudiobookOutput()

    @field_validator("voices")
    @classmethod
    def _needs_narrator(cls, voices: dict[str, str]) -> dict[str, str]:
        if "narrator" not in voices:
            raise ValueError("an audiobook needs a 'narrator' voice")
        return voices

    def input_files(self) -> dict[str, str]:
        return {"source": self.source, **({"cover": self.cover} if self.cover else {})}
