"""Prune under faults: seeded S3 errors through a fault proxy, SIGKILL mid-run, concurrent prunes.

Invariants after every faulty run: no snapshot the plan keeps lost any object, and no
snapshot that still has its manifest lost data (manifest first). A rerun without faults
converges: the survivors are exactly the plan's keep set and nothing is left half-deleted.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.config import Config, parse_config
from backupctl.errors import LockHeld, StoreError
from backupctl.evidence.audit import AuditLog
from backupctl.prune.lock import LOCK_KEY, acquire_lock
from backupctl.prune.runner import compute_run_plan, run_prune
from backupctl.seed import S3Writer, write_snapshot
from backupctl.stores.base import StoredSnapshot
from backupctl.stores.blobs import S3Blobs
from backupctl.stores.s3 import S3Store
from backupctl.stores.s3client import make_s3_client
from tests.e2e.faultproxy import FaultProxy

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FAULT_RUNS = 4 * 30  # seeded runs in total (four batches); `make soak` runs 2000
# Every seeded run is run, however slow the machine (a run takes ~0.4 s, ~1 s under load).
# Only a hang fails: a run slower than RUN_LIMIT fails naming its seed, and one that never
# returns has its threads' stacks dumped and the session ended after HANG_LIMIT.
RUN_LIMIT = 60.0
HANG_LIMIT = 300.0


@pytest.fixture(scope="module")
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(s3_endpoint).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module", autouse=True)
def quiet_logs() -> Iterator[None]:
    """Thousands of requests: keep the server's access log and debug events out of the way."""
    import structlog

    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        werkzeug.setLevel(level)
        structlog.reset_defaults()


@pytest.fixture(scope="module")
def fast_retries() -> Iterator[None]:
    """botocore waits up to seconds between retries of SlowDown.

    The faults are ours, so skip the wait.
    """
    from botocore.retries.standard import ExponentialBackoff

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.001)
        yield


@pytest.fixture(scope="module")
def clients(proxy: FaultProxy, s3_endpoint: str, fast_retries: None) -> tuple[Any, Any]:
    return make_s3_client(s3_endpoint, "us-east-1"), make_s3_client(
        proxy.url, "us-east-1", max_attempts=3
    )


LISTINGS = ("objects", "folders")  # the seeds alternate between the two S3 listing strategies


def make_config(bucket: str, prefix: str, endpoint: str, listing: str = "objects") -> Config:
    return parse_config(
        {
            "timezone": "UTC",
            "store": {
                "url": f"s3://{bucket}/{prefix}",
                "endpoint_url": endpoint,
                "listing": listing,
            },
            "safety": {"max_delete_fraction": 1.0, "stale_after": "30d", "lock_ttl": "1h"},
            "policy": [{"name": "app", "keep_last": 2}, {"name": "db", "keep_daily": 1}],
        },
        path="<fault test>",
    )


def seed_store(
    client: Any, bucket: str, prefix: str, rng: random.Random, per_group: int = 3
) -> dict[str, set[str]]:
    """A few small snapshots per group; returns snapshot id -> its keys (relative to the prefix)."""
    writer = S3Writer(client, bucket, prefix)
    out: dict[str, set[str]] = {}
    for group in ("app", "db"):
        for i in range(per_group):
            t = NOW - timedelta(hours=6 * i + rng.randint(1, 5))
            objects = {f"part-{j}.bin": rng.randbytes(16) for j in range(rng.randint(1, 2))}
            sid = write_snapshot(writer, group, t, objects)
            out[sid] = {f"{sid}/{name}" for name in [*objects, "manifest.json"]}
    return out


def stored_keys(client: Any, bucket: str, prefix: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1 :] for p in pages for o in p.get("Contents", ())}


def check_invariants(keys: set[str], seeded: dict[str, set[str]], keep: set[str]) -> None:
    for sid, objs in seeded.items():
        if sid in keep:
            assert objs <= keys, f"kept snapshot {sid} lost {sorted(objs - keys)}"
        if f"{sid}/manifest.json" in keys:
            assert objs <= keys, f"{sid} still has its manifest but lost {sorted(objs - keys)}"


BATCH_SIZES = (
    1000,
    2,
    3,
)  # keys per DeleteObjects: small ones put manifests and data in shared batches


def prune_once(config: Config, client: Any, blobs_client: Any, batch_size: int = 1000) -> Any:
    """One prune with ``client`` for the store; lock and audit on ``blobs_client``."""
    store = S3Store(config, client=client, workers=2)
    store.batch_size = batch_size
    bucket, prefix = store.bucket, store.prefix
    blobs = S3Blobs(blobs_client, bucket, prefix)
    try:
        return run_prune(
            config,
            store,
            AuditLog(blobs),
            lambda: acquire_lock(blobs, ttl=timedelta(hours=1), now=NOW),
            now=NOW,
        )
    finally:
        client.meta.events.unregister("before-call.s3", store.counter._on_call)


def converged(
    config: Config, client: Any, seeded: dict[str, set[str]], keep: set[str], prefix: str
) -> None:
    result = prune_once(config, client, client)
    assert result.ok, (result.failed, result.refusals)
    bucket = config.store.url.split("/")[2]
    keys = stored_keys(client, bucket, prefix)
    check_invariants(keys, seeded, keep)
    left = {k for k in keys if not k.startswith("_backupctl/")}
    assert left == set().union(*(seeded[s] for s in keep)), f"not converged: {sorted(left)}"
    assert not [k for k in keys if k.startswith("_backupctl/deleting/") or k == LOCK_KEY]


@contextmanager
def hang_guard(seed: int) -> Iterator[None]:
    """Fail a run slower than RUN_LIMIT (naming its seed); dump every thread's stack and end
    the session if it has not returned after HANG_LIMIT (a real hang, not a slow machine)."""
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True)
    started = time.monotonic()
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
    took = time.monotonic() - started
    assert took < RUN_LIMIT, f"seed {seed} took {took:.0f} s (limit {RUN_LIMIT:.0f} s): a hang?"


@pytest.mark.parametrize("batch", range(4))
def test_seeded_faults_never_lose_kept_snapshots_and_rerun_converges(
    batch: int,
    proxy: FaultProxy,
    clients: tuple[Any, Any],
    bucket: str,
    s3_endpoint: str,
) -> None:
    direct, faulty = clients
    runs = FAULT_RUNS // 4
    failed_runs = 0
    for seed in range(batch, FAULT_RUNS, 4):  # every 4th seed: each batch gets a mix
        with hang_guard(seed):
            rng = random.Random(seed)
            prefix = f"run{seed}"
            config = make_config(bucket, prefix, s3_endpoint, listing=LISTINGS[seed % 2])
            seeded = seed_store(direct, bucket, prefix, rng)
            listing = S3Store(config, client=direct).listing()
            keep = compute_run_plan(config, listing, NOW).kept_ids()
            proxy.configure(seed, rate=rng.choice((0.1, 0.25, 0.4)))
            try:
                result = prune_once(config, faulty, direct, batch_size=BATCH_SIZES[seed % 3])
                failed_runs += not result.ok
            except StoreError:
                failed_runs += 1
            finally:
                proxy.configure(seed, rate=0.0)
            check_invariants(stored_keys(direct, bucket, prefix), seeded, keep)
            converged(config, direct, seeded, keep, prefix)
    print(
        f"batch {batch}: {runs} seeded runs, {failed_runs} ended in a failure, "
        f"injected {dict(proxy.injected)}"
    )
    assert failed_runs > 0  # the faults did bite


def _unlock_if_left(client: Any, bucket: str, prefix: str) -> None:
    """What an operator does after a killed prune (`backupctl unlock --force`)."""
    client.delete_object(Bucket=bucket, Key=f"{prefix}/{LOCK_KEY}")


def _write_config_file(path: Path, bucket: str, prefix: str, endpoint: str) -> Path:
    path.write_text(f"""
timezone = "UTC"
[store]
url = "s3://{bucket}/{prefix}"
endpoint_url = "{endpoint}"
[safety]
max_delete_fraction = 1.0
stale_after = "30d"
[[policy]]
name = "app"
keep_last = 2
[[policy]]
name = "db"
keep_daily = 1
""")
    return path


@pytest.mark.parametrize("seed", range(5))
def test_sigkill_mid_prune_then_rerun_converges(
    seed: int,
    proxy: FaultProxy,
    clients: tuple[Any, Any],
    bucket: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    direct, _ = clients
    rng = random.Random(1000 + seed)
    prefix = f"kill{seed}"
    seeded = seed_store(direct, bucket, prefix, rng, per_group=12)
    config = make_config(bucket, prefix, s3_endpoint)
    keep = compute_run_plan(config, S3Store(config, client=direct).listing(), NOW).kept_ids()
    proxy.configure(seed, rate=0.0, latency=0.02)  # slow enough that the kill lands mid-deletion
    path = _write_config_file(tmp_path / "c.toml", bucket, prefix, proxy.url)
    env = {**os.environ, "BACKUPCTL_NOW": NOW.isoformat()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backupctl.cli", "prune", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_lock(direct, bucket, prefix, proc, timeout=20)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proxy.configure(seed, rate=0.0)
    keys = stored_keys(direct, bucket, prefix)
    check_invariants(keys, seeded, keep)
    _unlock_if_left(direct, bucket, prefix)
    converged(config, direct, seeded, keep, prefix)


def _wait_for_lock(
    client: Any, bucket: str, prefix: str, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"prune ended before it could be killed: {err!r}")
        if stored_keys(client, bucket, prefix) & {LOCK_KEY}:
            return
        time.sleep(0.02)
    raise AssertionError("the prune never took the lock")


class _BlockingStore:
    """An S3Store whose delete waits until released: holds the lock long enough to race."""

    def __init__(self, inner: S3Store) -> None:
        self.inner = inner
        self.url = inner.url
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Any = None,
    ) -> Any:
        self.entered.set()
        assert self.release.wait(timeout=30)
        return self.inner.delete(snapshots, progress, listing)


def test_two_concurrent_prunes_exactly_one_proceeds(
    clients: tuple[Any, Any],
    bucket: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    direct, _ = clients
    prefix = "concurrent"
    seeded = seed_store(direct, bucket, prefix, random.Random(7))
    config = make_config(bucket, prefix, s3_endpoint)
    keep = compute_run_plan(config, S3Store(config, client=direct).listing(), NOW).kept_ids()
    store = _BlockingStore(S3Store(config, client=direct))
    blobs = S3Blobs(direct, bucket, prefix)
    outcome: dict[str, Any] = {}

    def first() -> None:
        outcome["result"] = run_prune(
            config,
            store,
            AuditLog(blobs),
            lambda: acquire_lock(blobs, ttl=timedelta(hours=1), now=NOW),
            now=NOW,
        )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert store.entered.wait(timeout=30)
        path = _write_config_file(tmp_path / "c.toml", bucket, prefix, s3_endpoint)
        second = CliRunner().invoke(
            main, ["prune", "--config", str(path)], env={"BACKUPCTL_NOW": NOW.isoformat()}
        )
        assert second.exit_code == 4, second.output
        assert "another prune holds the lock" in second.stderr
        with pytest.raises(LockHeld):
            acquire_lock(blobs, ttl=timedelta(hours=1), now=NOW)
    finally:
        store.release.set()
        thread.join(timeout=30)
    assert outcome["result"].ok
    keys = stored_keys(direct, bucket, prefix)
    check_invariants(keys, seeded, keep)
    assert {k for k in keys if not k.startswith("_backupctl/")} == set().union(
        *(seeded[s] for s in keep)
    )
