"""Fit each dubbed take to its cue's time: borrow the silence after it, speed it up, or cut it.

A subtitle cue gives the time a line is spoken on screen; the synthesized take of that line
is rarely exactly that long. :func:`fit_cues` decides, from lengths alone (no audio, no I/O),
where each take goes and how it is changed; :func:`stretch` and :func:`trim_with_fade` then
change the audio accordingly (:func:`fit_take` applies one :class:`Fit`).

The rules, for windows given in start order:

1. A cue's window is ``[start, min(end, next cue's start)]``: overlapping or nested cues are
   clipped to the next cue's start, so two takes never start inside each other's window
   (the subtitle reader leaves overlaps as they are and relies on this rule). The window is
   also clipped to the timeline's end.
2. Speech starts at its cue's start, always: lip movements and cuts are anchored there.
3. Speech that fits its window is placed as it is (tempo 1.0).
4. Longer speech first borrows the silence after its cue, up to the *limit*: the next cue's
   start less ``min_gap_s`` (so two lines never run together), the timeline's end for the
   last cue, and never beyond ``timeline_s``; the limit is never before the cue's own end.
5. If it is still too long, it is sped up just enough to end at the limit: since the stretched
   length is ``speech_s / tempo``, the tempo is ``speech_s / (limit_s - start_s)``, at most
   ``max_tempo``. Faster speech is harder to follow, so borrowing silence comes first.
6. What still does not fit at ``max_tempo`` is the overflow: ``"trim"`` cuts the take at the
   limit with a fade-out, ``"overlap"`` lets it run past the limit into the next cue (the
   stem sums overlapping takes).

Speech is never slowed down (tempo >= 1.0): a short take followed by silence sounds natural,
a drawled one does not. There is therefore no minimum tempo to set.

:func:`stretch` changes tempo without changing pitch through ffmpeg's ``rubberband`` filter
(librubberband's R3 engine: :data:`RUBBERBAND_OPTIONS` says how and why), falling back to
``atempo`` (WSOLA) when the ffmpeg build lacks it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from castline.ffmpeg import ffmpeg_stdout
from castline.model import Hertz, Seconds

__all__ = [
    "Overflow",
    "FitSettings",
    "CueWindow",
    "Fit",
    "fit_cues",
    "fit_take",
    "stretch",
    "trim_with_fade",
    "has_filter",
    "StretchMethod",
    "RUBBERBAND_OPTIONS",
]

log = logging.getLogger(__name__)

Overflow = Literal["trim", "overlap"]
"""What happens to speech that is still too long at ``max_tempo``."""

StretchMethod = Literal["rubberband", "atempo"]
"""The ffmpeg filter :func:`stretch` uses."""

RUBBERBAND_OPTIONS = "channels=536870912"
"""Options of ffmpeg's ``rubberband`` filter besides the tempo: librubberband's R3 ("finer") engine.

ffmpeg has no option for the engine, but it ORs its integer options into the stretcher's
option flags, and 536870912 is ``RubberBandOptionEngineFiner`` (0x20000000 in rubberband-c.h;
a librubberband older than 3.0 ignores the bit and runs R2). ffmpeg's default, the R2 engine,
was measured worst on Piper takes sped up 1.1x and 1.25x: log-mel distance (DTW-aligned, over
speech frames) to the same sentence synthesized natively faster (Piper ``length_scale`` =
1/tempo) of 3.37 dB at 1.25x against 2.63 for R3 and 2.68 for ``atempo`` (2.49, 2.04, 1.61 at
1.1x), and its phasiness lowered the take's RMS level by 2 dB (R3 0.4 dB, ``atempo`` none).
R2's other options did not close the gap (``window=short`` 3.28, ``transients=smooth`` 3.62,
``window=long`` 4.75), and ``pitchq``/``formant`` only act on pitch shifts. R3 ignores the
transient and phase options. It adds about 9 ms of delay, well inside lip-sync tolerance."""


@dataclass(frozen=True)
class FitSettings:
    """How takes are fitted to their cues."""

    min_gap_s: Seconds = 0.1
    """Silence kept before the next cue's start when a take borrows the time after its cue."""
    max_tempo: float = 1.25
    """Fastest speed-up allowed (1.25: the take plays in 80 % of its time); >= 1."""
    overflow: Overflow = "trim"
    """What still does not fit at ``max_tempo``: ``"trim"`` cuts it at the limit with a
    fade-out, ``"overlap"`` lets it run on into the next cue."""
    fade_s: Seconds = 0.05
    """Length of the fade-out at the end of a trimmed take."""

    def __post_init__(self) -> None:
        if not (self.max_tempo >= 1.0 and math.isfinite(self.max_tempo)):
            raise ValueError(f"max_tempo must be a finite number >= 1.0, got {self.max_tempo!r}")
        if not self.min_gap_s >= 0.0:
            raise ValueError(f"min_gap_s must be >= 0, got {self.min_gap_s!r}")
        if not self.fade_s >= 0.0:
            raise ValueError(f"fade_s must be >= 0, got {self.fade_s!r}")
        if self.overflow not in ("trim", "overlap"):
            raise ValueError(f"overflow must be 'trim' or 'overlap', got {self.overflow!r}")


@dataclass(frozen=True)
class CueWindow:
    """A cue's time on the video's timeline, as the subtitle file gives it."""

    start_s: Seconds
    end_s: Seconds


@dataclass(frozen=True)
class Fit:
    """Where one take goes on the timeline and how it is changed to get there."""

    start_s: Seconds
    """Where the speech starts: the cue's start."""
    cue_end_s: Seconds
    """The cue's own end, clipped to the next cue's start and to the timeline's end."""
    limit_s: Seconds
    """The latest the speech may end: the next cue's start less ``min_gap_s`` (the timeline's
    end for the last cue, and never beyond it), never before :attr:`cue_end_s`."""
    speech_s: Seconds
    """The take's own length."""
    tempo: float
    """1.0, or the speed-up applied (at most ``max_tempo``)."""
    placed_s: Seconds
    """Length on the timeline after the tempo change and the trim."""
    shift_s: Seconds
    """How far the speech runs past its cue's end into the borrowed silence (0 when it fits)."""
    overflow_s: Seconds
    """What did not fit even at ``max_tempo`` (0 when it fits): trimmed away, or run past
    :attr:`limit_s` in ``"overlap"`` mode."""

    @property
    def end_s(self) -> Seconds:
        """Where the placed speech ends."""
        return self.start_s + self.placed_s

    @property
    def action(self) -> str:
        """What was done, for the report: fits, borrowed, stretched, trimmed or overlaps."""
        if self.overflow_s > 0:
            return "overlaps" if self.placed_s > self.limit_s - self.start_s else "trimmed"
        if self.tempo > 1.0:
            return "stretched"
        return "borrowed" if self.shift_s > 0 else "fits"


def _fit_one(start_s: Seconds, cue_end_s: Seconds, limit_s: Seconds, speech_s: Seconds, settings: FitSettings) -> Fit:
    """One take's fit, given its clipped window and limit (see the module's rules 3-6)."""
    window_s, room_s = cue_end_s - start_s, limit_s - start_s
    tempo, placed_s, overflow_s = 1.0, speech_s, 0.0
    if speech_s > room_s:
        needed = speech_s / room_s if room_s > 0 else math.inf
        tempo = min(needed, settings.max_tempo)
        if needed <= settings.max_tempo:
            placed_s = room_s  # exactly at the limit, not speech_s / tempo's rounding of it
        else:
            stretched_s = speech_s / tempo
            overflow_s = stretched_s - room_s
            placed_s = room_s if settings.overflow == "trim" else stretched_s
    shift_s = max(0.0, placed_s - window_s)
    return Fit(start_s, cue_end_s, limit_s, speech_s, tempo, placed_s, shift_s, overflow_s)


def fit_cues(
    windows: Sequence[CueWindow], speech_s: Sequence[Seconds], timeline_s: Seconds, settings: FitSettings = FitSettings()
) -> list[Fit]:
    """The :class:`Fit` of each take (``speech_s[i]`` long) to ``windows[i]``, by the module's rules.

    ``windows`` must be in start order (ties allowed); raises ValueError otherwise, or when
    the two sequences differ in length or a length is negative.
    """
    if len(windows) != len(speech_s):
        raise ValueError(f"{len(windows)} cue windows but {len(speech_s)} takes")
    for i, (window, length_s) in enumerate(zip(windows, speech_s)):
        if i and window.start_s < windows[i - 1].start_s:
            raise ValueError(f"cue {i} starts at {window.start_s} s, before cue {i - 1} ({windows[i - 1].start_s} s)")
        if not length_s >= 0:
            raise ValueError(f"take {i} has length {length_s!r} s")
    fits = []
    for i, (window, length_s) in enumerate(zip(windows, speech_s)):
        next_start_s = windows[i + 1].start_s if i + 1 < len(windows) else math.inf
        cue_end_s = max(window.start_s, min(window.end_s, next_start_s, timeline_s))
        limit_s = max(cue_end_s, min(next_start_s - settings.min_gap_s, timeline_s))
        fits.append(_fit_one(window.start_s, cue_end_s, limit_s, length_s, settings))
    return fits


@cache
def has_filter(name: str) -> bool:
    """Whether this ffmpeg has the audio filter ``name`` (asked once per process)."""
    listing = ffmpeg_stdout(["-filters"])
    return any(line.split()[1:2] == [name] for line in listing.decode("utf-8", "replace").splitlines())


def _atempo_chain(tempo: float) -> str:
    """``atempo`` filters whose product is ``tempo``, each within the 0.5-2.0 it does well."""
    steps = max(1, math.ceil(abs(math.log(tempo)) / math.log(2.0)))
    return ",".join([f"atempo={tempo ** (1 / steps):.9f}"] * steps)


def stretch(audio: np.ndarray, sample_rate: Hertz, tempo: float, *, method: StretchMethod | None = None) -> np.ndarray:
    """``audio`` (float32 mono) played ``tempo`` times faster at the same pitch.

    The result has exactly ``round(len(audio) / tempo)`` samples (the filters' own output is
    a few samples off; it is padded with zeros or cut), so a placed take is sample-accurate.
    ``tempo == 1.0`` returns ``audio`` itself without running ffmpeg. ``method`` forces the
    filter; by default it is ``rubberband`` when this ffmpeg has it, else ``atempo``.
    """
    if not (tempo > 0 and math.isfinite(tempo)):
        raise ValueError(f"tempo must be a positive finite number, got {tempo!r}")
    if tempo == 1.0:
        return audio
    target = round(audio.size / tempo)
    if audio.size == 0 or target == 0:
        return np.zeros(target, dtype=np.float32)
    if method is None:
        method = "rubberband" if has_filter("rubberband") else "atempo"
    graph = f"rubberband=tempo={tempo!r}:{RUBBERBAND_OPTIONS}" if method == "rubberband" else _atempo_chain(tempo)
    raw = f"-f f32le -ar {sample_rate} -ac 1".split()
    data = np.ascontiguousarray(audio, dtype="<f4").tobytes()
    out = np.frombuffer(ffmpeg_stdout([*raw, "-i", "pipe:0", "-af", graph, *raw, "pipe:1"], input_bytes=data), dtype="<f4")
    if out.size != target:
        log.debug("%s gave %d samples for %d; padded or cut to %d", graph, out.size, audio.size, target)
    result = np.zeros(target, dtype=np.float32)
    result[: min(target, out.size)] = out[:target]
    return result


def trim_with_fade(audio: np.ndarray, sample_rate: Hertz, length: int, fade_s: Seconds) -> np.ndarray:
    """The first ``length`` samples of ``audio`` (a new float32 array), faded out over the last
    ``fade_s`` with a raised cosine so the cut does not click. A take no longer than
    ``length`` comes back whole and unfaded."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    out = np.array(audio[:length], dtype=np.float32)
    if out.size < audio.size:
        fade = min(round(fade_s * sample_rate), out.size)
        if fade > 0:
            out[-fade:] *= (0.5 + 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)).astype(np.float32)
    return out


def fit_take(audio: np.ndarray, sample_rate: Hertz, fit: Fit, settings: FitSettings = FitSettings()) -> np.ndarray:
    """``audio`` changed as ``fit`` says: stretched by its tempo, then cut at its limit with a
    fade-out when it was trimmed. Place the result at ``round(fit.start_s * sample_rate)``."""
    out = stretch(audio, sample_rate, fit.tempo)
    if fit.action == "trimmed":
        out = trim_with_fade(out, sample_rate, round(fit.placed_s * sample_rate), settings.fade_s)
    return out
