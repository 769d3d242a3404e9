"""A render killed mid-synthesis publishes nothing and loses nothing already synthesized."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

pytestmark = pytest.mark.e2e  # a real render killed and resumed: left out of make test-fast

SENTENCES = [f"This is sentence number {n} of a chapter that takes a while to read." for n in range(1, 41)]


def test_kill_mid_render_then_resume(tmp_path: Path) -> None:
    write_epub(tmp_path / "book.epub", [("One", SENTENCES[:20]), ("Two", SENTENCES[20:])])
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "audiobook", "credits": NO_CREDITS, "title": "Long", "author": "A", "language": "en", "source": "book.epub",
        "voices": {"narrator": "joe"}, "engine": {"batch_size": 4}, "output": {"dir": "out", "formats": ["m4b"]},
        "qa": {"mode": "off"},  # kills and resumes, three renders of 40 sentences: the gate has tests of its own
    }))
    command = [sys.executable, "-m", "castline.cli", "render", str(manifest)]
    takes = tmp_path / "out" / ".castline" / "cache" / "utterances"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list(takes.glob("*/*.json"))) < 8 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(list(takes.glob("*/*.json")))
    assert 8 <= kept < 42, kept  # killed mid-synthesis (42 = 40 sentences + 2 titles)
    assert not list((tmp_path / "out").glob("*.m4b")) and not (tmp_path / "out" / "report.json").exists()
    # what a kill during encoding leaves besides: a staging folder and temporary files
    work = tmp_path / "out" / ".castline"
    (work / "staging" / "0123456789ab").mkdir(parents=True)
    (work / "staging" / "0123456789ab" / ".Long.m4b.k2j3.tmp").write_bytes(b"\0" * 1000)
    next(takes.glob("*/")).joinpath(".0a1b.flac.x7y8.tmp").write_bytes(b"\0" * 1000)

    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["cache_hits"] >= kept and report["synthesized"] == 42 - report["cache_hits"]
    assert len(list((tmp_path / "out").glob("*.m4b"))) == 1
    assert not (work / "staging").exists() or not list((work / "staging").iterdir())
    assert not [p for p in work.rglob("*.tmp")], "temporary files of the killed render were left"

    # the same takes every time: a clean render of the same book gives the same audio
    clean = subprocess.run([*command, "--out", str(tmp_path / "clean")], capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr
    resumed_pcm, clean_pcm = (decoded(next(folder.glob("*.m4b"))) for folder in (tmp_path / "out", tmp_path / "clean"))
    assert len(resumed_pcm) > 1_000_000 and resumed_pcm == clean_pcm


def decoded(path: Path) -> bytes:
    """The audio of ``path`` as ffmpeg decodes it (16-bit PCM): what a listener hears."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-"], capture_output=True, check=True)
    return done.stdout
