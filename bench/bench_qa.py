"""The quality gate's cost: checking takes against synthesizing them, side by side in one run.

    python bench/bench_qa.py [--chapters 3] [--loops 2]

Writes the script of the first chapters of the demo book (projects/alice.epub), then, in
each loop, synthesizes every take with the bundled Piper voice (joe) in batches of the
engine's preferred size and checks each batch as a render does (:func:`tasks.qa.check_takes`:
ASR with tiny.en, duration, signal; no retakes, so both sides do the same work every loop).
Prints synthesis and QA wall time per loop and their ratio (goal: QA at most 30% of
synthesis on this machine), and how the QA time splits between ASR and the rest.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", type=int, default=3, help="chapters of the demo book (default 3)")
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--batch", type=int, default=0, help="takes per batch (default: the engine's preferred size)")
    args = parser.parse_args()
    print(describe(("castline", "faster-whisper", "ctranslate2", "piper-tts", "onnxruntime")))

    import castline.asr
    from castline.asr import transcribe_windows
    from castline.manifest.base import QualityGate
    from tasks.ingest import read_source
    from tasks.qa import check_takes
    from tasks.script import Pacing, write_script
    from tasks.synthesize import plan_takes, voice_batch
    from voices.engines import engine_class
    from voices.profile import find_profile

    voices = {"joe": find_profile("joe")}
    book = read_source(ROOT / "projects" / "alice.epub")
    chapters = [c for c in book.chapters if c.matter == "body"][: args.chapters]
    script = write_script(chapters, language="en", pacing=Pacing(), max_chars=400, speak_titles=True)
    takes = plan_takes([replace(u, voice="joe") for u in script], voices, language="en")
    size = args.batch or engine_class(voices["joe"]).preferred_batch_size
    batches = [takes[i : i + size] for i in range(0, len(takes), size)]
    gate = QualityGate()

    asr_s = [0.0]
    real_windows = transcribe_windows

    def timed_windows(*a: Any, **k: Any) -> list[str]:
        mark = time.perf_counter()
        try:
            return real_windows(*a, **k)
        finally:
            asr_s[0] += time.perf_counter() - mark

    castline.asr.transcribe_windows = timed_windows
    voice_batch(batches[0][:2], voices, "en")  # load Piper
    check_takes(batches[0][:2], voice_batch(batches[0][:2], voices, "en")[0], 22050, voices, "en", gate, seeds=[0, 0])
    print(f"\n{len(takes)} takes in {len(batches)} batches of up to {size} ({len(chapters)} chapters of the demo book)")
    for loop in range(1, args.loops + 1):
        synth_s = qa_s = speech_s = 0.0
        asr_s[0] = 0.0
        failing = 0
        for batch in batches:
            mark = time.perf_counter()
            audios, rate, _ = voice_batch(batch, voices, "en")
            synth_s += time.perf_counter() - mark
            speech_s += sum(a.size for a in audios) / rate
            mark = time.perf_counter()
            checked = check_takes(batch, audios, rate, voices, "en", gate, seeds=[u.seed or 0 for u in batch])
            qa_s += time.perf_counter() - mark
            failing += sum(not qa.passed for qa in checked)
        print(f"loop {loop}: {speech_s:.0f} s of speech; synthesis {synth_s:.1f} s, QA {qa_s:.1f} s "
              f"(windows heard {asr_s[0]:.1f} s, the rest {qa_s - asr_s[0]:.1f} s): QA/synthesis {qa_s / synth_s:.2f} "
              f"(goal <= 0.30); {failing} takes would be retaken")


if __name__ == "__main__":
    main()
