"""What every kind of manifest shares: strict sections, engine knobs, the output directory.

Numbers are strict: a boolean (``true``) or a quoted string is not taken for a number, so
``seed: yes`` is an error rather than seed 1. Text that ends up in audio file tags is checked
for control characters (ffmpeg cannot carry a NUL or an escape in a tag), and text that names a
file for characters and lengths no file system accepts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from castline.errors import quoted

__all__ = [
    "Section",
    "EngineOptions",
    "QualityGate",
    "OutputBase",
    "ManifestBase",
    "LANGUAGE_TAG",
    "TagText",
    "MultilineTagText",
    "PathText",
    "MAX_SEED",
]

LANGUAGE_TAG = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$"
"""A BCP 47 language tag, loosely (``en``, ``en-US``, ``zh_CN``)."""

MAX_SEED = 2**63 - 1
"""Largest ``engine.seed``."""

_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_TAB_NEWLINE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_PATH_BYTES = 1024
_MAX_NAME_BYTES = 255


def _refuse_controls(pattern: re.Pattern[str], where: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        bad = pattern.search(value)
        if bad is not None:
            code = ord(bad.group())
            what = "an unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
            raise ValueError(f"{what} U+{code:04X} (at character {bad.start() + 1}) is not allowed {where}")
        return value

    return check


def _path_text(value: str) -> str:
    _refuse_controls(_CONTROL_RE, "in a path")(value)
    if value.startswith("~") and os.path.expanduser(value).startswith("~"):
        user = value.split("/", 1)[0]
        raise ValueError(f"cannot expand {quoted(user, 60)}: no such user or no home directory")
    if len(value.encode("utf-8")) > _MAX_PATH_BYTES:
        raise ValueError(f"a path of more than {_MAX_PATH_BYTES} bytes ({len(value)} characters)")
    for part in value.replace("\\", "/").split("/"):
        if len(part.encode("utf-8")) > _MAX_NAME_BYTES:
            raise ValueError(f"a file or directory name of more than {_MAX_NAME_BYTES} bytes in the path")
    return value


TagText = Annotated[str, AfterValidator(_refuse_controls(_CONTROL_RE, "in a tag (ffmpeg cannot carry it)"))]
"""One-line text for a tag (title, author...): no control characters."""
MultilineTagText = Annotated[
    str,
    AfterValidator(_refuse_controls(_CONTROL_BUT_TAB_NEWLINE_RE, "in a tag (tab and newline are; ffmpeg cannot carry the others)")),
]
"""Text for a tag that may hold tabs and line breaks (a description)."""
PathText = Annotated[str, AfterValidator(_path_text)]
"""A file or directory named in a manifest: no control characters, lengths a file system accepts."""


class Section(BaseModel):
    """A manifest section: unknown keys are errors (a misspelt key must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineOptions(Section):
    """Synthesis knobs that apply whatever the engine."""

    batch_size: int | None = Field(None, ge=1, le=512, strict=True)
    """Utterances per synthesis task (default: the engine's preferred batch size)."""
    max_chars: int | None = Field(None, ge=20, le=2000, strict=True)
    """Longest utterance in characters (default: the engine's limit)."""
    seed: int = Field(0, ge=0, le=MAX_SEED, strict=True)
    """Changes every take of a sampling engine (and so every cache key)."""
    retries: int = Field(3, ge=0, le=10, strict=True)
    """Retries of a failed synthesis batch, with backoff."""


class QualityGate(Section):
    """The quality gate every take passes before it is mastered (:mod:`tasks.qa`): what it does
    when a take still fails after its retakes (or a delivered file misses its loudness target),
    and its limits. The defaults and why they are what they are: ``tasks/qa.py``."""

    mode: Literal["fail", "warn", "off"] = "warn"
    """``fail``: the render fails and publishes nothing; ``warn``: it is delivered and the takes
    are listed for review; ``off``: no checks (and no retakes)."""
    retakes: int = Field(2, ge=0, le=10, strict=True)
    """New takes (new seeds) of a take that fails, before it goes to the review list."""
    max_wer: float = Field(0.4, ge=0.0, le=10.0)
    """Highest word error rate of what ASR heard against the text..."""
    max_cer: float = Field(0.2, ge=0.0, le=10.0)
    """...unless its character error rate (spaces dropped) stays under this: a word ASR writes
    another way ("goodbye" for "good-by") is not a wrong word."""
    max_lead_s: float = Field(1.0, gt=0.0)
    max_trail_s: float = Field(1.5, gt=0.0)
    max_pause_s: float = Field(2.0, gt=0.0)
    """Longest silence before, after and inside a take, in seconds."""
    min_similarity: float = Field(0.7, ge=-1.0, le=1.0)
    """Lowest speaker similarity of a cloned voice's take to its reference."""


class OutputBase(Section):
    """Where the deliverables go."""

    dir: PathText = "out"
    """Output directory, inside the project directory."""


class ManifestBase(Section):
    """The keys every production has. A kind adds its own and names its input files."""

    kind: str
    language: str = Field(pattern=LANGUAGE_TAG)
    """Language of the text (BCP 47: ``en``, ``en-US``)."""
    voices: dict[str, PathText]
    """Role -> voice profile (a name, or a profile file relative to the manifest)."""
    engine: EngineOptions = EngineOptions()
    qa: QualityGate = QualityGate()
    output: OutputBase = OutputBase()

    def input_files(self) -> dict[str, str]:
        """Manifest key -> file it names (relative to the manifest), for the files given."""
        return {}
