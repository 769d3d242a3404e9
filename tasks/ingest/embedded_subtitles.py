"""A video's own subtitle stream: chosen by language and extracted to a file that
:func:`~tasks.ingest.subtitles.read_subtitles` reads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from castline.errors import quoted
from castline.ffmpeg import probe, run_ffmpeg
from castline.text.scripts import language_name
from tasks.ingest.subtitles import SubtitleError

__all__ = ["embedded_subtitles"]

log = logging.getLogger(__name__)

_TEXT_CODECS = {"subrip": "srt", "srt": "srt", "ass": "ass", "ssa": "ass", "webvtt": "srt", "mov_text": "srt", "text": "srt"}
"""Text subtitle codecs ffmpeg can write as SubRip or ASS (ASS keeps the speaker names)."""
_BITMAP_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"})


def embedded_subtitles(video: Path, language: str, into: Path) -> Path:
    """Extract the video's own text subtitle stream in ``language`` into the folder ``into``.

    The stream whose language tag matches (``en`` matches ``eng`` and ``en-US``; a full track is
    preferred to a forced or hearing-impaired one, then the default one); without a match, the
    only text stream, or the only default one. Returns ``into/embedded.INDEX.srt`` (or
    ``.ass``). Raises :class:`SubtitleError` when there is no such stream or only pictures.
    """
    video, into = Path(video), Path(into)
    streams = [s for s in probe(video)["streams"] if s.get("codec_type") == "subtitle"]
    if not streams:
        raise SubtitleError(video, None, "has no subtitle stream; name a subtitle file in 'subtitles:'")
    texts = [s for s in streams if s.get("codec_name") in _TEXT_CODECS]
    if not texts:
        codecs_found = ", ".join(sorted({str(s.get("codec_name")) for s in streams}))
        kind = "bitmap subtitle streams" if all(s.get("codec_name") in _BITMAP_CODECS for s in streams) else "subtitle streams"
        raise SubtitleError(
            video, None, f"has only {kind} ({codecs_found}), which cannot be read as text; name a subtitle file in 'subtitles:'"
        )
    stream = _choose_stream(video, texts, language)
    index, ext = int(stream["index"]), _TEXT_CODECS[stream["codec_name"]]
    into.mkdir(parents=True, exist_ok=True)
    out = into / f"embedded.{index}.{ext}"
    log.info("%s: reading subtitle stream %d (%s, %s)", video, index, stream["codec_name"], _language_of(stream) or "no language")
    run_ffmpeg(["-y", "-i", str(video), "-map", f"0:{index}", "-c:s", ext, str(out)])
    return out


def _language_of(stream: dict[str, Any]) -> str:
    tags = {str(k).lower(): str(v) for k, v in (stream.get("tags") or {}).items()}
    return language_name(tags.get("language"))


def _flag(stream: dict[str, Any], name: str) -> bool:
    return bool((stream.get("disposition") or {}).get(name))


def _choose_stream(video: Path, texts: list[dict[str, Any]], language: str) -> dict[str, Any]:
    wanted = language_name(language)
    matching = [s for s in texts if wanted and _language_of(s) == wanted]
    if matching:
        return min(matching, key=lambda s: (_flag(s, "forced"), _flag(s, "hearing_impaired"), not _flag(s, "default")))
    defaults = [s for s in texts if _flag(s, "default")]
    if len(texts) == 1 or len(defaults) == 1:
        return texts[0] if len(texts) == 1 else defaults[0]
    found = ", ".join(f"#{s['index']} {_language_of(s) or 'no language'}" for s in texts)
    raise SubtitleError(
        video,
        None,
        f"has no {quoted(language, 20)} subtitle stream ({found}); set 'stream_language' or name a file in 'subtitles:'",
    )
