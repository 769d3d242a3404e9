"""Seeded noise for ONNX graphs that draw their own (Piper's VITS voices).

A Piper voice samples inside the model: ``RandomNormalLike`` nodes draw the stochastic
duration predictor's noise and the prior's noise from onnxruntime's internal generator,
which no caller can seed per run. So the same text, voice and seed gave different audio
(and even a different length) on every run. :func:`seed_random_nodes` rewrites the graph in
memory so that each random node instead takes its numbers from a graph input
(``castline_noise_<k>``, a 1-D float32 buffer), and reports how many numbers the node
needed (graph output ``castline_noise_<k>_size``). :class:`SeededSession` fills those
buffers from a seed with numpy and runs the model, so a run is a pure function of its inputs
and its seed.

A node's size is only known while the graph runs (the prior's noise has one value per
output frame, and the number of frames depends on the duration noise), so buffers are
sized by a guess; a node whose buffer was too short reads zeros past its end (the run does
not fail) and says so through its size output, and the run is repeated with longer buffers.
Buffers come from ``np.random.default_rng([seed, stream, k])``, whose draws are
prefix-consistent: a longer buffer starts with the same numbers, so the result never
depends on the guess, only on the seed.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["NoiseSource", "SeededSession", "UnsupportedRandomOp", "draw_noise", "seed_random_nodes"]

NOISE_PREFIX = "castline_noise_"

_KINDS: dict[str, Literal["normal", "uniform"]] = {
    "RandomNormalLike": "normal",
    "RandomNormal": "normal",
    "RandomUniformLike": "uniform",
    "RandomUniform": "uniform",
}
"""Random ops this module replaces: ``*Like`` take the shape of their input, the others an attribute."""

_OTHER_RANDOM = frozenset({"Multinomial", "Bernoulli"})

_MIN_OPSET = 10
"""Slice takes its bounds as inputs from opset 10 on."""


class UnsupportedRandomOp(ValueError):
    """The graph samples in a way this module cannot replace by supplied noise."""


@dataclass(frozen=True)
class NoiseSource:
    """One random node of the original graph, now fed by a graph input."""

    index: int
    op_type: str
    """The replaced op (``RandomNormalLike``...), for messages."""
    node: str
    """Name of the replaced node."""
    kind: Literal["normal", "uniform"]
    """``normal``: standard normal numbers; ``uniform``: uniform in [0, 1)."""
    input: str
    """Graph input that takes the buffer (1-D float32, any length)."""
    size: str
    """Graph output (int64 ``[1]``): how many numbers the node used in the run."""
    fixed_size: int | None = None
    """The node's size when its shape is an attribute (``RandomNormal``, ``RandomUniform``)."""


def _is_random(op_type: str) -> bool:
    return op_type.startswith("Random") or op_type in _OTHER_RANDOM


def _subgraphs(node: Any) -> Iterator[Any]:
    import onnx

    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def _check_subgraphs(graph: Any) -> None:
    """Random nodes inside If/Loop/Scan bodies would draw per iteration: refuse them."""
    for node in graph.node:
        for sub in _subgraphs(node):
            for inner in sub.node:
                if _is_random(inner.op_type):
                    raise UnsupportedRandomOp(
                        f"random op {inner.op_type} (node {inner.name!r}) inside the {node.op_type} node {node.name!r} "
                        "cannot be fed seeded noise"
                    )
            _check_subgraphs(sub)


def _all_names(graph: Any) -> set[str]:
    names = {v.name for v in (*graph.input, *graph.output, *graph.value_info)}
    names.update(t.name for t in graph.initializer)
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _elem_types(model: Any) -> dict[str, int]:
    """Element types of the graph's values, as far as ONNX shape inference knows them."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model).graph
    return {
        v.name: v.type.tensor_type.elem_type
        for v in (*inferred.input, *inferred.value_info, *inferred.output)
        if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type
    }


def seed_random_nodes(model: Any) -> list[NoiseSource]:
    """Replace every random node of ``model`` (an ``onnx.ModelProto``, changed in place) by a
    slice of a supplied noise buffer; returns one :class:`NoiseSource` per replaced node.

    ``RandomNormalLike(x)`` (and the other three) becomes
    ``mean + scale * Reshape(Slice(Concat(noise_k, zeros(n)), 0, n), Shape(x))`` with
    ``n = Size(x)``, cast to the node's ``dtype``; the zeros only matter when ``noise_k`` is
    shorter than ``n``, which the caller sees in the ``size`` output. Raises
    :class:`UnsupportedRandomOp` naming the op for any other random op (``Multinomial``,
    ``Bernoulli``, unknown ``Random*``), for random ops inside subgraphs, and for opsets
    before 10.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    _check_subgraphs(graph)
    randoms = [node for node in graph.node if _is_random(node.op_type)]
    if not randoms:
        return []
    for node in randoms:
        if node.op_type not in _KINDS or node.domain not in ("", "ai.onnx"):
            domain = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
            raise UnsupportedRandomOp(f"random op {domain}{node.op_type} (node {node.name!r}) cannot be fed seeded noise")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < _MIN_OPSET:
        raise UnsupportedRandomOp(f"opset {opset} is too old to replace its random ops (needs {_MIN_OPSET} or later)")
    names = _all_names(graph)
    if any(name.startswith(NOISE_PREFIX) for name in names):
        raise UnsupportedRandomOp(f"the graph already has values named {NOISE_PREFIX}*")
    types: dict[str, int] | None = None

    sources: list[NoiseSource] = []
    rewritten: list[Any] = []
    for node in graph.node:
        if not _is_random(node.op_type):
            rewritten.append(node)
            continue
        k = len(sources)
        kind = _KINDS[node.op_type]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        p = f"{NOISE_PREFIX}{k}"
        noise, size = p, f"{p}_size"
        new: list[Any] = []

        def const(name: str, value: np.ndarray, new: list[Any] = new) -> str:
            new.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
            return name

        fixed_size: int | None = None
        if node.op_type.endswith("Like"):
            source = node.input[0]
            dtype = attrs.get("dtype")
            if dtype is None:
                if types is None:
                    types = _elem_types(model)
                dtype = types.get(source)
                if dtype is None:
                    raise UnsupportedRandomOp(
                        f"cannot tell the element type of {source!r}, the input of {node.op_type} node {node.name!r}"
                    )
            new.append(helper.make_node("Shape", [source], [f"{p}/shape"]))
            new.append(helper.make_node("Size", [source], [f"{p}/count"]))
            shape = f"{p}/shape"
        else:
            dims = [int(d) for d in attrs["shape"]]
            fixed_size = math.prod(dims)
            dtype = attrs.get("dtype", TensorProto.FLOAT)
            shape = const(f"{p}/shape", np.array(dims, dtype=np.int64))
            const(f"{p}/count", np.array(fixed_size, dtype=np.int64))
        one = const(f"{p}/one", np.array([1], dtype=np.int64))
        new.append(helper.make_node("Reshape", [f"{p}/count", one], [size]))
        new.append(
            helper.make_node(
                "ConstantOfShape", [size], [f"{p}/zeros"], value=numpy_helper.from_array(np.zeros(1, dtype=np.float32))
            )
        )
        new.append(helper.make_node("Concat", [noise, f"{p}/zeros"], [f"{p}/padded"], axis=0))
        zero = const(f"{p}/zero", np.array([0], dtype=np.int64))
        new.append(helper.make_node("Slice", [f"{p}/padded", zero, size, zero], [f"{p}/flat"]))
        new.append(helper.make_node("Reshape", [f"{p}/flat", shape], [f"{p}/shaped"]))
        # In the node's type, then ``mean + scale * z`` (``low + (high - low) * u``) as the op does.
        if kind == "normal":
            offset, factor = float(attrs.get("mean", 0.0)), float(attrs.get("scale", 1.0))
        else:
            low, high = float(attrs.get("low", 0.0)), float(attrs.get("high", 1.0))
            offset, factor = low, high - low
        np_type = helper.tensor_dtype_to_np_dtype(int(dtype))
        arithmetic: list[tuple[str, str]] = []
        if factor != 1.0:
            arithmetic.append(("Mul", const(f"{p}/factor", np.array(factor, dtype=np_type))))
        if offset != 0.0:
            arithmetic.append(("Add", const(f"{p}/offset", np.array(offset, dtype=np_type))))
        value = f"{p}/typed" if arithmetic else node.output[0]
        new.append(helper.make_node("Cast", [f"{p}/shaped"], [value], to=int(dtype)))
        for i, (op, operand) in enumerate(arithmetic):
            out = node.output[0] if i == len(arithmetic) - 1 else f"{p}/{op.lower()}"
            new.append(helper.make_node(op, [value, operand], [out]))
            value = out
        rewritten.extend(new)

        graph.input.append(helper.make_tensor_value_info(noise, TensorProto.FLOAT, [f"{p}_length"]))
        graph.output.append(helper.make_tensor_value_info(size, TensorProto.INT64, [1]))
        sources.append(NoiseSource(k, node.op_type, node.name, kind, noise, size, fixed_size))

    del graph.node[:]
    graph.node.extend(rewritten)
    onnx.checker.check_model(model, full_check=False)
    return sources


def draw_noise(source: NoiseSource, seed: int, stream: int, length: int) -> np.ndarray:
    """The first ``length`` numbers of ``source``'s buffer for ``seed`` and ``stream``."""
    entropy = [seed, stream, source.index] if seed >= 0 else [-seed, stream, source.index, 1]
    rng = np.random.default_rng(entropy)
    if source.kind == "normal":
        return rng.standard_normal(length, dtype=np.float32)
    return rng.random(length, dtype=np.float32)


class SeededSession:
    """An onnxruntime session on a graph rewritten by :func:`seed_random_nodes`.

    :meth:`run` is safe to call from several threads at once; its result depends only on its
    feeds, ``seed`` and ``stream``. With ``copies`` > 1 the rewritten graph is loaded into
    that many onnxruntime sessions and each run borrows an idle one (a run waits when all are
    busy); with 1, concurrent runs share the one session.
    """

    default_per_unit: float = 2048.0
    """Numbers per unit (phoneme id) guessed for a node before any run has shown its size."""
    margin: float = 1.25
    """Headroom on a learned guess."""

    def __init__(self, model: Any, options: Any, providers: Sequence[str], *, copies: int = 1) -> None:
        import onnxruntime

        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        self.output: str = model.graph.output[0].name
        self.sources = seed_random_nodes(model)
        data = model.SerializeToString()
        self.sessions = [
            onnxruntime.InferenceSession(data, sess_options=options, providers=list(providers)) for _ in range(copies)
        ]
        self.session = self.sessions[0]
        """The first (with ``copies=1`` the only) onnxruntime session."""
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for session in self.sessions:
            self._idle.put(session)
        self._outputs = [self.output, *(s.size for s in self.sources)]
        # Give the memory arena back after each run: a long sentence's decoder tensors take
        # hundreds of MB, which the arena would otherwise keep for the rest of the render (the
        # bundled voice, 160 sentences on two runs at once: 1.0 GB peak RSS without, 0.83 GB with,
        # at the same speed).
        self._run_options = onnxruntime.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        # Per source: the most numbers used per unit, and per unit of (units * stretch).
        self._per_unit = [0.0] * len(self.sources)
        self._per_stretched = [0.0] * len(self.sources)
        self._seen = False
        self._lock = threading.Lock()
        self.runs = 0
        """Graph runs so far (including repeats for short buffers)."""

    def guess(self, source: NoiseSource, units: int, stretch: float) -> int:
        """A buffer length likely to cover ``source`` for ``units`` phoneme ids at ``stretch``."""
        if source.fixed_size is not None:
            return source.fixed_size
        k = source.index
        if not self._seen:
            return math.ceil(self.default_per_unit * units * max(stretch, 1.0))
        per_unit = max(self._per_unit[k], self._per_stretched[k] * stretch)
        return math.ceil(self.margin * per_unit * units) + 64

    def _learn(self, sizes: Sequence[int], units: int, stretch: float) -> None:
        with self._lock:
            self._seen = True
            self.runs += 1
            for k, n in enumerate(sizes):
                self._per_unit[k] = max(self._per_unit[k], n / max(units, 1))
                self._per_stretched[k] = max(self._per_stretched[k], n / max(units * stretch, 1e-6))

    def _run_once(self, feeds: Mapping[str, np.ndarray]) -> list[Any]:
        if len(self.sessions) == 1:
            return self.session.run(self._outputs, feeds, self._run_options)  # onnxruntime allows concurrent runs
        session = self._idle.get()
        try:
            return session.run(self._outputs, feeds, self._run_options)
        finally:
            self._idle.put(session)

    def run(
        self, feeds: Mapping[str, np.ndarray], *, seed: int, stream: int = 0, units: int = 1, stretch: float = 1.0
    ) -> np.ndarray:
        """The graph's first output for ``feeds``, its random nodes fed from ``seed`` and ``stream``.

        ``units`` and ``stretch`` (the phoneme count and length scale) only size the first guess.
        """
        buffers = [draw_noise(s, seed, stream, self.guess(s, units, stretch)) for s in self.sources]
        for _ in range(len(self.sources) + 2):
            result = self._run_once({**feeds, **{s.input: b for s, b in zip(self.sources, buffers)}})
            sizes = [int(np.asarray(r).reshape(-1)[0]) for r in result[1:]]
            self._learn(sizes, units, stretch)
            short = [k for k, n in enumerate(sizes) if n > buffers[k].size]
            if not short:
                return np.asarray(result[0])
            for k in short:
                buffers[k] = draw_noise(self.sources[k], seed, stream, sizes[k])
        raise RuntimeError(f"noise buffers still too short after {len(self.sources) + 2} runs")
