"""Reading a subtitle file (SubRip, WebVTT, ASS/SSA) into the timed cues a ``dub`` speaks.

**Format** comes from the suffix (``.srt``, ``.vtt``, ``.ass``, ``.ssa``; ``format=`` wins);
any other suffix is sniffed: a ``WEBVTT`` header, an ``[Script Info]`` or styles section, else
SubRip.

**Encoding**: a byte order mark decides (UTF-8, UTF-16 LE/BE, UTF-32), and UTF-16 without one
is recognised by its pattern of NUL bytes; else the manifest's ``encoding``; else strict UTF-8;
else charset-normalizer's best guess, with a warning naming it (a guess can be wrong, the
manifest can say).

**Cues** are cut out of the file here (blocks for SubRip and WebVTT, ``Dialogue:`` lines for
ASS) so that each cue and each problem has its line number; the timestamps are read by the
libraries (``srt`` for SubRip, ``pysubs2`` for WebVTT and SubStation). Their whole-file readers
are not used: they lose line numbers and, on the shared corpus, text. pysubs2 1.8.1 ignores the
ASS ``Format:`` line (ExoPlayer's sample loses every text), reads ``0:00:04:56`` as 4 s, and
pours the cues after a malformed SubRip cue into the text of the one before it.

**Malformed cues** (no timing line, no start or end time, a malformed timestamp, an end before
the start) are skipped and listed in :attr:`Subtitles.skipped` with their line; ``strict=True``
raises :class:`SubtitleError` for the first one instead. A SubRip timestamp is read as the
``srt`` library reads it, so unpadded fields such as ``00:00:5,000`` or ``00:00:013,567`` are
accepted (they are unambiguous; a warning says so), but not where that reading would be wrong:
minutes or seconds of 60 or more, or a fraction that is not 3 digits (``srt`` reads ``,5`` as
5 ms). In SubRip a block of text without a cue number or timing line continues the cue before
it (a blank line inside a cue, as ``srt`` reads it).

**Text and speaker**: what a cue's text becomes when spoken, and who speaks it: see
:mod:`tasks.ingest.subtitle_text`. A cue with no text left is dropped (and counted in a
warning), as is every ASS ``Comment:``.

**Time order and overlaps, one rule**: cues are sorted by start (ties keep file order) and
numbered 1..n in that order (:attr:`Cue.index`, what manifest rules refer to). A negative start
is clamped to 0 s (a warning); a cue that then ends at or before 0 s is skipped. Overlapping and
nested cues are all kept as they are: the fit stage gives each cue's speech the time from its
start to the next cue's start at most, so here they are only counted in a warning.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import charset_normalizer
import srt
from pysubs2.formats.substation import EVENT_FIELDS
from pysubs2.formats.webvtt import WebVTTFormat
from pysubs2.time import TIMESTAMP as ASS_TIMESTAMP
from pysubs2.time import TIMESTAMP_SHORT as ASS_TIMESTAMP_SHORT
from pysubs2.time import timestamp_to_ms

from castline.errors import PATH_LIMIT, PROBLEM_LIMIT, InputError, quoted, shorten
from tasks.ingest.subtitle_text import spoken_text

__all__ = [
    "SubtitleError",
    "Cue",
    "SkippedCue",
    "Subtitles",
    "MAX_SUBTITLE_BYTES",
    "MAX_CUES",
    "read_subtitles",
    "parse_subtitles",
]

MAX_SUBTITLE_BYTES = 16 << 20
"""Largest subtitle file read (16 MiB, some 100 hours of dense dialogue); larger ones are refused."""

MAX_CUES = 100_000
"""Most cues (well-formed or not) a file may hold."""


class SubtitleError(InputError):
    """A subtitle file cannot be used; ``FILE:LINE: problem`` when the line is known."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        super().__init__(path, shorten(problem, PROBLEM_LIMIT))
        self.line = line
        if line is not None:
            self.args = (f"{shorten(str(self.path), PATH_LIMIT)}:{line}: {self.problem}",)


@dataclass(frozen=True)
class Cue:
    """One stretch of speech: when, what, and who (if the file says)."""

    index: int
    """1-based position in time order; the cue's id in reports and manifest ``speakers`` rules."""
    start_s: float
    """When the cue appears, in seconds from the start of the video (never negative)."""
    end_s: float
    """When it disappears, in seconds (at least ``start_s``; it may overlap the next cue)."""
    text: str
    """The plain text to speak: markup stripped, lines joined, speaker prefix removed."""
    speaker: str | None
    """The speaker the file names (ASS ``Name``, WebVTT voice, ``NAME:`` prefix), else None."""
    line: int
    """1-based line of the file where the cue starts (its number or timing line)."""


@dataclass(frozen=True)
class SkippedCue:
    """A cue left out because it is malformed."""

    line: int
    """1-based line of the file where the cue starts."""
    problem: str
    """What is wrong, e.g. ``no timing line`` or ``malformed timestamp '0:00:04:56'``."""


@dataclass(frozen=True)
class Subtitles:
    """The cues of one subtitle file, in time order, and what was wrong with it."""

    source: Path
    format: str
    """``srt``, ``vtt`` or ``ass`` (also for SSA)."""
    encoding: str
    """The codec the bytes were decoded with (``utf-8``, ``utf-8-sig``, ``utf-16-le``, ``cp1252``...)."""
    cues: tuple[Cue, ...]
    skipped: tuple[SkippedCue, ...]
    warnings: tuple[str, ...] = ()
    """Problems that did not stop reading: a guessed encoding, clamped times, overlaps..."""


def read_subtitles(path: Path, *, encoding: str | None = None, strict: bool = False) -> Subtitles:
    """Read a subtitle file; see :func:`parse_subtitles` (the format comes from its suffix)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SUBTITLE_BYTES + 1)
    except OSError as err:
        raise SubtitleError(path, None, f"cannot be read: {err.strerror or err}") from None
    return parse_subtitles(data, path, encoding=encoding, strict=strict)


def parse_subtitles(
    data: bytes, source: Path, *, encoding: str | None = None, strict: bool = False, format: str | None = None
) -> Subtitles:
    """The cues of a subtitle file's bytes (``source`` names it in messages and gives the format).

    ``encoding`` is used when the bytes have no byte order mark (the manifest's ``encoding``);
    ``format`` (``srt``, ``vtt``, ``ass``, ``ssa``) overrides the suffix. Raises
    :class:`SubtitleError` for a file that is too large, empty, binary, undecodable or has no
    cue with text, and with ``strict`` for the first malformed cue.
    """
    source = Path(source)
    if len(data) > MAX_SUBTITLE_BYTES:
        raise SubtitleError(source, None, f"is larger than {MAX_SUBTITLE_BYTES >> 20} MiB; not a subtitle file?")
    if not data.strip():
        raise SubtitleError(source, None, "is empty")
    text, used, notes = _decode(data, source, encoding)
    fmt = _format_of(source, text, format)
    draft = _READERS[fmt](_numbered_lines(text), source)
    subtitles = _finish(draft, source, fmt, used, [*notes, *draft.warnings])
    if strict and subtitles.skipped:
        first = min(subtitles.skipped, key=lambda s: s.line)
        raise SubtitleError(source, first.line, first.problem)
    return subtitles


# -- decoding -------------------------------------------------------------------------------

_BOMS = (  # UTF-32 first: its LE mark starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SNIFF_BYTES = 4096


def _decode(data: bytes, source: Path, encoding: str | None) -> tuple[str, str, list[str]]:
    """The text, the codec that gave it, and a warning when that codec was guessed."""
    notes: list[str] = []
    for bom, codec in _BOMS:
        if data.startswith(bom):
            body = data if codec == "utf-8-sig" else data[len(bom) :]
            return _checked(_decode_as(body, codec, source), source), codec, notes
    chosen = _utf16_by_nuls(data[:_SNIFF_BYTES])
    if chosen is None and encoding:
        try:
            chosen = codecs.lookup(encoding).name
        except LookupError:
            raise SubtitleError(source, None, f"unknown text encoding {quoted(encoding, 60)}") from None
    if chosen is not None:
        return _checked(_decode_as(data, chosen, source), source), chosen, notes
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise SubtitleError(source, None, "is binary data, not a subtitle file")
    try:
        return _checked(data.decode("utf-8"), source), "utf-8", notes
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise SubtitleError(source, None, "is not UTF-8 and no other text encoding fits; name it in 'encoding:'")
    notes.append(f"not UTF-8; decoded as {best.encoding}, charset-normalizer's guess (name it in 'encoding:' to be sure)")
    return _checked(str(best), source), best.encoding, notes


def _decode_as(data: bytes, codec: str, source: Path) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        raise SubtitleError(source, None, f"cannot be decoded as {codec}: {err.reason} at byte {err.start}") from None


def _utf16_by_nuls(sample: bytes) -> str | None:
    """``utf-16-le``/``-be`` when every other byte of mostly-ASCII text is NUL, as in UTF-16."""
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= 0.3 * pairs and even <= 0.02 * pairs:
        return "utf-16-le"
    if even >= 0.3 * pairs and odd <= 0.02 * pairs:
        return "utf-16-be"
    return None


def _checked(text: str, source: Path) -> str:
    """The text without a leading BOM; refuses binary data that happened to decode."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise SubtitleError(source, None, "is empty")
    sample = text[:_SNIFF_BYTES]
    if len(_CONTROL.findall(sample)) > 0.01 * len(sample):
        raise SubtitleError(source, None, "is binary data, not a subtitle file")
    return text


# -- format ---------------------------------------------------------------------------------

_SUFFIX_FORMATS = {".srt": "srt", ".vtt": "vtt", ".webvtt": "vtt", ".ass": "ass", ".ssa": "ass"}
_FORMAT_NAMES = {"srt": "srt", "subrip": "srt", "vtt": "vtt", "webvtt": "vtt", "ass": "ass", "ssa": "ass"}
_SUBSTATION_SECTION = re.compile(r"^\s*\[(Script Info|V4\+? Styles|Events)\]\s*$", re.IGNORECASE | re.MULTILINE)


def _format_of(source: Path, text: str, format: str | None) -> str:
    if format is not None:
        if format.lower() not in _FORMAT_NAMES:
            raise SubtitleError(source, None, f"unknown subtitle format {quoted(format, 40)}; use srt, vtt or ass")
        return _FORMAT_NAMES[format.lower()]
    if source.suffix.lower() in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[source.suffix.lower()]
    head = text[:_SNIFF_BYTES]
    if head.lstrip().startswith("WEBVTT"):
        return "vtt"
    return "ass" if _SUBSTATION_SECTION.search(head) else "srt"


# -- cutting the file into cues -------------------------------------------------------------

_Line = tuple[int, str]
"""A line of the file and its 1-based number."""


class _Malformed(Exception):
    """A cue cannot be read; the message is the problem."""


@dataclass
class _RawCue:
    """A cue as the file has it: times in milliseconds, lines still marked up."""

    line: int
    start_ms: int
    end_ms: int
    lines: list[str]
    speaker: str | None = None


@dataclass
class _Draft:
    """What a format reader found, in file order, before cleaning and time ordering."""

    source: Path
    cues: list[_RawCue] = field(default_factory=list)
    skipped: list[SkippedCue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, cue: _RawCue | SkippedCue) -> None:
        if isinstance(cue, _RawCue):
            self.cues.append(cue)
        else:
            self.skipped.append(cue)
        if len(self.cues) + len(self.skipped) > MAX_CUES:
            raise SubtitleError(self.source, None, f"has more than {MAX_CUES} cues")


_NEWLINE = re.compile(r"\r\n|\r|\n")
_TIMING = re.compile(r"^\s*(?P<start>[^\s>]*?)\s*--\s*>\s*(?P<end>\S*)(?:\s+(?P<settings>.*))?$")
_CUE_NUMBER = re.compile(r"^\s*-?\d+\s*$")
_SRT_FIELDS = re.compile(r"(\d+)[:\uff1a](\d+)[:\uff1a](\d+)(?:[,.:\uff0c\uff0e\u3002\uff1a](\d*))?")
"""An SRT timestamp as ``srt`` reads it, but with colons between hours, minutes and seconds."""


def _numbered_lines(text: str) -> list[_Line]:
    return list(enumerate(_NEWLINE.split(text), 1))


def _timing(text: str) -> re.Match[str] | None:
    """The match of a timing line (``start --> end [settings]``); not ``A --> B`` in a text."""
    match = _TIMING.match(text)
    if match is None:
        return None
    return match if all(not part or any(c.isdigit() for c in part) for part in match.group("start", "end")) else None


def _blocks(lines: Sequence[_Line]) -> Iterator[list[_Line]]:
    """Runs of non-blank lines, each cut again before a timing line (and its cue number) that a
    missing blank line left inside the run: a cue is its number or id, its timing line, its text."""
    block: list[_Line] = []
    for number, text in [*lines, (0, "")]:
        if text.strip():
            block.append((number, text))
            continue
        starts = [0]
        for p in range(1, len(block)):
            if not _timing(block[p][1]):
                continue
            if p == starts[-1] + 1 and not _timing(block[p - 1][1]):
                continue  # this cue's own timing line, after its number or id
            starts.append(p - 1 if p - 1 > starts[-1] and _CUE_NUMBER.match(block[p - 1][1]) else p)
        if block:
            yield from (block[a:b] for a, b in zip(starts, [*starts[1:], len(block)]))
        block = []


def _timing_of(block: list[_Line]) -> tuple[int, re.Match[str]] | None:
    """Where a cue's timing line is (first line, or second after a number or id) and its match."""
    for at, (_, text) in enumerate(block[:2]):
        match = _timing(text)
        if match is not None:
            return at, match
    return None


def _timed(block: list[_Line], at: int, match: re.Match[str], read_ms: Callable[[str], int]) -> _RawCue:
    """The cue of a block whose timing line is ``block[at]``; raises :class:`_Malformed` if bad."""
    start, end = match.group("start", "end")
    if not start:
        raise _Malformed("no start time")
    if not end:
        raise _Malformed("no end time")
    start_ms, end_ms = read_ms(start), read_ms(end)
    if end_ms < start_ms:
        raise _Malformed(f"end before start ({end} < {start})")
    return _RawCue(block[0][0], start_ms, end_ms, [text for _, text in block[at + 1 :]])


def _fields_in_range(text: str, minutes: str, seconds: str, fraction: str, digits: Sequence[int]) -> None:
    """Refuse what a library reads without complaint but wrongly: 60 minutes or seconds, or more;
    a fraction of an unexpected length (``srt`` reads ``,5`` as 5 ms)."""
    if int(minutes) >= 60 or int(seconds) >= 60 or len(fraction) not in digits:
        raise _Malformed(f"malformed timestamp {quoted(text, 40)}")


@dataclass
class _Unpadded:
    """Timestamps read leniently (unpadded fields): how many, and the first."""

    count: int = 0
    first: str = ""

    def warning(self) -> list[str]:
        if not self.count:
            return []
        return [f"{self.count} timestamps are not zero-padded HH:MM:SS,mmm (first: {self.first}); read as written"]


def _read_srt(lines: list[_Line], source: Path) -> _Draft:
    draft = _Draft(source)
    unpadded = _Unpadded()

    def read_ms(text: str) -> int:
        fields = _SRT_FIELDS.fullmatch(text)
        try:
            delta = srt.srt_timestamp_to_timedelta(text)
        except srt.TimestampParseError:
            fields = None
        if fields is None:  # also 00:01,000, which srt reads as 1 minute
            raise _Malformed(f"malformed timestamp {quoted(text, 40)}")
        _, minutes, seconds, fraction = fields.groups(default="")
        _fields_in_range(text, minutes, seconds, fraction, (0, 3))
        if len(minutes) != 2 or len(seconds) != 2:
            unpadded.count += 1
            unpadded.first = unpadded.first or quoted(text, 40)
        return delta // timedelta(milliseconds=1)

    previous: _RawCue | SkippedCue | None = None
    timed = False
    for block in _blocks(lines):
        timing = _timing_of(block)
        if timing is not None:
            timed = True
            try:
                previous = _timed(block, *timing, read_ms)
            except _Malformed as bad:
                previous = SkippedCue(block[0][0], str(bad))
            draft.add(previous)
        elif _CUE_NUMBER.match(block[0][1]) or previous is None:
            previous = SkippedCue(block[0][0], "no timing line")
            draft.add(previous)
        elif isinstance(previous, _RawCue):  # a blank line inside the cue before
            previous.lines += ["", *(text for _, text in block)]
    if not timed:
        raise SubtitleError(source, None, "has no SubRip cues (no 'start --> end' timing line); not a subtitle file?")
    draft.warnings += unpadded.warning()
    return draft


_VTT_IGNORED_BLOCK = re.compile(r"^(NOTE|STYLE|REGION)(\s|$)")


def _read_vtt(lines: list[_Line], source: Path) -> _Draft:
    draft = _Draft(source)

    def read_ms(text: str) -> int:
        match = WebVTTFormat.TIMESTAMP.fullmatch(text)
        if match is None:
            raise _Malformed(f"malformed timestamp {quoted(text, 40)}")
        _fields_in_range(text, match.group(2), match.group(3), match.group(4), (3,))
        return WebVTTFormat.timestamp_to_ms(match.groups())

    blocks = list(_blocks(lines))
    if blocks and blocks[0][0][1].lstrip("\ufeff").startswith("WEBVTT"):
        blocks = blocks[1:]
    else:
        draft.warnings.append("no WEBVTT header")
    for block in blocks:
        timing = _timing_of(block)
        if timing is not None:
            try:
                draft.add(_timed(block, *timing, read_ms))
            except _Malformed as bad:
                draft.add(SkippedCue(block[0][0], str(bad)))
        elif not _VTT_IGNORED_BLOCK.match(block[0][1]):
            draft.add(SkippedCue(block[0][0], "no timing line"))
    if not draft.cues and not draft.skipped:
        raise SubtitleError(source, None, "has no WebVTT cues (no 'start --> end' timing line)")
    return draft


def _read_ass(lines: list[_Line], source: Path) -> _Draft:
    """Dialogue lines of the ``[Events]`` section, their fields named by its ``Format:`` line."""
    draft = _Draft(source)
    section, names = "", list(EVENT_FIELDS["ass"])
    for number, text in lines:
        stripped = text.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped.lower()
            if section == "[v4 styles]":  # SSA: Marked instead of Layer
                names = list(EVENT_FIELDS["ssa"])
            continue
        key, colon, rest = stripped.partition(":")
        if section != "[events]" or not colon:
            continue
        if key.strip().lower() == "format":
            names = [name.strip().lower() for name in rest.split(",")]
            if not {"start", "end", "text"} <= set(names) or names[-1] != "text":
                raise SubtitleError(source, number, "the [Events] Format line must name Start, End and, last, Text")
        elif key.strip().lower() == "dialogue":
            try:
                draft.add(_ass_event(number, rest.lstrip(), names))
            except _Malformed as bad:
                draft.add(SkippedCue(number, str(bad)))
    if not draft.cues and not draft.skipped:
        raise SubtitleError(source, None, "has no Dialogue lines in an [Events] section")
    return draft


def _ass_event(number: int, rest: str, names: list[str]) -> _RawCue:
    values = rest.split(",", len(names) - 1)
    if len(values) < len(names):
        raise _Malformed(f"Dialogue line has {len(values)} fields; the Format line names {len(names)}")
    row = dict(zip(names, values))
    start_ms, end_ms = _ass_ms(row["start"]), _ass_ms(row["end"])
    if end_ms < start_ms:
        raise _Malformed(f"end before start ({row['end'].strip()} < {row['start'].strip()})")
    return _RawCue(number, start_ms, end_ms, [row["text"]], row.get("name", "").strip() or None)


def _ass_ms(text: str) -> int:
    value = text.strip()
    sign = -1 if value.startswith("-") else 1
    match = ASS_TIMESTAMP.fullmatch(value.lstrip("-")) or ASS_TIMESTAMP_SHORT.fullmatch(value.lstrip("-"))
    if match is None:
        raise _Malformed(f"malformed timestamp {quoted(value, 40)}")
    groups = match.groups()
    _fields_in_range(value, groups[1], groups[2], groups[3] if len(groups) > 3 else "", range(4))
    return sign * timestamp_to_ms(groups)


_READERS: dict[str, Callable[[list[_Line], Path], _Draft]] = {"srt": _read_srt, "vtt": _read_vtt, "ass": _read_ass}
"""One reader per format: it cuts the file into cues and skipped cues, in file order."""


# -- time order -----------------------------------------------------------------------------


def _finish(draft: _Draft, source: Path, fmt: str, encoding: str, warnings: list[str]) -> Subtitles:
    """Clean the texts, clamp negative starts, sort by start, number the cues, count overlaps."""
    kept: list[tuple[_RawCue, str, str | None]] = []
    skipped = list(draft.skipped)
    empty = clamped = 0
    for raw in draft.cues:
        if raw.end_ms <= 0:
            skipped.append(SkippedCue(raw.line, "ends at or before 0 s"))
            continue
        text, speaker = spoken_text(raw.lines, raw.speaker)
        if not text:
            empty += 1
            continue
        if raw.start_ms < 0:
            clamped += 1
            raw.start_ms = 0
        kept.append((raw, text, speaker))
    kept.sort(key=lambda item: item[0].start_ms)
    cues = tuple(
        Cue(n, raw.start_ms / 1000, raw.end_ms / 1000, text, speaker, raw.line) for n, (raw, text, speaker) in enumerate(kept, 1)
    )
    skipped.sort(key=lambda s: s.line)
    if not cues:
        raise SubtitleError(source, None, _no_cues(skipped, empty))
    if clamped:
        warnings.append(f"{_count(clamped, 'cue starts', 'cues start')} before 0 s; set to start at 0 s")
    if empty:
        warnings.append(f"{_count(empty, 'cue has', 'cues have')} no text")
    overlaps = sum(1 for cue, after in zip(cues, cues[1:]) if cue.end_s > after.start_s)
    if overlaps:
        warnings.append(
            f"{_count(overlaps, 'cue overlaps', 'cues overlap')} the next one "
            "(each cue's speech is limited to the time before the next cue starts)"
        )
    return Subtitles(source, fmt, encoding, cues, tuple(skipped), tuple(warnings))


def _no_cues(skipped: list[SkippedCue], empty: int) -> str:
    """Why a file has no cue: how many were malformed (and the first problem), how many empty."""
    why = []
    if skipped:
        first = skipped[0]
        why.append(
            f"{_count(len(skipped), 'malformed cue', 'malformed cues')} skipped, the first at line {first.line}: {first.problem}"
        )
    if empty:
        why.append(f"{_count(empty, 'cue has', 'cues have')} no text")
    return "no cues with text" + (f" ({'; '.join(why)})" if why else "")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
