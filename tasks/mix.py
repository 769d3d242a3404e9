"""The dub's mix: the original audio ducked under the dialogue (or replaced by it), and its
EBU R128 mastering.

**Ducking** is computed here in numpy from the dialogue stem, not by ffmpeg's
``sidechaincompress``. A compressor's gain reduction depends on how far the key signal is over
its threshold, so quiet syllables duck less than loud ones and the "depth" is only a tendency;
a ``mix`` of dry and compressed signal bounds the reduction but still lets it breathe with the
speech level. A dub wants a fixed, predictable step instead, and the stem is on disk, so the
gain can be planned from it:

1. *Speech present*: the stem's RMS over 10 ms blocks is over :attr:`Ducking.threshold_db`.
   Synthesized speech sits on digital silence, so this gate is clean.
2. The gate is widened: opened :data:`LOOKAHEAD_TIME_CONSTANTS` attack time constants before
   speech starts (the stem is known in advance, so the background is 95 % of the way down when
   the first word starts) and held :attr:`Ducking.hold_s` after it stops (the pauses between
   words do not let the background swell).
3. A one-pole smoother moves the ducking amount ``d`` toward 1 while the gate is open (time
   constant :attr:`Ducking.attack_s`) and toward 0 while it is closed (:attr:`Ducking.release_s`),
   computed exactly per sample in closed form over each run of constant gate.
4. The background gain is ``depth_db * d`` in dB: exactly :attr:`Ducking.depth_db` during
   speech, exactly 0 dB well after it, whatever the speech level.

The gate lives at block rate (100 values a second: 720,000 for two hours); samples are
streamed in chunks of about 20 s, through :class:`~tasks.signal.Signal` files in a scratch
folder, so memory does not grow with the film. ffmpeg decodes, resamples and down/upmixes
the original (its default matrix: ITU-R BS.775 for 5.1 to stereo, LFE dropped, no
normalisation because the samples are float) and the sum is written as a float WAV, which
cannot clip however loud the sum: mastering sets the level.

**Mastering** measures the mix with ffmpeg's ``ebur128`` (what the report and any QC tool
measure) and applies one gain. When that gain would push the true peak over the target, a
look-ahead limiter runs at four times the sample rate (``alimiter`` limits sample peaks;
at 4x oversampling they are the true peaks ``ebur128`` measures), under a ceiling
:data:`LIMITER_MARGIN_DB` below the target. The result is measured again and, if it missed
(loudness by more than :data:`TOLERANCE_LU`, or a true peak over the target), rendered again
with the gain and ceiling corrected by the miss. ``loudnorm`` is not used: in linear mode it is
this same gain, and when the peaks do not allow it, it silently switches to dynamic
normalisation, which reshapes the mix's dynamics over 3 s windows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

from castline.errors import AudioError
from castline.ffmpeg import LoudnessStats, measure_loudness, run_ffmpeg
from castline.model import Decibels, Hertz, Seconds
from castline.tempfiles import atomic_path, scratch_dir
from tasks.media import MediaInfo, MediaStream, probe_media
from tasks.signal import Signal

__all__ = [
    "MixMode",
    "Ducking",
    "LoudnessTarget",
    "LOOKAHEAD_TIME_CONSTANTS",
    "GATE_BLOCK_S",
    "LIMITER_MARGIN_DB",
    "TOLERANCE_LU",
    "R128_TOLERANCE_LU",
    "loudness_on_target",
    "mix_dub",
    "master_loudness",
]

log = logging.getLogger(__name__)

MixMode = Literal["duck", "replace"]
"""``duck``: the original audio stays, lowered under the speech; ``replace``: the speech alone."""


@dataclass(frozen=True)
class Ducking:
    """How the original audio is lowered under the dialogue."""

    depth_db: Decibels = -12.0
    """Gain of the background while someone speaks, in dB (0 turns ducking off)."""
    attack_s: Seconds = 0.05
    """Time constant (to 1/e of the way) of the move down."""
    release_s: Seconds = 0.4
    """Time constant of the move back up once the hold is over."""
    threshold_db: Decibels = -40.0
    """Dialogue RMS over 10 ms, in dBFS, above which speech is taken to be present."""
    hold_s: Seconds = 0.2
    """How long the background stays down after speech stops, so that it does not swell in
    the pauses between words."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.depth_db) and self.depth_db <= 0):
            raise ValueError(f"depth_db must be a gain of 0 dB or less, got {self.depth_db!r}")
        for name in ("attack_s", "release_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not (math.isfinite(self.hold_s) and self.hold_s >= 0):
            raise ValueError(f"hold_s must be 0 or more seconds, got {self.hold_s!r}")
        if not math.isfinite(self.threshold_db):
            raise ValueError(f"threshold_db must be a level in dBFS, got {self.threshold_db!r}")


@dataclass(frozen=True)
class LoudnessTarget:
    """Where the mix is mastered to (EBU R128 by default; streaming services want -16 or -14)."""

    integrated_lufs: Decibels = -23.0
    """Integrated loudness, in LUFS (ITU-R BS.1770 gating, as ffmpeg's ebur128 measures it)."""
    true_peak_dbtp: Decibels = -1.0
    """Highest true peak allowed, in dBTP."""


LOOKAHEAD_TIME_CONSTANTS = 3.0
"""The ducking gate opens this many attack time constants before speech starts: after three,
the background is 1 - e^-3 = 95 % of the way down."""
GATE_BLOCK_S: Seconds = 0.01
"""Length of the blocks whose RMS decides whether speech is present."""
_BLOCKS_PER_CHUNK = 2048
"""Gate blocks per chunk of samples streamed (about 20 s: 8 MB of stereo float32)."""
_WAV_LIMIT_BYTES = 0xFFFF_FFFF - 1024
"""Past this much sample data a WAV's 32-bit sizes overflow: the mix is written as RF64."""

_LAYOUTS: dict[int, tuple[str, tuple[float, ...]]] = {
    1: ("mono", (1.0,)),
    2: ("stereo", (1.0, 1.0)),
    6: ("5.1", (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)),
}
"""Channel count -> ffmpeg layout of the mix and the dialogue's gain in each channel: dual mono
in stereo (centred), the centre channel in 5.1 (FL FR FC LFE BL BR), as film mixes place it."""


def _decode_dialogue(path: Path, sample_rate: Hertz, raw: Path) -> Signal:
    """The stem's first audio stream as float32 mono at ``sample_rate``, in ``raw``."""
    info = probe_media(path)
    if not info.audio:
        raise AudioError(path, "the dialogue stem has no audio stream")
    source = ["-v", "error", "-y", "-i", str(path), "-map", f"0:{info.audio[0].index}"]
    run_ffmpeg([*source, "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_f32le", "-f", "f32le", str(raw)])
    return Signal(raw, raw.stat().st_size // 4, sample_rate)


@dataclass(frozen=True)
class _Frames:
    """Interleaved float32 frames of ``channels`` channels in a raw file."""

    path: Path
    channels: int

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` as ``(stop - start, channels)``, zeros past the file's end."""
        out = np.zeros((stop - start, self.channels), dtype=np.float32)
        with open(self.path, "rb") as f:
            f.seek(4 * self.channels * start)
            data = np.fromfile(f, dtype="<f4", count=(stop - start) * self.channels)
        frames = data[: data.size - data.size % self.channels].reshape(-1, self.channels)
        out[: len(frames)] = frames
        return out


def _decode_background(
    source: Path, stream: MediaStream, n_samples: int, sample_rate: Hertz, channels: int, raw: Path
) -> _Frames:
    """``stream`` of ``source`` as ``channels`` float32 channels at ``sample_rate``, in ``raw``.

    It is placed on the video's timeline (``first_pts=0`` pads the start with silence when the
    audio starts after the video, and drops encoder-delay samples before it) and cut at
    ``n_samples``; :meth:`_Frames.read` pads a shorter one with silence.
    """
    layout = _LAYOUTS[channels][0]
    placed = f"aresample={sample_rate}:first_pts=0,aformat=sample_fmts=flt:channel_layouts={layout}"
    chain = f"{placed},atrim=end_sample={n_samples}"
    inputs = ["-v", "error", "-y", "-i", str(source), "-map", f"0:{stream.index}"]
    run_ffmpeg([*inputs, "-af", chain, "-c:a", "pcm_f32le", "-f", "f32le", str(raw)])
    return _Frames(raw, channels)


def _speech_blocks(dialogue: Signal, block: int, threshold_db: Decibels) -> np.ndarray:
    """True for each ``block``-sample block of the dialogue whose RMS is over ``threshold_db``."""
    threshold_power = 10.0 ** (threshold_db / 10.0)
    parts = []
    for _, x in dialogue.chunks(block * _BLOCKS_PER_CHUNK):
        n_blocks = -(-x.size // block)
        padded = np.zeros(n_blocks * block, dtype=np.float64)
        padded[: x.size] = x
        counts = np.full(n_blocks, block, dtype=np.float64)
        counts[-1] = x.size - (n_blocks - 1) * block
        parts.append((padded.reshape(n_blocks, block) ** 2).sum(axis=1) / counts > threshold_power)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _widen(gate: np.ndarray, behind: int, ahead: int) -> np.ndarray:
    """Open where any block from ``behind`` blocks before to ``ahead`` blocks after is open."""
    opened = np.concatenate(([0], np.cumsum(gate, dtype=np.int64)))
    index = np.arange(gate.size)
    lo = np.clip(index - behind, 0, gate.size)
    hi = np.clip(index + ahead + 1, 0, gate.size)
    return opened[hi] > opened[lo]


def _smooth(gate: np.ndarray, state: float, attack: float, release: float) -> tuple[np.ndarray, float]:
    """One-pole smoothing of a 0/1 ``gate`` from ``state``; returns the samples and the new state.

    ``y[n] = t + a * (y[n-1] - t)`` with ``t`` the gate and ``a`` its coefficient is solved in
    closed form over each run of constant gate: ``y[k] = t + (y0 - t) * a**(k + 1)``.
    """
    out = np.empty(gate.size, dtype=np.float64)
    edges = [0, *(np.flatnonzero(np.diff(gate)) + 1).tolist(), gate.size]
    for lo, hi in zip(edges[:-1], edges[1:]):
        target, coefficient = (1.0, attack) if gate[lo] else (0.0, release)
        out[lo:hi] = target + (state - target) * coefficient ** np.arange(1, hi - lo + 1, dtype=np.float64)
        state = float(out[hi - 1])
    return out, state


class _DuckingGain:
    """The background's linear gain per sample, produced chunk after chunk, in order."""

    def __init__(self, dialogue: Signal, ducking: Ducking) -> None:
        rate = dialogue.sample_rate
        self.block = max(1, round(GATE_BLOCK_S * rate))
        speech = _speech_blocks(dialogue, self.block, ducking.threshold_db)
        ahead = math.ceil(LOOKAHEAD_TIME_CONSTANTS * ducking.attack_s * rate / self.block)
        self.gate = _widen(speech, behind=math.ceil(ducking.hold_s * rate / self.block), ahead=ahead)
        self.attack = math.exp(-1.0 / (ducking.attack_s * rate))
        self.release = math.exp(-1.0 / (ducking.release_s * rate))
        self.depth_db = ducking.depth_db
        self.state = 0.0
        self.position = 0

    def next(self, n_samples: int) -> np.ndarray:
        """Gains for the next ``n_samples`` samples."""
        first = self.position // self.block
        offset = self.position - first * self.block
        blocks = self.gate[first : -(-(self.position + n_samples) // self.block)]
        gate = np.repeat(blocks, self.block)[offset : offset + n_samples]
        amount, self.state = _smooth(gate, self.state, self.attack, self.release)
        self.position += n_samples
        return np.power(10.0, self.depth_db * amount / 20.0)


def _write_mix(path: Path, dialogue: Signal, background: _Frames | None, gain: _DuckingGain | None, channels: int) -> None:
    """Dialogue (placed per :data:`_LAYOUTS`) plus the ducked background, as a float WAV."""
    weights = np.asarray(_LAYOUTS[channels][1], dtype=np.float32)
    container = "RF64" if dialogue.n_samples * channels * 4 > _WAV_LIMIT_BYTES else "WAV"
    with soundfile.SoundFile(
        path, "w", samplerate=dialogue.sample_rate, channels=channels, subtype="FLOAT", format=container
    ) as out:
        chunk = round(GATE_BLOCK_S * dialogue.sample_rate) * _BLOCKS_PER_CHUNK
        for start, speech in dialogue.chunks(chunk):
            frames = speech[:, None] * weights[None, :]
            if background is not None and gain is not None:
                ducked = background.read(start, start + speech.size) * gain.next(speech.size)[:, None]
                frames = frames + ducked.astype(np.float32)
            out.write(frames)


def _background_stream(original: MediaInfo, audio_index: int | None) -> MediaStream | None:
    """The audio stream to keep under the dub: ``audio_index`` (a stream index) or the first."""
    if audio_index is None:
        return original.audio[0] if original.audio else None
    for stream in original.audio:
        if stream.index == audio_index:
            return stream
    found = [s.index for s in original.audio]
    raise ValueError(f"{original.path}: stream {audio_index} is not an audio stream (audio streams: {found})")


def mix_dub(
    dialogue_wav: Path,
    original: MediaInfo | None,
    out_wav: Path,
    *,
    mode: MixMode = "duck",
    ducking: Ducking = Ducking(),
    sample_rate: Hertz = 48000,
    channels: int = 2,
    audio_index: int | None = None,
) -> None:
    """Mix the dialogue stem with the original audio, ducked under it, into ``out_wav``.

    :param dialogue_wav: the dialogue stem on the video's timeline (any rate; mono or averaged).
    :param original: the probed video; None (or ``mode="replace"``, or a video without audio)
        gives the dialogue alone.
    :param out_wav: float32 WAV (RF64 past 4 GB) of ``channels`` channels at ``sample_rate``
        and exactly as many samples as the stem has at that rate; written atomically.
    :param audio_index: the stream index (``MediaStream.index``) of the audio to keep; default
        the first audio stream.
    :param channels: 1, 2 or 6 (5.1, the dialogue in the centre channel).
    """
    if channels not in _LAYOUTS:
        raise ValueError(f"channels must be one of {sorted(_LAYOUTS)}, got {channels!r}")
    if mode not in ("duck", "replace"):
        raise ValueError(f"mode must be 'duck' or 'replace', got {mode!r}")
    stream = _background_stream(original, audio_index) if original is not None and mode == "duck" else None
    with scratch_dir("mix") as scratch:
        work = Path(scratch)
        dialogue = _decode_dialogue(Path(dialogue_wav), sample_rate, work / "dialogue.f32")
        background = gain = None
        if original is not None and stream is not None:
            background = _decode_background(
                original.path, stream, dialogue.n_samples, sample_rate, channels, work / "background.f32"
            )
            gain = _DuckingGain(dialogue, ducking)
        with atomic_path(Path(out_wav)) as temporary:
            _write_mix(temporary, dialogue, background, gain, channels)
    what = f"stream {stream.index} ducked {ducking.depth_db:g} dB" if stream else "dialogue alone"
    log.info("%s: mixed %.1f s (%s)", out_wav, dialogue.n_samples / sample_rate, what)


LIMITER_MARGIN_DB: Decibels = 0.3
"""The limiter's ceiling sits this far under the true-peak target: resampling back from 4x
after the limiter lets a few inter-sample peaks rise by a tenth of a dB or two."""
TOLERANCE_LU = 0.5
"""A master whose integrated loudness is further than this from the target is rendered again."""
_PASSES = 3
"""Renders tried before a master that still misses is kept (with a warning)."""
_SILENCE_LUFS: Decibels = -70.0
"""ebur128's absolute gate: a mix at or under it is silence, and is not amplified."""
_LIMIT_FLOOR = 0.0625
"""alimiter's lowest ``limit`` (-24 dBFS)."""


def _true_peak(stats: LoudnessStats) -> float:
    return stats.true_peak_dbtp if stats.true_peak_dbtp is not None else stats.peak_db


def _render(source: Path, out: Path, sample_rate: Hertz, gain_db: Decibels, ceiling_dbtp: Decibels | None) -> None:
    """``source`` times ``gain_db``, limited at 4x rate to ``ceiling_dbtp`` if given, as 24-bit WAV."""
    chain = [f"volume={gain_db:.4f}dB"]
    if ceiling_dbtp is not None:
        limit = max(_LIMIT_FLOOR, 10.0 ** (ceiling_dbtp / 20.0))
        chain += [f"aresample={4 * sample_rate}", f"alimiter=limit={limit:.6f}:level=0:latency=1", f"aresample={sample_rate}"]
    inputs = ["-v", "error", "-y", "-i", str(source), "-map", "0:a:0"]
    run_ffmpeg([*inputs, "-af", ",".join(chain), "-c:a", "pcm_s24le", "-rf64", "auto", "-f", "wav", str(out)])


R128_TOLERANCE_LU = 1.0
"""How far a delivered mix's integrated loudness may be from its target (EBU R128 allows +-1 LU
for programmes whose loudness cannot be fully controlled, and the AAC encode moves it a little)."""


def loudness_on_target(levels: LoudnessStats, target: LoudnessTarget) -> bool:
    """Whether a delivered mix meets its target: integrated loudness within
    :data:`R128_TOLERANCE_LU`, true peak at most the target (0.1 dB of measurement slack)."""
    peak = levels.true_peak_dbtp
    return (abs(levels.integrated_lufs - target.integrated_lufs) <= R128_TOLERANCE_LU
            and (peak is None or peak <= target.true_peak_dbtp + 0.1))


def master_loudness(mix_wav: Path, out_wav: Path, target: LoudnessTarget = LoudnessTarget()) -> LoudnessStats:
    """Master ``mix_wav`` to ``target`` into ``out_wav`` (24-bit WAV, written atomically).

    Returns the levels of the written file as :func:`~castline.ffmpeg.measure_loudness`
    measures them: integrated loudness within :data:`TOLERANCE_LU` of the target and a true
    peak at or under it, unless three renders could not get there (logged). A silent mix
    (nothing over ebur128's -70 LUFS gate) is written without gain.
    """
    mix_wav, out_wav = Path(mix_wav), Path(out_wav)
    source = measure_loudness(mix_wav)
    info = probe_media(mix_wav)
    sample_rate = info.audio[0].sample_rate or 48000
    with atomic_path(out_wav) as temporary:
        if not source.integrated_lufs > _SILENCE_LUFS:
            log.info("%s: silent (%.1f LUFS); written without gain", mix_wav, source.integrated_lufs)
            _render(mix_wav, temporary, sample_rate, 0.0, None)
            return measure_loudness(temporary)
        gain_db = target.integrated_lufs - source.integrated_lufs
        ceiling: Decibels | None = None
        if _true_peak(source) + gain_db > target.true_peak_dbtp - LIMITER_MARGIN_DB:
            ceiling = target.true_peak_dbtp - LIMITER_MARGIN_DB
        for _ in range(_PASSES):
            _render(mix_wav, temporary, sample_rate, gain_db, ceiling)
            result = measure_loudness(temporary)
            short_lu = target.integrated_lufs - result.integrated_lufs
            over_db = _true_peak(result) - target.true_peak_dbtp
            if abs(short_lu) <= TOLERANCE_LU and over_db <= 0:
                break
            log.info("%s: %.1f LUFS, true peak %.1f dBTP; rendering again", out_wav, result.integrated_lufs, _true_peak(result))
            gain_db += short_lu
            if over_db > 0:
                ceiling = (ceiling if ceiling is not None else target.true_peak_dbtp - LIMITER_MARGIN_DB) - over_db
        else:
            missed = f"{result.integrated_lufs:.1f} LUFS, true peak {_true_peak(result):.1f} dBTP"
            log.warning("%s: mastered to %s (target %.1f LUFS, %.1f dBTP)", out_wav, missed, *astuple(target))
        limited = f", limited at {ceiling:.1f} dBTP" if ceiling is not None else ""
        got = f"{result.integrated_lufs:.1f} LUFS, {_true_peak(result):.1f} dBTP"
        log.info("%s: %.1f dB gain%s -> %s", out_wav, gain_db, limited, got)
        return result
