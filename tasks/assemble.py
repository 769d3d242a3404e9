"""Assemble a chapter: the synthesized utterances laid end to end with the manifest's pauses.

Engines pad their output with a little near-silence (Piper adds about 40 ms before and
100 ms after each sentence). Left in, that padding would lengthen every pause by a varying
amount, so each clip is trimmed to its speech plus a small margin first; the pauses are then
what the manifest says. Silence is written as digital zero here: mastering lays room tone
under the whole chapter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from castline.errors import AudioError
from castline.model import Decibels, Seconds

__all__ = ["TrimSettings", "trim_clip", "chapter_pieces", "assemble_chapter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrimSettings:
    """How the engine padding around each clip is found and cut."""

    threshold_db: Decibels = -50.0
    """A 5 ms frame counts as speech when its peak is within this many dB of the clip's peak."""
    floor_db: Decibels = -70.0
    """...and at least this loud in dBFS, so that a quiet clip's hiss is not taken for speech."""
    margin_s: Seconds = 0.03
    """Kept before the first and after the last speech frame (soft onsets, decays, breaths)."""
    fade_s: Seconds = 0.003
    """Raised-cosine fade in and out at the cut points, so a cut never clicks."""
    frame_s: Seconds = 0.005
    """Length of the frames the speech detector looks at."""


def _speech_span(clip: np.ndarray, sample_rate: int, settings: TrimSettings) -> tuple[int, int]:
    """``(start, end)`` sample indices of the clip's speech plus margin; ``(0, 0)`` if none."""
    frame = max(1, round(settings.frame_s * sample_rate))
    n_frames = -(-clip.size // frame)
    padded = np.zeros(n_frames * frame, dtype=np.float32)
    padded[: clip.size] = np.abs(clip)
    frame_peaks = padded.reshape(n_frames, frame).max(axis=1)
    peak = float(frame_peaks.max()) if n_frames else 0.0
    threshold = max(peak * 10 ** (settings.threshold_db / 20), 10 ** (settings.floor_db / 20))
    loud = np.flatnonzero(frame_peaks >= threshold)
    if loud.size == 0:
        return 0, 0
    margin = round(settings.margin_s * sample_rate)
    start = max(0, int(loud[0]) * frame - margin)
    end = min(clip.size, (int(loud[-1]) + 1) * frame + margin)
    return start, end


def trim_clip(clip: np.ndarray, sample_rate: int, settings: TrimSettings = TrimSettings()) -> np.ndarray:
    """The clip without the near-silence an engine put around it (float32).

    Keeps ``settings.margin_s`` around the speech and fades the cut ends; a clip with no
    frame above the thresholds comes back empty.
    """
    start, end = _speech_span(clip, sample_rate, settings)
    out = np.array(clip[start:end], dtype=np.float32)
    fade = min(round(settings.fade_s * sample_rate), out.size // 2)
    if fade > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)).astype(np.float32)
        if start > 0:
            out[:fade] *= ramp
        if end < clip.size:
            out[-fade:] *= ramp[::-1]
    return out


def _check_clip(index: int, clip: np.ndarray, pause_s: float) -> np.ndarray:
    array = np.asarray(clip)
    if array.ndim != 1:
        raise ValueError(f"clip {index}: expected mono samples (1-D), got shape {array.shape}")
    if not np.isfinite(pause_s) or pause_s < 0:
        raise ValueError(f"clip {index}: pause must be a finite number of seconds >= 0, got {pause_s}")
    if not np.all(np.isfinite(array)):
        raise AudioError(f"<clip {index}>", "contains NaN or infinite samples")
    return array


def chapter_pieces(
    clips: Iterable[tuple[np.ndarray, Seconds]],
    sample_rate: int,
    *,
    head_s: Seconds,
    tail_s: Seconds,
    trim: TrimSettings | None = TrimSettings(),
) -> Iterator[np.ndarray]:
    """One chapter as consecutive float32 pieces at ``sample_rate``, clip by clip.

    ``clips`` are ``(speech, pause_after_s)`` pairs in reading order, taken one at a time
    (so a chapter never has to be held whole). The chapter is ``head_s`` of silence, each clip
    (trimmed of engine padding, see :class:`TrimSettings`; ``trim=None`` keeps clips whole)
    followed by its pause, except that the last clip is followed by ``tail_s`` instead. Each
    silence is rounded to whole samples on its own.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    for name, value in (("head_s", head_s), ("tail_s", tail_s)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value}")
    yield np.zeros(round(head_s * sample_rate), dtype=np.float32)
    pending: float | None = None  # the pause after the previous clip: a tail instead if it was the last
    for index, (clip, pause_s) in enumerate(clips):
        if pending is not None:
            yield np.zeros(round(pending * sample_rate), dtype=np.float32)
        array = _check_clip(index, clip, pause_s)
        speech = trim_clip(array, sample_rate, trim) if trim is not None else array.astype(np.float32)
        if speech.size == 0 and array.size > 0:
            log.warning("clip %d (%.2f s) is silent; only its pause is kept", index, array.size / sample_rate)
        yield speech
        pending = pause_s
    yield np.zeros(round(tail_s * sample_rate), dtype=np.float32)


def assemble_chapter(
    clips: Sequence[tuple[np.ndarray, Seconds]],
    sample_rate: int,
    *,
    head_s: Seconds,
    tail_s: Seconds,
    trim: TrimSettings | None = TrimSettings(),
) -> np.ndarray:
    """:func:`chapter_pieces` as one float32 array (for short chapters and tests)."""
    return np.concatenate(list(chapter_pieces(clips, sample_rate, head_s=head_s, tail_s=tail_s, trim=trim)))
