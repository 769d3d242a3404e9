"""A full disk is said in words, with the path: never "System error." or a message about a temp file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

from castline.cache import AudioStore
from castline.errors import WriteError
from castline.storage import LocalStorage
from castline.tempfiles import atomic_path


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs), so writes fail as they do on a full disk."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_an_atomic_write_on_a_full_disk_names_the_file_and_the_cause(tiny_fs: Path) -> None:
    target = tiny_fs / "report.json"
    with pytest.raises(WriteError) as err, atomic_path(target) as temporary:
        temporary.write_bytes(b"x" * (2 << 20))
    assert str(err.value).startswith(f"{target}: cannot write: no space left on device")
    assert list(tiny_fs.iterdir()) == []  # and nothing half-written is left


def test_a_store_on_a_full_disk_names_the_entry(tiny_fs: Path) -> None:
    store = AudioStore(LocalStorage(tiny_fs / "cache"))
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 22050 * 60).astype(np.float32)
    with pytest.raises(WriteError, match=r"/cache/ab/(ab)+\.flac: cannot write: no space left on device"):
        store.put("ab" * 32, noise, 22050)


@pytest.mark.e2e
def test_a_render_onto_a_full_disk_fails_with_one_line(tiny_fs: Path, tmp_path: Path) -> None:
    write_epub(tmp_path / "book.epub", [("One", ["A sentence that takes a while to say, said slowly and clearly."] * 30)])
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({"kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "en",
                                        "source": "book.epub", "voices": {"narrator": "joe"}}))
    done = subprocess.run([sys.executable, "-m", "castline.cli", "render", str(manifest), "--out", str(tiny_fs)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, COLUMNS="300"))
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert "cannot write: no space left on device" in errors[0] and str(tiny_fs) in errors[0]
    assert "Traceback" not in done.stderr
