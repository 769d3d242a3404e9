"""Voice enrollment: recordings of one speaker in, a validated voice version in the registry out.

    load and check each recording (VAD-trimmed; clipping, noise, length refused)
    -> cut 3-5 reference clips of 3-10 s at pauses -> transcribe them (or take the transcript)
    -> speaker embedding of each clip and their mean
    -> the candidate: a cloned voice on the reference clips (gpt-sovits), or, for an engine
       that cannot clone (piper), the preset voice nearest to the reference
    -> consent (required to clone; optionally the speaker's own recorded consent sentence)
    -> register the candidate, then the gate: probe sentences spoken by it, their similarity to
       the reference mean and their ASR word error rate; published if both pass, else rejected
       with its figures

Every input is checked before anything is written, so a refused recording leaves the registry
as it was. :func:`enroll` is plain Python; ``castline voices enroll`` and the ``enroll_voice``
Prefect flow call it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from castline.errors import AudioError, VoiceError
from castline.yamlsafe import load_yaml_file
from voices.enroll_audio import (
    ENROLL_RATE_HZ,
    AudioLimits,
    ReferenceCut,
    cut_references,
    load_recording,
    save_wav,
    transcribe,
    word_error_rate,
)
from voices.profile import VoiceProfile, find_profile
from voices.registry import Consent, VoiceRegistry, VoiceVersion, check_name
from voices.voice_check import GateLimits, SpeakerEncoder, Verdict, mean_embedding, nearest_preset, similarity, validate

__all__ = ["Enrollment", "enroll", "read_consent", "CONSENT_SENTENCE", "CLONING_ENGINES", "PIPER_PRESETS"]

CLONING_ENGINES = frozenset({"gpt-sovits"})
PIPER_PRESETS = ("joe",)
"""The preset voices a Piper enrollment chooses from (bundled profiles)."""
CONSENT_SENTENCE = "I agree that castline may make a synthetic copy of my voice for this production."
"""What a speaker says in a ``--consent-check`` recording."""
CONSENT_MAX_WER = 0.2
TIMBRE_FILE = "timbre.npz"
"""A GPT-SoVITS version's averaged style vector (and speaker embedding), ``params.timbre``."""


@dataclass
class Timings:
    """Where an enrollment's time goes, in seconds (for the benchmark and the report)."""

    load_vad_s: float = 0.0
    asr_s: float = 0.0
    embeddings_s: float = 0.0
    probes_s: float = 0.0


@dataclass(frozen=True)
class Enrollment:
    version: VoiceVersion
    verdict: Verdict
    notes: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def read_consent(path: Path) -> Consent:
    """A consent record (YAML: ``who``, ``when``, ``scope``); VoiceError naming what is missing."""
    raw = load_yaml_file(path, "consent record", 64 << 10)
    if not isinstance(raw, dict):
        raise VoiceError(path, "a consent record is a YAML mapping with who, when and scope")
    missing = [k for k in ("who", "when", "scope") if not str(raw.get(k) or "").strip()]
    if missing:
        raise VoiceError(path, f"consent record lacks {', '.join(missing)}")
    return Consent(who=str(raw["who"]), when=str(raw["when"]), scope=str(raw["scope"]))


def _transcripts(path: Path, count: int) -> list[str]:
    """One transcript per recording, a line each (blank lines ignored)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) != count:
        raise VoiceError(path, f"has {len(lines)} transcripts for {count} recordings (one line per recording)")
    return lines


def _speak_with(profile: VoiceProfile) -> Callable[[Sequence[str]], list[tuple[np.ndarray, int]]]:
    from voices.engines import SynthesisRequest, get_engine

    def speak(texts: Sequence[str]) -> list[tuple[np.ndarray, int]]:
        engine = get_engine(profile)
        requests = [SynthesisRequest(text=t, voice=profile, seed=n + 1, language=profile.language) for n, t in enumerate(texts)]
        return [(audio, engine.sample_rate) for audio in engine.synthesize(requests)]

    return speak


def _candidate(name: str, engine: str, language: str, base: VoiceProfile | None, cuts: list[tuple[Path, str]],
               folder: Path) -> VoiceProfile:
    """The voice to validate before it is registered: the base model's params on the first clip."""
    from voices.profile import Reference

    params: dict[str, Any] = dict(base.params) if base else {}
    if base is not None and base.path is not None:  # paths in the base profile are relative to it
        params = {k: str(base.resolve(v)) if isinstance(v, str) and k in ("gpt", "sovits", "hubert", "bert", "sv", "timbre", "model")
                  else v for k, v in params.items()}
    audio, text = cuts[0]
    return VoiceProfile(name=f"{name}@candidate", engine=engine, language=language, params=params,
                        reference=Reference(audio=audio, text=text, language=language), path=folder / "candidate.yaml")


def enroll(
    name: str, recordings: Sequence[Path], registry: VoiceRegistry, *, language: str = "en", engine: str = "gpt-sovits",
    transcript: Path | None = None, consent: Path | None = None, consent_check: Path | None = None,
    base: VoiceProfile | None = None, limits: AudioLimits = AudioLimits(), gate: GateLimits = GateLimits(),
    presets: Sequence[str] = PIPER_PRESETS, speak: Callable[[Sequence[str]], Sequence[tuple[np.ndarray, int]]] | None = None,
) -> Enrollment:
    """Enroll ``recordings`` as a new version of the voice ``name``; see the module docstring.

    ``base`` is a profile of the engine whose model the voice uses (its params are copied; for
    gpt-sovits, the checkpoints). ``speak`` replaces the candidate's synthesis of the probes
    (tests use it to hand the gate another speaker's speech).
    """
    check_name(name)
    timings = Timings()
    notes: list[str] = []
    cloning = engine in CLONING_ENGINES
    consent_record = read_consent(consent) if consent else None
    if cloning and consent_record is None:
        raise VoiceError(name, "cloning a voice needs a consent record: --consent FILE (who, when, scope)")
    if cloning and base is None:
        raise VoiceError(name, f"a {engine} voice needs the model it runs on: --base PROFILE (a {engine} profile)")

    started = time.monotonic()
    loaded = [load_recording(p, limits) for p in recordings]  # every refusal happens here, before any write
    texts = _transcripts(transcript, len(loaded)) if transcript else None
    if texts is not None:
        cuts = [ReferenceCut(r.path, 0.0, r.speech_s, r.audio) for r in loaded]
        for cut in cuts:
            if not 3.0 <= cut.duration_s <= 10.0:
                raise AudioError(cut.source, f"{cut.duration_s:.1f} s of speech; with --transcript each recording is one "
                                             "reference clip and must hold 3-10 s")
    else:
        cuts = cut_references(loaded)
    timings.load_vad_s = time.monotonic() - started

    mark = time.monotonic()
    heard = texts if texts is not None else [transcribe(c.audio, language) for c in cuts]
    timings.asr_s = time.monotonic() - mark

    mark = time.monotonic()
    encoder = SpeakerEncoder.shared()
    embeddings = [encoder.embed(c.audio, ENROLL_RATE_HZ) for c in cuts]
    reference_mean = mean_embedding(embeddings)
    timings.embeddings_s = time.monotonic() - mark

    if consent_check is not None:
        spoken = load_recording(consent_check, limits)
        said = transcribe(spoken.audio, language)
        wer = word_error_rate(CONSENT_SENTENCE, said)
        sim = similarity(encoder.embed(spoken.audio, ENROLL_RATE_HZ), reference_mean)
        if wer > CONSENT_MAX_WER or sim < gate.min_similarity:
            raise VoiceError(consent_check, f"consent recording not accepted: heard {said!r} (word error rate {wer:.2f}, "
                                            f"at most {CONSENT_MAX_WER}), speaker similarity {sim:.2f} "
                                            f"(at least {gate.min_similarity})")

    with tempfile.TemporaryDirectory(prefix="castline-enroll-") as scratch:
        folder = Path(scratch)
        clip_files = []
        for n, cut in enumerate(cuts, 1):
            save_wav(cut.audio, folder / f"ref-{n}.wav")
            clip_files.append((folder / f"ref-{n}.wav", heard[n - 1]))
        np.savez(folder / "features.npz", mean=reference_mean, clips=np.stack(embeddings))
        files: dict[str, Path] = {f"ref-{n}.wav": path for n, (path, _) in enumerate(clip_files, 1)}
        files["features.npz"] = folder / "features.npz"
        if consent_check is not None:
            files["consent.wav"] = consent_check

        if cloning:
            candidate = _candidate(name, engine, language, base, clip_files, folder)
            mark = time.monotonic()
            files[TIMBRE_FILE] = _averaged_timbre(candidate, [path for path, _ in clip_files], folder / TIMBRE_FILE)
            timings.embeddings_s += time.monotonic() - mark
            candidate = replace(candidate, params={**candidate.params, "timbre": str(files[TIMBRE_FILE])})
            params = {**candidate.params, "timbre": TIMBRE_FILE}  # beside the version's record in the registry
            model = candidate.params.get("sovits", "")
        else:
            preset_name, preset_sim, sims = _nearest_piper_preset(reference_mean, presets)
            preset = find_profile(preset_name)
            notes.append(f"{engine} cannot clone: the preset voice nearest to the recordings is {preset_name!r} "
                         f"(similarity {preset_sim:.2f}; " + ", ".join(f"{k} {v:.2f}" for k, v in sims.items()) + ")")
            params = dict(preset.params)
            candidate = VoiceProfile(name=f"{name}@candidate", engine=engine, language=language, params=params)
            model = preset_name

        mark = time.monotonic()
        verdict = validate(speak or _speak_with(candidate), reference_mean, transcribe=transcribe,
                           word_error_rate=word_error_rate, language=language,
                           limits=gate if cloning else GateLimits(min_similarity=-1.0, max_wer=gate.max_wer))
        timings.probes_s = time.monotonic() - mark

        parent = registry.published(name)
        version = registry.add(
            name, files=files, engine=engine, model=str(model), parent=parent.version if parent else None,
            duration_s=sum(r.speech_s for r in loaded), clips=len(cuts),
            status="candidate", reason=None,
            consent=replace(consent_record, recording="consent.wav") if consent_record and consent_check else consent_record,
            language=language, params=params, references=tuple((f"ref-{n}.wav", t) for n, (_, t) in enumerate(clip_files, 1)),
            features="features.npz",
        )
    if verdict.passed:
        version = registry.decide(name, version.version, "published", similarity=verdict.similarity, wer=verdict.wer)
    else:
        version = registry.decide(name, version.version, "rejected", reason=verdict.reason, similarity=verdict.similarity,
                                  wer=verdict.wer)
    return Enrollment(version, verdict, notes, timings)


def _averaged_timbre(candidate: VoiceProfile, clips: list[Path], path: Path) -> Path:
    """The GPT-SoVITS style (and speaker-verification) features of every reference clip, averaged
    and saved once, so that renders use one fixed timbre and never process the references again."""
    from voices.engines import get_engine
    from voices.engines.gpt_sovits.averaged import average_timbre, save_timbre
    from voices.engines.gpt_sovits.engine import GPTSoVITSEngine

    engine = get_engine(candidate)
    assert isinstance(engine, GPTSoVITSEngine)
    save_timbre(average_timbre(engine, clips), path)
    return path


def _nearest_piper_preset(reference_mean: np.ndarray, presets: Sequence[str]) -> tuple[str, float, Mapping[str, float]]:
    """The preset whose speech (one probe sentence) is most like the reference."""
    samples = {}
    for preset in presets:
        profile = find_profile(preset)
        audio, rate = _speak_with(profile)(["The quick brown fox jumps over the lazy dog near the river bank."])[0]
        samples[preset] = (audio, rate)
    return nearest_preset(reference_mean, samples)
