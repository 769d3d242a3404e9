"""GPU discipline: batches on a GPU take turns through a Prefect global concurrency limit,
which castline creates when first needed; batches on the CPU take no slot."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from castline.cache import AudioStore
from castline.digest import digest
from castline.errors import SettingError
from castline.model import Utterance
from castline.storage import LocalStorage
from flows.gpu import gpu_limit_name, gpu_slots
from voices.engines import ENGINES, Engine, SynthesisRequest
from voices.profile import VoiceProfile


class OnTheGPU(Engine):
    """A stand-in engine that says it runs on the GPU and notes when each batch ran."""

    name: ClassVar[str] = "gpu-stand-in"
    ran: ClassVar[list[tuple[float, float]]] = []

    def __init__(self) -> None:
        self.sample_rate = 16000

    @classmethod
    def check(cls, voice: VoiceProfile) -> None:
        pass

    @classmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        return digest({"engine": cls.name, "voice": voice.name})

    @classmethod
    def runs_on(cls, voice: VoiceProfile) -> str:
        return str(voice.params.get("device", "cuda"))

    @classmethod
    def load(cls, voice: VoiceProfile) -> Engine:
        return cls()

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        began = time.monotonic()
        time.sleep(0.5)
        OnTheGPU.ran.append((began, time.monotonic()))
        return [np.zeros(1600, dtype=np.float32) for _ in requests]


def test_the_limit_is_named_after_the_host_and_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASTLINE_GPU_LIMIT", raising=False)
    host = socket.gethostname()
    assert gpu_limit_name("cuda") == gpu_limit_name("cuda:0") == f"gpu-{host}"
    assert gpu_limit_name("cuda:1") == f"gpu-{host}-cuda1"
    monkeypatch.setenv("CASTLINE_GPU_LIMIT", "rack-4-a100")
    assert gpu_limit_name("cuda") == "rack-4-a100" and gpu_limit_name("cuda:2") == "rack-4-a100-cuda2"


def test_the_slots_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASTLINE_GPU_SLOTS", raising=False)
    assert gpu_slots() == 1
    monkeypatch.setenv("CASTLINE_GPU_SLOTS", "3")
    assert gpu_slots() == 3
    monkeypatch.setenv("CASTLINE_GPU_SLOTS", "all")
    with pytest.raises(SettingError, match=r"^CASTLINE_GPU_SLOTS='all': must be a whole number"):
        gpu_slots()


def _limit(name: str) -> int | None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(name).limit
        except ObjectNotFound:
            return None


def _utterances(voice: str, texts: list[str]) -> list[Utterance]:
    return [Utterance(id=f"u{n}", chapter="c1", index=n, speaker="narrator", text=t, voice=voice,
                      cache_key=digest({"voice": voice, "text": t}), seed=0) for n, t in enumerate(texts)]


@pytest.mark.e2e  # Prefect tasks or real speech and ASR: left out of make test-fast
def test_gpu_batches_take_turns_and_cpu_batches_take_no_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness
) -> None:
    from flows.synthesis import synthesize_batch_task

    monkeypatch.setitem(ENGINES, OnTheGPU.name, f"{__name__}:OnTheGPU")
    monkeypatch.setenv("CASTLINE_GPU_LIMIT", f"test-gpu-{time.monotonic_ns()}")
    name = gpu_limit_name("cuda")
    gpu = VoiceProfile(name="gpu", engine=OnTheGPU.name, language="en", params={})
    cpu = VoiceProfile(name="cpu", engine=OnTheGPU.name, language="en", params={"device": "cpu"})
    voices = {"gpu": gpu, "cpu": cpu}
    OnTheGPU.ran.clear()
    failures: list[BaseException] = []

    def render(batch: list[Utterance]) -> None:  # two flow runs' batches at once on one machine
        try:
            synthesize_batch_task(batch, voices, "en", AudioStore(LocalStorage(tmp_path / batch[0].id)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=render, args=(_utterances("gpu", [f"Take {n}."]),)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
    assert _limit(name) == 1  # made on first use, one slot
    spans = sorted(OnTheGPU.ran)
    assert len(spans) == 3
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans  # never two at once

    monkeypatch.setenv("CASTLINE_GPU_LIMIT", f"test-cpu-{time.monotonic_ns()}")
    synthesize_batch_task(_utterances("cpu", ["On the CPU."]), voices, "en", AudioStore(LocalStorage(tmp_path / "cpu")))
    assert _limit(gpu_limit_name("cuda")) is None  # no limit made, no slot taken
