"""Atomic writes, scratch folders, and clearing away what a killed process left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from castline.layout import OutputLayout
from castline.tempfiles import atomic_path, remove_dead_scratch_dirs, remove_stale_temp_files, scratch_dir


def test_an_atomic_write_replaces_the_target_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".report.json.") and temporary.suffix == ".tmp"
        temporary.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_stale_temp_files_go_and_fresh_ones_stay(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    stale, fresh, entry = tmp_path / "ab" / ".x.flac.1.tmp", tmp_path / "ab" / ".y.flac.2.tmp", tmp_path / "ab" / "x.flac"
    for path in (stale, fresh, entry):
        path.write_bytes(b"1")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert remove_stale_temp_files(tmp_path, older_than_s=3600) == 1
    assert not stale.exists() and fresh.exists() and entry.exists()


def test_scratch_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / f"castline-{dead}-m4b-abc").mkdir()
    (tmp_path / "castline-notapid").mkdir()
    with scratch_dir("mp3") as mine:
        assert Path(mine).name.startswith(f"castline-{os.getpid()}-mp3-")
        (tmp_path / Path(mine).name).mkdir()
        assert remove_dead_scratch_dirs(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["castline-notapid", Path(mine).name])


def test_an_output_folder_is_cleared_of_a_killed_renders_leftovers(tmp_path: Path) -> None:
    layout = OutputLayout(tmp_path / "out")
    (layout.staging / "0123456789ab").mkdir(parents=True)
    (layout.staging / "0123456789ab" / "book.m4b").write_bytes(b"partial")
    (layout.chapters / "ab").mkdir(parents=True)
    (layout.chapters / "ab" / ".abcd.flac.x1.tmp").write_bytes(b"partial")
    (layout.chapters / "ab" / "abcd.flac").write_bytes(b"whole")
    layout.remove_leftovers()
    assert not layout.staging.exists()
    assert [p.name for p in (layout.chapters / "ab").iterdir()] == ["abcd.flac"]
