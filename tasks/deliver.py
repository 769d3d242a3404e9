"""Deliver a mastered book: one M4B with chapter marks, and one MP3 per chapter.

Both encoders take mastered chapter files (FLAC or WAV at 44.1 kHz, as the flow writes
them), write to a temporary name beside ``out_path`` and rename it into place only when
ffmpeg succeeded, so a failed or interrupted encode never leaves a partial file under the
final name.

Choices made here, and why (measured on ffmpeg 5.1, Debian 12):

- The M4B is written by ffmpeg's ``ipod`` muxer (what ffmpeg picks for ``.m4b``, brand
  ``M4A``). In 5.1 the ``ipod`` and ``mp4`` muxers both keep the chapters (Nero ``chpl`` and
  a QuickTime chapter text track) and the cover (``covr``); ``ipod`` gives the brand Apple's
  players expect. ``media_type=2`` marks the file as an audiobook (``stik``).
- AAC uses ffmpeg's native encoder with ``-aac_coder fast``: at 64 kb/s mono the default
  ``twoloop`` coder produced bursts of distortion on speech with decoded peaks up to
  +1.2 dBFS from a -3.5 dBFS master; ``fast`` stays close to the master's peaks, but not
  always (one frame in about 26,000 near the ceiling came out 1 dB over it). So each file is
  decoded after encoding and, if its peak is over ``peak_limit_db`` (ACX: -3 dBFS), encoded
  again lowered by the excess (see :func:`_encode_guarded`). LAME at 192 kb/s has stayed
  about 0.25 dB *under* the master's peaks; the same check costs it a few seconds an hour.
- Chapter marks come from an FFMETADATA file with ``TIMEBASE=1/<sample rate>`` and exact
  sample counts, so chapter lengths add up to the book's length.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import soundfile

from castline.errors import AudioError
from castline.ffmpeg import LoudnessStats, audio_stream, measure_loudness, probe, run_ffmpeg
from castline.language import UNDETERMINED, iso639_2
from castline.model import image_media_type
from castline.tempfiles import atomic_path, scratch_dir

__all__ = [
    "AAC_HEADROOM_DB",
    "Encoded",
    "ChapterAudio",
    "BookTags",
    "encode_m4b",
    "encode_mp3",
    "ffmetadata_escape",
    "ffmetadata",
    "language_tag",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChapterAudio:
    """One mastered chapter file and the title its chapter mark / MP3 gets."""

    title: str
    path: Path
    """A mastered chapter (FLAC or WAV; anything ffmpeg decodes works, lossless is exact)."""


@dataclass(frozen=True)
class BookTags:
    """What the delivered files say about the book."""

    title: str
    author: str
    narrator: str | None = None
    """The reading voice (a person, or the voice's credit line); goes to composer and comment."""
    language: str | None = None
    """ISO 639-1 (``en``) or a BCP 47 tag (``en-US``); written as ISO 639-2 (``eng``)."""
    year: str | None = None
    publisher: str | None = None
    """Written to MP3 (TPUB); ffmpeg 5.1 has no MP4 atom for it, so the M4B leaves it out."""
    description: str | None = None
    genre: str = "Audiobook"
    cover: bytes | None = None
    """JPEG or PNG bytes are embedded as they are (the format is sniffed from the bytes);
    other images ffmpeg reads become PNG."""


_FFMETA_SPECIAL = re.compile(r"([=;#\\\n\r])")


def language_tag(language: str | None) -> str | None:
    """The ISO 639-2 code of the book's language for the files' tags; None (no tag, and a log
    line) when the language is not known."""
    code = iso639_2(language) if language else UNDETERMINED
    if code == UNDETERMINED and language:
        log.warning("no ISO 639-2 code known for language %r; the language tag is left out", language)
    return None if code == UNDETERMINED else code


def ffmetadata_escape(value: str) -> str:
    """Escape a key or value for ffmpeg's FFMETADATA format.

    ``=``, ``;``, ``#``, ``\\``, newline and carriage return are preceded by a backslash (a
    bare carriage return would end the line). NUL cannot be carried and is refused.
    """
    if "\0" in value:
        raise ValueError(f"NUL character in metadata value {value!r}")
    return _FFMETA_SPECIAL.sub(r"\\\1", value)


def _reader_safe(value: str) -> bool:
    """False when ffmpeg's FFMETADATA reader would misread the escaped value.

    The reader in ffmpeg 5.1 decides whether a line ends by looking at the previous raw
    byte, so a value whose last character is a backslash (escaped as ``\\\\``) swallows
    the line break after it.
    """
    return not value.endswith("\\")


_ARGV_VALUE_LIMIT = 4096
"""A value the metadata file cannot carry goes on ffmpeg's command line only up to this length
(argv is bounded; a 140,000-character title once failed with "Argument list too long")."""


def ffmetadata(
    tags: Mapping[str, str | None], marks: Sequence[tuple[str, int, int]] = (), timebase: Fraction = Fraction(1, 1000)
) -> tuple[str, list[str]]:
    """FFMETADATA text: the global ``tags`` (empty ones left out), then one ``[CHAPTER]`` per
    ``(title, start, end)`` in ``timebase`` units.

    Every value travels in the file, never on the command line, whatever its length. The
    exception are values the reader would misread (see :func:`_reader_safe`): they are
    returned as ffmpeg arguments (``-metadata key=value``, ``-metadata:c:<index> title=...``),
    unless longer than :data:`_ARGV_VALUE_LIMIT`, when they lose their trailing backslashes.
    """
    lines = [";FFMETADATA1"]
    args: list[str] = []

    def value(key: str, text: str, option: str) -> str:
        if _reader_safe(text):
            return f"{key}={ffmetadata_escape(text)}"
        if len(text) <= _ARGV_VALUE_LIMIT:
            args.extend([option, f"{key}={text}"])
        return f"{key}={ffmetadata_escape(text.rstrip(chr(92)))}"

    lines += [value(key, text, "-metadata") for key, text in tags.items() if text]
    for index, (title, start, end) in enumerate(marks):
        lines += ["[CHAPTER]", f"TIMEBASE={timebase.numerator}/{timebase.denominator}"]
        lines += [f"START={start}", f"END={end}", value("title", title, f"-metadata:c:{index}")]
    return "\n".join(lines) + "\n", args


_LOSSLESS_FORMATS = frozenset({"WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64", "CAF"})


def _sample_count(path: Path) -> tuple[int, int]:
    """``(samples, sample rate)`` of the first audio stream: exact for PCM and FLAC.

    Lossless files are read from their headers (soundfile; an ffprobe run costs ~0.1 s,
    which adds up over a hundred chapters); anything else is counted by decoding it.
    """
    if not path.is_file():
        raise AudioError(path, "no such file")
    try:
        info = soundfile.info(str(path))
    except RuntimeError:  # soundfile.LibsndfileError: not a format libsndfile reads
        info = None
    if info is not None and info.format in _LOSSLESS_FORMATS:
        samples, rate = int(info.frames), int(info.samplerate)
    else:
        stream = audio_stream(probe(path))
        if stream is None:
            raise AudioError(path, "has no audio stream")
        rate = int(stream["sample_rate"])
        stderr = run_ffmpeg(["-loglevel", "info", "-i", str(path), "-map", "0:a:0",
                             "-af", "astats=measure_perchannel=none:measure_overall=Number_of_samples",
                             "-f", "null", "-"])
        found = re.findall(r"Number of samples: (\d+)", stderr)
        if not found:
            raise AudioError(path, "could not count its samples")
        samples = int(found[-1])
    if samples <= 0:
        raise AudioError(path, "has no audio samples")
    return samples, rate


def _cover_args(cover: bytes, folder: Path, input_index: int) -> tuple[list[str], list[str]]:
    """ffmpeg input and output arguments that attach ``cover`` as the front cover."""
    media_type = image_media_type(cover)
    if media_type == "image/jpeg":
        name, codec = "cover.jpg", "copy"
    elif media_type == "image/png":
        name, codec = "cover.png", "copy"
    else:
        name, codec = "cover.img", "png"  # GIF, WebP, BMP...: ffmpeg converts it
    (folder / name).write_bytes(cover)
    inputs = ["-i", str(folder / name)]
    outputs = ["-map", f"{input_index}:v:0", "-c:v", codec, "-disposition:v:0", "attached_pic",
               "-metadata:s:v:0", "title=Cover", "-metadata:s:v:0", "comment=Cover (front)"]
    return inputs, outputs


def _book_tags(tags: BookTags) -> dict[str, str | None]:
    return {
        "title": tags.title, "album": tags.title, "artist": tags.author, "album_artist": tags.author,
        "composer": tags.narrator, "genre": tags.genre, "date": tags.year,
        "comment": f"Read by {tags.narrator}" if tags.narrator else None,
        "description": tags.description,
    }


_GUARD_ATTEMPTS = 3
"""Encodes tried before a file whose decoded peak is still over the limit is kept anyway."""
_GUARD_MARGIN_DB = 0.25
"""Extra attenuation, beyond the measured excess, when an encode is tried again."""
AAC_HEADROOM_DB = 0.5
"""The M4B's first encode is this much quieter than the master: 64 kb/s AAC overshot a
-3.5 dBFS master by about 0.7 dB on a demo chapter, so without it most books were encoded twice."""


@dataclass(frozen=True)
class Encoded:
    """A delivered file and its levels as ffmpeg measured them on the file itself."""

    path: Path
    levels: LoudnessStats
    chapters: tuple[tuple[float, float], ...] = ()
    """(start_s, end_s) of each chapter mark (M4B only)."""


def _encode_guarded(
    build: Callable[[float], list[str]], out_path: Path, muxer: str, peak_limit_db: float | None,
    first_attenuation_db: float = 0.0,
) -> LoudnessStats:
    """Run ffmpeg with ``build(attenuation_db)`` into a temporary file, measure the decoded
    file and encode again, a little quieter, while its peak is over ``peak_limit_db``; then
    publish. Returns the levels of the published file (one decode pass per encode).

    Lossy encoders overshoot the master's peaks now and then: at 64 kb/s AAC, one frame in
    tens of thousands came out 1 dB over its source. The retry lowers the whole file by the
    excess plus a margin; the RMS moves by as much (a few tenths of a dB for a chapter
    mastered to a -3.5 dBFS ceiling).
    """
    attenuation_db = first_attenuation_db
    with atomic_path(out_path) as temporary:
        for _attempt in range(_GUARD_ATTEMPTS):
            run_ffmpeg([*build(attenuation_db), "-f", muxer, str(temporary)])
            levels = measure_loudness(temporary, true_peak=False)
            if peak_limit_db is None or levels.peak_db <= peak_limit_db:
                if attenuation_db:
                    log.info("%s: encoded %.2f dB lower to keep the decoded peak at %.2f dBFS",
                             out_path, attenuation_db, levels.peak_db)
                return levels
            attenuation_db += levels.peak_db - peak_limit_db + _GUARD_MARGIN_DB
            log.info("%s: decoded peak %.2f dBFS is over %.2f; encoding again %.2f dB lower",
                     out_path, levels.peak_db, peak_limit_db, attenuation_db)
        log.warning("%s: decoded peak still %.2f dBFS (limit %.2f) after %d encodes; keeping it",
                    out_path, levels.peak_db, peak_limit_db, _GUARD_ATTEMPTS)
        return levels


def _volume(attenuation_db: float) -> str:
    return f"volume={-attenuation_db:.3f}dB"


def _concat_quote(path: Path) -> str:
    """``path`` quoted for a concat demuxer playlist (single quotes; a quote as '\\'')."""
    return "'" + str(Path(path).resolve()).replace("'", "'\\''") + "'"


def _chapter_marks(
    chapters: Sequence[ChapterAudio],
) -> tuple[list[tuple[str, int, int]], list[tuple[float, float]], Fraction]:
    """Chapter marks in the chapters' timebase (1/sample rate: they must share one) and in seconds."""
    counts = [_sample_count(Path(chapter.path)) for chapter in chapters]
    rates = {rate for _, rate in counts}
    if len(rates) != 1:
        raise ValueError(f"the chapters of one book must share a sample rate, got {sorted(rates)} Hz")
    timebase = Fraction(1, rates.pop())
    marks: list[tuple[str, int, int]] = []
    bounds: list[tuple[float, float]] = []
    elapsed = Fraction(0)
    for chapter, (samples, rate) in zip(chapters, counts):
        start, end = elapsed, elapsed + Fraction(samples, rate)
        marks.append((chapter.title, round(start / timebase), round(end / timebase)))
        bounds.append((float(start), float(end)))
        elapsed = end
    return marks, bounds, timebase


def encode_m4b(
    chapters: Sequence[ChapterAudio], tags: BookTags, out_path: Path, *, bitrate: str = "64k",
    aac_coder: str = "fast", peak_limit_db: float | None = -3.0,
) -> Encoded:
    """Encode ``chapters`` into one AAC audiobook at ``out_path`` with a mark per chapter.

    Chapter marks carry the titles exactly as given, in order; their bounds come from each
    file's exact sample count. The decoded peak is kept at or below ``peak_limit_db`` (see
    :func:`_encode_guarded`; None skips the check). Returns the file's measured levels and the
    chapter ``(start_s, end_s)`` bounds. Raises :class:`~castline.errors.FFmpegError` when ffmpeg fails (nothing is left at
    ``out_path``) and :class:`~castline.errors.AudioError` for a missing or empty chapter file.
    """
    if not chapters:
        raise ValueError("an M4B needs at least one chapter")
    marks, bounds, timebase = _chapter_marks(chapters)
    text, unsafe = ffmetadata({**_book_tags(tags), "media_type": "2"}, marks, timebase)
    n = len(chapters)
    with scratch_dir("m4b") as scratch:
        meta = Path(scratch) / "book.ffmeta"
        meta.write_text(text, encoding="utf-8")
        playlist = Path(scratch) / "chapters.txt"
        playlist.write_text("".join(f"file {_concat_quote(c.path)}\n" for c in chapters), encoding="utf-8")
        # one input, however many chapters: ffmpeg reads them one after the other (concat demuxer)
        inputs = ["-f", "concat", "-safe", "0", "-i", str(playlist), "-f", "ffmetadata", "-i", str(meta)]
        cover_in, cover_out = _cover_args(tags.cover, Path(scratch), 2) if tags.cover else ([], [])
        rest = ["-map", "0:a:0", *cover_out, "-map_metadata", "1", "-map_chapters", "1", *unsafe]
        language = language_tag(tags.language)
        if language:
            rest += ["-metadata:s:a:0", f"language={language}"]
        rest += ["-c:a", "aac", "-aac_coder", aac_coder, "-b:a", bitrate, "-movflags", "+faststart"]

        def build(attenuation_db: float) -> list[str]:
            volume = ["-af", _volume(attenuation_db)] if attenuation_db else []
            return ["-y", *inputs, *cover_in, *rest, *volume]

        levels = _encode_guarded(build, out_path, "ipod", peak_limit_db, AAC_HEADROOM_DB)
    log.info("wrote %s: %d chapters, %.1f s", out_path, n, bounds[-1][1])
    return Encoded(out_path, levels, tuple(bounds))


def encode_mp3(
    chapter: ChapterAudio, tags: BookTags, track: int, total: int, out_path: Path, *, bitrate: str = "192k",
    peak_limit_db: float | None = -3.0,
) -> Encoded:
    """Encode one chapter as an ACX MP3: 44.1 kHz, CBR at ``bitrate``, ID3v2.3 tags.

    Tags: title = chapter title, album = book title, artist/album artist = author, composer =
    narrator, track ``track/total``, genre, year, language, comment, publisher; the cover as
    the front-cover picture when given. Atomic and peak-guarded like :func:`encode_m4b`.
    """
    if not 1 <= track <= total:
        raise ValueError(f"track must be in 1..{total}, got {track}")
    path = Path(chapter.path)
    _sample_count(path)  # names a missing or empty file before ffmpeg does
    text, unsafe = ffmetadata({
        **_book_tags(tags), "title": chapter.title, "track": f"{track}/{total}",
        "publisher": tags.publisher, "language": language_tag(tags.language),
    })
    with scratch_dir("mp3") as scratch:
        meta = Path(scratch) / "tags.ffmeta"
        meta.write_text(text, encoding="utf-8")
        cover_in, cover_out = _cover_args(tags.cover, Path(scratch), 2) if tags.cover else ([], [])
        rest = ["-map", "0:a:0", *cover_out, "-map_metadata", "1", "-map_chapters", "-1", *unsafe]
        rest += ["-c:a", "libmp3lame", "-b:a", bitrate, "-ar", "44100", "-id3v2_version", "3"]

        def build(attenuation_db: float) -> list[str]:
            volume = ["-af", _volume(attenuation_db)] if attenuation_db else []
            return ["-y", "-i", str(path), "-f", "ffmetadata", "-i", str(meta), *cover_in, *rest, *volume]

        levels = _encode_guarded(build, out_path, "mp3", peak_limit_db)
    log.info("wrote %s (track %d/%d)", out_path, track, total)
    return Encoded(out_path, levels)
