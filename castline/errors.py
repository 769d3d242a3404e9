"""Every error castline raises on purpose derives from :class:`CastlineError`.

Each subclass keeps the offending value (a path, a key, a command) and puts it in its
message, so one line tells the user which file is wrong and why. Errors are raised where
they are found and reported once, at the edge (the CLI or the flow).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "CastlineError",
    "InputError",
    "ManifestError",
    "EpubError",
    "AudioError",
    "VoiceError",
    "CheckpointError",
    "EngineError",
    "FFmpegError",
    "OutputPathError",
    "StorageError",
    "OutputInUseError",
]


class CastlineError(Exception):
    """Base of all castline errors."""


class InputError(CastlineError):
    """A user-supplied file is unusable. The message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ManifestError(InputError):
    """The project manifest is malformed: names the file, the key and the problem."""

    def __init__(self, path: str | Path, key: str | None, problem: str) -> None:
        self.key = key
        super().__init__(path, f"{key}: {problem}" if key else problem)


class EpubError(InputError):
    """An EPUB cannot be read safely (not a zip, hostile member, malformed package)."""


class AudioError(InputError):
    """An audio clip cannot be decoded or is unsuitable (too short, silent, ...)."""


class VoiceError(InputError):
    """A voice profile is missing or invalid."""


class CheckpointError(InputError):
    """A model checkpoint is missing, truncated or does not match what the profile says."""


class EngineError(CastlineError):
    """An engine failed while synthesizing (may be transient; synthesis retries these)."""


class OutputPathError(CastlineError):
    """A path would be written outside the project's output directory."""

    def __init__(self, path: str | Path, root: str | Path) -> None:
        self.path = Path(path)
        self.root = Path(root)
        super().__init__(f"{self.path}: refusing to write outside the output directory {self.root}")


class FFmpegError(CastlineError):
    """ffmpeg or ffprobe failed; carries the command and what ffmpeg printed."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        super().__init__(
            f"{self.command[0]} exited with code {returncode}: {' '.join(self.command)}\n{tail}"
        )


class StorageError(CastlineError):
    """A storage location (a directory or an fsspec URL) cannot be used; names the setting."""

    def __init__(self, setting: str, url: str, problem: str) -> None:
        self.setting = setting
        self.url = url
        self.problem = problem
        super().__init__(f"{setting}: {url!r}: {problem}")


class OutputInUseError(CastlineError):
    """Another live render holds the output directory."""

    def __init__(self, output_dir: str | Path, holder: str) -> None:
        self.output_dir = Path(output_dir)
        self.holder = holder
        super().__init__(f"{self.output_dir}: another render is using this output directory ({holder})")
