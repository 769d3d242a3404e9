"""Claims on takes: workers sharing a cache speak each take once, and a dead worker's claims
stop holding others up after their timeout (at once on the same host)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from piper_fixtures import EngineCalls, build_tiny_piper_voice

from castline.cache import AudioStore
from castline.claims import TakeClaims, claim_timeout_s
from castline.model import Chapter
from castline.storage import LocalStorage
from tasks.script import Pacing, write_script
from tasks.synthesize import plan_batches, plan_takes
from voices.engines.piper import PiperEngine
from voices.profile import load_profile

KEY = "4a" * 32


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    mine, theirs = TakeClaims(storage), TakeClaims(storage)
    assert mine.claim(KEY) and mine.claim(KEY)  # holding it already
    assert not theirs.claim(KEY)
    mine.release([KEY])
    assert list(storage.list()) == []
    assert theirs.claim(KEY)
    assert list(storage.list()) == [f"claims/4a/{KEY}/0"]


def test_a_claim_not_renewed_within_its_timeout_is_taken_over(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stalled, waiting = TakeClaims(storage, timeout_s=0.3), TakeClaims(storage)
    assert stalled.claim(KEY)
    assert not waiting.claim(KEY)
    time.sleep(0.4)
    assert waiting.claim(KEY)
    assert sorted(storage.list()) == [f"claims/4a/{KEY}/0", f"claims/4a/{KEY}/1"]
    waiting.release([KEY])
    assert list(storage.list()) == []  # the dead generation goes too


def test_renewal_keeps_a_long_batch_claimed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    working, waiting = TakeClaims(storage, timeout_s=0.4), TakeClaims(storage)
    assert working.claim(KEY)
    with working.renewing():
        for _ in range(6):  # 1.2 s: three timeouts
            time.sleep(0.2)
            assert not waiting.claim(KEY)
    assert list(storage.list()) == []  # released when the block ended
    assert waiting.claim(KEY)


def test_a_dead_process_on_this_host_holds_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, os; from pathlib import Path; from castline.claims import TakeClaims; "
        "from castline.storage import LocalStorage; "
        f"assert TakeClaims(LocalStorage(Path(sys.argv[1]))).claim({KEY!r}); os._exit(9)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=Path(__file__).parents[1], timeout=60)
    assert done.returncode == 9
    assert list(LocalStorage(tmp_path).list()) == [f"claims/4a/{KEY}/0"]
    began = time.monotonic()
    assert TakeClaims(LocalStorage(tmp_path), timeout_s=600).claim(KEY)
    assert time.monotonic() - began < 5  # not the 600 s timeout


def test_the_timeout_setting(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CASTLINE_CLAIM_TIMEOUT_S", "30")
    assert claim_timeout_s() == 30
    monkeypatch.setenv("CASTLINE_CLAIM_TIMEOUT_S", "soon")
    assert claim_timeout_s() == 120
    assert "CASTLINE_CLAIM_TIMEOUT_S='soon' is not a number of seconds" in caplog.text


@pytest.fixture
def voice(tmp_path: Path):
    build_tiny_piper_voice(tmp_path / "m")
    path = tmp_path / "amy.yaml"
    path.write_text(yaml.safe_dump({"name": "amy", "engine": "piper", "language": "en",
                                    "params": {"model": "m/tiny-multi.onnx", "speaker": 0}}))
    return {"amy": load_profile(path)}


@pytest.mark.e2e  # Prefect tasks or real speech and ASR: left out of make test-fast
def test_two_workers_on_overlapping_scripts_speak_each_take_once(
    voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness
) -> None:
    from flows.synthesis import speak

    calls = EngineCalls(monkeypatch)
    counting = PiperEngine.synthesize

    def slow(engine, requests):  # slow enough that both workers are speaking at once
        time.sleep(0.3)
        return counting(engine, requests)

    monkeypatch.setattr(PiperEngine, "synthesize", slow)
    store = AudioStore(LocalStorage(tmp_path / "shared"))

    def script(numbers: range):
        chapter = Chapter("c001", "T", tuple(f"Sentence number {n}." for n in numbers))
        utterances = write_script([chapter], language="en", pacing=Pacing(), max_chars=400, speak_titles=False)
        return plan_takes([replace(u, voice="amy") for u in utterances], voice, language="en")

    scripts = {"first": script(range(12)), "second": script(range(4, 16))}
    spoken: dict[str, int] = {}
    heard: dict[str, list[str]] = {name: [] for name in scripts}
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            batches = plan_batches(scripts[name], voice, store, batch_size=2)
            spoken[name] = speak(batches, voice, "en", store, retries=0, stored=heard[name].extend)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in scripts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures
    texts = {u.text for takes in scripts.values() for u in takes}
    assert len(texts) == 16 and sorted(calls.texts) == sorted(texts)  # each take once
    assert spoken["first"] + spoken["second"] == 16 and min(spoken.values()) > 0
    for name, takes in scripts.items():  # every worker heard of all its takes, its own and the other's
        assert sorted(heard[name]) == sorted(u.cache_key for u in takes)
        assert all(u.cache_key in store for u in takes)
    assert [n for n in store.storage.list() if n.startswith("claims/")] == []
