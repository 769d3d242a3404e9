"""The project manifest: one YAML file describes one production.

The smallest audiobook manifest::

    kind: audiobook
    title: "Alice's Adventures in Wonderland"
    author: Lewis Carroll
    language: en
    source: alice.epub
    voices:
      narrator: joe
    output:
      dir: out
      formats: [m4b, mp3]

Everything else has a default; ``castline validate --schema`` prints the whole schema.
Unknown keys are errors (a misspelt key must not be silently ignored), and every error
names the file, the key and the problem. Paths resolve relative to the manifest's
directory, the *project directory*; the output directory must lie inside it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from castline.errors import ManifestError, OutputPathError

__all__ = [
    "AudiobookManifest",
    "ChapterSelection",
    "Pauses",
    "Mastering",
    "EngineOptions",
    "Output",
    "Project",
    "load_manifest",
    "load_project",
    "inside",
    "check_output_path",
]

MAX_MANIFEST_BYTES = 1 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChapterSelection(_Strict):
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


class Pauses(_Strict):
    """Silences, in seconds."""

    sentence: float = Field(0.45, ge=0, le=5)
    paragraph: float = Field(0.9, ge=0, le=10)
    title: float = Field(1.5, ge=0, le=10)
    """After the spoken chapter title."""
    head: float = Field(0.75, ge=0.5, le=1.0)
    """Room tone at the start of each chapter (ACX: 0.5-1 s)."""
    tail: float = Field(2.5, ge=1.0, le=5.0)
    """Room tone at the end of each chapter (ACX: 1-5 s)."""


class Mastering(_Strict):
    """Loudness targets; the defaults meet ACX."""

    rms_db: float = Field(-20.0, ge=-23.0, le=-18.0)
    """Target RMS level in dBFS (ACX: -23 to -18)."""
    peak_db: float = Field(-3.5, le=-3.0)
    """Peak ceiling in dBFS (ACX: at most -3)."""
    room_tone_db: float = Field(-72.0, le=-60.0)
    """Level of the room tone laid under the speech, dBFS RMS (ACX noise floor: at most -60)."""


class EngineOptions(_Strict):
    """Synthesis knobs that apply whatever the engine."""

    batch_size: int | None = Field(None, ge=1, le=512)
    """Utterances per synthesis task (default: the engine's preferred batch size)."""
    max_chars: int | None = Field(None, ge=20, le=2000)
    """Longest utterance in characters (default: the engine's limit)."""
    seed: int = Field(0, ge=0)
    """Changes every take of a sampling engine (and so every cache key)."""
    retries: int = Field(3, ge=0, le=10)
    """Retries of a failed synthesis batch, with backoff."""


class Output(_Strict):
    """What to deliver and where."""

    dir: str = "out"
    """Output directory, inside the project directory."""
    formats: list[Literal["m4b", "mp3"]] = Field(default_factory=lambda: ["m4b"], min_length=1)
    name: str | None = None
    """File name stem of the M4B (default: from the title)."""
    m4b_bitrate: str = Field("64k", pattern=r"^\d{2,3}k$")
    mp3_bitrate: str = Field("192k", pattern=r"^\d{2,3}k$")
    """ACX asks for 192k constant bit rate."""


class AudiobookManifest(_Strict):
    """An audiobook production: one EPUB, read by the cast voices, mastered to ACX."""

    kind: Literal["audiobook"]
    title: str = Field(min_length=1)
    author: str = Field(min_length=1)
    language: str = Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$")
    source: str
    """The EPUB, relative to the manifest."""
    voices: dict[str, str]
    """Role -> voice profile (a name, or a profile file relative to the manifest).
    An audiobook needs ``narrator``."""
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
    engine: EngineOptions = EngineOptions()
    output: Output = Output()

    @field_validator("voices")
    @classmethod
    def _needs_narrator(cls, voices: dict[str, str]) -> dict[str, str]:
        if "narrator" not in voices:
            raise ValueError("an audiobook needs a 'narrator' voice")
        return voices


def _key_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _explain(exc: ValidationError, raw: dict[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    """The first error as (key, problem), with a suggestion for a misspelt key."""
    err = exc.errors()[0]
    key = _key_of(err["loc"])
    if err["type"] == "extra_forbidden":
        parent: type[BaseModel] | None = model
        for part in err["loc"][:-1]:
            field = parent.model_fields.get(str(part)) if parent else None
            ann = field.annotation if field else None
            parent = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        known = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})" if known else ""
        return key, f"unknown key{hint}"
    if err["type"] == "missing":
        return key, "required key is missing"
    return key, err["msg"]


def load_manifest(path: str | Path) -> AudiobookManifest:
    """Read and validate a manifest file; raises :class:`ManifestError` naming file and key."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ManifestError(path, None, f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(path, None, "manifest not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(path, None, f"cannot read manifest: {exc}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(path, None, f"not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ManifestError(path, None, "a manifest must be a YAML mapping of keys to values")
    kind = raw.get("kind")
    if kind != "audiobook":
        problem = "required key is missing" if kind is None else f"unsupported kind {kind!r} (supported: audiobook)"
        raise ManifestError(path, "kind", problem)
    try:
        return AudiobookManifest.model_validate(raw)
    except ValidationError as exc:
        key, problem = _explain(exc, raw, AudiobookManifest)
        raise ManifestError(path, key, problem) from None


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies inside ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Project:
    """A manifest with its paths resolved against the project directory."""

    manifest_path: Path
    manifest: AudiobookManifest
    root: Path
    """The project directory: where the manifest lives."""
    source: Path
    output_dir: Path
    cover: Path | None

    @property
    def work_dir(self) -> Path:
        """castline's own files (cache, mastered chapters, staging), inside the output directory."""
        return self.output_dir / ".castline"


def load_project(path: str | Path, output_dir: str | Path | None = None) -> Project:
    """Load a manifest and resolve its paths.

    ``output_dir`` (from the command line, so trusted) overrides ``output.dir`` and may lie
    anywhere; the manifest's own ``output.dir`` must stay inside the project directory.
    """
    path = Path(path).resolve()
    manifest = load_manifest(path)
    root = path.parent

    def existing(key: str, value: str) -> Path:
        p = (root / Path(value).expanduser()).resolve()
        if not p.is_file():
            raise ManifestError(path, key, f"file not found: {p}")
        return p

    if output_dir is not None:
        out = Path(output_dir).resolve()
    else:
        out = (root / manifest.output.dir).resolve()
        if not inside(out, root) or out == root:
            raise ManifestError(
                path, "output.dir", f"{manifest.output.dir!r} is outside the project directory {root} (use a subdirectory)"
            )
    if out.exists() and not out.is_dir():
        raise ManifestError(path, "output.dir", f"{out} exists and is not a directory")
    return Project(
        manifest_path=path,
        manifest=manifest,
        root=root,
        source=existing("source", manifest.source),
        output_dir=out,
        cover=existing("cover", manifest.cover) if manifest.cover else None,
    )


def check_output_path(path: Path, project: Project) -> Path:
    """``path`` if it lies inside the project's output directory; raises otherwise."""
    if not inside(path, project.output_dir):
        raise OutputPathError(path, project.output_dir)
    return path

