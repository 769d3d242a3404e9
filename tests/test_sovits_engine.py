"""The GPT-SoVITS engine: profile checks, fingerprints, shared models, retakes, end-to-end synthesis."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from sovits_fixtures import SovitsAssets, build_sovits_assets, reference_clip  # noqa: E402

from castline.errors import CheckpointError, VoiceError  # noqa: E402
from voices.engines import SynthesisRequest, engine_class, get_engine  # noqa: E402
from voices.engines.gpt_sovits import GPTSoVITSEngine  # noqa: E402
from voices.engines.gpt_sovits.engine import _Prepared, prepare_text, retake_seed, voice_params  # noqa: E402
from voices.engines.gpt_sovits.t2s import LengthPolicy, T2SItem, T2SResult  # noqa: E402
from voices.profile import VoiceProfile, load_profile  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> SovitsAssets:
    return build_sovits_assets(tmp_path_factory.mktemp("models") / "models", "v2", with_bert=False)


def write_profile(
    directory: Path, assets: SovitsAssets, name: str, clip: Path, *, language: str = "en", **params: object
) -> Path:
    """A profile file that names the models relative to itself."""
    directory.mkdir(parents=True, exist_ok=True)

    def rel(p: Path) -> str:
        return os.path.relpath(p, directory)

    spec = {
        "name": name,
        "engine": "gpt-sovits",
        "language": language,
        "reference": {"audio": str(clip), "text": assets.reference_text, "language": "en"},
        "params": {
            "gpt": rel(assets.s1_ckpt),
            "sovits": rel(assets.s2_pth),
            "hubert": rel(assets.hubert_dir),
            "device": "cpu",
            **params,
        },
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture()
def voices_dir(assets: SovitsAssets, tmp_path: Path) -> Path:
    """A copy of the models beside a voices/ directory (so relative paths are exercised)."""
    shutil.copytree(assets.s1_ckpt.parent, tmp_path / "models")
    return tmp_path / "voices"


def local(assets: SovitsAssets, root: Path) -> SovitsAssets:
    """``assets`` as copied under ``root/models``."""
    m = root / "models"
    return SovitsAssets(
        s1_ckpt=m / assets.s1_ckpt.name,
        s2_pth=m / assets.s2_pth.name,
        hubert_dir=m / assets.hubert_dir.name,
        bert_dir=m / assets.bert_dir.name,
        sv_ckpt=m / assets.sv_ckpt.relative_to(assets.s1_ckpt.parent),
        reference_wav=m / assets.reference_wav.name,
        reference_text=assets.reference_text,
    )


# --- profile-only methods ------------------------------------------------------------------------


def test_check_rejects_bad_params_naming_the_file_and_key(assets: SovitsAssets, voices_dir: Path) -> None:
    a = local(assets, voices_dir.parent)
    path = write_profile(voices_dir, a, "alice", a.reference_wav, top_k=-1)
    with pytest.raises(VoiceError, match=r"alice\.yaml: params\.top_k"):
        GPTSoVITSEngine.check(load_profile(path))
    path = write_profile(voices_dir, a, "bob", a.reference_wav, colour="blue")
    with pytest.raises(VoiceError, match=r"bob\.yaml: params\.colour"):
        GPTSoVITSEngine.check(load_profile(path))
    path = write_profile(voices_dir, a, "carl", a.reference_wav, gpt="nowhere.ckpt")
    with pytest.raises(VoiceError, match=r"carl\.yaml: params\.gpt: file not found"):
        GPTSoVITSEngine.check(load_profile(path))
    path = write_profile(voices_dir, a, "dora", a.reference_wav, language="zh")
    with pytest.raises(VoiceError, match=r"dora\.yaml: params\.bert"):
        GPTSoVITSEngine.check(load_profile(path))
    path = write_profile(voices_dir, a, "emil", a.reference_wav, half=True, dtype="float32")
    with pytest.raises(VoiceError, match=r"emil\.yaml: params"):
        GPTSoVITSEngine.check(load_profile(path))
    short_clip = reference_clip(voices_dir / "short.wav", duration_s=2.0)
    path = write_profile(voices_dir, a, "fred", short_clip)
    with pytest.raises(VoiceError, match=r"fred\.yaml: reference\.audio: short\.wav is 2\.00 s long"):
        GPTSoVITSEngine.check(load_profile(path))
    no_reference = VoiceProfile("x", "gpt-sovits", "en", params=dict(load_profile(path).params, half=None))
    with pytest.raises(VoiceError, match="reference"):
        GPTSoVITSEngine.check(no_reference)


def test_paths_resolve_against_the_profile_not_the_working_directory(
    assets: SovitsAssets, voices_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    a = local(assets, voices_dir.parent)
    path = write_profile(voices_dir, a, "alice", Path("..") / "models" / a.reference_wav.name)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    voice = load_profile(path)
    assert voice_params(voice).gpt.startswith("..")
    GPTSoVITSEngine.check(voice)  # finds everything relative to the profile


def test_fingerprint_follows_reference_and_models_not_unrelated_params(assets: SovitsAssets, voices_dir: Path) -> None:
    a = local(assets, voices_dir.parent)
    fp = GPTSoVITSEngine.fingerprint
    base = fp(load_profile(write_profile(voices_dir, a, "v", a.reference_wav)))
    unrelated = write_profile(voices_dir, a, "v", a.reference_wav, batch_size=3, device="cpu", dtype="float32")
    assert fp(load_profile(unrelated)) == base
    assert fp(load_profile(write_profile(voices_dir, a, "v", a.reference_wav, temperature=0.8))) != base
    other_clip = reference_clip(voices_dir / "other.wav", start_s=2.0, duration_s=4.0)
    assert fp(load_profile(write_profile(voices_dir, a, "v", other_clip))) != base
    spec = yaml.safe_load((voices_dir / "v.yaml").read_text())
    spec["reference"]["audio"] = str(a.reference_wav)
    spec["reference"]["text"] = "Something else entirely."
    (voices_dir / "v.yaml").write_text(yaml.safe_dump(spec))
    assert fp(load_profile(voices_dir / "v.yaml")) != base
    path = write_profile(voices_dir, a, "v", a.reference_wav)
    assert fp(load_profile(path)) == base
    with open(a.s1_ckpt, "ab") as f:  # the gpt file changes
        f.write(b"\0")
    assert fp(load_profile(path)) != base


def test_two_speakers_on_the_same_models_share_one_model_key(assets: SovitsAssets, voices_dir: Path) -> None:
    a = local(assets, voices_dir.parent)
    other_clip = reference_clip(voices_dir / "other.wav", start_s=2.0, duration_s=4.0)
    alice = load_profile(write_profile(voices_dir, a, "alice", a.reference_wav, temperature=0.9))
    bob = load_profile(write_profile(voices_dir, a, "bob", other_clip, top_k=5))
    assert GPTSoVITSEngine.model_key(alice) == GPTSoVITSEngine.model_key(bob)
    assert GPTSoVITSEngine.fingerprint(alice) != GPTSoVITSEngine.fingerprint(bob)
    gpu = load_profile(write_profile(voices_dir, a, "carl", a.reference_wav, dtype="float16"))
    assert GPTSoVITSEngine.model_key(gpu) != GPTSoVITSEngine.model_key(alice)
    assert engine_class(alice) is GPTSoVITSEngine


def test_the_device_is_known_before_the_model_is_loaded(assets: SovitsAssets, voices_dir: Path) -> None:
    import torch

    a = local(assets, voices_dir.parent)
    cpu = load_profile(write_profile(voices_dir, a, "alice", a.reference_wav))
    second_gpu = load_profile(write_profile(voices_dir, a, "bob", a.reference_wav, device="cuda:1"))
    auto = load_profile(write_profile(voices_dir, a, "carl", a.reference_wav, device="auto"))
    assert GPTSoVITSEngine.runs_on(cpu) == "cpu" and GPTSoVITSEngine.runs_on(second_gpu) == "cuda:1"
    assert GPTSoVITSEngine.runs_on(auto) == ("cuda" if torch.cuda.is_available() else "cpu")


def test_prepare_text_punctuates_like_upstream() -> None:
    assert prepare_text("Hello there", "en") == "Hello there."
    assert prepare_text("Hi, you", "en") == ".Hi, you."
    assert prepare_text("你好世界", "zh") == "你好世界。"
    assert prepare_text("好", "zh") == "。好。"
    assert prepare_text("Ok.", "en", lead=False) == "Ok."


# --- retakes ---------------------------------------------------------------------------------------


class ScriptedT2S:
    """Stands in for the t2s model: the first take of the item seeded 7 runs away."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def generate(self, items: list[T2SItem]) -> list[T2SResult]:
        self.calls.append([item.seed for item in items])
        out = []
        for item in items:
            if item.seed == 7:
                out.append(T2SResult(torch.zeros(item.max_tokens, dtype=torch.int64), "budget"))
            else:
                out.append(T2SResult(torch.full((30,), item.seed % 1000, dtype=torch.int64), "eos"))
        return out


def scripted_engine() -> tuple[GPTSoVITSEngine, ScriptedT2S]:
    engine = GPTSoVITSEngine.__new__(GPTSoVITSEngine)
    engine.length_policy = LengthPolicy()
    engine.batch_size = 4
    t2s = ScriptedT2S()
    engine.t2s = t2s  # type: ignore[assignment]  # a stand-in with the one method the engine calls
    return engine, t2s


def prepared(seed: int, phones: int = 15) -> _Prepared:
    params = voice_params(VoiceProfile("x", "gpt-sovits", "en", params={"gpt": "a", "sovits": "b", "hubert": "c"}))
    item = T2SItem(torch.zeros(phones, dtype=torch.int64), torch.zeros(1024, phones), torch.zeros(0, dtype=torch.int64),
                   seed, max_tokens=LengthPolicy().budget(phones))
    request = SynthesisRequest("text", VoiceProfile("x", "gpt-sovits", "en"), seed)
    return _Prepared(request, params, None, torch.zeros(phones, dtype=torch.int64), item)  # type: ignore[arg-type]  # no reference: semantic() never reads it


def test_an_implausible_take_is_retaken_with_a_derived_seed() -> None:
    engine, t2s = scripted_engine()
    results = engine.semantic([prepared(3), prepared(7), prepared(5)])
    calls = t2s.calls
    assert sorted(calls[0]) == [3, 5, 7]
    assert calls[1] == [retake_seed(7, 1)]  # only the runaway is redone
    assert len(calls) == 2
    assert [r.finish for r in results] == ["eos", "eos", "eos"]
    assert results[1].tokens[0] == retake_seed(7, 1) % 1000
    assert results[0].tokens[0] == 3 and results[2].tokens[0] == 5
    assert retake_seed(7, 1) == retake_seed(7, 1) != retake_seed(7, 2)


def test_a_take_that_stays_implausible_keeps_its_best_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, t2s = scripted_engine()
    monkeypatch.setattr("voices.engines.gpt_sovits.engine.retake_seed", lambda seed, attempt: 7)
    (result,) = engine.semantic([prepared(7)])
    assert len(t2s.calls) == 3  # the take and two retakes
    assert result.finish == "budget"


# --- loading and synthesis ---------------------------------------------------------------------------


def test_a_corrupt_gpt_file_is_named(assets: SovitsAssets, voices_dir: Path) -> None:
    a = local(assets, voices_dir.parent)
    a.s1_ckpt.write_bytes(a.s1_ckpt.read_bytes()[:5000])
    voice = load_profile(write_profile(voices_dir, a, "alice", a.reference_wav))
    with pytest.raises(CheckpointError, match=rf"{a.s1_ckpt.name}: .*(truncated|corrupt)"):
        GPTSoVITSEngine.load(voice)
    a.s1_ckpt.write_bytes(a.s2_pth.read_bytes())
    with pytest.raises(CheckpointError, match=rf"{a.s1_ckpt.name}: .*not an s1"):
        GPTSoVITSEngine.load(voice)


def test_end_to_end_two_speakers_in_one_batch(assets: SovitsAssets, voices_dir: Path) -> None:
    pytest.importorskip("voices.engines.gpt_sovits.reference")
    a = local(assets, voices_dir.parent)
    other_clip = reference_clip(voices_dir / "bob.wav", start_s=3.0, duration_s=5.0)
    alice = load_profile(write_profile(voices_dir, a, "alice", a.reference_wav, retakes=0))
    bob = load_profile(write_profile(voices_dir, a, "bob", other_clip, top_k=5, speed=1.25, retakes=0))
    engine = get_engine(alice)
    assert isinstance(engine, GPTSoVITSEngine) and get_engine(bob) is engine
    requests = [
        SynthesisRequest("The quick brown fox jumps over the lazy dog.", alice, seed=11),
        SynthesisRequest("Hello there, how are you today?", bob, seed=12),
        SynthesisRequest("A much shorter line.", alice, seed=13),
    ]
    waves = engine.synthesize(requests)
    assert len(waves) == 3
    assert engine.sample_rate == 32000
    policy = LengthPolicy()
    for wave, request in zip(waves, requests):
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert np.isfinite(wave).all() and float(np.abs(wave).max()) <= 1.0
        phones = engine.prepare(request).target_ids.numel()
        speed = voice_params(request.voice).speed
        seconds = wave.size / engine.sample_rate
        assert 11 / 25 / speed - 0.1 <= seconds <= policy.budget(phones) / 25 / speed + 0.1
    assert waves[0].size != waves[2].size or not np.array_equal(waves[0], waves[2])
    with pytest.raises(VoiceError, match=r"alice\.yaml: params\.bert"):
        engine.synthesize([SynthesisRequest("你好世界", alice, seed=1, language="zh")])
    again = engine.synthesize([requests[1]])
    assert np.allclose(again[0], waves[1], atol=1e-4)  # a cached take can be reproduced alone


def test_renders_plan_one_batch_across_speakers_and_cache_the_takes(
    assets: SovitsAssets, voices_dir: Path, tmp_path: Path
) -> None:
    from castline.cache import AudioStore
    from castline.model import Utterance
    from castline.storage import LocalStorage
    from tasks.synthesize import plan_batches, plan_takes, synthesize_batch

    a = local(assets, voices_dir.parent)
    other_clip = reference_clip(voices_dir / "bob.wav", start_s=3.0, duration_s=5.0)
    voices = {
        "alice": load_profile(write_profile(voices_dir, a, "alice", a.reference_wav, retakes=0)),
        "bob": load_profile(write_profile(voices_dir, a, "bob", other_clip, retakes=0, temperature=0.8)),
    }
    lines = [("alice", "Good morning."), ("bob", "Good evening, friend."), ("alice", "See you soon.")]
    utterances = [Utterance(f"c001-{i:04d}", "c001", i, who, text, voice=who) for i, (who, text) in enumerate(lines)]
    store = AudioStore(LocalStorage(tmp_path / "cache"))
    takes = plan_takes(utterances, voices, language="en", seed=1)
    batches = plan_batches(takes, voices, store)
    assert [len(b) for b in batches] == [3]  # two speakers, one model, one batch
    synthesize_batch(batches[0], voices, "en", store)
    for take in takes:
        stored = store.get(take.cache_key or "")
        assert stored is not None and stored.sample_rate == 32000 and stored.duration_s >= 0.3
    assert plan_batches(plan_takes(utterances, voices, language="en", seed=1), voices, store) == []


def test_v2pro_voices_use_the_speaker_verification_model(tmp_path: Path) -> None:
    pro = build_sovits_assets(tmp_path / "models", "v2Pro", seed=1, with_bert=False)
    voices = tmp_path / "voices"
    without_sv = load_profile(write_profile(voices, pro, "pro", pro.reference_wav, retakes=0))
    with pytest.raises(VoiceError, match=r"pro\.yaml: params\.sv"):
        GPTSoVITSEngine.load(without_sv)
    voice = load_profile(write_profile(voices, pro, "pro", pro.reference_wav, retakes=0, sv=str(pro.sv_ckpt)))
    engine = GPTSoVITSEngine.load(voice)
    assert engine.version == "v2Pro" and engine.decoder.needs_sv
    (wave,) = engine.synthesize([SynthesisRequest("Good morning.", voice, seed=4)])
    assert wave.dtype == np.float32 and wave.size >= 0.3 * engine.sample_rate and np.isfinite(wave).all()
