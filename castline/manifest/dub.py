"""The ``dub`` manifest: a video and a subtitle file in, the video with a dubbed track out.

The smallest one::

    kind: dub
    video: clip.webm
    subtitles: clip.en.srt
    language: en
    voices:
      default: joe

Speakers come from the subtitle file (an ASS actor, a ``NAME:`` prefix) or from ``speakers``
rules; each speaker is cast by ``voices``, and a speaker nobody cast is read by the
``default`` voice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt, StrictStr, field_validator, model_validator

from castline.manifest.base import ManifestBase, OutputBase, PathText, Section, TagText
from castline.model import Decibels, Seconds

__all__ = ["DubManifest", "SubtitleOptions", "SpeakerRuleItem", "Timing", "Mix", "Loudness", "DubOutput", "DEFAULT_ROLE"]

DEFAULT_ROLE = "default"
"""The role whose voice reads every speaker that ``voices`` does not name."""

MAX_PATTERN_CHARS = 200


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a cue number (3), a range (\"5-9\") or a list of them is expected, not a yes/no value")
    return value


CueItem = Annotated[StrictInt | StrictStr, BeforeValidator(_no_bool)]


class SubtitleOptions(Section):
    """How to read the subtitle file."""

    encoding: str | None = Field(None, min_length=1, max_length=40)
    """Its text encoding when it is not Unicode (``cp1252``, ``latin-1``...); a BOM wins."""
    strict: bool = Field(False, strict=True)
    """Fail on a malformed cue (default: skip it and list it in the report)."""
    stream_language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$")
    """Without ``subtitles:``, the video's own subtitle stream in this language (default: ``language``)."""


class SpeakerRuleItem(Section):
    """Who speaks some cues: those in ``cues``, those whose text matches ``pattern``, or both."""

    speaker: TagText = Field(min_length=1, max_length=100)
    cues: CueItem | list[CueItem] | None = None
    """Cue numbers (1 is the first cue in time order): ``3``, ``"5-9"``, ``[1, "4-6"]``."""
    pattern: str | None = Field(None, min_length=1, max_length=MAX_PATTERN_CHARS)
    """A regular expression searched in the cue's text."""

    @model_validator(mode="after")
    def _selects_something(self) -> SpeakerRuleItem:
        if self.cues is None and self.pattern is None:
            raise ValueError("a speaker rule needs 'cues', 'pattern' or both")
        return self


class Timing(Section):
    """How speech is fitted to its cue."""

    min_gap: Seconds = Field(0.1, ge=0, le=2, strict=True)
    """Silence kept before the next cue when speech borrows the gap after its own."""
    max_tempo: float = Field(1.25, ge=1.0, le=2.0, strict=True)
    """Fastest speed-up of speech that is still too long (pitch preserved)."""
    overflow: Literal["trim", "overlap"] = "trim"
    """What still does not fit: cut with a fade-out, or run into the next cue. Always reported."""
    fade: Seconds = Field(0.05, ge=0, le=1, strict=True)
    """Fade-out of a trimmed take."""


class Mix(Section):
    """What happens to the original audio."""

    original: Literal["duck", "replace"] = "duck"
    """Keep it as background, lowered under the speech, or replace it by the speech alone."""
    duck_depth_db: Decibels = Field(-12.0, ge=-40.0, le=0.0, strict=True)
    """How far the background is lowered while someone speaks."""
    attack: Seconds = Field(0.05, ge=0.001, le=2, strict=True)
    release: Seconds = Field(0.4, ge=0.01, le=5, strict=True)


class Loudness(Section):
    """Where the mix is mastered to: EBU R128 by default; -16 or -14 LUFS for streaming."""

    integrated_lufs: Decibels = Field(-23.0, ge=-31.0, le=-10.0, strict=True)
    true_peak_db: Decibels = Field(-1.0, ge=-9.0, le=-1.0, strict=True)
    """True-peak ceiling in dBTP (R128: at most -1)."""


class DubOutput(OutputBase):
    """What to deliver and where."""

    container: Literal["auto", "mkv", "mp4"] = "auto"
    """``auto``: MP4 when the input is an MP4 whose streams an MP4 can carry, else MKV."""
    name: str | None = Field(None, min_length=1, max_length=120)
    """File name stem of the dubbed video (default: the video's, with the language added)."""
    track_title: TagText | None = Field(None, max_length=200)
    """Title of the added audio track (default: ``Dub (<language>)``)."""
    embed_subtitles: bool = Field(False, strict=True)
    """Also add the subtitles as a soft track."""
    audio_bitrate: str = Field("192k", pattern=r"^\d{2,3}k$")


class DubManifest(ManifestBase):
    """A dubbing production: a video (or an audio file) and a subtitle file in the target language."""

    kind: Literal["dub"]
    video: PathText
    """The video (or audio file) to dub, relative to the manifest."""
    subtitles: PathText | None = None
    """SRT, WebVTT or ASS/SSA (default: the video's own subtitle stream in ``language``)."""
    title: TagText | None = Field(None, max_length=200)
    """The production's title for the report (default: the video's file name)."""
    subtitle: SubtitleOptions = SubtitleOptions()
    speakers: list[SpeakerRuleItem] = Field(default_factory=list, max_length=1000)
    """Rules naming the speaker of some cues; the first that matches wins over the file."""
    timing: Timing = Timing()
    mix: Mix = Mix()
    loudness: Loudness = Loudness()
    output: DubOutput = DubOutput()

    @field_validator("voices")
    @classmethod
    def _needs_default(cls, voices: dict[str, str]) -> dict[str, str]:
        if DEFAULT_ROLE not in voices:
            raise ValueError(f"a dub needs a {DEFAULT_ROLE!r} voice (it reads every speaker not named here)")
        return voices

    def input_files(self) -> dict[str, str]:
        return {"video": self.video, **({"subtitles": self.subtitles} if self.subtitles else {})}
