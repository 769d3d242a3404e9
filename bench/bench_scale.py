"""Render at scale: peak memory and wall time per hour of audio, for books of 1, 5 and 20 hours.

    python bench/bench_scale.py [--hours 1 5 20] [--piper-hours 1] [--formats m4b]

Each book repeats the body chapters of the demo book (*Alice's Adventures in Wonderland*),
longest first, until it lasts the given number of hours. It is rendered twice by ``castline render`` in a
fresh process each time (cold, then unchanged), with a stand-in engine that makes speech-like
noise as long as Piper would speak the text, in microseconds: what is measured is the
pipeline (script, cache, mastering, encoding, measuring, publishing), not synthesis. The book
of ``--piper-hours`` is also rendered with the real Piper voice.

Printed per book: hours of audio, wall time (and per hour of audio), the peak RSS of the
castline process and of its largest child (ffmpeg, Prefect's server), and the unchanged
re-render's wall time as a share of the cold render's. The goals: flat RSS, time linear in
length, the unchanged re-render at most 1% of the cold one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]
DEMO_BOOK = ROOT / "projects" / "alice.epub"


def build_book(folder: Path, hours: float, characters_per_s: float) -> Path:
    """An EPUB of the demo book's body chapters, repeated until it lasts ``hours``."""
    from epub_fixtures import write_epub

    from tasks.ingest import read_source
    from tasks.script import select_chapters

    # Longest chapter first: every book holds it, and a chapter's mastering needs memory in
    # proportion to its length, so the peaks compare books, not the chapters they happen to hold.
    body = sorted(select_chapters(read_source(DEMO_BOOK)), key=lambda c: -sum(len(p) for p in c.paragraphs))
    chapters: list[tuple[str, list[str]]] = []
    spoken_s = 0.0
    while spoken_s < hours * 3600:
        for chapter in body:
            if spoken_s >= hours * 3600:
                break
            chapters.append((f"{chapter.title} ({len(chapters) + 1})", list(chapter.paragraphs)))
            spoken_s += sum(len(p) for p in chapter.paragraphs) / characters_per_s
    return write_epub(folder / "book.epub", chapters, title=f"A {hours:g}-hour book")


def write_manifest(folder: Path, voice: str, formats: list[str]) -> Path:
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump({
        "kind": "audiobook", "title": folder.name, "author": "Lewis Carroll", "language": "en", "source": "book.epub",
        "voices": {"narrator": voice}, "output": {"dir": "out", "formats": formats},
    }), encoding="utf-8")
    return path


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    """Children, grandchildren...: from /proc/*/stat parent ids."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for kid in parents.get(todo.pop(), []):
            found.append(kid)
            todo.append(kid)
    return found


class _Sampler(threading.Thread):
    """Samples the RSS of this process and of its largest child process every 0.1 s
    (ru_maxrss of the children counts the parent's pages they had when forked)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_child_mb = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            sizes = [_rss_mb(pid) for pid in _descendants(os.getpid())]
            self.peak_child_mb = max([self.peak_child_mb, *sizes])


def child(manifest: Path) -> None:
    """One ``castline render`` in this process, the stand-in engine registered; prints JSON."""
    from standin_engine import register

    from castline.cli import app

    register()
    sampler = _Sampler()
    sampler.start()
    started = time.perf_counter()
    try:
        app(["render", str(manifest)], standalone_mode=False)
    finally:
        wall_s = time.perf_counter() - started
        sampler.stop.set()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report = json.loads((manifest.parent / "out" / "report.json").read_text(encoding="utf-8"))
        print(json.dumps({"wall_s": wall_s, "rss_mb": own, "child_rss_mb": sampler.peak_child_mb,
                          "audio_s": report["duration_s"], "synthesized": report["synthesized"]}))


def render(manifest: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", str(manifest)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"render of {manifest} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="+", default=[1, 5, 20])
    parser.add_argument("--piper-hours", type=float, nargs="*", default=[1])
    parser.add_argument("--formats", nargs="+", default=["m4b"])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from standin_engine import CHARACTERS_PER_S

    print(describe(("castline", "piper-tts", "onnxruntime", "prefect", "numpy")))
    print(f"deliverables: {', '.join(args.formats)}\n")
    work = Path(tempfile.mkdtemp(prefix="castline-bench-scale-"))
    rows = []
    runs = [(h, "stand-in") for h in args.hours] + [(h, "joe") for h in args.piper_hours]
    for hours, voice in runs:
        folder = work / f"book-{hours:g}h-{voice}"
        folder.mkdir()
        if voice == "stand-in":
            (folder / "voices").mkdir()
            (folder / "voices" / "stand-in.yaml").write_text(yaml.safe_dump(
                {"name": "stand-in", "engine": "stand-in", "language": "en"}), encoding="utf-8")
        build_book(folder, hours, CHARACTERS_PER_S)
        manifest = write_manifest(folder, voice, args.formats)
        cold = render(manifest)
        again = render(manifest)
        rows.append((voice, cold, again))
        audio_h = cold["audio_s"] / 3600
        print(f"{voice:9s} {audio_h:6.2f} h of audio: cold {cold['process_s']:7.1f} s ({cold['process_s'] / audio_h:6.1f} s per hour),"
              f" peak RSS {cold['rss_mb']:6.0f} MB (largest child {cold['child_rss_mb']:5.0f} MB);"
              f" unchanged re-render {again['process_s']:5.1f} s = {100 * again['process_s'] / cold['process_s']:.2f}% of cold,"
              f" peak RSS {again['rss_mb']:5.0f} MB", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    stand_in = [(c, a) for v, c, a in rows if v == "stand-in"]
    if len(stand_in) >= 2:
        (small, _), (large, _) = stand_in[0], stand_in[-1]
        print(f"\npeak RSS, largest / smallest book: {large['rss_mb'] / small['rss_mb']:.2f}x (goal <= 1.2x);"
              f" seconds per hour of audio, largest / smallest: "
              f"{(large['process_s'] / large['audio_s']) / (small['process_s'] / small['audio_s']):.2f}x (goal about 1)")


if __name__ == "__main__":
    main()
