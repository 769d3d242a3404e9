"""Enrolling about a minute of speech: wall time, and where it goes.

    python bench/bench_enroll.py [--engine piper]

Enrolls the LibriVox reading of Shakespeare's Sonnet 1 (53 s, MP3) and the first 9 s of the
same reader (WAV) from ../shared/corpus/speech into a fresh registry, as ``castline voices
enroll`` does, and prints the wall time (goal: at most two minutes for a minute of speech on the
2-core machine) split into loading and VAD, ASR, speaker embeddings, and the probes of the gate
(synthesis by the candidate, their embeddings and ASR). Without the corpus, the three LJ Speech
clips of tests/data (27 s) are enrolled instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "speech"
SONNET = [CORPUS / "librivox_sonnet001_en_full.mp3", CORPUS / "librivox_sonnet001_first9s.wav"]
LJ = [ROOT / "tests" / "data" / "ljspeech_LJ001-0001.wav", *sorted((ROOT / "tests" / "data" / "speech").glob("ljspeech_*.wav"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="piper", help="piper (the preset nearest the speaker; works offline)")
    args = parser.parse_args()
    print(describe(("castline", "faster-whisper", "resemblyzer", "piper-tts", "onnxruntime", "torch")))
    clips = SONNET if all(p.is_file() for p in SONNET) else LJ
    started = time.perf_counter()
    from voices.enroll import enroll
    from voices.registry import VoiceRegistry

    imported = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="castline-bench-enroll-") as folder:
        mark = time.perf_counter()
        done = enroll("reader", clips, VoiceRegistry.open(Path(folder)), engine=args.engine)
        work = time.perf_counter() - mark
    t, v = done.timings, done.version
    wall = time.perf_counter() - started
    print(f"\nenrolled {', '.join(p.name for p in clips)}: {v.duration_s:.1f} s of speech in {v.clips} reference clips; "
          f"{v.id} {v.status} (similarity {done.verdict.similarity:.2f}, WER {done.verdict.wer:.2f})")
    for name, seconds in (("imports", imported), ("loading, checks and VAD", t.load_vad_s), ("ASR of the references", t.asr_s),
                          ("speaker embeddings", t.embeddings_s), ("probes (synthesis, embeddings, ASR)", t.probes_s),
                          ("registry and the rest", work - t.load_vad_s - t.asr_s - t.embeddings_s - t.probes_s)):
        print(f"  {name:<40s} {seconds:6.1f} s")
    print(f"wall time {wall:.1f} s for {v.duration_s:.1f} s of speech: {wall / v.duration_s * 60:.1f} s per minute "
          f"of speech (goal <= 120 s)")


if __name__ == "__main__":
    main()
