"""Publishing deliverables atomically.

Everything a render delivers is first written into a private staging directory inside the
output directory. Only when every file is complete does :meth:`Staging.publish` rename them
into place (a rename within one file system is atomic), so a failed or killed render
leaves the previous deliverables as they were and never a half-written one.

The output directory also keeps a record (:attr:`~castline.layout.OutputLayout.published`) of
which deliverables the last render published and from what content, so that an unchanged
MP3 is not encoded again and a deliverable the project no longer produces is removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import unicodedata
import uuid
from pathlib import Path, PurePosixPath

from castline.errors import OutputPathError
from castline.layout import OutputLayout, inside
from castline.tempfiles import write_text_atomic

__all__ = ["Staging", "safe_filename", "published_state"]

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_filename(name: str, max_len: int = 120) -> str:
    """A file name made from a title: no separators, control characters or leading dots."""
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE.sub(" ", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[:max_len].rstrip(" .") or "untitled"


def published_state(layout: OutputLayout) -> dict[str, str]:
    """What the last render published: path relative to the output directory -> content digest."""
    try:
        state = json.loads(layout.published.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


class Staging:
    """A private directory where a render builds its deliverables before publishing them."""

    def __init__(self, layout: OutputLayout) -> None:
        self.layout = layout
        self.output_dir = layout.output_dir
        self.dir = layout.staging / uuid.uuid4().hex[:12]
        self._staged: dict[str, str] = {}
        self._kept: dict[str, str] = {}
        self._published = published_state(layout)

    def __enter__(self) -> Staging:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _target(self, relative: str) -> Path:
        rel = PurePosixPath(relative)
        target = self.output_dir / rel
        if rel.is_absolute() or ".." in rel.parts or not inside(target, self.output_dir):
            raise OutputPathError(target, self.output_dir)
        return target

    def published_digest(self, relative: str) -> str | None:
        """The content digest the last render published ``relative`` with, if it is still there."""
        return self._published.get(relative) if self._target(relative).is_file() else None

    def path(self, relative: str, digest: str = "") -> Path:
        """Where to write the deliverable ``relative`` (a path inside the output directory),
        recorded to be published."""
        staged = self.place(relative)
        self._staged[relative] = digest
        return staged

    def place(self, relative: str) -> Path:
        """Where the deliverable ``relative`` is staged (its folder made), without recording it:
        for a writer in another process, whose result the owner records with :meth:`path`."""
        self._target(relative)
        staged = self.dir / relative
        staged.parent.mkdir(parents=True, exist_ok=True)
        return staged

    def current(self, relative: str) -> Path:
        """The file ``relative`` as this render delivers it: staged now, else the one published and kept."""
        return self.dir / relative if relative in self._staged else self._target(relative)

    def keep(self, relative: str, digest: str) -> None:
        """Keep an already published deliverable as it is (its content has not changed)."""
        self._target(relative)
        self._kept[relative] = digest

    def publish(self) -> list[Path]:
        """Move every staged file into place; remove deliverables the last render made and this one did not."""
        missing = [r for r in self._staged if not (self.dir / r).is_file()]
        if missing:
            raise FileNotFoundError(f"staged deliverables were not written: {missing}")
        published = []
        for relative in self._staged:
            target = self._target(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.dir / relative, target)
            published.append(target)
        state = {**self._kept, **self._staged}
        for relative in set(self._published) - set(state):
            self._target(relative).unlink(missing_ok=True)
        write_text_atomic(self.layout.published, json.dumps(state, indent=1, ensure_ascii=False))
        return published
