"""The task runner a render fans out on: chosen from the environment, threads by default, Dask
on request; a render on a local Dask cluster delivers the same audio as one on threads."""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub
from piper_fixtures import build_tiny_piper_voice
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from castline.cache import AudioStore
from castline.errors import SettingError
from castline.ffmpeg import read_audio
from castline.storage import FsspecStorage, LocalStorage
from flows.task_runners import chosen_task_runner

CHAPTERS = [
    ("Chapter One", ["Alice sat by the river.", "Her sister read a book."]),
    ("Chapter Two", ["A White Rabbit ran by.", "It was late."]),
]


def test_threads_by_default_with_two_workers() -> None:
    for env in ({}, {"CASTLINE_TASK_RUNNER": ""}, {"CASTLINE_TASK_RUNNER": "threads"}):
        runner = chosen_task_runner(env)
        assert isinstance(runner, ThreadPoolTaskRunner)
        assert runner._max_workers == 2


def test_workers_setting_sizes_the_thread_pool() -> None:
    runner = chosen_task_runner({"CASTLINE_TASK_RUNNER": "threads", "CASTLINE_TASK_WORKERS": "5"})
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 5


def test_dask_starts_a_local_cluster_of_processes() -> None:
    runner = chosen_task_runner({"CASTLINE_TASK_RUNNER": "Dask", "CASTLINE_TASK_WORKERS": "3"})
    assert isinstance(runner, DaskTaskRunner)
    assert runner.address is None
    assert runner.cluster_kwargs == {"n_workers": 3, "processes": True, "threads_per_worker": 1, "dashboard_address": None}
    default = chosen_task_runner({"CASTLINE_TASK_RUNNER": "dask"})
    assert isinstance(default, DaskTaskRunner) and default.cluster_kwargs["n_workers"] == 2


def test_dask_address_connects_to_that_scheduler() -> None:
    runner = chosen_task_runner({"CASTLINE_TASK_RUNNER": "dask", "CASTLINE_DASK_ADDRESS": "tcp://10.0.0.5:8786",
                                 "CASTLINE_TASK_WORKERS": "8"})
    assert isinstance(runner, DaskTaskRunner)
    assert runner.address == "tcp://10.0.0.5:8786" and runner.cluster_kwargs == {}


def test_unknown_runner_is_one_error_naming_the_variable_and_the_choices() -> None:
    with pytest.raises(SettingError) as caught:
        chosen_task_runner({"CASTLINE_TASK_RUNNER": "processes"})
    assert str(caught.value) == "CASTLINE_TASK_RUNNER='processes': unknown task runner; use one of: threads, dask"


@pytest.mark.parametrize("workers", ["0", "two", "-1", "1.5"])
def test_bad_worker_count_names_its_variable(workers: str) -> None:
    with pytest.raises(SettingError, match=rf"^CASTLINE_TASK_WORKERS='{workers}': must be a whole number"):
        chosen_task_runner({"CASTLINE_TASK_RUNNER": "dask", "CASTLINE_TASK_WORKERS": workers})


def test_the_environment_is_read_at_each_flow_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow's own default stays threads; the entry point applies the setting when it is called."""
    from flows.audiobook import audiobook
    from flows.render_project import FLOWS

    monkeypatch.setenv("CASTLINE_TASK_RUNNER", "dask")
    assert isinstance(chosen_task_runner(), DaskTaskRunner)
    assert isinstance(audiobook.task_runner, ThreadPoolTaskRunner)
    monkeypatch.setenv("CASTLINE_TASK_RUNNER", "mpi")
    with pytest.raises(SettingError, match="CASTLINE_TASK_RUNNER='mpi'"):  # before any flow run starts
        FLOWS["audiobook"]("no-such-manifest.yaml", None, None)


def test_stores_pickle_for_worker_processes(tmp_path: Path) -> None:
    """A Dask worker gets the stores pickled; an fsspec store comes back reading the same entries."""
    for storage in (LocalStorage(tmp_path / "local"), FsspecStorage(f"file://{tmp_path / 'fsspec'}")):
        store = AudioStore(storage)
        store.put("ab" * 32, np.zeros(2205, dtype=np.float32), 22050, {"text": "hush"})
        copy = pickle.loads(pickle.dumps(store))
        entry = copy.get("ab" * 32)
        assert entry is not None and entry.meta["text"] == "hush" and entry.duration_s == pytest.approx(0.1)


def _book(folder: Path) -> Path:
    """A two-chapter book read by the tiny Piper voice, delivered as an M4B and MP3s."""
    write_epub(folder / "book.epub", CHAPTERS)
    model = build_tiny_piper_voice(folder / "models")
    (folder / "voices").mkdir()
    (folder / "voices" / "tiny.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "engine": "piper", "language": "en", "params": {"model": str(model), "speaker": 0}}))
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": "A Small Book", "author": "A. Writer", "language": "en", "source": "book.epub",
            "voices": {"narrator": "tiny"}, "output": {"dir": "out", "formats": ["m4b", "mp3"]},
            "qa": {"mode": "off"}}  # the tiny voice speaks tones: nothing for the gate to hear
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _encodes_here(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the chapter MP3s encoded in this process (a Dask worker has its own module)."""
    import tasks.deliverables

    calls: list[int] = []
    real: Callable[..., Any] = tasks.deliverables.encode_mp3

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(os.getpid())
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.deliverables, "encode_mp3", counting)
    return calls


def _pcm(path: Path) -> np.ndarray:
    audio, rate = read_audio(path)
    assert rate == 44100 and audio.size > 44100
    return audio


@pytest.mark.e2e  # an end-to-end render (about 10 s here): left out of make test-fast
def test_dask_render_delivers_what_a_threads_render_does(
    tmp_path: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mastering and MP3s on a local cluster of 2 worker processes, over an fsspec cache: the
    same chapter keys, levels and decoded audio as on threads, each MP3 made once, in a worker.
    The threads render synthesizes the takes; the Dask render finds them in the shared cache."""
    from flows.render_project import FLOWS

    for name in ("CASTLINE_TASK_WORKERS", "CASTLINE_DASK_ADDRESS", "CASTLINE_STORAGE", "CASTLINE_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)  # each render's chapters in its own output directory
    manifest, cache = _book(tmp_path), f"file://{tmp_path / 'cache'}"  # one cache: the takes are made once
    wall_s: dict[str, float] = {}
    encoded_here: dict[str, list[int]] = {}
    for kind in ("threads", "dask"):
        monkeypatch.setenv("CASTLINE_TASK_RUNNER", kind)
        encoded_here[kind] = _encodes_here(monkeypatch)
        started = time.monotonic()
        FLOWS["audiobook"](str(manifest), str(tmp_path / kind), cache)
        wall_s[kind] = time.monotonic() - started
    with capsys.disabled():
        print(f"\nrender wall time: threads {wall_s['threads']:.1f} s, dask {wall_s['dask']:.1f} s")

    reports = {kind: json.loads((tmp_path / kind / "report.json").read_text(encoding="utf-8")) for kind in wall_s}
    files = {kind: {f["path"]: f for f in reports[kind]["files"]} for kind in wall_s}
    assert set(files["dask"]) == set(files["threads"]) == {
        "A Small Book.m4b", "mp3/01 - Chapter One.mp3", "mp3/02 - Chapter Two.mp3"}
    assert all(f["encoded"] and f["acx_ok"] for f in files["dask"].values())
    assert encoded_here["threads"] == [os.getpid()] * 2  # on this process's threads
    assert encoded_here["dask"] == []  # in the workers, recorded here from the tasks' results
    chapters = {kind: sorted(p.name for p in (tmp_path / kind / ".castline" / "chapters").rglob("*.flac")) for kind in wall_s}
    assert len(chapters["dask"]) == 2 and chapters["dask"] == chapters["threads"]
    assert [c["rms_db"] for c in reports["dask"]["chapters"]] == [c["rms_db"] for c in reports["threads"]["chapters"]]
    for name in files["dask"]:
        assert np.array_equal(_pcm(tmp_path / "dask" / name), _pcm(tmp_path / "threads" / name)), name
