"""An S3-compatible server for tests: moto's server mode on 127.0.0.1, and the AWS settings
that point boto at it (and nowhere else: no profile, no instance metadata)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, credentials: bool = True) -> None:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/castline/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/castline/config")
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for as long as the block runs; its endpoint URL."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()


def new_bucket() -> str:
    """A new, empty bucket on the server the environment points at."""
    import s3fs

    bucket = f"castline-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    return bucket
