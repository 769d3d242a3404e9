"""Children die with castline, however castline dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

PARENT = """
import subprocess, sys, time
from castline import lifeline
lifeline.start()
child = subprocess.Popen(["sleep", "300"])
lifeline.adopt(child.pid)
orphan = subprocess.Popen(["sleep", "301"])  # not adopted: the reaper leaves it alone
print(child.pid, orphan.pid, flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def test_an_adopted_child_dies_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child, orphan = map(int, parent.stdout.readline().split())
    try:
        assert alive(child) and alive(orphan)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert gone_within(child, 10)
        assert alive(orphan)
    finally:
        for pid in (child, orphan):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def children_of(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append((int(entry.name), command))
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_prefect_server_dies_with_castline_render(tmp_path: Path, how: signal.Signals) -> None:
    write_epub(tmp_path / "book.epub", [("One", [f"Sentence number {n} of a long enough chapter." for n in range(60)])])
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({"kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "en",
                                        "source": "book.epub", "voices": {"narrator": "joe"}}))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    render = subprocess.Popen([sys.executable, "-m", "castline.cli", "render", str(manifest)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not server and time.monotonic() < deadline and render.poll() is None:
            server = [pid for pid, command in children_of(render.pid) if "uvicorn" in command]
            time.sleep(0.2)
        assert server, "the render never started Prefect's server"
        render.send_signal(how)
        render.wait(timeout=60)
        assert gone_within(server[0], 15)
    finally:
        if render.poll() is None:
            render.kill()
        for pid in server:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
