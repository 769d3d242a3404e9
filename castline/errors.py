"""Every error castline raises on purpose derives from :class:`CastlineError`.

Each subclass keeps the offending value (a path, a key, a command) and puts it in its
message, so one line tells the user which file is wrong and why. Errors are raised where
they are found and reported once, at the edge (the CLI or the flow).
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "CastlineError",
    "InputError",
    "ManifestError",
    "EpubError",
    "LexiconError",
    "AudioError",
    "VoiceError",
    "CheckpointError",
    "EngineError",
    "FFmpegError",
    "OutputPathError",
    "StorageError",
    "SettingError",
    "OutputInUseError",
    "SHORT_LIMIT",
    "shorten",
    "quoted",
]

SHORT_LIMIT = 200
"""Most characters of a user-supplied value an error message quotes."""

PATH_LIMIT = 400
"""Most characters of a path an :class:`InputError` shows (a path can come from a manifest)."""

PROBLEM_LIMIT = 500
"""Most characters of the problem a :class:`ManifestError` or :class:`VoiceError` states (a
last resort: the code that builds a message quotes values through :func:`quoted`)."""


def shorten(text: str, limit: int = SHORT_LIMIT) -> str:
    """``text`` itself, or its start and how long it was when it is longer than ``limit``.

    The result is at most ``limit`` characters (and never less than the start of the text)::

        shorten("x" * 5000, 40) == "xxxxxxxxxxxxxxxxxx... (5000 characters)"
    """
    if len(text) <= limit:
        return text
    note = f"... ({len(text)} characters)"
    return text[: max(limit - len(note), 10)] + note


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 6
_REPR.maxstring = _REPR.maxother = SHORT_LIMIT


def quoted(value: object, limit: int = SHORT_LIMIT) -> str:
    """``repr(value)`` for an error message, at most about ``limit`` characters.

    Strings keep their start and say how long they were (``'abc...'... (140000 characters)``);
    collections are elided (``[1, 2, 3, 4, 5, 6, ...]``) without building their whole repr.
    """
    if isinstance(value, (str, bytes, bytearray)):
        text = repr(value[: limit + 1])
        if len(value) <= limit and len(text) <= limit:
            return text
        unit = "characters" if isinstance(value, str) else "bytes"
        note = f"... ({len(value)} {unit})"
        return text[: max(limit - len(note), 20)] + note
    return shorten(_REPR.repr(value), limit)


class CastlineError(Exception):
    """Base of all castline errors."""


class InputError(CastlineError):
    """A user-supplied file is unusable. The message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{shorten(str(self.path), PATH_LIMIT)}: {problem}")


class ManifestError(InputError):
    """The project manifest is malformed: names the file, the key and the problem."""

    def __init__(self, path: str | Path, key: str | None, problem: str) -> None:
        self.key = key if key is None else shorten(key, SHORT_LIMIT)
        problem = shorten(problem, PROBLEM_LIMIT)
        super().__init__(path, f"{self.key}: {problem}" if self.key else problem)


class EpubError(InputError):
    """An EPUB cannot be read safely (not a zip, hostile member, malformed package)."""


class LexiconError(InputError):
    """A pronunciation lexicon (castline YAML or W3C PLS) cannot be used, or a phoneme from one
    is not one the engine can say: ``FILE:LINE: problem`` when the line is known."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        super().__init__(path, shorten(problem, PROBLEM_LIMIT))
        self.line = line
        if line is not None:
            self.args = (f"{shorten(str(self.path), PATH_LIMIT)}:{line}: {self.problem}",)


class AudioError(InputError):
    """An audio clip cannot be decoded or is unsuitable (too short, silent, ...)."""


class VoiceError(InputError):
    """A voice profile is missing or invalid."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(path, shorten(problem, PROBLEM_LIMIT))


class CheckpointError(InputError):
    """A model checkpoint is missing, truncated or does not match what the profile says."""


class EngineError(CastlineError):
    """An engine failed while synthesizing (may be transient; synthesis retries these)."""


class OutputPathError(CastlineError):
    """A path would be written outside the project's output directory."""

    def __init__(self, path: str | Path, root: str | Path, reason: str = "") -> None:
        self.path = Path(path)
        self.root = Path(root)
        why = f"{reason}: " if reason else ""
        super().__init__(f"{self.path}: {why}refusing to write outside {self.root}")


class FFmpegError(CastlineError):
    """ffmpeg or ffprobe failed; carries the command and what ffmpeg printed."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr
        # The message quotes each argument and each line of ffmpeg's log shortened: a long
        # title or a hostile file name must not make it megabytes long.
        tail = "\n".join(shorten(line, PROBLEM_LIMIT) for line in stderr.strip().splitlines()[-15:])
        shown = shorten(" ".join(shorten(arg, 120) for arg in self.command), 2000)
        super().__init__(f"{shorten(self.command[0], 120)} exited with code {returncode}: {shown}\n{tail}")


class StorageError(CastlineError):
    """A storage location (a directory or an fsspec URL) cannot be used; names the setting."""

    def __init__(self, setting: str, url: str, problem: str) -> None:
        self.setting = setting
        self.url = url
        self.problem = problem
        super().__init__(f"{setting}: {url!r}: {problem}")


class SettingError(CastlineError):
    """An environment setting has a value castline cannot use; names the variable, the value
    and what it accepts, so the fix is in the message."""

    def __init__(self, setting: str, value: str, problem: str) -> None:
        self.setting = setting
        self.value = value
        self.problem = problem
        super().__init__(f"{setting}={quoted(value)}: {problem}")


class OutputInUseError(CastlineError):
    """Another live render holds the output directory."""

    def __init__(self, output_dir: str | Path, holder: str) -> None:
        self.output_dir = Path(output_dir)
        self.holder = holder
        super().__init__(f"{self.output_dir}: another render is using this output directory ({holder})")


class WriteError(CastlineError):
    """A file could not be written: a full disk, a quota, a permission, a read-only file system."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: cannot write: {problem}")
