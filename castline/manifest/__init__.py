"""The project manifest: one YAML file describes one production.

A manifest's ``kind`` picks its model from :data:`MANIFEST_KINDS` (one module per kind, like
``castline/manifest/audiobook.py``); the models share :class:`~castline.manifest.base.ManifestBase`.
To add a kind: write ``castline/manifest/<kind>.py`` with a model whose ``kind`` is a
``Literal``, register it here, add it to :data:`Manifest`, and give it a flow.

Unknown keys are errors (a misspelt key must not be silently ignored), and every error
names the file, the key and the problem. Paths resolve relative to the manifest's
directory, the *project directory* (see :mod:`castline.project`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError

from castline.errors import ManifestError
from castline.manifest.audiobook import AudiobookManifest, AudiobookOutput, ChapterSelection, Mastering, Pauses
from castline.manifest.base import EngineOptions, ManifestBase

__all__ = [
    "MANIFEST_KINDS",
    "Manifest",
    "ManifestBase",
    "AudiobookManifest",
    "AudiobookOutput",
    "ChapterSelection",
    "Pauses",
    "Mastering",
    "EngineOptions",
    "load_manifest",
]

MAX_MANIFEST_BYTES = 1 << 20

Manifest = AudiobookManifest
"""Any manifest: the union of the kinds' models, discriminated on ``kind``."""

MANIFEST_KINDS: dict[str, type[ManifestBase]] = {"audiobook": AudiobookManifest}
"""``kind`` -> the model of that kind of manifest."""


def _key_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _explain(exc: ValidationError, model: type[BaseModel]) -> tuple[str, str]:
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


def load_manifest(path: str | Path) -> Manifest:
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
    model = MANIFEST_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(sorted(MANIFEST_KINDS))
        problem = "required key is missing" if kind is None else f"unsupported kind {kind!r}"
        raise ManifestError(path, "kind", f"{problem} (known kinds: {known})")
    try:
        manifest = model.model_validate(raw)
    except ValidationError as exc:
        key, problem = _explain(exc, model)
        raise ManifestError(path, key, problem) from None
    return cast(Manifest, manifest)
