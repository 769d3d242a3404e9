"""Enrollment audio on real speech: loading and refusals, VAD cuts, transcripts, WER, WAV output."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile

from castline.errors import AudioError, CheckpointError
from castline.ffmpeg import read_audio
from voices import enroll_audio
from voices.enroll_audio import (
    ENROLL_RATE_HZ,
    MAX_PAUSE_S,
    AudioLimits,
    Recording,
    cut_references,
    load_recording,
    save_wav,
    speech_segments,
    transcribe,
    word_error_rate,
)

DATA = Path(__file__).parent / "data"
SPEECH = DATA / "speech"
LJ_FILES = [DATA / "ljspeech_LJ001-0001.wav", SPEECH / "ljspeech_LJ001-0003.wav", SPEECH / "ljspeech_LJ001-0005.wav"]
LJ_LENGTHS_S = {"ljspeech_LJ001-0001.wav": 9.66, "ljspeech_LJ001-0003.wav": 9.67, "ljspeech_LJ001-0005.wav": 8.11}
LIBRISPEECH = SPEECH / "librispeech_1995-1837-0001.wav"
MAX_WER = 0.15


def _transcripts() -> dict[str, str]:
    with open(SPEECH / "transcripts.tsv", encoding="utf-8", newline="") as handle:
        return {row[0]: row[2] for row in csv.reader(handle, delimiter="\t")}


TRANSCRIPTS = _transcripts()


@pytest.fixture(scope="module")
def lj_recordings() -> list[Recording]:
    return [load_recording(path) for path in LJ_FILES]


@pytest.fixture(scope="module")
def asr() -> None:
    """Load the recognizer once for the module (it stays cached in the process)."""
    assert transcribe(np.zeros(ENROLL_RATE_HZ // 2, dtype=np.float32)) is not None


def _lj_samples(path: Path = LJ_FILES[0]) -> np.ndarray:
    audio, rate = soundfile.read(path, dtype="float32")
    assert rate == 22050
    return audio


def _write(tmp_path: Path, name: str, audio: np.ndarray, rate: int = 22050, subtype: str = "PCM_16") -> Path:
    path = tmp_path / name
    soundfile.write(path, audio, rate, subtype=subtype)
    return path


# -- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(3))
def test_lj_clips_load_with_speech_close_to_their_length(lj_recordings: list[Recording], index: int) -> None:
    recording = lj_recordings[index]
    assert recording.path == LJ_FILES[index]
    assert recording.source_s == pytest.approx(LJ_LENGTHS_S[recording.path.name], abs=0.01)
    assert 0.9 * recording.source_s <= recording.speech_s <= recording.source_s
    assert recording.audio.dtype == np.float32 and recording.audio.ndim == 1
    trimmed_s = recording.audio.size / ENROLL_RATE_HZ
    assert recording.speech_s <= trimmed_s + 1e-6 and trimmed_s <= recording.source_s


def test_librispeech_loads() -> None:
    recording = load_recording(LIBRISPEECH)
    assert recording.source_s == pytest.approx(8.73, abs=0.01)
    assert 0.85 * recording.source_s <= recording.speech_s <= recording.source_s


def test_speech_segments_find_the_pauses_of_a_sentence() -> None:
    audio, _ = read_audio(LJ_FILES[0], sample_rate=ENROLL_RATE_HZ)
    segments = speech_segments(audio)
    assert len(segments) >= 2  # "Printing, | in the only sense ... concerned, | differs ..."
    for (start, end), (following, _) in zip(segments, segments[1:]):
        assert start < end <= following
    assert segments[0][0] >= 0 and segments[-1][1] <= audio.size / ENROLL_RATE_HZ
    assert speech_segments(np.zeros(ENROLL_RATE_HZ, dtype=np.float32)) == []


def test_long_pauses_are_shortened(tmp_path: Path) -> None:
    lj = _lj_samples()
    gap = np.zeros(int(1.5 * 22050), dtype=np.float32)
    path = _write(tmp_path, "with_pause.wav", np.concatenate([lj, gap, lj]))
    recording = load_recording(path)
    trimmed_s = recording.audio.size / ENROLL_RATE_HZ
    # two sentences (each trimmed as when loaded alone) joined by at most MAX_PAUSE_S
    single = load_recording(LJ_FILES[0]).audio.size / ENROLL_RATE_HZ
    assert trimmed_s <= 2 * single + MAX_PAUSE_S + 0.05
    assert trimmed_s < recording.source_s - 1.0


# -- cutting ---------------------------------------------------------------------------------


def test_three_lj_clips_give_three_to_five_references(lj_recordings: list[Recording]) -> None:
    cuts = cut_references(lj_recordings)
    assert 3 <= len(cuts) <= 5
    assert {cut.source for cut in cuts} == set(LJ_FILES)  # spread over the recordings
    for cut in cuts:
        assert 3.0 <= cut.duration_s <= 10.0
        assert cut.audio.dtype == np.float32
        assert cut.audio.size == pytest.approx(cut.duration_s * ENROLL_RATE_HZ, abs=1)


def test_cuts_transcribe_to_the_corpus_text(lj_recordings: list[Recording], asr: None) -> None:
    heard: dict[str, list[str]] = {}
    for cut in cut_references(lj_recordings):
        heard.setdefault(cut.source.name, []).append(transcribe(cut.audio))
    for name, texts in heard.items():
        wer = word_error_rate(TRANSCRIPTS[name], " ".join(texts))
        assert wer <= MAX_WER, f"{name}: WER {wer:.1%}: {' '.join(texts)!r}"


def test_whole_librispeech_file_transcribes(asr: None) -> None:
    text = transcribe(load_recording(LIBRISPEECH).audio)
    assert word_error_rate(TRANSCRIPTS[LIBRISPEECH.name], text) <= MAX_WER, text


def test_one_long_recording_is_cut_into_several_references(tmp_path: Path) -> None:
    pause = np.zeros(int(0.8 * ENROLL_RATE_HZ), dtype=np.float32)
    parts = []
    for path in [*LJ_FILES, LIBRISPEECH]:
        parts += [read_audio(path, sample_rate=ENROLL_RATE_HZ)[0], pause]
    path = _write(tmp_path, "one_minute.wav", np.concatenate(parts), ENROLL_RATE_HZ)
    recording = load_recording(path)
    cuts = cut_references([recording])
    assert 3 <= len(cuts) <= 5
    for cut, following in zip(cuts, cuts[1:]):
        assert cut.end_s <= following.start_s  # in order, no overlap
    assert all(3.0 <= cut.duration_s <= 10.0 for cut in cuts)


def test_speech_without_a_pause_is_split_at_quiet_points(lj_recordings: list[Recording]) -> None:
    # LJ001-0003 is one 9.7 s VAD segment: 2-4 s references must split it inside
    cuts = cut_references(lj_recordings, count=(3, 8), min_s=2.0, max_s=4.0)
    assert all(2.0 <= cut.duration_s <= 4.0 for cut in cuts)
    assert sum(cut.source == LJ_FILES[1] for cut in cuts) >= 2


def test_count_caps_the_references(lj_recordings: list[Recording]) -> None:
    cuts = cut_references(lj_recordings, count=(1, 2))
    assert len(cuts) == 2 and cuts[0].source != cuts[1].source


def test_too_little_speech_for_three_references(lj_recordings: list[Recording]) -> None:
    with pytest.raises(AudioError, match=r"only 1 usable stretch of 3-10 s of speech.*enroll at least 3") as err:
        cut_references(lj_recordings[:1])
    assert err.value.path == LJ_FILES[0]


# -- refusals --------------------------------------------------------------------------------


def test_silence_only_is_refused(tmp_path: Path) -> None:
    hiss = np.random.default_rng(1).normal(0.0, 1e-4, 5 * ENROLL_RATE_HZ).astype(np.float32)
    path = _write(tmp_path, "silence.wav", hiss, ENROLL_RATE_HZ)
    with pytest.raises(AudioError, match=r"silence\.wav: no speech found \(.*5\.0 s") as err:
        load_recording(path)
    assert err.value.path == path


def test_clipped_audio_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "clipped.wav", np.clip(_lj_samples() * 20, -1.0, 1.0))
    with pytest.raises(AudioError, match=r"clipped\.wav: clipped: \d+\.\d\d% of the samples .*at most 0\.10%"):
        load_recording(path)


def test_one_second_clip_is_refused(tmp_path: Path) -> None:
    lj = _lj_samples()
    path = _write(tmp_path, "one_second.wav", lj[22050 : 2 * 22050])
    with pytest.raises(AudioError, match=r"one_second\.wav: too short: (0\.\d|1\.0) s of speech found, at least 3 s needed"):
        load_recording(path)


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("These are my notes, not a recording.\n")
    with pytest.raises(AudioError, match=r"notes\.wav: not an audio file ffmpeg can read \(Invalid data") as err:
        load_recording(path)
    assert str(err.value).count("notes.wav") == 1  # named once, ffmpeg's own mention dropped


def test_noisy_recording_is_refused(tmp_path: Path) -> None:
    lj = _lj_samples() * 0.5
    noise = np.random.default_rng(2).normal(0.0, float(np.sqrt(np.mean(lj**2))), lj.size)  # 0 dB SNR
    path = _write(tmp_path, "noisy.wav", (lj + noise).astype(np.float32), subtype="FLOAT")
    with pytest.raises(AudioError, match=r"noisy\.wav: too noisy: speech is \d+\.\d dB above the background noise, at least 15 dB"):
        load_recording(path)


def test_too_long_file_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a file that is too long")

    monkeypatch.setattr(enroll_audio, "read_audio", no_decoding)
    with pytest.raises(AudioError, match=r"ljspeech_LJ001-0003\.wav: too long: 9\.7 s, at most 5 s per file"):
        load_recording(LJ_FILES[1], AudioLimits(max_file_s=5))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"absent\.wav: no such file"):
        load_recording(tmp_path / "absent.wav")


# -- transcripts and WER ---------------------------------------------------------------------


def test_word_error_rate_basics() -> None:
    assert word_error_rate("the cat sat down", "the cat sat down") == 0.0
    assert word_error_rate("The cat, sat down.", "the CAT sat down") == 0.0
    assert word_error_rate("the cat sat down", "the dog sat down") == 0.25
    assert word_error_rate("the cat sat down", "the cat sat right down") == 0.25  # insertion
    assert word_error_rate("the cat sat down", "the cat down") == 0.25  # deletion
    assert word_error_rate("the cat sat down", "") == 1.0
    assert word_error_rate("don't stop", "dont stop") == 0.5  # apostrophes are kept
    assert word_error_rate("the fifteenth century", "the 15th century") == 0.0
    assert word_error_rate("", "") == 0.0


def test_an_english_only_model_refuses_other_languages(asr: None) -> None:
    with pytest.raises(CheckpointError, match="English-only model, cannot transcribe 'de'"):
        transcribe(np.zeros(ENROLL_RATE_HZ, dtype=np.float32), "de")


def test_asr_model_directory_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (enroll_audio.asr_model_dir() / "model.bin").is_file()
    monkeypatch.setenv(enroll_audio.ASR_MODEL_ENV, str(tmp_path))
    assert enroll_audio.asr_model_dir() == tmp_path
    with pytest.raises(CheckpointError, match="no model.bin"):
        transcribe(np.zeros(ENROLL_RATE_HZ, dtype=np.float32))


def test_save_wav_writes_16_bit_pcm(tmp_path: Path, lj_recordings: list[Recording]) -> None:
    cut = cut_references(lj_recordings)[0]
    path = tmp_path / "reference.wav"
    save_wav(cut.audio, path)
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (ENROLL_RATE_HZ, 1, "PCM_16")
    back, _ = soundfile.read(path, dtype="float32")
    assert np.max(np.abs(back - cut.audio)) < 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["reference.wav"]  # no temporary file left
