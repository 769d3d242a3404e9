"""Fitting dubbed takes to their cues: the timing rules, the time stretch, the timeline plot."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tasks.fit as fit_module
from tasks.fit import CueWindow, Fit, FitSettings, fit_cues, fit_take, has_filter, stretch, trim_with_fade
from tasks.timeline_plot import ACTION_COLOURS, MAX_WIDTH_PX, timeline_svg

RATE = 22050
METHODS = [
    pytest.param("rubberband", marks=pytest.mark.skipif(not has_filter("rubberband"), reason="ffmpeg without rubberband")),
    "atempo",
]


def one(speech_s: float, settings: FitSettings = FitSettings()) -> Fit:
    """The fit of a take to a cue at 1-3 s, the next cue starting at 5 s, on a 10 s timeline."""
    return fit_cues([CueWindow(1.0, 3.0), CueWindow(5.0, 6.0)], [speech_s, 0.5], 10.0, settings)[0]


def sine(freq_hz: float, seconds: float, rate: int = RATE) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq_hz * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


def dominant_hz(audio: np.ndarray, rate: int = RATE) -> float:
    middle = audio[audio.size // 4 : 3 * audio.size // 4]  # away from the filters' ramps at the ends
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size), n=8 * middle.size))
    return float(np.argmax(spectrum) * rate / (8 * middle.size))


# --- the timing rules ---


def test_a_take_that_fits_is_placed_as_it_is() -> None:
    fit = one(1.5)
    assert (fit.start_s, fit.cue_end_s, fit.limit_s) == (1.0, 3.0, 4.9)
    assert (fit.tempo, fit.placed_s, fit.shift_s, fit.overflow_s) == (1.0, 1.5, 0.0, 0.0)
    assert fit.end_s == 2.5 and fit.action == "fits"


def test_a_longer_take_borrows_the_silence_after_its_cue_first() -> None:
    fit = one(3.5)
    assert fit.tempo == 1.0 and fit.placed_s == 3.5 and fit.overflow_s == 0.0
    assert fit.shift_s == pytest.approx(1.5) and fit.end_s == 4.5 and fit.action == "borrowed"


def test_a_take_too_long_for_the_gap_is_sped_up_just_enough_to_end_at_the_limit() -> None:
    fit = one(4.5)  # 3.9 s of room from 1.0 s to the limit at 4.9 s
    assert fit.tempo == pytest.approx(4.5 / 3.9) and fit.tempo < FitSettings().max_tempo
    assert fit.end_s == fit.limit_s == 4.9 and fit.placed_s == pytest.approx(4.5 / fit.tempo)
    assert fit.overflow_s == 0.0 and fit.shift_s == pytest.approx(1.9) and fit.action == "stretched"


def test_beyond_max_tempo_the_overflow_is_trimmed_at_the_limit_or_runs_over_it() -> None:
    trimmed = one(6.0)  # 6.0 / 1.25 = 4.8 s, 0.9 s more than the 3.9 s of room
    assert trimmed.tempo == 1.25 and trimmed.overflow_s == pytest.approx(0.9)
    assert trimmed.end_s == trimmed.limit_s and trimmed.action == "trimmed"
    overlapping = one(6.0, FitSettings(overflow="overlap"))
    assert overlapping.tempo == 1.25 and overlapping.overflow_s == pytest.approx(0.9)
    assert overlapping.end_s == pytest.approx(5.8) and overlapping.end_s > overlapping.limit_s
    assert overlapping.action == "overlaps"


def test_overlapping_and_nested_cues_are_clipped_to_the_next_cues_start() -> None:
    windows = [CueWindow(0.0, 5.0), CueWindow(1.0, 2.0), CueWindow(1.5, 4.0), CueWindow(1.5, 3.0)]
    fits = fit_cues(windows, [0.5, 0.5, 0.5, 0.5], 10.0)
    assert [f.cue_end_s for f in fits] == [1.0, 1.5, 1.5, 3.0]
    assert [f.limit_s for f in fits] == [1.0, 1.5, 1.5, 10.0]  # never before the cue's own end
    assert [f.action for f in fits] == ["fits", "fits", "trimmed", "fits"]  # the third has no room at all
    no_room = fits[2]
    assert no_room.placed_s == 0.0 and no_room.tempo == 1.25 and no_room.overflow_s == pytest.approx(0.4)


def test_the_last_cue_may_borrow_up_to_the_timelines_end_and_no_further() -> None:
    fits = fit_cues([CueWindow(8.0, 9.0)], [2.4], 10.0)
    assert fits[0].limit_s == 10.0 and fits[0].tempo == pytest.approx(1.2) and fits[0].end_s == 10.0
    beyond = fit_cues([CueWindow(7.0, 8.0), CueWindow(8.5, 12.0)], [0.5, 1.0], 10.0)[1]
    assert beyond.cue_end_s == beyond.limit_s == 10.0 and beyond.action == "fits"
    near_end = fit_cues([CueWindow(1.0, 2.0), CueWindow(9.95, 10.5)], [3.0, 0.01], 10.0)[0]
    assert near_end.limit_s == pytest.approx(9.85) and near_end.action == "borrowed"


def test_speech_is_never_slowed_down() -> None:
    fits = fit_cues([CueWindow(0.0, 10.0)], [0.2], 10.0)
    assert fits[0].tempo == 1.0 and fits[0].placed_s == 0.2


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="before cue 0"):
        fit_cues([CueWindow(2.0, 3.0), CueWindow(1.0, 2.0)], [1.0, 1.0], 10.0)
    with pytest.raises(ValueError, match="2 cue windows but 1 takes"):
        fit_cues([CueWindow(0.0, 1.0), CueWindow(1.0, 2.0)], [1.0], 10.0)
    with pytest.raises(ValueError, match="max_tempo"):
        FitSettings(max_tempo=0.9)
    with pytest.raises(ValueError, match="overflow"):
        FitSettings(overflow="squash")  # type: ignore[arg-type]


# --- the time stretch ---


@pytest.mark.parametrize("method", METHODS)
def test_stretch_keeps_the_pitch_and_gives_the_exact_length(method: str) -> None:
    tone = sine(440.0, 2.0)
    out = stretch(tone, RATE, 1.25, method=method)  # type: ignore[arg-type]
    assert out.dtype == np.float32 and out.size == round(tone.size / 1.25)
    assert dominant_hz(out) == pytest.approx(440.0, rel=0.02)
    assert float(np.sqrt(np.mean(out[out.size // 4 : -out.size // 4] ** 2))) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_samples, tempo", [(12_345, 1.07), (1_001, 1.25), (30_000, 2.7)])
def test_stretch_length_is_exact_for_awkward_lengths_and_tempos(method: str, n_samples: int, tempo: float) -> None:
    noise = (np.random.default_rng(n_samples).standard_normal(n_samples) * 0.1).astype(np.float32)
    assert stretch(noise, RATE, tempo, method=method).size == round(n_samples / tempo)  # type: ignore[arg-type]


def test_stretch_at_tempo_one_runs_nothing_and_falls_back_to_atempo(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tone = sine(440.0, 0.5)
    assert stretch(tone, RATE, 1.0) is tone
    assert has_filter("atempo") and not has_filter("no_such_filter")
    monkeypatch.setattr(fit_module, "has_filter", lambda name: False)
    caplog.set_level(logging.DEBUG, logger="castline.ffmpeg")
    assert stretch(tone, RATE, 1.2).size == round(tone.size / 1.2)
    assert "atempo=" in caplog.text and "rubberband" not in caplog.text


def test_trim_cuts_to_the_length_with_a_fade_out() -> None:
    ones = np.ones(1000, dtype=np.float32)
    out = trim_with_fade(ones, 1000, 600, 0.1)
    assert out.size == 600 and np.all(out[:500] == 1.0)
    assert np.all(np.diff(out[500:]) < 0) and out[-1] < 0.001
    assert np.array_equal(trim_with_fade(ones, 1000, 2000, 0.1), ones)  # nothing cut, nothing faded


def test_a_piper_take_fitted_to_a_short_cue_has_the_placed_length() -> None:
    from voices.engines import SynthesisRequest, get_engine
    from voices.profile import find_profile

    joe = find_profile("joe")
    engine = get_engine(joe)
    (take,) = engine.synthesize([SynthesisRequest("The quick brown fox jumps over the lazy dog, twice.", joe)])
    rate = engine.sample_rate
    speech_s = take.size / rate
    windows = [CueWindow(0.0, speech_s * 0.7), CueWindow(speech_s * 0.85 + 0.1, speech_s * 2)]  # room: 0.85 speech_s
    for settings, action in ((FitSettings(), "stretched"), (FitSettings(max_tempo=1.1), "trimmed")):
        fit = fit_cues(windows, [speech_s, 0.1], speech_s * 2, settings)[0]
        out = fit_take(take, rate, fit, settings)
        assert fit.action == action and abs(out.size - fit.placed_s * rate) <= 1
        rms_in, rms_out = (float(np.sqrt(np.mean(a**2))) for a in (take, out))
        assert 20 * np.log10(rms_out / rms_in) == pytest.approx(0.0, abs=1.5)  # no phasey loss of level


# --- the timeline plot ---


def test_timeline_svg_shows_each_cue_escapes_labels_and_caps_its_width() -> None:
    windows = [CueWindow(1.0, 3.0), CueWindow(5.0, 6.0)]
    fits = fit_cues(windows, [6.0, 0.5], 10.0)
    svg = timeline_svg(fits, windows, ["<Tom & Jerry>", "two"], 10.0)
    root = ET.fromstring(svg)  # well-formed, labels escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "<Tom & Jerry>" in texts and "two" in texts and "0:05" in texts
    fills = [r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert fills.count(ACTION_COLOURS["trimmed"]) == 2 and fills.count(ACTION_COLOURS["fits"]) == 2  # legend + bar
    long = timeline_svg(fits, windows, ["a", "b"], 7200.0)
    assert float(ET.fromstring(long).get("width", "0")) <= MAX_WIDTH_PX + 200 and ">2:00:00<" in long
    with pytest.raises(ValueError):
        timeline_svg(fits, windows, ["a"], 10.0)
