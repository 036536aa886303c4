"""Shared fixtures: a real S3-compatible endpoint (moto's ThreadedMotoServer) on 127.0.0.1.

Also the hypothesis profiles. On CI (``CI`` set, as ``.ci/run`` does) hypothesis loads its
``ci`` profile and every property test runs the examples it asks for. Elsewhere the ``dev``
profile runs a fifth of them (at least ``DEV_MINIMUM``) for quick local runs;
``HYPOTHESIS_PROFILE=ci`` (or ``default``) runs the full counts locally, ``HYPOTHESIS_PROFILE=dev``
the short ones anywhere. The fuzz (tests/fuzz) keeps its own counts, from
``BACKUPCTL_FUZZ_EXAMPLES`` (see tests/fuzz/conftest.py).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from hypothesis import settings

DEV_FRACTION = 0.2  # the dev profile runs this share of each test's max_examples ...
DEV_MINIMUM = 10  # ... but never fewer than this many
settings.register_profile("dev", max_examples=round(100 * DEV_FRACTION))
# hypothesis itself has loaded its "ci" profile when it sees a CI environment variable
_on_ci = settings.get_current_profile_name() == "ci"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _on_ci else "dev"))


def pytest_report_header() -> str:
    return f"hypothesis profile: {settings.get_current_profile_name()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under the dev profile, scale the max_examples a test sets itself (``@settings``
    overrides a profile) by DEV_FRACTION, as hypothesis's own pytest plugin rewrites a test's
    settings for parametrized tests. An explicit ``BACKUPCTL_FUZZ_EXAMPLES`` (``make soak``)
    is the fuzz's count as given."""
    if settings.get_current_profile_name() != "dev":
        return
    fuzz_counted = "BACKUPCTL_FUZZ_EXAMPLES" in os.environ
    done: set[int] = set()
    for item in items:
        fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        own = getattr(fn, "_hypothesis_internal_use_settings", None)
        if own is None or id(fn) in done or (fuzz_counted and "tests/fuzz/" in str(item.path)):
            continue
        done.add(id(fn))
        fewer = max(DEV_MINIMUM, round(own.max_examples * DEV_FRACTION))
        if fewer < own.max_examples:
            fn._hypothesis_internal_use_settings = settings(own, max_examples=fewer)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own $XDG_STATE_HOME: `audit verify` remembers heads there, and neither the
    user's home nor an earlier test's store may leak into a test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own $XDG_CACHE_HOME: the manifest cache (backupctl/stores/cache.py) lives
    there, and neither the user's cache nor an earlier test's may leak into a test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("BACKUPCTL_NO_CACHE", raising=False)


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
