"""tasks.assemble: head, clips, pauses and tail, with engine padding trimmed."""

from __future__ import annotations

import numpy as np
import pytest

from castline.errors import AudioError
from tasks.assemble import TrimSettings, assemble_chapter, trim_clip

RATE = 22050


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    """A stand-in for speech: a 200 Hz tone with a syllable-rate envelope, peak 0.8."""
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t + seed)
    return (0.8 * envelope * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def _padded(speech: np.ndarray, lead_s: float, trail_s: float, seed: int) -> np.ndarray:
    """What an engine returns: speech with near-silent padding (-80 dBFS hiss) around it."""
    noise = np.random.default_rng(seed).standard_normal(round((lead_s + trail_s) * RATE)) * 1e-4
    lead, trail = noise[: round(lead_s * RATE)], noise[round(lead_s * RATE):]
    return np.concatenate([lead, speech, trail]).astype(np.float32)


def _speech_runs(audio: np.ndarray, threshold: float = 1e-3) -> list[tuple[int, int]]:
    """Start and end sample of each stretch of sound separated by more than 50 ms of quiet."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    breaks = np.flatnonzero(np.diff(loud) > 0.05 * RATE)
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))


def test_layout_is_head_clip_pause_clip_tail_without_trimming() -> None:
    a, b = _speech_like(1.0, 0), _speech_like(0.5, 1)
    out = assemble_chapter([(a, 0.7), (b, 9.0)], RATE, head_s=0.5, tail_s=2.0, trim=None)
    head, pause, tail = round(0.5 * RATE), round(0.7 * RATE), round(2.0 * RATE)
    assert out.dtype == np.float32
    assert out.size == head + a.size + pause + b.size + tail  # the last pause gives way to the tail
    assert not out[:head].any() and not out[head + a.size : head + a.size + pause].any()
    np.testing.assert_array_equal(out[head : head + a.size], a)
    assert not out[-tail:].any()


def test_engine_padding_is_trimmed_so_pauses_are_what_the_manifest_says() -> None:
    settings = TrimSettings()
    speech = [_speech_like(1.2, 0), _speech_like(0.8, 1), _speech_like(1.0, 2)]
    # padding differs per clip, as it does between engines and sentences
    clips = [(_padded(s, lead, trail, i), pause) for i, (s, lead, trail, pause) in
             enumerate(zip(speech, (0.04, 0.3, 0.1), (0.1, 0.5, 0.25), (0.6, 1.5, 0.0)))]
    out = assemble_chapter(clips, RATE, head_s=0.75, tail_s=3.0)
    runs = _speech_runs(out)
    assert len(runs) == 3
    margin = settings.margin_s
    # each silence is the manifest's pause plus the two margins kept around speech
    assert runs[0][0] / RATE == pytest.approx(0.75 + margin, abs=0.01)
    assert (runs[1][0] - runs[0][1]) / RATE == pytest.approx(0.6 + 2 * margin, abs=0.01)
    assert (runs[2][0] - runs[1][1]) / RATE == pytest.approx(1.5 + 2 * margin, abs=0.01)
    assert (out.size - runs[2][1]) / RATE == pytest.approx(3.0 + margin, abs=0.01)
    # the speech itself is all there
    for (start, end), s in zip(runs, speech):
        assert (end - start) / RATE == pytest.approx(s.size / RATE, abs=0.01)


def test_trim_keeps_a_margin_and_fades_the_cut_edges() -> None:
    settings = TrimSettings(margin_s=0.05)
    speech = _speech_like(0.5, 0)
    clip = np.concatenate([np.full(RATE // 2, 1e-4, np.float32), speech, np.full(RATE // 2, 1e-4, np.float32)])
    trimmed = trim_clip(clip, RATE, settings)
    assert trimmed.size == pytest.approx(speech.size + 2 * 0.05 * RATE, abs=2 * 0.005 * RATE)
    assert abs(trimmed[0]) < 1e-6 and abs(trimmed[-1]) < 1e-6  # faded to zero at the cuts


def test_quiet_clips_are_trimmed_relative_to_their_own_peak() -> None:
    speech = _speech_like(0.5, 0) * 10 ** (-40 / 20)  # peak about -42 dBFS
    clip = _padded(speech, 0.2, 0.2, seed=3) * 10 ** (-20 / 20)  # hiss now at -100 dBFS
    trimmed = trim_clip(clip, RATE)
    assert trimmed.size == pytest.approx(speech.size + 2 * 0.03 * RATE, abs=0.02 * RATE)


def test_a_silent_clip_keeps_only_its_pause() -> None:
    out = assemble_chapter([(np.zeros(RATE, np.float32), 0.5), (_speech_like(0.3, 0), 0.0)],
                           RATE, head_s=0.1, tail_s=0.2)
    runs = _speech_runs(out)
    assert len(runs) == 1
    assert runs[0][0] / RATE == pytest.approx(0.1 + 0.5, abs=0.01)  # unpadded: nothing to trim


def test_no_clips_gives_head_and_tail_of_silence() -> None:
    out = assemble_chapter([], RATE, head_s=0.5, tail_s=1.0)
    assert out.size == round(1.5 * RATE) and not out.any()


@pytest.mark.parametrize(
    ("clips", "kwargs", "error"),
    [
        ([(np.zeros((2, 10), np.float32), 0.1)], {}, ValueError),
        ([(np.zeros(10, np.float32), -0.1)], {}, ValueError),
        ([(np.array([0.1, np.nan], np.float32), 0.1)], {}, AudioError),
        ([], {"head_s": -1.0}, ValueError),
    ],
)
def test_bad_input_is_refused(clips: list, kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        assemble_chapter(clips, RATE, **{"head_s": 0.5, "tail_s": 1.0, **kwargs})
