"""Where castline keeps its own files inside an output directory: defined here, and only here.

    out/                        the deliverables (M4B, MP3s, reports, the utterance table)
      .castline/
        cache/utterances/       synthesized takes (unless the cache lives elsewhere)
        chapters/               mastered chapters
        staging/<id>/           deliverables of a render in progress
        published.json          what the last render published, and from what content
        levels.json             ffmpeg's measurements of the deliverables, by content
        lock                    held by the render that is using this output directory
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from castline.tempfiles import remove_dead_scratch_dirs, remove_stale_temp_files

__all__ = ["OutputLayout", "inside", "WORK_DIR_NAME"]

WORK_DIR_NAME = ".castline"


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies inside ``root``."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class OutputLayout:
    """The paths of one output directory."""

    output_dir: Path

    @property
    def work_dir(self) -> Path:
        """castline's own files, inside the output directory."""
        return self.output_dir / WORK_DIR_NAME

    @property
    def utterance_cache(self) -> Path:
        """The default utterance cache (``--cache-dir`` moves it)."""
        return self.work_dir / "cache" / "utterances"

    @property
    def chapters(self) -> Path:
        return self.work_dir / "chapters"

    @property
    def staging(self) -> Path:
        return self.work_dir / "staging"

    @property
    def published(self) -> Path:
        return self.work_dir / "published.json"

    @property
    def levels(self) -> Path:
        return self.work_dir / "levels.json"

    @property
    def lock(self) -> Path:
        return self.work_dir / "lock"

    @property
    def review_page(self) -> Path:
        """The review page of a render whose QA gate failed: it publishes nothing, so its page
        stays here. A render that passes publishes its page as ``report.html`` in the output
        directory (``tasks.review_page.latest_review_page`` picks the newer of the two)."""
        return self.work_dir / "review.html"

    def remove_leftovers(self) -> None:
        """Clear what killed renders left: staging folders, temporary files, scratch folders.

        Call it holding the output directory's lock (:mod:`castline.lock`): no live render is
        then writing here, so every staging folder and temporary file under ``.castline/`` is
        a dead one's.
        """
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.work_dir.is_dir():
            remove_stale_temp_files(self.work_dir)
        remove_dead_scratch_dirs()
