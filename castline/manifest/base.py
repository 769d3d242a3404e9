"""What every kind of manifest shares: strict sections, engine knobs, the output directory."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Section", "EngineOptions", "OutputBase", "ManifestBase", "LANGUAGE_TAG"]

LANGUAGE_TAG = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$"
"""A BCP 47 language tag, loosely (``en``, ``en-US``, ``zh_CN``)."""


class Section(BaseModel):
    """A manifest section: unknown keys are errors (a misspelt key must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineOptions(Section):
    """Synthesis knobs that apply whatever the engine."""

    batch_size: int | None = Field(None, ge=1, le=512)
    """Utterances per synthesis task (default: the engine's preferred batch size)."""
    max_chars: int | None = Field(None, ge=20, le=2000)
    """Longest utterance in characters (default: the engine's limit)."""
    seed: int = Field(0, ge=0)
    """Changes every take of a sampling engine (and so every cache key)."""
    retries: int = Field(3, ge=0, le=10)
    """Retries of a failed synthesis batch, with backoff."""


class OutputBase(Section):
    """Where the deliverables go."""

    dir: str = "out"
    """Output directory, inside the project directory."""


class ManifestBase(Section):
    """The keys every production has. A kind adds its own and names its input files."""

    kind: str
    language: str = Field(pattern=LANGUAGE_TAG)
    """Language of the text (BCP 47: ``en``, ``en-US``)."""
    voices: dict[str, str]
    """Role -> voice profile (a name, or a profile file relative to the manifest)."""
    engine: EngineOptions = EngineOptions()
    output: OutputBase = OutputBase()

    def input_files(self) -> dict[str, str]:
        """Manifest key -> file it names (relative to the manifest), for the files given."""
        return {}
