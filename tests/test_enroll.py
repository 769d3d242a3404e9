"""Enrollment end to end: real speech in, a version in a registry out, the gate, consent, bad clips,
and a render that picks up what is published."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from piper_fixtures import EngineCalls
from sovits_fixtures import build_sovits_assets

from castline.errors import AudioError, VoiceError
from voices.enroll import CONSENT_SENTENCE, enroll
from voices.profile import load_profile
from voices.registry import VoiceRegistry

DATA = Path(__file__).parent / "data"
LJ = [DATA / "ljspeech_LJ001-0001.wav", DATA / "speech" / "ljspeech_LJ001-0003.wav", DATA / "speech" / "ljspeech_LJ001-0005.wav"]
OTHER = DATA / "speech" / "librispeech_1995-1837-0001.wav"
ROOT = Path(__file__).resolve().parents[1]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> tuple[VoiceRegistry, Path]:
    folder = tmp_path_factory.mktemp("registry")
    registry = VoiceRegistry.open(folder)
    enroll("lj", LJ, registry, engine="piper")
    return registry, folder


def test_enrolling_the_lj_clips_publishes_a_piper_voice_with_transcribed_references(enrolled) -> None:
    registry, _ = enrolled
    v = registry.resolve("lj")
    assert (v.version, v.status, v.engine, v.model, v.clips) == (1, "published", "piper", "joe", 3)
    assert 20 < v.duration_s < 30 and v.wer is not None and v.wer <= 0.25
    profile = registry.profile(v)
    assert profile.name == "lj@1" and profile.reference is not None
    info = sf.info(profile.reference.audio)
    assert info.samplerate == 16000 and 3.0 <= info.duration <= 10.0
    assert profile.reference.text.lower().replace(",", "").startswith("printing in the only sense")


def test_bad_clips_are_refused_and_leave_the_registry_unchanged(enrolled, tmp_path: Path) -> None:
    registry, folder = enrolled
    before = snapshot(folder)
    speech, rate = sf.read(LJ[0], dtype="float32")
    sf.write(tmp_path / "silence.wav", np.random.default_rng(0).normal(0, 1e-5, 5 * rate).astype(np.float32), rate)
    sf.write(tmp_path / "clipped.wav", np.clip(speech * 20, -1, 1), rate)
    sf.write(tmp_path / "short.wav", speech[rate : 2 * rate], rate)
    (tmp_path / "text.wav").write_text("not audio at all", encoding="utf-8")
    for name, problem in [("silence.wav", "no speech"), ("clipped.wav", "clipped"), ("short.wav", "at least 3 s"),
                          ("text.wav", "not an audio file")]:
        with pytest.raises(AudioError, match=problem) as err:
            enroll("lj", [*LJ[:2], tmp_path / name], registry, engine="piper")
        assert name in str(err.value)
    assert snapshot(folder) == before


@pytest.fixture(scope="module")
def sovits_base(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sovits")
    assets = build_sovits_assets(root / "models", "v2", with_bert=False)
    path = root / "base.yaml"
    path.write_text(yaml.safe_dump({
        "name": "base", "engine": "gpt-sovits", "language": "en",
        "reference": {"audio": str(assets.reference_wav), "text": assets.reference_text},
        "params": {"gpt": str(assets.s1_ckpt), "sovits": str(assets.s2_pth), "hubert": str(assets.hubert_dir), "device": "cpu"},
    }), encoding="utf-8")
    return load_profile(path)


def consent_file(folder: Path) -> Path:
    path = folder / "consent.yaml"
    path.write_text(yaml.safe_dump({"who": "Linda Johnson", "when": "2026-12-02", "scope": "castline tests"}), encoding="utf-8")
    return path


@pytest.mark.e2e  # real synthesis, speaker encoder and ASR: in make test, not test-fast
def test_a_clone_whose_probes_are_another_speaker_is_rejected_with_its_similarity(tmp_path: Path, sovits_base) -> None:
    registry = VoiceRegistry.open(tmp_path / "registry")
    other, rate = sf.read(OTHER, dtype="float32")

    def another_speaker(texts):
        return [(other, rate) for _ in texts]

    with pytest.raises(VoiceError, match="consent record"):
        enroll("lj", LJ, registry, base=sovits_base, speak=another_speaker)
    done = enroll("lj", LJ, registry, base=sovits_base, consent=consent_file(tmp_path), speak=another_speaker)
    v = done.version
    assert v.status == "rejected" and v.similarity is not None and v.similarity < 0.75
    assert v.reason is not None and f"similarity {v.similarity:.2f} below 0.75" in v.reason
    assert v.consent is not None and v.consent.who == "Linda Johnson"
    assert v.params["timbre"] == "timbre.npz" and registry.storage.exists("lj/1/timbre.npz")  # averaged once, stored
    from voices.engines.gpt_sovits.averaged import load_timbre

    assert load_timbre(registry.storage.local_path("lj/1/timbre.npz")).clips == v.clips
    from voices.engines import engine_class

    profile = registry.profile(v)  # what a render pinning lj@1 would get, once published
    engine_class(profile).check(profile)
    assert profile.resolve(profile.params["timbre"]) == registry.storage.local_path("lj/1/timbre.npz")
    assert registry.published("lj") is None
    with pytest.raises(VoiceError, match="rejected"):
        registry.resolve("lj@1")


@pytest.mark.e2e  # real synthesis, speaker encoder and ASR: in make test, not test-fast
def test_consent_check_needs_the_sentence_in_the_speakers_own_voice(tmp_path: Path) -> None:
    from voices.engines import SynthesisRequest, get_engine
    from voices.profile import find_profile

    joe = find_profile("joe")
    engine = get_engine(joe)
    lines = ["The morning light fell across the quiet river and the old stone bridge.",
             "She walked slowly home, counting the lamps that were already lit.",
             "Nobody in the village remembered a winter as long as that one.",
             CONSENT_SENTENCE, "The weather will be fine tomorrow, with a light wind from the west."]
    takes = engine.synthesize([SynthesisRequest(text=t, voice=joe, seed=n, language="en") for n, t in enumerate(lines)])
    files = []
    for n, audio in enumerate(takes):
        files.append(tmp_path / f"joe-{n}.wav")
        sf.write(files[-1], audio, engine.sample_rate)
    registry = VoiceRegistry.open(tmp_path / "registry")
    done = enroll("joe-copy", files[:3], registry, engine="piper", consent=consent_file(tmp_path), consent_check=files[3])
    assert done.version.consent is not None and done.version.consent.recording == "consent.wav"
    with pytest.raises(VoiceError, match="consent recording not accepted"):
        enroll("joe-copy", files[:3], registry, engine="piper", consent=consent_file(tmp_path), consent_check=files[4])
    with pytest.raises(VoiceError, match="consent recording not accepted"):  # somebody else speaking
        enroll("joe-copy", files[:3], registry, engine="piper", consent=consent_file(tmp_path), consent_check=LJ[0])


@pytest.mark.e2e
def test_publish_and_rollback_change_only_that_voices_utterances(
    enrolled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness
) -> None:
    from flows.dubbing import dub

    registry, folder = enrolled
    monkeypatch.setenv("CASTLINE_VOICES", str(folder))
    for name in ("demo-dub.yaml", "bunny.webm", "bunny.en.srt"):
        shutil.copy(ROOT / "projects" / name, tmp_path / name)
    manifest = tmp_path / "demo-dub.yaml"
    spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    manifest.write_text(yaml.safe_dump({**spec, "voices": {"default": "joe", "BIRD": "lj"}}), encoding="utf-8")
    calls = EngineCalls(monkeypatch)
    assert dub(str(manifest))["synthesized"] == 8
    v1 = registry.resolve("lj")
    bird = [c["text"] for c in json.loads((tmp_path / "out-dub" / "report.json").read_text())["cues"] if c["speaker"] == "BIRD"]
    # a second version (the same recordings, registered again) published: only the bird's cues are spoken again
    v2 = registry.add("lj", files={n: registry.storage.local_path(f"lj/1/{n}") for n, _ in v1.references},
                      engine=v1.engine, model=v1.model, language=v1.language, duration_s=v1.duration_s,
                      parent=v1.version, params=dict(v1.params), references=v1.references)
    registry.publish("lj", v2.version)
    calls.texts.clear()
    assert dub(str(manifest))["synthesized"] == 4 and sorted(calls.texts) == sorted(bird)
    table = (tmp_path / "out-dub" / "utterances.csv").read_text(encoding="utf-8")
    assert "lj@2" in table and "lj@1" not in table
    registry.rollback("lj")
    calls.texts.clear()
    assert dub(str(manifest))["synthesized"] == 0 and calls.texts == []  # lj@1's takes are still in the cache
    assert os.environ["CASTLINE_VOICES"] == str(folder)


def test_the_enroll_command_and_show_print_the_figures(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from castline.cli import app

    registry = str(tmp_path / "registry")
    enrolled = CliRunner().invoke(app, ["voices", "enroll", "lj", *map(str, LJ), "--engine", "piper", "--registry", registry])
    assert enrolled.exit_code == 0, enrolled.output
    assert "lj@1: published" in enrolled.output and "nearest to the recordings is 'joe'" in enrolled.output
    shown = CliRunner().invoke(app, ["voices", "show", "lj", "--registry", registry])
    assert shown.exit_code == 0 and re.search(r"similarity 0\.\d\d", shown.output), shown.output


@pytest.mark.e2e
def test_the_enroll_voice_flow(tmp_path: Path, prefect_harness) -> None:
    from flows.enroll_voice import enroll_voice

    result = enroll_voice("lj", [str(p) for p in LJ], engine="piper", registry=str(tmp_path / "registry"))
    assert result["version"] == "lj@1" and result["status"] == "published" and result["wer"] <= 0.25
