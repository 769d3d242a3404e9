"""Shared test set-up: a private, quiet Prefect; paths to test data and the shared corpus."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="castline-test-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)  # a test run leaves nothing in TMPDIR
os.environ.update(
    PREFECT_HOME=_PREFECT_HOME,
    PREFECT_API_URL="",
    DO_NOT_TRACK="1",
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    PREFECT_SERVER_UI_ENABLED="false",
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    PREFECT_LOGGING_LEVEL="WARNING",
    PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW="ignore",
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY="",
)
if not os.environ["PREFECT_API_URL"]:
    del os.environ["PREFECT_API_URL"]
if not os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]:
    del os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect database and API for tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models run fastest on one thread (and a busy 2-core machine is not slowed further)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def moto_endpoint():
    """An S3-compatible server (moto) on 127.0.0.1 for the whole session; its endpoint URL."""
    from s3_fixtures import moto_server

    with moto_server() as endpoint:
        yield endpoint
