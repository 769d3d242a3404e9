"""ffmpeg and ffprobe behind one small, honest module.

Every call finds the binary (``$CASTLINE_FFMPEG`` / ``$CASTLINE_FFPROBE`` or the ``PATH``),
logs the exact command, and raises :class:`~castline.errors.FFmpegError` carrying the
command, the exit status and what ffmpeg printed when it fails. Nothing here goes through a
shell, so arguments are passed as they are (no quoting to get wrong).

Levels are measured by ffmpeg itself (``astats`` and ``ebur128``), not by our own maths, so
a report says what any other ffmpeg user would measure on the delivered file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from castline import lifeline
from castline.errors import AudioError, FFmpegError, InputError

__all__ = [
    "LoudnessStats",
    "ffmpeg_binary",
    "ffprobe_binary",
    "run_ffmpeg",
    "ffmpeg_stdout",
    "probe",
    "audio_stream",
    "measure_loudness",
    "read_audio",
    "check_image",
]

log = logging.getLogger(__name__)

_NOT_FOUND = 127
"""Exit status reported when a binary cannot be found (the shell's convention)."""


def _find(name: str, env_var: str) -> str:
    """The executable named by ``$env_var`` if set, else ``name`` on the ``PATH``."""
    override = os.environ.get(env_var)
    if override:
        if shutil.which(override):
            return override
        raise FFmpegError([override], _NOT_FOUND, f"${env_var} names {override!r}: not an executable")
    found = shutil.which(name)
    if found is None:
        raise FFmpegError([name], _NOT_FOUND, f"{name} not found on PATH; install ffmpeg or set ${env_var}")
    return found


def ffmpeg_binary() -> str:
    """Path of the ffmpeg executable (``$CASTLINE_FFMPEG`` wins over the ``PATH``)."""
    return _find("ffmpeg", "CASTLINE_FFMPEG")


def ffprobe_binary() -> str:
    """Path of the ffprobe executable (``$CASTLINE_FFPROBE`` wins over the ``PATH``)."""
    return _find("ffprobe", "CASTLINE_FFPROBE")


def _execute(
    command: list[str], input_bytes: bytes | None, timeout_s: float | None, level: int
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command``; raise FFmpegError with its stderr on a non-zero exit or a timeout.

    The child is adopted by castline's lifeline, so it does not outlive a killed castline.
    """
    log.log(level, "running: %s", shlex.join(command))
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as err:  # not executable, vanished between which() and exec, ...
        raise FFmpegError(command, _NOT_FOUND, str(err)) from err
    with lifeline.watched(process):
        try:
            stdout, stderr = process.communicate(input_bytes, timeout=timeout_s)
        except subprocess.TimeoutExpired as err:
            process.kill()
            _, late = process.communicate()
            raise FFmpegError(command, -1, f"{late.decode('utf-8', 'replace')}\ntimed out after {timeout_s} s") from err
        except BaseException:  # KeyboardInterrupt, SystemExit: never leave ffmpeg running
            process.kill()
            process.wait()
            raise
    if process.returncode != 0:
        raise FFmpegError(command, process.returncode, stderr.decode("utf-8", "replace"))
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_ffmpeg(
    args: Sequence[str], *, input_bytes: bytes | None = None, timeout_s: float | None = None
) -> str:
    """Run ffmpeg with ``args`` and return what it printed on stderr (its log).

    ``-hide_banner -nostdin -nostats`` are put in front of ``args``; pass ``-y`` yourself when
    the output may exist. ``input_bytes`` is fed to ffmpeg's standard input (read it with
    ``-i pipe:0``). Raises :class:`FFmpegError` (command, exit status, stderr) on failure.
    """
    command = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", *map(str, args)]
    done = _execute(command, input_bytes, timeout_s, logging.INFO)
    return done.stderr.decode("utf-8", "replace")


def ffmpeg_stdout(args: Sequence[str], *, input_bytes: bytes | None = None) -> bytes:
    """Like :func:`run_ffmpeg`, but return what ffmpeg wrote to stdout (``pipe:1``, or a
    listing such as ``-filters``); ``-loglevel error`` is put in front too."""
    command = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *map(str, args)]
    return _execute(command, input_bytes, None, logging.DEBUG).stdout


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON for ``path``: ``{"format": ..., "streams": [...], "chapters": [...]}``.

    Numbers stay as ffprobe prints them (durations are strings such as ``"12.345000"``).
    Raises :class:`FFmpegError` when ffprobe cannot read the file.
    """
    command = [
        ffprobe_binary(), "-v", "error", "-print_format", "json",
        "-show_format", "-show_streams", "-show_chapters", "-i", str(path),
    ]
    done = _execute(command, None, None, logging.DEBUG)
    result: dict[str, Any] = json.loads(done.stdout.decode("utf-8", "replace") or "{}")
    result.setdefault("streams", [])
    result.setdefault("chapters", [])
    return result


def audio_stream(info: dict[str, Any]) -> dict[str, Any] | None:
    """The first audio stream of a :func:`probe` result, or None."""
    for stream in info.get("streams", []):
        if stream.get("codec_type") == "audio":
            return stream
    return None


@dataclass(frozen=True)
class LoudnessStats:
    """Levels of a file as ffmpeg measures them (``astats`` overall and ``ebur128``)."""

    rms_db: float
    """Overall RMS level in dBFS (astats "RMS level dB"); ACX wants -23..-18."""
    peak_db: float
    """Sample peak in dBFS (astats "Peak level dB"); ACX wants at most -3."""
    noise_floor_db: float
    """astats "Noise floor dB": the smallest peak of any short window (astats ``length``,
    0.05 s), in dBFS; ``-inf`` where a window is digital silence. ACX wants at most -60."""
    integrated_lufs: float
    """EBU R128 integrated loudness, in LUFS (``-inf`` for silence)."""
    true_peak_dbtp: float | None
    """EBU R128 true peak (4x oversampled), in dBTP; None when not measured."""
    duration_s: float
    """Decoded length in seconds (samples counted by astats over the sample rate)."""


_ASTATS_KEYS = {
    "RMS level dB": "rms_db",
    "Peak level dB": "peak_db",
    "Noise floor dB": "noise_floor_db",
    "Number of samples": "samples",
}
_ASTATS_LINE = re.compile(r"\[Parsed_astats_\d+ @ [^\]]+\] ([A-Za-z ]+): (\S+)")
_EBUR_INTEGRATED = re.compile(r"^\s+I:\s+(\S+) LUFS", re.MULTILINE)
_EBUR_TRUE_PEAK = re.compile(r"True peak:\s+Peak:\s+(\S+) dBFS", re.MULTILINE)


def _to_float(text: str) -> float:
    """ffmpeg prints ``-inf``/``inf``/``nan`` as words; Python reads those too."""
    return float(text)


def measure_loudness(path: Path, *, true_peak: bool = True) -> LoudnessStats:
    """Measure the first audio stream of ``path`` with ffmpeg's astats and ebur128.

    One decode pass; ``true_peak=False`` skips the 4x oversampled true peak (the slow part);
    multichannel files are measured over all channels together (astats "Overall"). ebur128's
    line per 100 ms goes to the verbose log level, which is not read: what ffmpeg prints stays
    a few lines however long the file (it was 4.5 MB per hour of audio). Raises
    :class:`FFmpegError` if ffmpeg fails and :class:`AudioError` if the file
    has no audio or ffmpeg's report cannot be read.
    """
    path = Path(path)
    stream = audio_stream(probe(path))
    if stream is None:
        raise AudioError(path, "no audio stream to measure")
    sample_rate = int(stream["sample_rate"])
    stderr = run_ffmpeg([
        "-loglevel", "info", "-i", str(path), "-map", "0:a:0",
        "-af", "astats=measure_perchannel=none:measure_overall="
               "Peak_level+RMS_level+Noise_floor+Number_of_samples,ebur128=framelog=verbose" + (":peak=true" if true_peak else ""),
        "-f", "null", "-",
    ])
    found: dict[str, float] = {}
    for name, value in _ASTATS_LINE.findall(stderr):
        key = _ASTATS_KEYS.get(name.strip())
        if key is not None:
            found[key] = _to_float(value)
    integrated = _EBUR_INTEGRATED.findall(stderr)
    peaks = _EBUR_TRUE_PEAK.findall(stderr)
    missing = sorted(set(_ASTATS_KEYS.values()) - set(found))
    if missing or not integrated or (true_peak and not peaks):
        raise AudioError(path, f"could not read ffmpeg's level report (missing {missing or 'ebur128'})")
    return LoudnessStats(
        rms_db=found["rms_db"],
        peak_db=found["peak_db"],
        noise_floor_db=found["noise_floor_db"],
        integrated_lufs=_to_float(integrated[-1]),
        true_peak_dbtp=_to_float(peaks[-1]) if true_peak else None,
        duration_s=found["samples"] / sample_rate,
    )


def read_audio(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of anything ffmpeg reads to float32 mono.

    Channels are averaged. With ``sample_rate`` the audio is resampled by ffmpeg (swresample);
    without it the file's own rate is kept. Returns ``(samples, rate in Hz)``. Raises
    :class:`AudioError` naming the file when it is missing, has no audio or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    try:
        stream = audio_stream(probe(path))
    except FFmpegError as err:
        raise AudioError(path, f"not a media file ffmpeg can read: {_last_line(err.stderr)}") from err
    if stream is None:
        raise AudioError(path, "has no audio stream")
    channels = int(stream.get("channels") or 1)
    rate = sample_rate or int(stream["sample_rate"])
    args = ["-i", str(path), "-map", "0:a:0", "-vn", "-ac", str(channels), "-ar", str(rate),
            "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1"]
    try:
        raw = ffmpeg_stdout(args)
    except FFmpegError as err:
        raise AudioError(path, f"cannot decode audio: {_last_line(err.stderr)}") from err
    samples = np.frombuffer(raw, dtype="<f4")
    samples = samples[: samples.size - samples.size % channels].reshape(-1, channels)
    mono = samples.mean(axis=1, dtype=np.float64) if channels > 1 else samples[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(path, "decoded audio contains NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"



_IMAGE_FORMATS = ("image2", "gif", "ico")
"""ffprobe format names of still images besides the ``*_pipe`` ones (``jpeg_pipe``, ``png_pipe``...)."""


def check_image(data: bytes, source: Path) -> str:
    """Decode ``data`` as one still image with ffmpeg; returns its codec (``mjpeg``, ``png``...).

    Raises :class:`InputError` naming ``source`` when it is not an image ffmpeg can decode,
    so a bad cover fails before anything is synthesized, not after.
    """
    from castline.tempfiles import scratch_dir

    with scratch_dir("image") as scratch:
        path = Path(scratch) / "image"
        path.write_bytes(data)
        try:
            info = probe(path)
            stream = next((s for s in info["streams"] if s.get("codec_type") == "video"), None)
            format_name = str(info.get("format", {}).get("format_name", ""))
            if stream is None or not (format_name.endswith("_pipe") or format_name in _IMAGE_FORMATS):
                raise InputError(source, f"not an image (ffprobe reads it as {format_name or 'nothing it knows'})")
            run_ffmpeg(["-v", "error", "-i", str(path), "-frames:v", "1", "-f", "null", "-"])
        except FFmpegError as err:
            said = _last_line(err.stderr).replace(f"{path}: ", "")
            raise InputError(source, f"not an image ffmpeg can decode, or damaged (ffmpeg: {said})") from None
    return str(stream.get("codec_name", ""))
