"""Long audio on disk, read a chunk at a time: what keeps a render's memory flat.

A chapter can last hours; held as one array at 44.1 kHz it costs 635 MB an hour, and the
stages around it would hold several. So a chapter in the making is a :class:`Signal`: raw
float32 samples in a scratch file, written once by a :class:`SignalWriter` and read back in
chunks (``numpy.fromfile``, so nothing stays mapped) as often as a stage needs. Memory then
depends on the chunk size, never on the length.

:func:`resample_signal` resamples a whole signal chunk by chunk and gives exactly the samples
:func:`scipy.signal.resample_poly` gives for the whole array at once: each output sample is the
same sum of the same products; a chunk only reads the input it needs, filter length included.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from castline.model import Hertz

# scipy is imported inside the functions that process audio: `castline render` imports this
# module to find out whether anything changed, and that check must not pay for scipy (0.7 s).
__all__ = ["CHUNK_SAMPLES", "Signal", "SignalWriter", "resample_signal"]

CHUNK_SAMPLES = 1 << 20
"""Samples per chunk: 4 MiB of float32, 24 s at 44.1 kHz."""


@dataclass(frozen=True)
class Signal:
    """Float32 mono samples in a raw file (little-endian), with their rate."""

    path: Path
    n_samples: int
    sample_rate: Hertz

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)``, clipped to the signal (a fresh array)."""
        start, stop = max(0, start), min(self.n_samples, stop)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        with open(self.path, "rb") as f:
            f.seek(4 * start)
            return np.fromfile(f, dtype="<f4", count=stop - start).astype(np.float32, copy=False)

    def chunks(self, size: int = CHUNK_SAMPLES) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, samples)`` for consecutive chunks of ``size`` (the last may be shorter)."""
        for start in range(0, self.n_samples, size):
            yield start, self.read(start, start + size)


class SignalWriter:
    """Appends float32 chunks to a raw file; :attr:`signal` is the result once closed."""

    def __init__(self, path: Path, sample_rate: Hertz) -> None:
        self.path, self.sample_rate, self.n_samples = path, sample_rate, 0
        self._file = open(path, "wb")  # noqa: SIM115  # closed by close() / __exit__

    def write(self, samples: np.ndarray) -> None:
        data = np.asarray(samples, dtype="<f4")
        data.tofile(self._file)
        self.n_samples += data.size

    def close(self) -> Signal:
        self._file.close()
        return self.signal

    @property
    def signal(self) -> Signal:
        return Signal(self.path, self.n_samples, self.sample_rate)

    def __enter__(self) -> SignalWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._file.close()


def _resampling_filter(up: int, down: int, dtype: type[np.floating]) -> tuple[np.ndarray, int]:
    """The filter :func:`scipy.signal.resample_poly` designs (Kaiser window, beta 5), padded as
    it pads it, and how many leading output samples it drops."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(dtype) * dtype(up)
    pre_pad = down - half_len % down
    return np.concatenate((np.zeros(pre_pad, dtype=dtype), h)), (half_len + pre_pad) // down


def resample_signal(signal: Signal, to_hz: Hertz, path: Path) -> Signal:
    """``signal`` at ``to_hz``, written to ``path``: equal, sample for sample, to
    ``resample_poly`` on the whole signal (float32), in memory of a few chunks."""
    from scipy.signal import upfirdn

    if signal.sample_rate == to_hz:
        return signal
    common = math.gcd(signal.sample_rate, to_hz)
    up, down = to_hz // common, signal.sample_rate // common
    h, pre_remove = _resampling_filter(up, down, np.float32)
    total = signal.n_samples * up
    n_out = total // down + bool(total % down)
    with SignalWriter(path, to_hz) as out:
        for first in range(0, n_out, CHUNK_SAMPLES):
            last = min(n_out, first + CHUNK_SAMPLES)
            j0, j1 = first + pre_remove, last + pre_remove  # indices into upfirdn's full output
            start = max(0, (j0 * down - h.size) // up - 1)
            start -= start % down  # so that the chunk's output phase is the whole signal's
            stop = min(signal.n_samples, (j1 * down) // up + 2)
            part = upfirdn(h, signal.read(start, stop), up, down)
            offset = j0 - start * up // down
            out.write(part[offset : offset + (last - first)])
        return out.signal
