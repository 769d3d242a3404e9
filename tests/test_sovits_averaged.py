"""Averaged GPT-SoVITS timbres: the mean of the engine's per-clip styles, stored once, used at decoding."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from sovits_fixtures import SovitsAssets, build_sovits_assets, no_mkldnn, reference_clip  # noqa: E402

from castline.digest import file_sha256  # noqa: E402
from castline.errors import CheckpointError, VoiceError  # noqa: E402
from voices.engines import SynthesisRequest  # noqa: E402
from voices.engines.gpt_sovits import GPTSoVITSEngine  # noqa: E402
from voices.engines.gpt_sovits.averaged import AveragedTimbre, average_timbre, load_timbre, save_timbre  # noqa: E402
from voices.profile import VoiceProfile, load_profile  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

CLIPS = ((0.5, 3.5), (3.0, 4.0), (6.0, 3.0))
"""(start_s, duration_s) of the three reference clips cut from the LJ Speech sample."""
LINE = "Good morning, and welcome."


@pytest.fixture(autouse=True)
def _fast_cpu_convolutions():
    with no_mkldnn():
        yield


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("averaged")


@pytest.fixture(scope="module")
def clips(root: Path) -> list[Path]:
    return [reference_clip(root / "clips" / f"clip{i}.wav", start_s=a, duration_s=d) for i, (a, d) in enumerate(CLIPS)]


def write_profile(directory: Path, assets: SovitsAssets, name: str, **params: object) -> VoiceProfile:
    """A profile beside ``directory`` naming the models (and any params) relative to itself."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": name,
        "engine": "gpt-sovits",
        "language": "en",
        "reference": {"audio": str(assets.reference_wav), "text": assets.reference_text, "language": "en"},
        "params": {
            "gpt": os.path.relpath(assets.s1_ckpt, directory),
            "sovits": os.path.relpath(assets.s2_pth, directory),
            "hubert": os.path.relpath(assets.hubert_dir, directory),
            "sv": os.path.relpath(assets.sv_ckpt, directory),
            "device": "cpu",
            "retakes": 0,
            **params,
        },
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return load_profile(path)


def _setup(root: Path, version: str, seed: int) -> dict[str, Any]:
    assets = build_sovits_assets(root / version / "models", version, seed=seed, with_bert=False)
    plain = write_profile(root / version / "voices", assets, "plain")
    return {"assets": assets, "plain": plain, "engine": GPTSoVITSEngine.load(plain)}


@pytest.fixture(scope="module")
def v2(root: Path) -> dict[str, Any]:
    return _setup(root, "v2", 0)


@pytest.fixture(scope="module")
def pro(root: Path) -> dict[str, Any]:
    return _setup(root, "v2Pro", 1)


@pytest.fixture(scope="module", params=["v2", "v2Pro"])
def setup(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue({"v2": "v2", "v2Pro": "pro"}[request.param])


# --- averaging ---------------------------------------------------------------------------------


def test_the_average_is_the_mean_of_the_engines_per_clip_features(setup: dict[str, Any], clips: list[Path]) -> None:
    engine: GPTSoVITSEngine = setup["engine"]
    timbre = average_timbre(engine, clips)
    prompts = [engine.references.encode(c) for c in clips]
    styles = [engine.decoder.style_vector(p.refer_spec, p.sv_emb) for p in prompts]
    gin = engine.decoder.dims.gin
    assert timbre.ge.shape == (1, gin, 1) and timbre.ge.dtype == torch.float32
    assert torch.allclose(timbre.ge, (styles[0] + styles[1] + styles[2]) / 3, atol=1e-6, rtol=0)
    assert not torch.allclose(styles[0], styles[1], atol=1e-4)  # the clips differ, so the mean is a mean
    assert not torch.allclose(timbre.ge, styles[0], atol=1e-4)
    if engine.decoder.needs_sv:
        assert timbre.sv_emb is not None and timbre.sv_emb.shape == (1, engine.decoder.dims.sv_dim)
        embeddings = [p.sv_emb for p in prompts if p.sv_emb is not None]
        assert len(embeddings) == 3
        assert torch.allclose(timbre.sv_emb, (embeddings[0] + embeddings[1] + embeddings[2]) / 3, atol=1e-6, rtol=0)
    else:
        assert timbre.sv_emb is None
    assert timbre.clips == 3 and timbre.version == engine.version
    assert timbre.model_sha256 == file_sha256(engine.files.sovits)


def test_no_clips_is_refused(v2: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="no clips"):
        average_timbre(v2["engine"], [])


def test_a_timbre_survives_save_and_load(setup: dict[str, Any], clips: list[Path], tmp_path: Path) -> None:
    timbre = average_timbre(setup["engine"], clips)
    path = tmp_path / "alice" / "timbre.npz"
    save_timbre(timbre, path)
    loaded = load_timbre(path)
    assert torch.equal(loaded.ge, timbre.ge)
    assert (loaded.sv_emb is None) == (timbre.sv_emb is None)
    if timbre.sv_emb is not None and loaded.sv_emb is not None:
        assert torch.equal(loaded.sv_emb, timbre.sv_emb)
    assert (loaded.clips, loaded.version, loaded.model_sha256) == (timbre.clips, timbre.version, timbre.model_sha256)
    assert sorted(p.name for p in path.parent.iterdir()) == ["timbre.npz"]  # no temporary file left


# --- synthesis ----------------------------------------------------------------------------------


def _decode_spy(engine: GPTSoVITSEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the ``styles`` each decode call gets."""
    seen: list[Any] = []
    real = engine.decoder.decode

    def decode(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("styles"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.decoder, "decode", decode)
    return seen


def test_a_voice_with_a_timbre_is_decoded_with_the_averaged_style(
    setup: dict[str, Any], clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: GPTSoVITSEngine = setup["engine"]
    timbre = average_timbre(engine, clips)
    save_timbre(timbre, tmp_path / "voices" / "alice" / "timbre.npz")
    voice = write_profile(tmp_path / "voices", setup["assets"], "alice", timbre="alice/timbre.npz")
    plain: VoiceProfile = setup["plain"]
    seen = _decode_spy(engine, monkeypatch)

    (wave,) = engine.synthesize([SynthesisRequest(LINE, voice, seed=5)])
    assert seen[-1] is not None and torch.equal(seen[-1][0], timbre.ge)
    (again,) = engine.synthesize([SynthesisRequest(LINE, voice, seed=5)])
    assert np.array_equal(wave, again)
    (single,) = engine.synthesize([SynthesisRequest(LINE, plain, seed=5)])
    assert seen[-1] is None  # a voice without a timbre decodes as before
    assert wave.size == single.size and not np.array_equal(wave, single)  # same tokens, another style
    both = engine.synthesize([SynthesisRequest(LINE, plain, seed=5), SynthesisRequest(LINE, voice, seed=5)])
    assert seen[-1] is not None and seen[-1].count(None) == 1  # one batch, each item its own style
    assert np.allclose(both[0], single, atol=1e-4) and np.allclose(both[1], wave, atol=1e-4)

    # the same prompt with the clip's style replaced by the mean sounds exactly like the timbre voice
    monkeypatch.setattr(engine.decoder, "style_vector", lambda refer_spec, sv_emb=None: timbre.ge)
    (by_hand,) = engine.synthesize([SynthesisRequest(LINE, plain, seed=5)])
    assert np.array_equal(by_hand, wave)


def test_the_timbre_file_is_read_once_per_content(
    v2: dict[str, Any], clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: GPTSoVITSEngine = v2["engine"]
    save_timbre(average_timbre(engine, clips), tmp_path / "voices" / "t.npz")
    voice = write_profile(tmp_path / "voices", v2["assets"], "alice", timbre="t.npz")
    loads: list[Path] = []
    from voices.engines.gpt_sovits import averaged

    real = averaged.load_timbre

    def load(path: Path) -> AveragedTimbre:
        loads.append(path)
        return real(path)

    monkeypatch.setattr(averaged, "load_timbre", load)
    engine._timbres.clear()  # other tests may have loaded the same figures
    engine.synthesize([SynthesisRequest(LINE, voice, seed=1), SynthesisRequest("Another line.", voice, seed=2)])
    engine.synthesize([SynthesisRequest(LINE, voice, seed=3)])
    assert len(loads) == 1


# --- fingerprints and errors ---------------------------------------------------------------------


def test_the_fingerprint_follows_the_timbre_file(v2: dict[str, Any], clips: list[Path], tmp_path: Path) -> None:
    engine: GPTSoVITSEngine = v2["engine"]
    voices = tmp_path / "voices"
    path = voices / "timbre.npz"
    save_timbre(average_timbre(engine, clips), path)
    fp = GPTSoVITSEngine.fingerprint
    plain = write_profile(voices, v2["assets"], "alice")
    voice = write_profile(voices, v2["assets"], "bob", timbre="timbre.npz")
    base = fp(voice)
    assert base != fp(plain)
    assert GPTSoVITSEngine.model_key(voice) == GPTSoVITSEngine.model_key(plain)  # one engine for both
    save_timbre(average_timbre(engine, clips), path)  # the same figures again
    assert fp(voice) == base
    save_timbre(average_timbre(engine, clips[:2]), path)
    assert fp(voice) != base


def test_a_missing_or_corrupt_timbre_is_named(
    v2: dict[str, Any], pro: dict[str, Any], clips: list[Path], tmp_path: Path
) -> None:
    engine: GPTSoVITSEngine = v2["engine"]
    voices = tmp_path / "voices"
    missing = write_profile(voices, v2["assets"], "gone", timbre="nowhere.npz")
    with pytest.raises(VoiceError, match=r"gone\.yaml: params\.timbre: file not found: .*nowhere\.npz"):
        GPTSoVITSEngine.check(missing)
    with pytest.raises(VoiceError, match=r"params\.timbre: file not found"):
        GPTSoVITSEngine.fingerprint(missing)
    with pytest.raises(VoiceError, match=r"params\.timbre: file not found"):
        engine.synthesize([SynthesisRequest(LINE, missing, seed=1)])

    corrupt = voices / "corrupt.npz"
    corrupt.write_bytes(b"this is not a zip archive")
    voice = write_profile(voices, v2["assets"], "bad", timbre="corrupt.npz")
    GPTSoVITSEngine.check(voice)  # only engines read the file
    with pytest.raises(CheckpointError, match=r"corrupt\.npz: not a timbre file"):
        engine.synthesize([SynthesisRequest(LINE, voice, seed=1)])

    good = voices / "good.npz"
    save_timbre(average_timbre(engine, clips), good)
    corrupt.write_bytes(good.read_bytes()[:200])  # truncated
    with pytest.raises(CheckpointError, match=r"corrupt\.npz: not a timbre file"):
        load_timbre(corrupt)
    with corrupt.open("wb") as f:
        np.savez(f, ge=np.zeros((1, 4, 1), dtype=np.float32))
    with pytest.raises(CheckpointError, match=r"corrupt\.npz: not a timbre file \(no format, clips"):
        load_timbre(corrupt)
    with pytest.raises(CheckpointError, match=r"nowhere\.npz: timbre file not found"):
        load_timbre(voices / "nowhere.npz")

    save_timbre(average_timbre(pro["engine"], clips), voices / "pro.npz")
    foreign = write_profile(voices, v2["assets"], "foreign", timbre="pro.npz")
    with pytest.raises(VoiceError, match=r"foreign\.yaml: params\.timbre: pro\.npz: made with another SoVITS model"):
        engine.synthesize([SynthesisRequest(LINE, foreign, seed=1)])


def test_a_timbre_of_the_wrong_shape_is_refused(v2: dict[str, Any], tmp_path: Path) -> None:
    engine: GPTSoVITSEngine = v2["engine"]
    wrong = AveragedTimbre(ge=torch.zeros(1, engine.decoder.dims.gin + 1, 1), sv_emb=None, clips=1,
                           version=engine.version, model_sha256=file_sha256(engine.files.sovits))
    save_timbre(wrong, tmp_path / "voices" / "wrong.npz")
    voice = write_profile(tmp_path / "voices", v2["assets"], "wrong", timbre="wrong.npz")
    with pytest.raises(VoiceError, match=r"wrong\.npz: style has shape"):
        engine.synthesize([SynthesisRequest(LINE, voice, seed=1)])
