"""Master a chapter to the ACX audiobook spec.

The steps, all on float32 mono:

1. Resample to :attr:`MasteringSpec.sample_rate` with :func:`scipy.signal.resample_poly`
   (an exact rational ratio, e.g. 22050 -> 44100 is 2/1, 32000 -> 44100 is 441/320).
2. Find the gain that puts the whole chapter's RMS (pauses included, as ACX measures it) at
   :attr:`MasteringSpec.target_rms_db` *after* the peak limiter has done its work. The
   limiter lowers the RMS a little where it acts, so the gain is corrected until both hold.
3. Only if that would take more than :attr:`MasteringSpec.max_limiting_db` of limiting (a
   short chapter that is mostly head and tail silence, such as a spoken title): phase-rotate
   the speech, and if that is still not enough, compress it before the limiter, lowering the
   compressor's threshold from the chapter's loudest peak just as far as the target needs.
   Ordinary narration never gets here.
4. Limit peaks to :attr:`MasteringSpec.peak_ceiling_db` with a look-ahead limiter.
5. Add seeded room tone (gently low-passed Gaussian noise at
   :attr:`MasteringSpec.room_tone_db` RMS) at its fixed level: ACX rejects digital silence.

The limiter works on a gain envelope, never on the samples: the reduction needed by each
short block (``block`` samples) is held from ``lookahead_s`` before a peak until ``hold_s``
after it, released at ``release_db_per_s``, ramped in by a moving average as long as the
look-ahead, and interpolated linearly between block edges. Because every sample's gain is
an interpolation between two knots that are both at or below what that sample needs, no
output sample can exceed the ceiling; because the gain moves over milliseconds, it does not
clip waveforms (no odd harmonics) and, with the hold and the slow release, does not pump
between syllables. The search for the gain runs on per-block sums, so it costs little even
for an hour of audio; the samples are touched once at the end.

The compressor is built the same way, with a ratio: a soft-knee static curve on each
block's peak, the reduction ramped in over ``compressor_attack_s`` before the peak, held
``compressor_hold_s`` (a pitch period, so it does not move between glottal pulses) and
released at ``compressor_release_db_per_s``. It only reduces gain; the chapter gain is its
make-up. Where the signal is more than ``compressor_gate_db`` under the loudest peak
(pauses, breaths) the release stops, so the gain never rides up in a gap. Compressor and
limiter gains multiply into one envelope, and the room tone is added after both.

Why peaks and not an RMS detector: for a 1 s title in 3.3 s of file, the speech itself must
sit near -15 dBFS RMS under a -3.5 dBFS ceiling. Piper's voiced speech peaks 10-20 dB over
its RMS within every pitch period; an RMS compressor with a 10 ms window and 120 ms release
left such chapters 0.5-1.5 dB short, a peak-sensing one with a fast release reaches them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from castline.model import Decibels, Hertz, Seconds
from castline.tempfiles import scratch_dir
from tasks.signal import Signal, SignalWriter, resample_signal

# scipy is imported inside the functions that process audio: `castline render` imports this
# module to find out whether anything changed, and that check must not pay for scipy (0.7 s).
__all__ = [
    "MasteringSpec",
    "Levels",
    "LevelMeter",
    "RoomTone",
    "Sink",
    "master_signal",
    "master_chapter",
    "measure_levels",
    "resample",
    "room_tone",
]

log = logging.getLogger(__name__)

_CHUNK_BLOCKS = 1 << 15
"""Blocks processed per step when the gain is applied (bounds the memory used)."""
_TONE_CHUNK = 1 << 20
"""Samples of room tone made per step (part of what fixes the noise for a seed)."""


@dataclass(frozen=True)
class MasteringSpec:
    """Targets and limiter settings; the defaults meet ACX with margin."""

    sample_rate: Hertz = 44100
    """Output rate in Hz (ACX: 44.1 kHz)."""
    target_rms_db: Decibels = -20.0
    """Whole-chapter RMS in dBFS (ACX window: -23..-18)."""
    peak_ceiling_db: Decibels = -3.5
    """Highest sample peak in dBFS (ACX: at most -3; the margin absorbs lossy-codec overshoot)."""
    room_tone_db: Decibels = -72.0
    """RMS of the room tone in dBFS (ACX noise floor: at most -60)."""
    room_tone_lowpass_hz: float = 5000.0
    """Corner of the one-pole low-pass that softens the room tone's hiss."""
    lookahead_s: Seconds = 0.005
    """How long before a peak the limiter's gain starts moving (its attack)."""
    hold_s: Seconds = 0.03
    """How long the reduction is held after a peak before it releases."""
    release_db_per_s: float = 60.0
    """How fast a reduction recovers once the hold is over."""
    true_peak_oversample: int = 1
    """With 4, the limiter also catches peaks between samples (4x polyphase oversampling),
    for a true-peak ceiling in dBTP. Off by default: it costs about 35 s per hour of audio on
    2 cores, and on speech at 64k AAC / 192k MP3 the decoded peaks barely changed with it
    (codec noise, not inter-sample peaks, makes the overshoot)."""
    block: int = 32
    """Samples per block of the gain envelope (0.7 ms at 44.1 kHz)."""
    max_limiting_db: Decibels = 15.0
    """The most gain reduction the limiter may apply to reach the RMS target; a chapter that
    would need more (a lone loud click in silence) is left quieter, with a warning."""
    rms_tolerance_db: Decibels = 0.05
    """Stop adjusting the gain when the RMS is this close to the target."""
    max_iterations: int = 12
    """Give up adjusting (with a warning) after this many corrections."""
    phase_rotation_sections: int = 4
    """All-pass biquads of the phase rotator tried before compression (0: none), kept where it
    helps. It spreads each sharp glottal pulse over a few ms: same spectrum, and Piper speech
    peaks 0.6-3.6 dB (median 2) lower against its RMS."""
    phase_rotation_hz: float = 200.0
    """Centre frequency of the rotator's all-pass sections."""
    max_compression_db: Decibels = 18.0
    """The most reduction the compressor may apply, at the loudest peak; it is used only as far
    as the RMS target needs (not at all on ordinary narration). 0 turns it off."""
    compressor_ratio: float = 4.0
    """Input dB over the threshold per output dB (above the knee)."""
    compressor_knee_db: Decibels = 6.0
    """Width of the soft knee around the threshold, in dB (0: a hard knee)."""
    compressor_attack_s: Seconds = 0.005
    """How long the compressor's gain ramps into a reduction, ending at the peak that needs it."""
    compressor_hold_s: Seconds = 0.012
    """How long a compressor reduction is held after its peak (about a low voice's pitch period)."""
    compressor_release_db_per_s: float = 200.0
    """How fast a compressor reduction recovers once the hold is over."""
    compressor_gate_db: Decibels = 40.0
    """The compressor's gain stays put where the signal is more than this far under the
    loudest peak (pauses, breaths, noise in a take)."""

    def __post_init__(self) -> None:
        if min(self.sample_rate, self.block, self.max_iterations, self.true_peak_oversample) <= 0:
            raise ValueError("sample_rate, block, max_iterations and true_peak_oversample must be positive")
        if not self.peak_ceiling_db < 0:
            raise ValueError(f"peak_ceiling_db must be below 0 dBFS, got {self.peak_ceiling_db}")
        if not self.target_rms_db < self.peak_ceiling_db:
            raise ValueError("target_rms_db must be below peak_ceiling_db")
        if not self.room_tone_db < self.target_rms_db:
            raise ValueError("room_tone_db must be below target_rms_db")
        if min(self.lookahead_s, self.hold_s, self.release_db_per_s, self.rms_tolerance_db, self.max_limiting_db) <= 0:
            raise ValueError(
                "lookahead_s, hold_s, release_db_per_s, rms_tolerance_db and max_limiting_db must be positive"
            )
        self._check_dynamics()

    def _check_dynamics(self) -> None:
        if self.phase_rotation_sections < 0 or not 0 < self.phase_rotation_hz < self.sample_rate / 2:
            raise ValueError("phase_rotation_sections must be >= 0 and phase_rotation_hz between 0 and Nyquist")
        if min(self.compressor_attack_s, self.compressor_hold_s, self.compressor_release_db_per_s) <= 0:
            raise ValueError("compressor_attack_s, compressor_hold_s and compressor_release_db_per_s must be positive")
        if not self.compressor_ratio > 1 or min(self.max_compression_db, self.compressor_knee_db) < 0:
            raise ValueError("compressor_ratio must be above 1, max_compression_db and compressor_knee_db >= 0")
        if not self.compressor_gate_db > self.max_compression_depth_db:
            raise ValueError(
                f"compressor_gate_db ({self.compressor_gate_db}) must be above the deepest threshold "
                f"({self.max_compression_depth_db:.1f} dB under the loudest level)"
            )

    @property
    def max_compression_depth_db(self) -> Decibels:
        """How far under the loudest peak the knee starts when that peak gets ``max_compression_db``."""
        slope, knee = 1.0 - 1.0 / self.compressor_ratio, self.compressor_knee_db
        if self.max_compression_db >= slope * knee / 2:
            return self.max_compression_db / slope + knee / 2
        return math.sqrt(2.0 * knee * self.max_compression_db / slope)  # inside the knee


@dataclass(frozen=True)
class Levels:
    """Our own quick numbers for the report (ffmpeg's are :class:`castline.ffmpeg.LoudnessStats`)."""

    rms_db: Decibels
    """RMS of the whole chapter in dBFS."""
    peak_db: Decibels
    """Highest absolute sample in dBFS."""
    noise_floor_db: Decibels
    """RMS of the quietest 0.5 s window in dBFS (how ACX reviewers read a noise floor)."""
    duration_s: Seconds


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def resample(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Polyphase resampling by the exact ratio ``to_hz / from_hz`` (float32 out)."""
    audio = np.asarray(audio, dtype=np.float32)
    if from_hz == to_hz:
        return audio.copy()
    common = math.gcd(from_hz, to_hz)
    from scipy.signal import resample_poly

    return resample_poly(audio, to_hz // common, from_hz // common).astype(np.float32, copy=False)


class RoomTone:
    """``n_samples`` of seeded, low-passed Gaussian noise whose RMS is exactly ``rms_db`` dBFS.

    Made in chunks of :data:`_TONE_CHUNK` (float32 throughout), always the same chunks for a
    seed, so it is made twice rather than held: once to measure it (here), once to lay it under
    the speech (:meth:`chunks`). Memory does not grow with its length.
    """

    def __init__(self, n_samples: int, sample_rate: int, rms_db: Decibels, *, lowpass_hz: float, seed: int) -> None:
        self.n_samples, self.sample_rate, self.lowpass_hz, self.seed = n_samples, sample_rate, lowpass_hz, seed
        energy, exact_energy, peak = 0.0, 0.0, 0.0
        for chunk in self._raw():
            energy += float(np.dot(chunk, chunk))  # the scale is made from these float32 sums, as it always was
            wide = chunk.astype(np.float64)
            exact_energy += float(np.dot(wide, wide))
            peak = max(peak, float(np.abs(chunk).max()))
        self.scale = np.float32(10 ** (rms_db / 20) / math.sqrt(energy / n_samples)) if energy > 0 else np.float32(1.0)
        self.energy = float(self.scale) ** 2 * exact_energy
        """Sum of squares of the tone, as laid (to about 1e-7: its samples are scaled in float32)."""
        self.peak = float(np.float32(peak) * self.scale)
        """Its largest absolute sample (exact: float32 rounding keeps the order of magnitudes)."""

    def _raw(self) -> Iterator[np.ndarray]:
        from scipy.signal import lfilter

        rng = np.random.default_rng(self.seed)
        pole = math.exp(-2.0 * math.pi * self.lowpass_hz / self.sample_rate)
        b, a = np.array([1.0 - pole], np.float32), np.array([1.0, -pole], np.float32)
        state = np.zeros(1, np.float32)
        for start in range(0, self.n_samples, _TONE_CHUNK):
            white = rng.standard_normal(min(self.n_samples, start + _TONE_CHUNK) - start, dtype=np.float32)
            filtered, state = lfilter(b, a, white, zi=state)
            yield filtered

    def chunks(self) -> Iterator[np.ndarray]:
        """The tone in consecutive chunks, scaled to its level."""
        for chunk in self._raw():
            chunk *= self.scale
            yield chunk


def room_tone(
    n_samples: int, sample_rate: int, rms_db: Decibels, *, lowpass_hz: float, seed: int
) -> np.ndarray:
    """:class:`RoomTone` as one array."""
    tone = RoomTone(n_samples, sample_rate, rms_db, lowpass_hz=lowpass_hz, seed=seed)
    return np.concatenate([np.zeros(0, np.float32), *tone.chunks()])


@dataclass(frozen=True)
class _BlockSums:
    """Per-block statistics of the (gain-free) signal, enough to predict the limited RMS."""

    peak: np.ndarray
    """Largest absolute value per block: samples, and between them when oversampled."""
    s0: np.ndarray
    """Sum of x**2 per block."""
    s1: np.ndarray
    """Sum of x**2 * t per block, t = position in the block / block (0 <= t < 1)."""
    s2: np.ndarray
    """Sum of x**2 * t**2 per block."""
    n_samples: int


def _oversampled_peaks(x: Signal, start: int, stop: int, block: int, factor: int) -> np.ndarray:
    """Per-block peak of ``x[start:stop]`` between the samples (polyphase, ``factor`` times)."""
    from scipy.signal import resample_poly

    context = 64  # input samples on each side: far more than the interpolation filter spans
    lo, hi = max(0, start - context), min(x.n_samples, stop + context)
    up = resample_poly(x.read(lo, hi), factor, 1)[(start - lo) * factor : (stop - lo) * factor]
    n_blocks = -(-(stop - start) // block)
    padded = np.zeros(n_blocks * block * factor, dtype=np.float32)
    padded[: up.size] = np.abs(up)
    return padded.reshape(n_blocks, block * factor).max(axis=1)


def _block_sums(x: Signal, block: int, oversample: int) -> _BlockSums:
    n_blocks = -(-x.n_samples // block)
    t = (np.arange(block) / block).astype(np.float32)
    peak, s0, s1, s2 = (np.empty(n_blocks) for _ in range(4))
    for first in range(0, n_blocks, _CHUNK_BLOCKS):
        last = min(n_blocks, first + _CHUNK_BLOCKS)
        start, stop = first * block, min(x.n_samples, last * block)
        flat = np.zeros((last - first) * block, dtype=np.float32)
        flat[: stop - start] = x.read(start, stop)
        part = flat.reshape(-1, block)
        peak[first:last] = np.abs(part).max(axis=1)
        if oversample > 1:
            between = _oversampled_peaks(x, start, stop, block, oversample)
            np.maximum(peak[first:last], between, out=peak[first:last])
        energy = part * part
        s0[first:last] = energy.sum(axis=1, dtype=np.float64)
        s1[first:last] = energy @ t
        s2[first:last] = energy @ (t * t)
    return _BlockSums(peak, s0, s1, s2, x.n_samples)


def _release(reduction_db: np.ndarray, step_db: float) -> np.ndarray:
    """``r[i] = max_k(r[i - k] - k * step_db)``: linear-in-dB release, by doubling shifts."""
    out = reduction_db.copy()
    top = float(out.max()) if out.size else 0.0
    shift = 1
    while out.size > shift and (shift // 2) * step_db < top:
        np.maximum(out[shift:], out[:-shift] - shift * step_db, out=out[shift:])
        shift *= 2
    return out


def _blocks(seconds: Seconds, spec: MasteringSpec) -> int:
    """Whole blocks covering ``seconds`` (at least one)."""
    return max(1, math.ceil(seconds * spec.sample_rate / spec.block))


def _ahead_max(values: np.ndarray, ahead: int, behind: int = 0) -> np.ndarray:
    """Largest of ``values[i - behind : i + ahead + 1]`` at each ``i`` (0 past the ends)."""
    size = ahead + behind + 1
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(values, size=size, origin=(size - 1) // 2 - ahead, mode="constant", cval=0.0)


def _ramp_in(reduction_db: np.ndarray, ahead: int) -> np.ndarray:
    """Causal moving average over ``ahead + 1`` blocks: the ramp into a reduction."""
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(reduction_db, size=ahead + 1, origin=ahead // 2, mode="nearest")


def _edge_gains(reduction_db: np.ndarray) -> np.ndarray:
    """Linear gain at the n + 1 block edges: each edge takes the larger reduction of its two blocks."""
    edges = np.concatenate(([reduction_db[0]], np.maximum(reduction_db[:-1], reduction_db[1:]), [reduction_db[-1]]))
    return np.exp(edges * (-math.log(10.0) / 20.0))


def _knot_gains(peak: np.ndarray, ceiling: float, spec: MasteringSpec) -> np.ndarray:
    """Linear gain at each block edge (n_blocks + 1 knots) that keeps every sample <= ceiling.

    ``peak`` is an upper bound of the absolute samples of each block.
    """
    need_db = np.maximum(0.0, 20.0 * np.log10(np.maximum(peak, 1e-30) / ceiling))
    if not np.any(need_db > 0):
        return np.ones(peak.size + 1)
    per_s = spec.sample_rate / spec.block
    ahead = _blocks(spec.lookahead_s, spec)
    hold = max(0, math.ceil(spec.hold_s * per_s))
    # window [i - hold, i + ahead]: the reduction is in place `ahead` blocks early, kept `hold` after
    released = _release(_ahead_max(need_db, ahead, hold), spec.release_db_per_s / per_s)
    smooth = np.maximum(_ramp_in(released, ahead), need_db)  # guards float rounding in the running sums
    return _edge_gains(smooth)


@dataclass(frozen=True)
class _Detector:
    """What the compressor sees of a chapter, whatever its threshold."""

    level_db: np.ndarray
    """Peak of each block, in dBFS before the chapter gain."""
    top_db: Decibels
    """The loudest of ``level_db``."""
    active: np.ndarray
    """Blocks where the release runs: a peak above the gate is within the attack or hold time."""
    last_active: np.ndarray
    """Per block, the position in ``active`` of the last active block up to it (0 before the
    first): the gated blocks in between keep its reduction."""


def _detector(sums: _BlockSums, spec: MasteringSpec) -> _Detector:
    level_db = 20.0 * np.log10(np.maximum(sums.peak, 1e-15))
    top_db = float(level_db.max())
    gate_db = top_db - spec.compressor_gate_db
    ahead, hold = _blocks(spec.compressor_attack_s, spec), _blocks(spec.compressor_hold_s, spec)
    is_active = _ahead_max(np.maximum(level_db - gate_db, 0.0), ahead, hold) > 0.0
    return _Detector(level_db, top_db, np.flatnonzero(is_active), np.maximum(np.cumsum(is_active) - 1, 0))


def _static_curve_db(level_db: np.ndarray, threshold_db: Decibels, spec: MasteringSpec) -> np.ndarray:
    """The compressor's gain reduction (dB >= 0) at each level: soft knee, then the ratio."""
    slope, knee = 1.0 - 1.0 / spec.compressor_ratio, spec.compressor_knee_db
    over = level_db - threshold_db
    if knee == 0:
        return slope * np.maximum(over, 0.0)
    inside = slope * np.square(np.clip(over + knee / 2, 0.0, knee)) / (2.0 * knee)
    return np.where(over > knee / 2, slope * over, inside)


def _compressor_gains(detector: _Detector, depth_db: Decibels, spec: MasteringSpec) -> np.ndarray:
    """Linear compressor gain at each block edge, the knee starting ``depth_db`` under the
    loudest peak (0: no reduction anywhere).

    Like the limiter's: each block's reduction is in place when its peak arrives (ramped in
    over the attack time before), held for the hold time, then released at a fixed rate in
    dB/s, except in gated blocks, where it stays put.
    """
    ahead, hold = _blocks(spec.compressor_attack_s, spec), _blocks(spec.compressor_hold_s, spec)
    threshold_db = detector.top_db - depth_db + spec.compressor_knee_db / 2
    held = _ahead_max(_static_curve_db(detector.level_db, threshold_db, spec), ahead, hold)
    step_db = spec.compressor_release_db_per_s * spec.block / spec.sample_rate
    released = _release(held[detector.active], step_db)[detector.last_active]
    return _edge_gains(_ramp_in(released, ahead))


def _enveloped_energy(sums: _BlockSums, gain: float, knots: np.ndarray) -> float:
    """Sum of squares of ``x * gain * envelope`` where the envelope ramps linearly per block."""
    a, d = knots[:-1], knots[1:] - knots[:-1]
    per_block = a * a * sums.s0 + 2.0 * a * d * sums.s1 + d * d * sums.s2
    return gain * gain * float(per_block.sum())


@dataclass(frozen=True)
class _Gains:
    """A chapter gain and its envelope, and how close they come to the RMS target."""

    gain: float
    """Linear chapter gain (the make-up gain, when compressed)."""
    knots: np.ndarray
    """Compressor gain times limiter gain at each block edge."""
    error_db: Decibels
    """Target RMS minus the RMS reached (positive: too quiet)."""
    capped: bool
    """The gain stopped at the limiting cap, more than the tolerance short of the target."""
    converged: bool
    """The RMS is within tolerance of the target."""
    limiting_db: Decibels
    """The limiter's deepest reduction."""
    compression_db: Decibels = 0.0
    """The compressor's deepest reduction."""


class _Chapter:
    """One chapter's block sums and fixed levels, and the gain search on them."""

    def __init__(self, sums: _BlockSums, spec: MasteringSpec, tone_energy: float, ceiling: float) -> None:
        self.sums, self.spec, self.tone_energy, self.ceiling = sums, spec, tone_energy, ceiling
        self.target_energy = 10 ** (spec.target_rms_db / 10) * sums.n_samples

    def _peaks_and_cap(self, compressor: np.ndarray | None) -> tuple[np.ndarray, float]:
        """Per-block peak bound after the compressor, and the most gain (dB) the limiting cap allows."""
        peak = self.sums.peak if compressor is None else self.sums.peak * np.maximum(compressor[:-1], compressor[1:])
        return peak, _db(self.ceiling * 10 ** (self.spec.max_limiting_db / 20) / float(peak.max()))

    def _try(self, gain_db: float, peak: np.ndarray, compressor: np.ndarray | None) -> tuple[np.ndarray, float]:
        """Limiter knots at ``gain_db`` and the RMS error they leave."""
        gain = 10 ** (gain_db / 20)
        limiter = _knot_gains(gain * peak, self.ceiling, self.spec)
        knots = limiter if compressor is None else limiter * compressor
        energy = _enveloped_energy(self.sums, gain, knots) + self.tone_energy
        return limiter, 10.0 * math.log10(self.target_energy / energy)

    def error_at_cap_db(self, compressor: np.ndarray) -> Decibels:
        """How far below the target the RMS stays at the most gain the limiting cap allows."""
        peak, cap_db = self._peaks_and_cap(compressor)
        return self._try(cap_db, peak, compressor)[1]

    def solve(self, compressor: np.ndarray | None = None) -> _Gains:
        """The gain that puts the RMS on target, by the secant method: the RMS error is a
        smooth, decreasing function of the gain in dB whose slope falls below 1 as the limiter
        takes over. The gain never goes past the limiting cap."""
        spec = self.spec
        peak, cap_db = self._peaks_and_cap(compressor)
        energy = float(self.sums.s0.sum()) if compressor is None else _enveloped_energy(self.sums, 1.0, compressor)
        gain_db = min(cap_db, 10 * math.log10(max(self.target_energy - self.tone_energy, 1e-30) / energy))
        previous: tuple[float, float] | None = None
        for _ in range(spec.max_iterations):
            tried_db = gain_db
            limiter, error_db = self._try(tried_db, peak, compressor)
            converged = abs(error_db) <= spec.rms_tolerance_db
            if converged or (error_db > 0 and tried_db >= cap_db):
                break
            slope = 1.0  # dB of RMS per dB of gain: 1 while the limiter is idle
            if previous is not None and previous[0] != tried_db:
                slope = min(1.0, max(0.05, (previous[1] - error_db) / (tried_db - previous[0])))
            previous = (tried_db, error_db)
            gain_db = min(cap_db, tried_db + error_db / slope)
        capped = not converged and error_db > 0 and tried_db >= cap_db
        knots = limiter if compressor is None else limiter * compressor
        compression_db = 0.0 if compressor is None else -_db(float(compressor.min()))
        return _Gains(10 ** (tried_db / 20), knots, error_db, capped, converged, -_db(float(limiter.min())), compression_db)


def _compress_to_target(chapter: _Chapter, uncompressed: _Gains) -> _Gains:
    """The least compression with which the target is reached within the limiting cap.

    The RMS reachable at the cap rises with the compressor's depth; the depth is found by
    regula falsi (Illinois) between none, which falls short, and the deepest allowed, aiming
    at an error of -tolerance/2 at the cap. When even the deepest falls short, the closer of
    the two is kept.
    """
    spec, tolerance = chapter.spec, chapter.spec.rms_tolerance_db
    detector = _detector(chapter.sums, spec)
    depth = spec.max_compression_depth_db
    compressor = _compressor_gains(detector, depth, spec)
    deepest_error = chapter.error_at_cap_db(compressor)
    if deepest_error > -tolerance:  # the deepest compression only just reaches the target, or misses
        helps = deepest_error <= tolerance or deepest_error < uncompressed.error_db - tolerance
        return chapter.solve(compressor) if helps else uncompressed
    low, f_low, high, f_high = 0.0, uncompressed.error_db + tolerance / 2, depth, deepest_error + tolerance / 2
    kept = 0  # which end the last step kept: +1 low, -1 high
    for _ in range(2 * spec.max_iterations):
        depth = (low * f_high - high * f_low) / (f_high - f_low)
        candidate = _compressor_gains(detector, depth, spec)
        f_depth = chapter.error_at_cap_db(candidate) + tolerance / 2
        if f_depth <= tolerance / 2:  # reachable: the new upper end
            high, f_high, compressor = depth, f_depth, candidate
            if f_depth >= -tolerance / 2:
                break
            f_low, kept = (f_low / 2 if kept == 1 else f_low), 1
        else:
            low, f_low = depth, f_depth
            f_high, kept = (f_high / 2 if kept == -1 else f_high), -1
    return chapter.solve(compressor)


def _apply(x: Signal, tone: RoomTone, gain: float, knots: np.ndarray, block: int, sink: Sink) -> Levels:
    """Hand ``sink`` the chapter ``x * gain * envelope + tone`` (the envelope ramping linearly
    between block knots), a chunk at a time, and measure it on the way."""
    ramp = (np.arange(block) / block).astype(np.float32)
    n_blocks = knots.size - 1
    meter = LevelMeter(x.sample_rate)
    tones = _Rechunked(tone.chunks())
    for first in range(0, n_blocks, _CHUNK_BLOCKS):
        last = min(n_blocks, first + _CHUNK_BLOCKS)
        k = knots[first : last + 1].astype(np.float32)
        envelope = (k[:-1, None] + (k[1:] - k[:-1])[:, None] * ramp[None, :]).ravel()
        start, stop = first * block, min(x.n_samples, last * block)
        seg = x.read(start, stop) * np.float32(gain)
        seg *= envelope[: stop - start]
        seg += tones.take(stop - start)
        meter.add(seg)
        sink(seg)
    return meter.levels()


class _Rechunked:
    """Consecutive slices of any length from a stream of chunks."""

    def __init__(self, chunks: Iterator[np.ndarray]) -> None:
        self._chunks, self._buffer = chunks, np.zeros(0, np.float32)

    def take(self, n: int) -> np.ndarray:
        parts, have = [self._buffer], self._buffer.size
        while have < n:
            chunk = next(self._chunks)
            parts.append(chunk)
            have += chunk.size
        joined = np.concatenate(parts) if len(parts) > 1 else self._buffer
        self._buffer = joined[n:]
        return joined[:n]


def _rotate(x: Signal, spec: MasteringSpec, path: Path) -> Signal:
    """``x`` through ``phase_rotation_sections`` identical all-pass biquads at
    ``phase_rotation_hz`` (Q 0.7): the same spectrum, each pitch pulse spread in time.
    Filtered a chunk at a time, the filter state carried across (the same samples as at once)."""
    from scipy.signal import sosfilt

    omega = 2.0 * math.pi * spec.phase_rotation_hz / spec.sample_rate
    alpha = math.sin(omega) / (2.0 * 0.7)
    b = np.array([1.0 - alpha, -2.0 * math.cos(omega), 1.0 + alpha]) / (1.0 + alpha)
    sos = np.tile(np.concatenate((b, b[::-1])), (spec.phase_rotation_sections, 1))
    state = np.zeros((spec.phase_rotation_sections, 2))
    with SignalWriter(path, x.sample_rate) as out:
        for _, chunk in x.chunks():
            filtered, state = sosfilt(sos, chunk, zi=state)
            out.write(filtered.astype(np.float32))
        return out.signal


def _gains(
    x: Signal, sums: _BlockSums, spec: MasteringSpec, tone: RoomTone, scratch: Path
) -> tuple[Signal, _Gains]:
    """The samples to use (``x``, or ``x`` phase-rotated) with their gain and envelope: plain
    limiting where that reaches the target, else phase rotation, then compression as well."""
    ceiling = 10 ** (spec.peak_ceiling_db / 20) * (1.0 - 1e-6) - tone.peak  # the tone is added last
    if ceiling <= 0.5 * 10 ** (spec.peak_ceiling_db / 20):
        raise ValueError(f"room tone at {spec.room_tone_db} dBFS peaks too near the {spec.peak_ceiling_db} dBFS ceiling")
    chapter = _Chapter(sums, spec, tone.energy, ceiling)
    found = chapter.solve()
    if found.capped and spec.phase_rotation_sections > 0:
        rotated = _rotate(x, spec, scratch / "rotated.f32")
        rotated_chapter = _Chapter(_block_sums(rotated, spec.block, spec.true_peak_oversample), spec, tone.energy, ceiling)
        rotated_found = rotated_chapter.solve()
        if rotated_found.error_db < found.error_db:
            x, chapter, found = rotated, rotated_chapter, rotated_found
    if found.capped and spec.max_compression_db > 0:
        found = _compress_to_target(chapter, found)
    if found.capped:
        log.warning(
            "mastering: RMS %.2f dB below target: reaching it would take more than %.1f dB of limiting"
            " and %.1f dB of compression", found.error_db, spec.max_limiting_db, spec.max_compression_db,
        )
    elif not found.converged:
        log.warning("mastering: RMS %.2f dB off target after %d corrections", found.error_db, spec.max_iterations)
    return x, found


Sink = Callable[[np.ndarray], object]
"""Where mastered samples go, a chunk at a time (a FLAC file's ``write``, a list's ``append``)."""


def master_signal(x: Signal, spec: MasteringSpec, sink: Sink, *, seed: int = 0) -> Levels:
    """Master one chapter, a :class:`~tasks.signal.Signal` at ``spec.sample_rate``, to ``spec``,
    handing the mastered float32 samples to ``sink`` a chunk at a time; returns their levels.

    The RMS comes within ``spec.rms_tolerance_db`` of ``spec.target_rms_db`` (when the
    limiter, and the compressor where needed, let it get there; a warning is logged
    otherwise), no sample goes above ``spec.peak_ceiling_db``, and room tone seeded by
    ``seed`` lies under it, so the same input and seed give the same samples. Digital silence
    comes out as room tone alone. Memory does not grow with the chapter's length beyond its
    block statistics (about a byte per sample); a phase-rotated copy, when needed, is written
    next to ``x``.
    """
    if x.sample_rate != spec.sample_rate:
        raise ValueError(f"master_signal needs {spec.sample_rate} Hz, got {x.sample_rate} Hz")
    tone = RoomTone(x.n_samples, spec.sample_rate, spec.room_tone_db, lowpass_hz=spec.room_tone_lowpass_hz, seed=seed)
    if x.n_samples == 0:
        return LevelMeter(spec.sample_rate).levels()
    sums = _block_sums(x, spec.block, spec.true_peak_oversample)
    if float(sums.s0.sum()) == 0.0:
        log.warning("mastering: the chapter is digital silence; writing room tone only")
        meter = LevelMeter(spec.sample_rate)
        for chunk in tone.chunks():
            meter.add(chunk)
            sink(chunk)
        return meter.levels()
    x, found = _gains(x, sums, spec, tone, x.path.parent)
    levels = _apply(x, tone, found.gain, found.knots, spec.block, sink)
    log.info(
        "mastered %.1f s: gain %+.2f dB, RMS %.2f dBFS, peak %.2f dBFS, deepest compression %.2f dB,"
        " deepest limiting %.2f dB", levels.duration_s, _db(found.gain), levels.rms_db, levels.peak_db,
        found.compression_db, found.limiting_db,
    )
    return levels


def master_chapter(
    audio: np.ndarray, sample_rate: int, spec: MasteringSpec = MasteringSpec(), *, seed: int = 0
) -> np.ndarray:
    """:func:`master_signal` for a chapter held as an array (float32 mono at ``sample_rate``,
    resampled first); float32 mono at ``spec.sample_rate`` out. For tests and short audio."""
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not np.all(np.isfinite(x)):
        raise ValueError("audio contains NaN or infinite samples")
    with scratch_dir("master") as scratch:
        with SignalWriter(Path(scratch) / "in.f32", sample_rate) as writer:
            writer.write(x)
        signal = resample_signal(writer.signal, spec.sample_rate, Path(scratch) / "resampled.f32")
        out: list[np.ndarray] = [np.zeros(0, np.float32)]
        master_signal(signal, spec, out.append, seed=seed)
        return np.concatenate(out)


class LevelMeter:
    """RMS, peak and noise floor (quietest 0.5 s window) of audio seen a chunk at a time."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.block = max(1, round(0.05 * sample_rate))
        self._energies: list[np.ndarray] = []
        self._rest = np.zeros(0, np.float32)
        self.n_samples, self.total, self.peak = 0, 0.0, 0.0

    def add(self, chunk: np.ndarray) -> None:
        part = np.concatenate((self._rest, np.asarray(chunk, dtype=np.float32)))
        if chunk.size:
            self.peak = max(self.peak, float(np.abs(chunk).max()))
        self.n_samples += chunk.size
        whole = part[: (part.size // self.block) * self.block].reshape(-1, self.block)
        per_block = np.einsum("ij,ij->i", whole, whole, dtype=np.float64)
        self._energies.append(per_block)
        self.total += float(per_block.sum())
        self._rest = part[per_block.size * self.block :]

    def levels(self) -> Levels:
        if self.n_samples == 0:
            return Levels(-math.inf, -math.inf, -math.inf, 0.0)
        total = self.total + float(np.dot(self._rest.astype(np.float64), self._rest.astype(np.float64)))
        energies = np.concatenate([np.zeros(0), *self._energies])
        window = 10  # 10 blocks of 50 ms
        if energies.size >= window:
            sliding = np.convolve(energies, np.ones(window), mode="valid") / (window * self.block)
            floor = _db(math.sqrt(max(float(sliding.min()), 0.0)))
        else:
            floor = _db(math.sqrt(total / self.n_samples))
        return Levels(
            rms_db=_db(math.sqrt(total / self.n_samples)), peak_db=_db(self.peak), noise_floor_db=floor,
            duration_s=self.n_samples / self.sample_rate,
        )


def measure_levels(audio: np.ndarray, sample_rate: int) -> Levels:
    """RMS, peak and noise floor (quietest 0.5 s window) of float mono audio, in dBFS."""
    meter = LevelMeter(sample_rate)
    meter.add(np.asarray(audio, dtype=np.float32))
    return meter.levels()
