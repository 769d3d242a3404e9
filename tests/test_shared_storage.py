"""Every shared store on an S3-compatible server (moto, on 127.0.0.1), set once with
CASTLINE_STORAGE: a render sounds the same as with local stores, and a render from another
output directory (another worker) synthesizes and masters nothing again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub
from piper_fixtures import EngineCalls
from s3_fixtures import aws_env, new_bucket

from castline.storage import FsspecStorage

pytestmark = pytest.mark.e2e  # three renders of a small book: left out of make test-fast

CHAPTERS = [("One", ["The rain fell on the roofs.", "Nobody was out."]), ("Two", ["Then the sun came back."])]


def decoded(path: Path) -> bytes:
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-"], capture_output=True, check=True)
    return done.stdout


def test_a_render_on_s3_sounds_like_a_local_one_and_is_reused_by_the_next(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness
) -> None:
    from flows.audiobook import audiobook

    write_epub(tmp_path / "book.epub", CHAPTERS)
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "audiobook", "credits": NO_CREDITS, "title": "Rain", "author": "A", "language": "en", "source": "book.epub",
        "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b"]},
    }))
    calls = EngineCalls(monkeypatch)
    local = audiobook(str(manifest), output_dir=str(tmp_path / "local"))

    aws_env(monkeypatch, moto_endpoint)
    base = f"s3://{new_bucket()}/castline"
    monkeypatch.setenv("CASTLINE_STORAGE", base)
    monkeypatch.delenv("CASTLINE_CACHE_DIR", raising=False)
    shared = audiobook(str(manifest), output_dir=str(tmp_path / "s3"))
    assert shared["synthesized"] == local["synthesized"] == len(calls.texts) // 2 > 0
    assert decoded(tmp_path / "s3" / "Rain.m4b") == decoded(tmp_path / "local" / "Rain.m4b")

    takes, chapters = FsspecStorage(f"{base}/utterances"), FsspecStorage(f"{base}/chapters")
    assert len([n for n in takes.list() if n.endswith(".flac")]) == shared["synthesized"]
    assert len([n for n in chapters.list() if n.endswith(".flac")]) == len(CHAPTERS)
    assert not [n for n in takes.list() if n.startswith("claims/")]
    work = tmp_path / "s3" / ".castline"
    assert not (work / "cache").exists() and not (work / "chapters").exists()  # nothing stored locally

    for store in (takes, chapters):  # another machine: nothing downloaded yet
        shutil.rmtree(store.mirror, ignore_errors=True)
    spoken = len(calls.texts)
    again = audiobook(str(manifest), output_dir=str(tmp_path / "again"))
    assert again["synthesized"] == 0 and len(calls.texts) == spoken
    assert again["cache_hits"] == shared["synthesized"]
    report = yaml.safe_load((tmp_path / "again" / "report.json").read_text())
    assert not any(c["remastered"] for c in report["chapters"])  # chapters came from the shared store
    assert decoded(tmp_path / "again" / "Rain.m4b") == decoded(tmp_path / "local" / "Rain.m4b")
