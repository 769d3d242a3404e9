"""The project manifest: one YAML file describes one production.

A manifest's ``kind`` picks its model from :data:`MANIFEST_KINDS` (one module per kind, like
``castline/manifest/audiobook.py``); the models share :class:`~castline.manifest.base.ManifestBase`.
To add a kind: write ``castline/manifest/<kind>.py`` with a model whose ``kind`` is a
``Literal``, register it here, add it to :data:`Manifest`, and give it a flow.

Unknown keys are errors (a misspelt key must not be silently ignored), and every error
names the file, the key and the problem, quoting at most about 200 characters of any value.
The YAML itself is read by :mod:`castline.yamlsafe`: aliases (``*name``), merge keys and
duplicate keys are refused, with the line they are on. Paths resolve relative to the manifest's
directory, the *project directory* (see :mod:`castline.project`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from castline.errors import ManifestError, quoted, shorten
from castline.manifest.audiobook import AudiobookManifest, AudiobookOutput, ChapterSelection, Mastering, Pauses
from castline.manifest.base import EngineOptions, ManifestBase
from castline.manifest.dub import DubManifest
from castline.yamlsafe import MAX_YAML_BYTES, YamlError, load_yaml_file

__all__ = [
    "MANIFEST_KINDS",
    "Manifest",
    "ManifestBase",
    "AudiobookManifest",
    "DubManifest",
    "AudiobookOutput",
    "ChapterSelection",
    "Pauses",
    "Mastering",
    "EngineOptions",
    "load_manifest",
]

MAX_MANIFEST_BYTES = MAX_YAML_BYTES
"""Largest manifest file read (1 MiB)."""

Manifest = AudiobookManifest | DubManifest
"""Any manifest: the union of the kinds' models, discriminated on ``kind``."""

MANIFEST_KINDS: dict[str, type[ManifestBase]] = {"audiobook": AudiobookManifest, "dub": DubManifest}
"""``kind`` -> the model of that kind of manifest."""


def _key_part(part: object) -> str:
    text = str(part)
    return shorten(text if text.isprintable() else repr(text), 60)


def _key_of(loc: tuple[Any, ...]) -> str:
    return ".".join(_key_part(p) for p in loc) or "(top level)"


_NUMBER_ERRORS = frozenset({"int_type", "int_parsing", "float_type", "float_parsing"})


def _explain(exc: ValidationError, model: type[BaseModel]) -> tuple[str, str]:
    """The first error as (key, problem), with a suggestion for a misspelt key.

    Nothing the manifest wrote is quoted in full: keys and values are shortened
    (:func:`~castline.errors.shorten`), whatever pydantic's message holds.
    """
    err = exc.errors(include_url=False)[0]
    key = _key_of(err["loc"])
    if err["type"] == "extra_forbidden":
        parent: type[BaseModel] | None = model
        for part in err["loc"][:-1]:
            field = parent.model_fields.get(str(part)) if parent else None
            ann = field.annotation if field else None
            parent = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        known = sorted(parent.model_fields) if parent else []
        unknown = str(err["loc"][-1])
        close = difflib.get_close_matches(unknown, known, n=1) if len(unknown) <= 100 else []
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})" if known else ""
        return key, f"unknown key{hint}"
    if err["type"] == "missing":
        return key, "required key is missing"
    if err["type"] in _NUMBER_ERRORS and isinstance(err.get("input"), bool):
        return key, f"a number is expected here, not {str(err['input']).lower()} (a yes/no value)"
    msg = str(err["msg"])
    if err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    return key, shorten(msg)


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file; raises :class:`ManifestError` naming file and key.

    The YAML is read by :func:`castline.yamlsafe.load_yaml_file`: at most
    :data:`MAX_MANIFEST_BYTES`, no aliases or merge keys, no duplicate keys, bounded nesting.
    """
    path = Path(path)
    try:
        raw = load_yaml_file(path, "manifest", MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise ManifestError(path, None, "manifest not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ManifestError(path, None, f"cannot read manifest: {getattr(exc, 'strerror', None) or exc}") from None
    except YamlError as exc:
        raise ManifestError(path, None, f"not valid YAML: {exc}" if exc.syntax else str(exc)) from None
    if not isinstance(raw, dict):
        raise ManifestError(path, None, "a manifest must be a YAML mapping of keys to values")
    kind = raw.get("kind")
    model = MANIFEST_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(sorted(MANIFEST_KINDS))
        problem = "required key is missing" if kind is None else f"unsupported kind {quoted(kind)}"
        raise ManifestError(path, "kind", f"{problem} (known kinds: {known})")
    try:
        manifest = model.model_validate(raw)
    except ValidationError as exc:
        key, problem = _explain(exc, model)
        raise ManifestError(path, key, problem) from None
    return cast(Manifest, manifest)
