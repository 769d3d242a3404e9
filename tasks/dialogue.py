"""The dialogue stem of a dub: every fitted take at its sample on the video's timeline.

A feature film's timeline is two hours: 635 MB of float32 at 22.05 kHz as one array, and it
is mostly silence. So the stem is written as a :class:`~tasks.signal.Signal` (raw float32 on
disk) by a :class:`DialogueStemWriter`, which keeps only a rolling buffer that starts at its
write position: when a take is placed, everything before its start is final (takes come in
start order) and goes to disk, and the take is added into the buffer. The buffer is therefore
as long as the takes still sounding (usually one), whatever the timeline's length.

Takes that overlap (the fit's ``"overlap"`` mode) are summed; anything outside the timeline is
cut. :func:`write_wav` then makes the delivered WAV from the stem, chunk by chunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np

from castline.model import Hertz, Seconds
from castline.tempfiles import atomic_path, scratch_dir
from tasks.signal import CHUNK_SAMPLES, Signal, SignalWriter, resample_signal

# scipy and soundfile are imported inside the functions that use them (see tasks/signal.py).
__all__ = ["DialogueStemWriter", "write_dialogue_stem", "write_wav", "WAV_SUBTYPES"]

WAV_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}
"""libsndfile subtype of a WAV by bits per sample."""


class DialogueStemWriter:
    """Writes a stem of exactly ``round(timeline_s * sample_rate)`` samples to ``path``.

    Call :meth:`place` for each take in non-decreasing start order, then :meth:`close`.
    """

    def __init__(self, path: Path, timeline_s: Seconds, sample_rate: Hertz) -> None:
        if not (timeline_s >= 0 and math.isfinite(timeline_s)):
            raise ValueError(f"timeline_s must be a finite number >= 0, got {timeline_s!r}")
        self.sample_rate = sample_rate
        self.n_samples = round(timeline_s * sample_rate)
        """The stem's length in samples."""
        self._writer = SignalWriter(path, sample_rate)
        self._buffer = np.zeros(0, dtype=np.float32)
        """Samples ``[written, written + len)``: the takes placed so far, from the write position."""
        self._last_start = 0

    @property
    def written(self) -> int:
        """Samples final and on disk."""
        return self._writer.n_samples

    @property
    def buffered_samples(self) -> int:
        """Samples held in memory: from the write position to the end of the latest take."""
        return self._buffer.size

    def place(self, start_s: Seconds, audio: np.ndarray) -> None:
        """Add ``audio`` (mono, at the stem's rate) from sample ``round(start_s * sample_rate)``,
        summed with any take still sounding there; what lies outside the timeline is cut."""
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"a take must be mono (1-D), got shape {samples.shape}")
        start = round(start_s * self.sample_rate)
        if start < self._last_start:
            raise ValueError(f"takes must come in start order: {start_s} s after one at sample {self._last_start}")
        self._last_start = start
        if start < 0:
            samples, start = samples[-start:], 0
        samples = samples[: max(0, self.n_samples - start)]
        self._flush(min(start, self.n_samples))
        if samples.size > self._buffer.size:
            self._buffer = np.concatenate((self._buffer, np.zeros(samples.size - self._buffer.size, dtype=np.float32)))
        self._buffer[: samples.size] += samples

    def _flush(self, until: int) -> None:
        """Write samples ``[written, until)``: the buffer's, then zeros, a chunk at a time."""
        n_final = until - self.written
        if n_final <= 0:
            return
        head = min(n_final, self._buffer.size)
        self._writer.write(self._buffer[:head])
        self._buffer = self._buffer[head:].copy()  # a copy, so the flushed part is freed
        for done in range(head, n_final, CHUNK_SAMPLES):
            self._writer.write(np.zeros(min(CHUNK_SAMPLES, n_final - done), dtype=np.float32))

    def close(self) -> Signal:
        """Write the rest of the timeline and return the stem."""
        self._flush(self.n_samples)
        return self._writer.close()

    def __enter__(self) -> DialogueStemWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._writer.__exit__(kind, value, tb)


def write_dialogue_stem(
    placements: Iterable[tuple[Seconds, np.ndarray]], timeline_s: Seconds, sample_rate: Hertz, path: Path
) -> Signal:
    """The stem of ``placements`` (``(start_s, audio)`` in non-decreasing start order, audio at
    ``sample_rate``: resample it first) on a timeline ``timeline_s`` long, written to ``path``
    as raw float32. ``placements`` is read lazily, so a generator of takes keeps memory flat."""
    with DialogueStemWriter(path, timeline_s, sample_rate) as stem:
        for start_s, audio in placements:
            stem.place(start_s, audio)
        return stem.close()


def write_wav(signal: Signal, path: Path, *, sample_rate: Hertz | None = None, bits: int = 24) -> None:
    """Write ``signal`` to ``path`` as a mono PCM WAV of ``bits`` (16, 24 or 32) per sample,
    resampled to ``sample_rate`` when given, chunk by chunk and atomically.

    Samples are clipped to [-1, 1] first: overlapping takes can sum past full scale, and
    libsndfile would wrap them around rather than clip.
    """
    import soundfile

    if bits not in WAV_SUBTYPES:
        raise ValueError(f"bits must be one of {sorted(WAV_SUBTYPES)}, got {bits!r}")
    with scratch_dir("wav") as scratch:
        if sample_rate is not None and sample_rate != signal.sample_rate:
            signal = resample_signal(signal, sample_rate, Path(scratch) / "resampled.f32")
        with (
            atomic_path(path) as temporary,
            soundfile.SoundFile(
                temporary, "w", samplerate=signal.sample_rate, channels=1, subtype=WAV_SUBTYPES[bits], format="WAV"
            ) as out,
        ):
            for _, chunk in signal.chunks():
                out.write(np.clip(chunk, -1.0, 1.0))
