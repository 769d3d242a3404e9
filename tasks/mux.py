"""The dubbed video: the original's streams copied as they are, plus the dub as a new audio
track (and, on request, the subtitles as a soft track).

Choices made here, and why (measured on ffmpeg 5.1, Debian 12):

- Every original video, audio, subtitle and attachment stream is copied, packet for packet
  (``-map 0 -c copy``). The original audio stays selectable but loses its ``default`` flag
  (its other flags stay), and the dub becomes the default track, so a player starts with it.
- *Data streams are dropped* (``-map -0:d``): neither muxer takes them as a copy ("Could not
  find tag for codec none" in MP4, "Only audio, video, and subtitles are supported" in
  Matroska). An MP4 timecode track (``tmcd``) is not lost: ffmpeg keeps its start timecode as
  the video stream's ``timecode`` tag, and the MP4 muxer writes a new ``tmcd`` track from it
  (Matroska keeps the tag).
- MP4 keeps a track's name in its handler (``hdlr``), not in a ``title`` tag, so the dub's
  title is written to both ``title`` and ``handler_name``.
- A new soft subtitle track is not marked default in Matroska; in MP4 ffmpeg enables the first
  track of each kind, which players read as default, and that cannot be turned off.
- MP4 subtitles must be ``mov_text``; a ``mov_text`` stream going into Matroska (which cannot
  hold it) becomes SubRip, its text kept, its styling lost.
- The output is written under a temporary name beside ``out`` and renamed when complete; an
  MP4 gets ``+faststart`` (the index in front, so playback can start while downloading).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from castline.errors import InputError
from castline.ffmpeg import run_ffmpeg
from castline.language import iso639_2
from castline.tempfiles import atomic_path
from tasks.media import MediaInfo, MediaStream

__all__ = [
    "Container",
    "MP4_VIDEO",
    "MP4_AUDIO",
    "MP4_SUBTITLES",
    "DUB_SAMPLE_RATE_HZ",
    "choose_container",
    "mux_dub",
]

log = logging.getLogger(__name__)

Container = Literal["mkv", "mp4"]

MP4_VIDEO = frozenset({"h264", "hevc", "av1", "mpeg4", "vp9"})
"""Video codecs copied into MP4 (ffmpeg names)."""
MP4_AUDIO = frozenset({"aac", "ac3", "eac3", "mp3", "alac", "opus", "flac"})
"""Audio codecs copied into MP4 (FLAC needs ffmpeg's ``-strict experimental`` in 5.1)."""
MP4_SUBTITLES = frozenset({"mov_text"})
"""Subtitle codecs copied into MP4: text subtitles in SubRip or ASS would have to be converted."""
DUB_SAMPLE_RATE_HZ = 48000
"""The dub track's sample rate (what AAC in film and streaming uses)."""

_MP4_ALLOWED = {"video": MP4_VIDEO, "audio": MP4_AUDIO, "subtitle": MP4_SUBTITLES}
_MUXERS: dict[Container, str] = {"mkv": "matroska", "mp4": "mp4"}


def _is_mp4_family(info: MediaInfo) -> bool:
    """True for ffprobe's ``mov,mp4,m4a,3gp,3g2,mj2`` (MP4, MOV, M4A...)."""
    return bool({"mov", "mp4"} & set(info.format_name.split(",")))


def _mp4_misfits(info: MediaInfo) -> list[MediaStream]:
    """The streams an MP4 cannot carry as copies (data streams are dropped anyway)."""
    return [s for s in info.streams if s.codec_type != "data" and s.codec_name not in _MP4_ALLOWED.get(s.codec_type, frozenset())]


def choose_container(info: MediaInfo, requested: Literal["auto", "mkv", "mp4"] = "auto") -> Container:
    """The container of the dubbed video.

    ``auto`` keeps an MP4/MOV input in MP4 when MP4 can carry every stream as it is, and
    gives Matroska otherwise (Matroska takes any codec). ``mp4`` when MP4 cannot carry a
    stream raises ValueError naming the stream.
    """
    if requested == "mkv":
        return "mkv"
    misfits = _mp4_misfits(info)
    if requested == "mp4":
        if misfits:
            s = misfits[0]
            what = f"stream {s.index} ({s.codec_type} {s.codec_name})"
            raise ValueError(f"{info.path}: MP4 cannot carry {what} without converting it; use mkv")
        return "mp4"
    if requested != "auto":
        raise ValueError(f"container must be 'auto', 'mkv' or 'mp4', got {requested!r}")
    return "mp4" if _is_mp4_family(info) and not misfits else "mkv"


def _subtitle_codec(path: Path, container: Container) -> str:
    if container == "mp4":
        return "mov_text"
    return "ass" if path.suffix.lower() in (".ass", ".ssa") else "srt"


def _dub_args(n: int, container: Container, language: str, title: str, audio_codec: str, audio_bitrate: str) -> list[str]:
    """Output options for the dub, the ``n``-th audio stream of the output."""
    args = [f"-c:a:{n}", audio_codec, f"-b:a:{n}", audio_bitrate, f"-ar:a:{n}", str(DUB_SAMPLE_RATE_HZ)]
    args += [f"-metadata:s:a:{n}", f"language={iso639_2(language)}", f"-metadata:s:a:{n}", f"title={title}"]
    if container == "mp4":
        args += [f"-metadata:s:a:{n}", f"handler_name={title}"]
    for k in range(n):
        args += [f"-disposition:a:{k}", "-default"]
    return [*args, f"-disposition:a:{n}", "default"]


def mux_dub(
    video: MediaInfo,
    mix_wav: Path,
    out: Path,
    *,
    container: Container,
    language: str,
    title: str,
    audio_codec: str = "aac",
    audio_bitrate: str = "192k",
    subtitles: Path | None = None,
    subtitle_language: str | None = None,
) -> None:
    """Write ``video`` with ``mix_wav`` added as its default audio track to ``out``.

    :param container: ``mkv`` or ``mp4`` (see :func:`choose_container`; an MP4 that cannot
        carry a stream raises ValueError before anything runs).
    :param language: the dub's language, any tag :func:`~castline.language.iso639_2` reads.
    :param title: the dub track's name, as players list it.
    :param subtitles: an SRT, ASS/SSA or WebVTT file added as a soft subtitle track (not
        default), in ``subtitle_language`` (default: ``language``).

    A video without audio is fine: the dub is then its only audio track. Raises
    :class:`FFmpegError` when ffmpeg fails; ``out`` is then left as it was.
    """
    choose_container(video, container)
    if subtitles is not None and not Path(subtitles).is_file():
        raise InputError(subtitles, "no such subtitle file")
    kept = [s for s in video.streams if s.codec_type != "data"]
    n_audio = sum(s.codec_type == "audio" for s in kept)
    original_subtitles = [s for s in kept if s.codec_type == "subtitle"]
    args = ["-v", "error", "-y", "-i", str(video.path), "-i", str(mix_wav)]
    maps = ["-map", "0", "-map", "-0:d", "-map", "1:a:0"]
    if subtitles is not None:
        args += ["-i", str(subtitles)]
        maps += ["-map", "2:s:0"]
    # A copied stream can run far ahead of the encoded dub while the encoder starts; the
    # default queue of 128 packets then fails with "Too many packets buffered".
    args += [*maps, "-c", "copy", "-max_muxing_queue_size", "4096"]
    args += _dub_args(n_audio, container, language, title, audio_codec, audio_bitrate)
    if container == "mkv":
        for k, stream in enumerate(original_subtitles):
            if stream.codec_name == "mov_text":
                args += [f"-c:s:{k}", "srt"]
    if subtitles is not None:
        m = len(original_subtitles)
        args += [f"-c:s:{m}", _subtitle_codec(Path(subtitles), container), f"-disposition:s:{m}", "0"]
        args += [f"-metadata:s:s:{m}", f"language={iso639_2(subtitle_language or language)}"]
    if container == "mp4":
        args += ["-movflags", "+faststart"]
        if any(s.codec_name == "flac" for s in kept):
            args += ["-strict", "experimental"]
    dropped = [f"{s.index} ({s.codec_name})" for s in video.streams if s.codec_type == "data"]
    if dropped:
        log.info("%s: data streams %s are not copied (timecode kept as a tag)", video.path, ", ".join(dropped))
    with atomic_path(Path(out)) as temporary:
        run_ffmpeg([*args, "-f", _MUXERS[container], str(temporary)])
    log.info("%s: dubbed video written (%s, dub track %d)", out, container, n_audio)
