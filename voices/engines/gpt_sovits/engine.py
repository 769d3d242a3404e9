"""GPT-SoVITS: zero-shot voice cloning from a 3-10 s reference clip, batched across speakers.

Profile parameters (paths relative to the profile file)::

    engine: gpt-sovits
    reference: {audio: clips/alice.wav, text: "What the clip says.", language: en}
    params:
      gpt: models/alice-e15.ckpt          # upstream s1 .ckpt (text-to-semantic)
      sovits: models/alice_e8_s96.pth     # upstream s2 .pth (v1, v2, v2Pro, v2ProPlus)
      hubert: models/chinese-hubert-base  # directory (save_pretrained layout)
      bert: models/chinese-roberta-wwm-ext-large   # directory; needed for Chinese text
      sv: models/sv/pretrained_eres2netv2w24s4ep4.ckpt   # v2Pro/v2ProPlus speaker verification
      timbre: alice/timbre.npz            # optional: a style averaged over several clips (see below)
      device: auto                        # auto, cpu, cuda, cuda:N
      dtype: auto                         # auto (float16 on a GPU), float32, float16, bfloat16
      top_k: 15
      top_p: 1.0
      temperature: 1.0
      repetition_penalty: 1.35
      speed: 1.0                          # > 1 speaks faster
      noise_scale: 0.5
      batch_size: 16                      # utterances per model batch (default: 32 GPU, 8 CPU)
      retakes: 2                          # redos of a take whose length does not fit its text

Voices whose model files are the same share one loaded engine (:meth:`GPTSoVITSEngine.model_key`)
and one batch: each request brings its own reference clip, transcript and sampling settings.
A voice with ``timbre`` (an :class:`~.averaged.AveragedTimbre` file, made once by
:func:`~.averaged.average_timbre` from all its clips) is decoded with that fixed style; its
reference clip then only gives the prompt (semantic tokens and transcript).

A request's seed fixes its take; a take whose length does not fit its text (no EOS within the
budget, or far too short) is retaken with a seed derived from it, so renders stay reproducible.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from castline.digest import digest, file_sha256
from castline.errors import EngineError, VoiceError
from voices.engines.base import Engine, SynthesisRequest, engine_params
from voices.profile import VoiceProfile

if TYPE_CHECKING:
    import torch

    from voices.engines.gpt_sovits.averaged import AveragedTimbre
    from voices.engines.gpt_sovits.reference import ReferencePrompt
    from voices.engines.gpt_sovits.t2s import T2SItem, T2SResult

__all__ = ["GPTSoVITSEngine", "GPTSoVITSParams", "prepare_text", "retake_seed"]

log = logging.getLogger(__name__)

ENGINE_REVISION = 1
"""Bumped when a change to this engine, its sampler or its length policy alters the audio for the
same inputs (it is part of the fingerprint, so cached takes are redone)."""
TEXT_LANGUAGES = ("en", "zh", "ja", "auto")
"""Primary language tags the text frontends take (others are refused)."""
REFERENCE_RANGE_S = (3.0, 10.0)
"""Upstream's bounds on the reference clip length (enforced again when the clip is encoded)."""
_MAX_TIMBRES = 256
"""Averaged timbres an engine keeps loaded (a few KB each)."""
_SPLITS = "，。？！,.?!~:：—…"
"""Punctuation that ends a segment (upstream's list)."""


class GPTSoVITSParams(BaseModel):
    """The ``params`` of a GPT-SoVITS voice profile."""

    model_config = ConfigDict(extra="forbid")

    gpt: str = Field(min_length=1)
    """Upstream s1 ``.ckpt`` file."""
    sovits: str = Field(min_length=1)
    """Upstream s2 ``.pth`` file."""
    hubert: str = Field(min_length=1)
    """chinese-hubert-base directory."""
    bert: str | None = None
    """chinese-roberta-wwm-ext-large directory (Chinese text needs it)."""
    sv: str | None = None
    """ERes2NetV2 speaker-verification checkpoint (v2Pro and v2ProPlus need it)."""
    timbre: str | None = None
    """Averaged-timbre ``.npz`` (:mod:`.averaged`): decode with this style instead of the clip's."""
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    half: bool | None = None
    """Upstream's switch: true is ``dtype: float16``, false ``dtype: float32``."""
    top_k: int = Field(default=15, ge=0, le=1025)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    temperature: float = Field(default=1.0, gt=0.0, le=5.0)
    repetition_penalty: float = Field(default=1.35, ge=1.0, le=5.0)
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    """Speaking rate factor; > 1 is faster."""
    noise_scale: float = Field(default=0.5, ge=0.0, le=2.0)
    batch_size: int | None = Field(default=None, ge=1, le=256)
    retakes: int = Field(default=2, ge=0, le=8)
    """How many times a take of implausible length is redone with a derived seed."""

    @model_validator(mode="after")
    def _one_precision(self) -> GPTSoVITSParams:
        if self.half is not None and self.dtype != "auto" and (self.dtype == "float16") != self.half:
            raise ValueError(f"half: {self.half} contradicts dtype: {self.dtype}")
        return self

    @property
    def sound(self) -> dict[str, Any]:
        """The settings that change the sound (for the fingerprint)."""
        return self.model_dump(include={"top_k", "top_p", "temperature", "repetition_penalty", "speed",
                                        "noise_scale", "retakes"})


@dataclass(frozen=True)
class ModelFiles:
    """The model files a voice uses, resolved against its profile."""

    gpt: Path
    sovits: Path
    hubert: Path
    bert: Path | None
    sv: Path | None
    device: str
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` (see :func:`placement`)."""
    dtype: str
    """``auto`` or a torch dtype name."""
    batch_size: int | None


def _where(voice: VoiceProfile) -> str | Path:
    return voice.path or voice.name


def voice_params(voice: VoiceProfile) -> GPTSoVITSParams:
    """The profile's params, checked; errors name the profile file and the key."""
    return engine_params(voice, GPTSoVITSParams)


def _model_files(voice: VoiceProfile, params: GPTSoVITSParams) -> ModelFiles:
    def existing(key: str, value: str, want_dir: bool) -> Path:
        path = voice.resolve(value)
        ok = path.is_dir() if want_dir else path.is_file()
        if not ok:
            kind = "directory" if want_dir else "file"
            raise VoiceError(_where(voice), f"params.{key}: {kind} not found: {path}")
        return path

    return ModelFiles(
        gpt=existing("gpt", params.gpt, False),
        sovits=existing("sovits", params.sovits, False),
        hubert=existing("hubert", params.hubert, True),
        bert=existing("bert", params.bert, True) if params.bert else None,
        sv=existing("sv", params.sv, False) if params.sv else None,
        device=params.device,
        dtype=params.dtype if params.half is None or params.dtype != "auto" else
        ("float16" if params.half else "float32"),
        batch_size=params.batch_size,
    )


def placement(files: ModelFiles) -> tuple[str, str]:
    """``(device, dtype)`` with ``auto`` settled: the GPU if there is one, float16 on it."""
    device = files.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = files.dtype
    if dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    return device, dtype


def _dir_sha256(path: Path) -> str:
    """Digest of every file under a model directory (names and contents)."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return digest({str(p.relative_to(path)): file_sha256(p) for p in files})


def _model_digests(files: ModelFiles) -> dict[str, str | None]:
    return {
        "gpt": file_sha256(files.gpt),
        "sovits": file_sha256(files.sovits),
        "hubert": _dir_sha256(files.hubert),
        "bert": _dir_sha256(files.bert) if files.bert else None,
        "sv": file_sha256(files.sv) if files.sv else None,
    }


def _timbre_path(voice: VoiceProfile, params: GPTSoVITSParams) -> Path | None:
    """The voice's averaged-timbre file, if it names one; VoiceError if it is not there."""
    if params.timbre is None:
        return None
    path = voice.resolve(params.timbre)
    if not path.is_file():
        raise VoiceError(_where(voice), f"params.timbre: file not found: {path}")
    return path


def _check_reference_length(voice: VoiceProfile, audio: Path) -> None:
    """Refuse a clip outside 3-10 s when its header tells (formats soundfile reads)."""
    import soundfile as sf

    try:
        duration_s = sf.info(str(audio)).duration
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return  # decoded (and checked) with ffmpeg when the reference is encoded
    low, high = REFERENCE_RANGE_S
    if not low <= duration_s <= high:
        raise VoiceError(_where(voice), f"reference.audio: {audio.name} is {duration_s:.2f} s long; "
                                        f"GPT-SoVITS needs a {low:g}-{high:g} s clip")


def _model_key(files: ModelFiles) -> str:
    device, dtype = placement(files)
    return digest({"models": _model_digests(files), "device": device, "dtype": dtype})


def text_language(language: str, where: str | Path) -> str:
    """The frontend language for a BCP-47 tag (``en-GB`` -> ``en``); others are refused."""
    tag = language.split("-")[0].split("_")[0].lower()
    if tag not in TEXT_LANGUAGES:
        raise VoiceError(where, f"language {language!r}: GPT-SoVITS speaks {', '.join(TEXT_LANGUAGES)}")
    return tag


def prepare_text(text: str, language: str, *, lead: bool = True) -> str:
    """Punctuate a segment as upstream does before phonemizing it.

    A segment gets a final stop when it has none; with ``lead``, one whose first clause is
    shorter than 4 characters also gets a leading stop (upstream: fewer dropped first words).
    """
    text = text.strip()
    if not text:
        return text
    stop = "." if language == "en" else "。"
    first_clause = re.split(f"[{re.escape(_SPLITS)}]", text, maxsplit=1)[0]
    if lead and text[0] not in _SPLITS and len(first_clause) < 4:
        text = stop + text
    if text[-1] not in _SPLITS:
        text += stop
    return text


def retake_seed(seed: int, attempt: int) -> int:
    """The seed of retake ``attempt`` (1, 2...) of a take seeded ``seed``: fixed, 32-bit."""
    return int(digest({"seed": seed, "retake": attempt})[:8], 16)


@dataclass(frozen=True)
class _Prepared:
    """One request ready for the text-to-semantic stage."""

    request: SynthesisRequest
    params: GPTSoVITSParams
    reference: ReferencePrompt
    target_ids: torch.Tensor
    item: T2SItem
    timbre: AveragedTimbre | None = None
    """The voice's averaged timbre: decoded with its style instead of the reference clip's."""


class GPTSoVITSEngine(Engine):
    """One loaded GPT-SoVITS model set; speaks in the voice of each request's reference clip."""

    name: ClassVar[str] = "gpt-sovits"
    clones: ClassVar[bool] = True
    preferred_batch_size: ClassVar[int] = 16
    max_chars: ClassVar[int] = 150
    """About 10 s of English, 30 s of Chinese: well inside what the model was trained on."""
    phoneme_alphabet: ClassVar[str | None] = "arpabet"
    """Its English g2p emits ARPAbet with stress digits; ``[[ AH0 B AW1 T ]]`` in a request's
    text is spoken as exactly those phones (:mod:`.text`)."""

    def __init__(self, files: ModelFiles, where: str | Path = "") -> None:
        import torch

        from voices.engines.gpt_sovits.checkpoints import load_s1, load_s2
        from voices.engines.gpt_sovits.sovits import SoVITSDecoder
        from voices.engines.gpt_sovits.t2s import LengthPolicy, Text2Semantic

        self.files = files
        device, dtype = placement(files)
        self.device = torch.device(device)
        self.dtype: torch.dtype = getattr(torch, dtype)
        self.batch_size = files.batch_size or (32 if self.device.type == "cuda" else 8)
        self.length_policy = LengthPolicy()
        self.t2s = Text2Semantic.from_checkpoint(load_s1(files.gpt), self.device, self.dtype)
        self.decoder = SoVITSDecoder.from_checkpoint(load_s2(files.sovits), self.device, self.dtype)
        self.version: str = self.decoder.version
        self.sample_rate = self.decoder.sample_rate
        self.bert = self._load_bert(files)
        sv = self._load_sv(files, where)
        from voices.engines.gpt_sovits.reference import ReferenceEncoder

        self.references = ReferenceEncoder(files.hubert, self.decoder, sv, self.device, self.dtype)
        self.languages = frozenset({"en", "ja"} | ({"zh"} if self.bert is not None else set()))
        self.key = _model_key(files)
        """This engine's model key (see :meth:`model_key`)."""
        self._voices: dict[str, GPTSoVITSParams] = {}
        self._text_cache: dict[tuple[str, str], tuple[list[int], torch.Tensor]] = {}
        self._timbres: dict[str, AveragedTimbre] = {}
        """Averaged timbres by the SHA-256 of their file (each loaded and checked once)."""
        self._lock = threading.Lock()

    def _load_bert(self, files: ModelFiles) -> Any:
        if files.bert is None:
            return None
        from voices.engines.gpt_sovits.text import BertFeaturizer

        return BertFeaturizer(files.bert, self.device, self.dtype)

    def _load_sv(self, files: ModelFiles, where: str | Path) -> Any:
        if not self.decoder.needs_sv:
            return None
        if files.sv is None:
            raise VoiceError(where, f"params.sv: SoVITS {self.version} needs the speaker-verification checkpoint")
        from voices.engines.gpt_sovits.sv import SpeakerVerifier

        return SpeakerVerifier.from_checkpoint(files.sv, self.device, self.dtype)

    # --- profile-only methods ------------------------------------------------------------------

    @classmethod
    def check(cls, voice: VoiceProfile) -> None:
        params = voice_params(voice)
        ref = voice.reference
        if ref is None:
            raise VoiceError(_where(voice), "reference: a GPT-SoVITS voice needs a reference clip and its transcript")
        _model_files(voice, params)
        _timbre_path(voice, params)
        if not ref.audio.is_file():
            raise VoiceError(_where(voice), f"reference.audio: file not found: {ref.audio}")
        _check_reference_length(voice, ref.audio)
        for key, lang in (("language", voice.language), ("reference.language", ref.language)):
            tag = text_language(lang, _where(voice))
            if tag in ("zh", "auto") and not params.bert:
                raise VoiceError(_where(voice), f"params.bert: {key} {lang!r} needs the Chinese BERT directory")

    @classmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        cls.check(voice)
        params = voice_params(voice)
        files = _model_files(voice, params)
        ref = voice.reference
        if ref is None:  # check() refused it already; this narrows the type
            raise VoiceError(_where(voice), "reference: missing")
        identity: dict[str, Any] = {
            "engine": cls.name,
            "revision": ENGINE_REVISION,
            "models": _model_digests(files),
            "reference": {"audio": file_sha256(ref.audio), "text": ref.text, "language": ref.language},
            "params": params.sound,
        }
        timbre = _timbre_path(voice, params)
        if timbre is not None:  # absent otherwise: voices without one keep their fingerprints
            identity["timbre"] = file_sha256(timbre)
        return digest(identity)

    @classmethod
    def unknown_phonemes(cls, voice: VoiceProfile, phonemes: Sequence[str]) -> list[tuple[str, ...]]:
        """For each of ``phonemes``, the symbols outside the v1 table, which every checkpoint
        version's table holds (v2 only appends), so that the check needs no checkpoint."""
        from voices.engines.gpt_sovits.text.symbols import symbol_ids

        known = symbol_ids("v1")
        return [tuple(dict.fromkeys(s for s in p.split() if s not in known)) for p in phonemes]

    @classmethod
    def model_key(cls, voice: VoiceProfile) -> str:
        return _model_key(_model_files(voice, voice_params(voice)))

    @classmethod
    def runs_on(cls, voice: VoiceProfile) -> str:
        return placement(_model_files(voice, voice_params(voice)))[0]

    @classmethod
    def load(cls, voice: VoiceProfile) -> GPTSoVITSEngine:
        cls.check(voice)
        return cls(_model_files(voice, voice_params(voice)), _where(voice))

    # --- synthesis -----------------------------------------------------------------------------

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        if not requests:
            return []
        with self._lock:
            prepared = [self.prepare(r) for r in requests]
            results = self.semantic(prepared)
            return self.vocalize(prepared, results)

    def _voice_params(self, voice: VoiceProfile) -> GPTSoVITSParams:
        """The voice's params, once it is known to use this engine's model files."""
        key = digest({"path": str(voice.path), "name": voice.name, "params": dict(voice.params)})
        params = self._voices.get(key)
        if params is None:
            params = voice_params(voice)
            if self.model_key(voice) != self.key:
                raise VoiceError(_where(voice), "params: this voice's model files differ from the loaded engine's")
            self._voices[key] = params
        return params

    def _timbre(self, voice: VoiceProfile, params: GPTSoVITSParams) -> AveragedTimbre | None:
        """The voice's averaged timbre (loaded once per file content), checked against this model."""
        from voices.engines.gpt_sovits.averaged import load_timbre, timbre_mismatch

        path = _timbre_path(voice, params)
        if path is None:
            return None
        sha = file_sha256(path)
        timbre = self._timbres.get(sha)
        if timbre is None:
            timbre = load_timbre(path)
            problem = timbre_mismatch(timbre, self.decoder, file_sha256(self.files.sovits))
            if problem:
                raise VoiceError(_where(voice), f"params.timbre: {path.name}: {problem}")
            self._timbres[sha] = timbre
            if len(self._timbres) > _MAX_TIMBRES:
                self._timbres.pop(next(iter(self._timbres)))
        return timbre

    def _phones(self, text: str, language: str) -> tuple[list[int], torch.Tensor]:
        """Phone ids and BERT features ``[1024, n]`` of a text (memoized per text and language)."""
        from voices.engines.gpt_sovits.text import phones_and_bert

        key = (text, language)
        found = self._text_cache.get(key)
        if found is None:
            ids, bert, _ = phones_and_bert(text, language, self.version, self.bert)
            if not ids:
                raise VoiceError(f"text={text[:60]!r}", "no speakable phones in this text")
            found = self._text_cache[key] = (ids, bert.to(self.device))
            if len(self._text_cache) > 4096:
                self._text_cache.pop(next(iter(self._text_cache)))
        return found

    def prepare(self, request: SynthesisRequest) -> _Prepared:
        """Reference prompt, phones and BERT features of one request, as a t2s item."""
        import torch

        from voices.engines.gpt_sovits.t2s import SamplingSettings, T2SItem

        voice = request.voice
        params = self._voice_params(voice)
        ref = voice.reference
        if ref is None:
            raise VoiceError(_where(voice), "reference: a GPT-SoVITS voice needs a reference clip and its transcript")
        where = _where(voice)
        ref_lang = text_language(ref.language, where)
        lang = text_language(request.text_language, where)
        if self.bert is None and {"zh", "auto"} & {lang, ref_lang}:
            raise VoiceError(where, "params.bert: Chinese text needs the Chinese BERT directory")
        ref_ids, ref_bert = self._phones(prepare_text(ref.text, ref_lang, lead=False), ref_lang)
        ids, bert = self._phones(prepare_text(request.text, lang), lang)
        timbre = self._timbre(voice, params)
        reference = self.references.encode(ref.audio)
        prompt = reference.prompt_semantic.reshape(-1).to(torch.int64)
        item = T2SItem(
            phones=torch.tensor(ref_ids + ids, dtype=torch.int64),
            bert=torch.cat([ref_bert, bert], dim=1),
            prompt=prompt,
            seed=request.seed & 0x7FFFFFFFFFFFFFFF,
            max_tokens=self.length_policy.budget(len(ids)),
            sampling=SamplingSettings(params.top_k, params.top_p, params.temperature, params.repetition_penalty),
        )
        return _Prepared(request, params, reference, torch.tensor(ids, dtype=torch.int64), item, timbre)

    def semantic(self, prepared: Sequence[_Prepared]) -> list[T2SResult]:
        """Semantic tokens for every request, with retakes of implausible lengths."""
        items = [p.item for p in prepared]
        results = self._generate(items)
        for attempt in range(1, 1 + max((p.params.retakes for p in prepared), default=0)):
            redo = [
                i for i, (p, r) in enumerate(zip(prepared, results))
                if attempt <= p.params.retakes and not self.length_policy.plausible(r, p.target_ids.numel())
            ]
            if not redo:
                break
            log.info("gpt-sovits: retake %d of %d utterances of implausible length", attempt, len(redo))
            again = self._generate([replace(items[i], seed=retake_seed(items[i].seed, attempt)) for i in redo])
            for i, result in zip(redo, again):
                results[i] = self._better(results[i], result, prepared[i].target_ids.numel())
        for p, r in zip(prepared, results):
            if not self.length_policy.plausible(r, p.target_ids.numel()):
                log.warning("gpt-sovits: take of %r is still implausible (%d tokens, %s)",
                            p.request.text[:60], r.num_tokens, r.finish)
        return results

    def _better(self, old: T2SResult, new: T2SResult, target_phones: int) -> T2SResult:
        """The take to keep: a plausible one, else one that ended at EOS, else the first."""
        plausible = self.length_policy.plausible
        if plausible(old, target_phones):
            return old
        if plausible(new, target_phones) or (old.finish != "eos" and new.finish == "eos"):
            return new
        return old

    def _generate(self, items: Sequence[T2SItem]) -> list[T2SResult]:
        """Run the t2s model in batches of similar length (bucketing by budget, then prefill)."""
        order = sorted(range(len(items)), key=lambda i: (items[i].max_tokens, items[i].phones.numel()
                                                          + items[i].prompt.numel()))
        results: list[Any] = [None] * len(items)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, result in zip(chunk, self.t2s.generate([items[i] for i in chunk])):
                results[i] = result
        return results

    def vocalize(self, prepared: Sequence[_Prepared], results: Sequence[T2SResult]) -> list[np.ndarray]:
        """Decode the semantic tokens to waveforms, batched by noise scale and length."""
        order = sorted(range(len(prepared)), key=lambda i: (prepared[i].params.noise_scale, results[i].num_tokens))
        waves: list[Any] = [None] * len(prepared)
        start = 0
        while start < len(order):
            noise = prepared[order[start]].params.noise_scale
            chunk = [i for i in order[start:start + self.batch_size] if prepared[i].params.noise_scale == noise]
            start += len(chunk)
            refs = [prepared[i].reference for i in chunk]
            timbres = [prepared[i].timbre for i in chunk]
            sv_embs = [r.sv_emb for r in refs if r.sv_emb is not None] if self.decoder.needs_sv else None
            if sv_embs is not None and len(sv_embs) != len(refs):
                raise EngineError("a reference of a v2Pro model has no speaker-verification embedding")
            out = self.decoder.decode(
                [results[i].tokens for i in chunk],
                [prepared[i].target_ids for i in chunk],
                [r.refer_spec for r in refs],
                sv_embs,
                speed=[prepared[i].params.speed for i in chunk],
                noise_scale=noise,
                seeds=[prepared[i].item.seed for i in chunk],
                styles=[t.ge if t is not None else None for t in timbres]
                if any(t is not None for t in timbres) else None,
            )
            for i, wave in zip(chunk, out):
                waves[i] = _to_pcm(wave)
        return waves


def _to_pcm(wave: torch.Tensor) -> np.ndarray:
    """float32 mono in [-1, 1]; a take that peaks above 1 is scaled down (as upstream does)."""
    audio = wave.detach().float().cpu().numpy().reshape(-1).astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise EngineError("gpt-sovits: the decoder produced non-finite samples (damaged model or overflow in float16)")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return audio / peak if peak > 1.0 else audio
