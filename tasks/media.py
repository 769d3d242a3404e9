"""What a video (or audio) file holds, as ffprobe reads it.

:func:`probe_media` turns ffprobe's JSON into a small typed record: the container, its
duration and one :class:`MediaStream` per stream, so the stages of a dub (mix, mux) decide
from fields rather than from string-keyed dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from castline.errors import FFmpegError, InputError, shorten
from castline.ffmpeg import probe
from castline.model import Hertz, Seconds

__all__ = ["MediaStream", "MediaInfo", "probe_media"]


@dataclass(frozen=True)
class MediaStream:
    """One stream of a media file."""

    index: int
    """ffprobe's stream index: the ``N`` of ``-map 0:N``."""
    codec_type: str
    """``video``, ``audio``, ``subtitle``, ``data`` or ``attachment``."""
    codec_name: str
    """ffmpeg's codec name (``h264``, ``aac``, ``subrip``...; ``unknown`` for a timecode track)."""
    language: str | None
    """The stream's ``language`` tag as the file has it (``eng``, ``und``...), or None."""
    channels: int | None
    """Audio channels (None for other streams)."""
    sample_rate: Hertz | None
    """Audio sample rate in Hz (None for other streams)."""
    title: str | None
    """The track's name: its ``title`` tag, or an MP4 track's handler name unless it is a
    placeholder such as ``SoundHandler`` (ffmpeg writes an MP4 track's title there)."""
    default: bool
    """The stream's ``default`` disposition: players pick it when the user has not chosen."""


@dataclass(frozen=True)
class MediaInfo:
    """A probed media file: its container, duration and streams."""

    path: Path
    format_name: str
    """ffprobe's format name; may list aliases (``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska,webm``)."""
    duration_s: Seconds
    """The container's duration, else the longest stream's; 0.0 when neither is known."""
    streams: tuple[MediaStream, ...]

    def of_type(self, codec_type: str) -> list[MediaStream]:
        """The streams of one ``codec_type``, in file order."""
        return [s for s in self.streams if s.codec_type == codec_type]

    @property
    def audio(self) -> list[MediaStream]:
        return self.of_type("audio")

    @property
    def video(self) -> list[MediaStream]:
        return self.of_type("video")

    @property
    def subtitles(self) -> list[MediaStream]:
        return self.of_type("subtitle")


def _optional_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> float | None:
    """A duration as ffprobe prints it (``"12.345000"``) or as a Matroska ``DURATION`` tag
    (``"00:00:01.234000000"``); None when absent, unreadable or not finite."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        if ":" in text:
            hours, minutes, seconds = text.split(":")
            number = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        else:
            number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _placeholder_handler(name: str) -> bool:
    """True for the handler names tools write for every MP4 track (``SoundHandler``,
    ``GPAC ISO Audio Handler``, ``Core Media Audio``): they name no track."""
    return name.endswith("Handler") or name.startswith("Core Media")


def _stream(raw: dict[str, Any]) -> MediaStream:
    tags = {str(key).lower(): str(value) for key, value in (raw.get("tags") or {}).items()}
    handler = tags.get("handler_name", "")
    return MediaStream(
        index=int(raw["index"]),
        codec_type=str(raw.get("codec_type", "unknown")),
        codec_name=str(raw.get("codec_name", "unknown")),
        language=tags.get("language") or None,
        channels=_optional_int(raw.get("channels")),
        sample_rate=_optional_int(raw.get("sample_rate")),
        title=tags.get("title") or (handler if handler and not _placeholder_handler(handler) else None),
        default=bool((raw.get("disposition") or {}).get("default")),
    )


def _duration_s(raw: dict[str, Any]) -> float:
    container = _seconds(raw.get("format", {}).get("duration"))
    if container:
        return container
    streams = [_seconds(s.get("duration")) or _seconds((s.get("tags") or {}).get("DURATION")) for s in raw["streams"]]
    return max((d for d in streams if d), default=0.0)


def probe_media(path: Path) -> MediaInfo:
    """Probe ``path`` with ffprobe.

    Raises :class:`InputError` naming the file when ffprobe cannot read it, or when what it
    reads has neither audio nor video (ffprobe takes some text files for ``tty`` art).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        raw = probe(path)
    except FFmpegError as err:
        said = [line.strip() for line in err.stderr.strip().splitlines() if line.strip()]
        reason = shorten(said[-1].replace(f"{path}: ", "") if said else f"ffprobe exit status {err.returncode}")
        raise InputError(path, f"not a video or audio file ffmpeg can read: {reason}") from None
    format_name = str(raw.get("format", {}).get("format_name", ""))
    streams = tuple(_stream(s) for s in raw["streams"])
    if format_name == "tty" or not any(s.codec_type in ("audio", "video") for s in streams):
        found = f"ffprobe finds no audio or video in it (format {format_name or 'unknown'})"
        raise InputError(path, f"not a video or audio file ffmpeg can read: {found}")
    return MediaInfo(path=path, format_name=format_name, duration_s=_duration_s(raw), streams=streams)
