"""Deployments end to end: a real Prefect server, ``prefect deploy --all`` from prefect.yaml, two
process workers sharing one utterance cache, and deployment runs of ``render-project``; and the
``render-all`` flow in-process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from uuid import UUID

import pandas as pd
import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

pytestmark = pytest.mark.e2e  # a server, a worker and renders in subprocesses: left out of make test-fast

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
QUIET = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def small_book(folder: Path, chapters: list[tuple[str, list[str]]], **extra: object) -> Path:
    """An audiobook manifest for a tiny EPUB, read by ``joe``, delivered as an M4B only."""
    folder.mkdir(parents=True, exist_ok=True)
    write_epub(folder / "book.epub", chapters)
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": "A Small Book", "author": "A. Writer", "language": "en", "source": "book.epub",
            "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b"]}, **extra}
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Server:
    url: str
    """PREFECT_API_URL of the server."""
    env: dict[str, str]
    """The environment of the CLI commands: quiet, a private PREFECT_HOME, the server's URL."""
    logs: Path
    engine_calls: Path
    """Every text the workers' Piper engines spoke, a line each (see :data:`COUNTING_HOOK`); while
    a file of that name plus ``.fail`` exists, a batch with "kaboom" in it fails."""


COUNTING_HOOK = """
import os
if os.environ.get("CASTLINE_TEST_ENGINE_CALLS"):
    import voices.engines
    voices.engines.ENGINES["piper"] = "counting_piper:CountingPiper"
"""
COUNTING_ENGINE = """
import os
from voices.engines.piper import PiperEngine

class CountingPiper(PiperEngine):
    def synthesize(self, requests):
        if os.path.exists(os.environ["CASTLINE_TEST_ENGINE_CALLS"] + ".fail"):
            if any("kaboom" in r.text.lower() for r in requests):
                raise ValueError("the engine failed on purpose")
        with open(os.environ["CASTLINE_TEST_ENGINE_CALLS"], "a", encoding="utf-8") as log:
            log.write("".join(r.text.replace("\\n", " ") + "\\n" for r in requests))
        return super().synthesize(requests)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, again after 5 s (a worker may need two), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def prefect(server: Server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PREFECT, *args], env=server.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"prefect server exited:\n{log.read_text(errors='replace')[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"prefect server did not answer in {timeout_s} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Prefect server on a free port (SQLite in a private PREFECT_HOME), the pool ``castline``
    with the queues ``a`` and ``b`` besides ``default``, the deployments of prefect.yaml, and two
    process workers (``default`` and ``a``; ``b``) that share one utterance cache
    (CASTLINE_CACHE_DIR) and count what their engines speak; all stopped afterwards."""
    home, logs = tmp_path_factory.mktemp("prefect-home"), tmp_path_factory.mktemp("prefect-logs")
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "sitecustomize.py").write_text(COUNTING_HOOK, encoding="utf-8")
    (hooks / "counting_piper.py").write_text(COUNTING_ENGINE, encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(QUIET, PREFECT_HOME=str(home), PREFECT_API_URL=url, CASTLINE_ROOT=str(ROOT))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = url.rsplit(":", 1)[1].split("/")[0]
        procs.append(start([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port], env, logs / "server.log"))
        wait_healthy(url, procs[0], logs / "server.log")
        served = Server(url, env, logs, logs / "engine-calls.txt")
        setup = (["work-pool", "create", "castline", "--type", "process"], ["work-queue", "create", "a", "--pool", "castline"],
                 ["work-queue", "create", "b", "--pool", "castline"], ["--no-prompt", "deploy", "--all"])
        for args in setup:
            done = prefect(served, *args)
            assert done.returncode == 0, done.stdout + done.stderr
        workers = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "CASTLINE_CACHE_DIR": str(logs / "shared-cache"),
                   "PYTHONPATH": str(hooks), "CASTLINE_TEST_ENGINE_CALLS": str(served.engine_calls)}
        for name, queues in (("worker-a", ["default", "a"]), ("worker-b", ["b"])):
            argv = [PREFECT, "worker", "start", "--pool", "castline", "--type", "process", "--name", name]
            procs.append(start(argv + [a for q in queues for a in ("--work-queue", q)], workers, logs / f"{name}.log"))
        yield served
    finally:
        for proc in reversed(procs):  # the workers (and their flow runs) before the server
            stop(proc)


def worker_logs(server: Server) -> str:
    return "".join((server.logs / f"{name}.log").read_text(errors="replace")[-3000:] for name in ("worker-a", "worker-b"))


def run_deployment(server: Server, name: str, *params: str) -> tuple[UUID, subprocess.CompletedProcess[str]]:
    """``prefect deployment run NAME --param ... --watch``: the flow run's id and the command."""
    args = [a for p in params for a in ("--param", p)]
    done = prefect(server, "deployment", "run", name, *args, "--watch", timeout=240)
    found = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert found, done.stdout + done.stderr
    return UUID(found.group(1)), done


def test_a_deployment_run_renders_a_book(server: Server, tmp_path: Path) -> None:
    manifest = small_book(tmp_path, [("One", ["Alice sat by the river."]), ("Two", ["A White Rabbit ran by."])])
    _, done = run_deployment(server, "render-project/default", f"manifest={manifest}")
    assert done.returncode == 0, done.stdout + done.stderr + worker_logs(server)
    assert "Completed" in done.stdout
    assert (tmp_path / "out" / "A Small Book.m4b").stat().st_size > 0


def test_two_workers_render_overlapping_books_and_speak_each_take_once(server: Server, tmp_path: Path) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sentences = [f"This is the sentence numbered {n}, read for the overlap test." for n in range(24)]
    first = small_book(tmp_path / "first", [("Part One", sentences[:8]), ("Part Two", sentences[8:16])])
    second = small_book(tmp_path / "second", [("Part One", sentences[8:16]), ("Part Two", sentences[16:])], title="Another Book")
    spoken_before = server.engine_calls.read_text().splitlines() if server.engine_calls.exists() else []
    with temporary_settings({PREFECT_API_URL: server.url}):
        # called from sync code, run_deployment returns the flow run (typed "or a coroutine")
        runs = [cast(FlowRun, run_deployment("render-project/default", parameters={"manifest": str(m)}, timeout=0,
                                             work_queue_name=queue))
                for m, queue in ((first, "a"), (second, "b"))]
    with SyncPrefectClient(server.url) as client:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            states = [client.read_flow_run(r.id).state for r in runs]
            if all(s is not None and s.is_final() for s in states):
                break
            time.sleep(1)
        assert all(s is not None and s.is_completed() for s in states), f"{states}\n{worker_logs(server)}"
        ran_on = {client.read_flow_run(r.id).work_queue_name for r in runs}
    assert ran_on == {"a", "b"}  # one flow run on each worker
    assert (tmp_path / "first" / "out" / "A Small Book.m4b").stat().st_size > 0
    assert (tmp_path / "second" / "out" / "Another Book.m4b").stat().st_size > 0
    spoken = server.engine_calls.read_text().splitlines()[len(spoken_before):]
    reports = [json.loads((tmp_path / b / "out" / "report.json").read_text()) for b in ("first", "second")]
    scripts = [pd.read_csv(tmp_path / b / "out" / "utterances.csv") for b in ("first", "second")]
    takes = set(scripts[0].cache_key) | set(scripts[1].cache_key)
    assert len(set(scripts[0].cache_key) & set(scripts[1].cache_key)) >= 8  # the books share a chapter
    assert len(spoken) == len(set(spoken)) == len(takes)  # every take spoken, and none twice
    assert sum(r["synthesized"] for r in reports) == len(takes)


def test_a_failed_flow_run_run_again_continues_where_it_stopped(server: Server, tmp_path: Path) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Scheduled

    sentences = [f"Line {n} of a book that fails half way, read aloud." for n in range(8)]
    manifest = small_book(tmp_path, [("Start", sentences[:4]), ("Kaboom", ["Kaboom went the engine."] + sentences[4:])],
                          title="Half Way", engine={"batch_size": 2})
    earlier = len(server.engine_calls.read_text().splitlines()) if server.engine_calls.exists() else 0
    failing = Path(f"{server.engine_calls}.fail")
    failing.touch()
    try:
        flow_run_id, done = run_deployment(server, "render-project/default", f"manifest={manifest}")
    finally:
        failing.unlink()
    assert done.returncode == 1, done.stdout + done.stderr
    spoken_before = server.engine_calls.read_text().splitlines()
    first_run = spoken_before[earlier:]
    assert len(first_run) >= 2 and not any("Kaboom" in t for t in first_run)  # batches stored before the failure

    with SyncPrefectClient(server.url) as client:  # what the UI's Retry does: schedule the same flow run again
        client.set_flow_run_state(flow_run_id, Scheduled(), force=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = client.read_flow_run(flow_run_id).state
            if state is not None and state.is_final():
                break
            time.sleep(1)
    assert state is not None and state.is_completed(), f"{state}\n{worker_logs(server)}"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    spoken_after = server.engine_calls.read_text().splitlines()[len(spoken_before):]
    assert not set(spoken_after) & set(spoken_before)  # nothing spoken before was spoken again
    assert report["synthesized"] == len(spoken_after) and report["cache_hits"] == len(first_run)
    assert (tmp_path / "out" / "Half Way.m4b").stat().st_size > 0


def test_the_deployments_are_registered(server: Server) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(server.url) as client:
        nightly = client.read_deployment_by_name("render-all/nightly")
        names = {d.name for d in client.read_deployments()}
        enroll = client.read_deployment_by_name("enroll-voice/default")
    assert names == {"default", "nightly"}
    assert enroll.entrypoint == "flows/enroll_voice.py:enroll_voice"
    assert nightly.parameters == {"folder": "projects"}
    assert nightly.work_pool_name == "castline"
    [schedule] = nightly.schedules
    assert schedule.active
    assert (getattr(schedule.schedule, "cron", None), getattr(schedule.schedule, "timezone", None)) == ("0 2 * * *", "Europe/Berlin")
    assert nightly.global_concurrency_limit is not None and nightly.global_concurrency_limit.limit == 1
    assert nightly.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]


def test_a_missing_manifest_fails_with_castline_s_error(server: Server, tmp_path: Path) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    flow_run_id, done = run_deployment(server, "render-project/default", f"manifest={tmp_path / 'missing.yaml'}")
    assert done.returncode == 1, done.stdout + done.stderr
    expected = f"{tmp_path / 'missing.yaml'}: manifest not found"
    with SyncPrefectClient(server.url) as client:
        state = client.read_flow_run(flow_run_id).state
        assert state is not None and state.is_failed()
        assert expected in (state.message or "")
        deadline, messages = time.monotonic() + 15, list[str]()
        while time.monotonic() < deadline and not any(expected in m for m in messages):  # logs arrive in batches
            time.sleep(0.5)
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            messages = [log.message for log in logs]
    assert any(expected in m for m in messages), messages


def test_render_all_renders_the_good_and_names_the_bad(tmp_path: Path, prefect_harness: None) -> None:
    from prefect.artifacts import Artifact
    from prefect.client.schemas.objects import Artifact as StoredArtifact

    from flows.render_all import SUMMARY_KEY, RenderAllError, render_all

    small_book(tmp_path / "good", [("One", ["A short sentence."])])
    (tmp_path / "bad.yaml").write_text("kind: audiobook\ntitle: Bad\nlanguage: en\nsource: x.epub\nvoices: {narrator: joe}\n"
                                       "output: {dir: out, fromats: [m4b]}\n", encoding="utf-8")
    (tmp_path / "typo.yaml").write_text("kind: audiobok\n", encoding="utf-8")  # a misspelt kind is reported, not skipped
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "x.yaml").write_text("engine: piper\nname: x\n", encoding="utf-8")  # not a manifest: skipped
    with pytest.raises(RenderAllError) as raised:
        render_all(str(tmp_path))
    assert str(raised.value) == "2 of 3 manifests failed: bad.yaml, typo.yaml"
    assert (tmp_path / "good" / "out" / "A Small Book.m4b").stat().st_size > 0
    summary = Artifact.get(SUMMARY_KEY)
    assert isinstance(summary, StoredArtifact) and isinstance(summary.data, str)
    assert "- `bad.yaml`: failed: " in summary.data and "output.fromats: unknown key (did you mean 'formats'?)" in summary.data
    assert "- `typo.yaml`: failed: " in summary.data and "unsupported kind 'audiobok'" in summary.data
    assert "- `good/book.yaml`: rendered (files: 1, synthesized: 2, cache hits: 0)" in summary.data
