"""Prune 100k objects on a moto S3 server: ours vs ``aws s3 rm --recursive`` vs ``rclone delete``.

Data: ``S`` snapshots x 50 objects (2000 x 50 = 100k; ``--quick``: 200 x 50 = 10k) in one
group; the policy keeps the newest snapshot only, so ours deletes all but 50 objects; the
peers delete the whole prefix. The bucket is re-seeded (thread pool) before every run, so
each tool sees identical data. The moto server runs in a child process, so neither side
shares a GIL with it. Our S3 requests are counted by operation with botocore event hooks.

Run: ``python -m bench bench_prune`` (or ``python -m bench.bench_prune [--quick]``).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.table import Row, print_table

OBJECTS_PER_SNAPSHOT = 50
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _serve(port: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while True:
        time.sleep(3600)


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server in a child process; yields its endpoint URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.join(timeout=10)


def _client(endpoint: str) -> Any:
    from backupctl.s3client import make_s3_client

    return make_s3_client(endpoint, "us-east-1")


def seed(client: Any, bucket: str, snapshots: int) -> int:
    """Write ``snapshots`` x 50 objects (manifest last per snapshot) with a thread pool; returns objects."""
    from backupctl.seed import S3Writer, write_snapshot

    writer = S3Writer(client, bucket, "bench")
    data = {f"obj-{i:02d}.bin": b"x" for i in range(OBJECTS_PER_SNAPSHOT - 1)}

    def one(i: int) -> None:
        write_snapshot(writer, "app", NOW - timedelta(hours=6 * (i + 1)), data)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(snapshots)))
    return snapshots * OBJECTS_PER_SNAPSHOT


def _count(client: Any, bucket: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bench/")
    return sum(len(p.get("Contents", ())) for p in pages)


def run_ours(endpoint: str, bucket: str) -> tuple[float, dict[str, int], int]:
    """One prune; returns wall seconds, S3 requests by op (store only), snapshots deleted."""
    from backupctl.audit import AuditLog
    from backupctl.blobs import S3Blobs
    from backupctl.config import parse_config
    from backupctl.lock import acquire_lock
    from backupctl.runner import run_prune
    from backupctl.stores.s3 import S3Store

    config = parse_config({
        "timezone": "UTC",
        "store": {"url": f"s3://{bucket}/bench", "endpoint_url": endpoint},
        "safety": {"max_delete_fraction": 1.0, "stale_after": "30d"},
        "policy": [{"name": "app", "keep_last": 1}],
    })
    client = _client(endpoint)
    blobs = S3Blobs(client, bucket, "bench")
    t0 = time.perf_counter()
    store = S3Store(config, client=client, workers=16)
    result = run_prune(config, store, AuditLog(blobs), lambda: acquire_lock(blobs, ttl=timedelta(hours=1), now=NOW),
                       now=NOW)
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"bench prune failed: {result.failed or result.refusals}")
    return elapsed, result.requests, len(result.deleted)


def _peer_env() -> dict[str, str]:
    return {**os.environ, **_ENV}


def run_aws(endpoint: str, bucket: str) -> float:
    """``aws s3 rm --recursive``; returns wall seconds."""
    t0 = time.perf_counter()
    subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "rm", f"s3://{bucket}/bench", "--recursive",
                    "--only-show-errors"], env=_peer_env(), check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - t0


def run_rclone(endpoint: str, bucket: str) -> float:
    """``rclone delete`` with an on-the-fly S3 remote; returns wall seconds."""
    env = {**_peer_env(), "RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
           "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint, "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": "testing",
           "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": "testing", "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true"}
    env.pop("AWS_CA_BUNDLE", None)  # Debian's rclone 1.60 fails with LoadCustomCABundleError otherwise
    t0 = time.perf_counter()
    subprocess.run(["rclone", "delete", f"bench:{bucket}/bench"], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - t0


def _fresh_bucket(client: Any, name: str, snapshots: int) -> int:
    client.create_bucket(Bucket=name)
    return seed(client, name, snapshots)


def run(quick: bool) -> list[Row]:
    """The benchmark rows (see the module docstring)."""
    snapshots = 200 if quick else 2000
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    rows: list[Row] = []
    with moto_server() as endpoint:
        client = _client(endpoint)
        n = _fresh_bucket(client, "bench-ours", snapshots)
        ours, requests, deleted = run_ours(endpoint, "bench-ours")
        left = _count(client, "bench-ours")
        peers: dict[str, float] = {}
        if shutil.which("aws"):
            _fresh_bucket(client, "bench-aws", snapshots)
            peers["aws s3 rm --recursive"] = run_aws(endpoint, "bench-aws")
        if shutil.which("rclone"):
            _fresh_bucket(client, "bench-rclone", snapshots)
            peers["rclone delete"] = run_rclone(endpoint, "bench-rclone")
    size = f"{n // 1000}k objects ({snapshots} snapshots x {OBJECTS_PER_SNAPSHOT})"
    for name, t in peers.items():
        target = "ours >= 10x faster" if name.startswith("aws") else "faster"
        ratio = t / ours
        rows.append(Row("prune S3 (wall)", size, f"{ours:.1f} s", f"{name}: {t:.1f} s", f"{ratio:.1f}x faster",
                        target, ratio >= 10 if name.startswith("aws") else ratio > 1))
    deleted_objects = n - left
    rows.append(_request_row("DeleteObjects", requests, size, math.ceil(deleted_objects / 1000), deleted))
    rows.append(_request_row("ListObjectsV2", requests, size, math.ceil(n / 1000), deleted))
    other = {op: c for op, c in requests.items() if op not in ("DeleteObjects", "ListObjectsV2")}
    rows.append(Row("prune S3 other requests", size, json.dumps(other, sort_keys=True), "-", "-", "-", None))
    return rows


def _request_row(op: str, requests: dict[str, int], size: str, ideal: int, deleted: int) -> Row:
    got = requests.get(op, 0)
    return Row(f"prune S3 {op} requests", size, str(got), f"ceil(N/1000) = {ideal}",
               f"{got / max(ideal, 1):.1f}x", f"= {ideal}", got == ideal)


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
