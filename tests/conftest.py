"""Shared fixtures: a real S3-compatible endpoint (moto's ThreadedMotoServer) on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own $XDG_STATE_HOME: `audit verify` remembers heads there, and neither the
    user's home nor an earlier test's store may leak into a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on loopback, shared by the whole test session."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_client(s3_endpoint: str):  # type: ignore[no-untyped-def]
    from backupctl.stores.s3client import make_s3_client

    return make_s3_client(endpoint_url=s3_endpoint, region="us-east-1")


@pytest.fixture()
def bucket(s3_client) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def age_s3_object(s3_endpoint: str) -> Callable[[str, str, float], None]:
    """``age(bucket, key, seconds)``: set an object's Last-Modified back by ``seconds`` on the
    in-process moto server, the S3 twin of ``os.utime`` on a file. Tests of expiry by the
    service's clock use it instead of sleeping (Last-Modified and Date have 1 s resolution)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    def age(bucket: str, key: str, seconds: float) -> None:
        stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys[key]
        stored.last_modified -= timedelta(seconds=seconds)

    return age
