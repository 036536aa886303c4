"""Prune 100k objects on a moto S3 server: ours vs ``aws s3 rm --recursive`` vs ``rclone delete``.

Data: ``S`` snapshots x 50 objects (2000 x 50 = 100k; ``--quick``: 200 x 50 = 10k) in one
group; the policy keeps the newest snapshot only, so ours deletes all but 50 objects; the
peers delete the whole prefix. The bucket is re-seeded before every run (straight into the
server's backend, in the child process: 100k HTTP PUTs take minutes), so each tool sees
identical data. The moto server runs in a child process, so neither side shares a GIL with
it. Our S3 requests are counted by operation with botocore event hooks,
for the whole prune (listing + delete) and for the delete alone; the keys the listing
returned are summed from the ListObjectsV2 answers.

Request targets: ListObjectsV2 = ceil(listed keys / 1000) for the whole prune (the one
listing; 0 at delete time). DeleteObjects: the ideal for N deleted objects is ceil(N/1000),
but every manifest.json goes in its own batches before any data (a snapshot must never look
whole while its data is gone), so ours is ceil(manifests/1000) + ceil(data keys/1000),
which is at most ceil(N/1000) + 1; the row checks ours against that exact figure and shows
the ideal beside it.

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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backupctl.stores.base import DeleteReport
from bench.table import Row, print_table

OBJECTS_PER_SNAPSHOT = 50
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class _BackendWriter:
    """Writes keys under ``bucket/prefix`` straight into the moto backend of this process."""

    def __init__(self, bucket: str, prefix: str) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        self.backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/"

    def put(self, key: str, data: bytes) -> None:
        self.backend.put_object(self.bucket, self.prefix + key, data)


def _serve(port: int, seeds: Any, seeded: Any) -> None:
    """The child process: a moto server, and a seeder that writes straight into its backend
    (100k HTTP PUTs take minutes on 2 cores; the data each tool sees is the same)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while True:
        bucket, snapshots = seeds.get()
        seeded.put(seed(_BackendWriter(bucket, "bench"), snapshots))


@dataclass
class Server:
    """A moto S3 server in a child process: its endpoint and a way to seed a bucket there."""

    endpoint: str
    seeds: Any
    seeded: Any

    def seed(self, bucket: str, snapshots: int) -> int:
        """Write ``snapshots`` x 50 objects into an existing bucket (server side); returns objects."""
        self.seeds.put((bucket, snapshots))
        return int(self.seeded.get(timeout=1800))


@contextmanager
def moto_server() -> Iterator[Server]:
    """A moto S3 server in a child process (see :class:`Server`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    seeds, seeded = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_serve, args=(port, seeds, seeded), daemon=True)
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield Server(f"http://127.0.0.1:{port}", seeds, seeded)
    finally:
        proc.terminate()
        proc.join(timeout=10)


def _client(endpoint: str) -> Any:
    from backupctl.s3client import make_s3_client

    return make_s3_client(endpoint, "us-east-1")


def seed(writer: Any, snapshots: int) -> int:
    """Write ``snapshots`` x 50 objects (manifest last per snapshot) through ``writer``; returns objects."""
    from backupctl.seed import write_snapshot

    data = {f"obj-{i:02d}.bin": b"x" for i in range(OBJECTS_PER_SNAPSHOT - 1)}
    for i in range(snapshots):
        write_snapshot(writer, "app", NOW - timedelta(hours=6 * (i + 1)), data)
    return snapshots * OBJECTS_PER_SNAPSHOT


def _count(client: Any, bucket: str) -> int:
    """Snapshot objects left under the prefix (backupctl's own lock and audit keys not counted)."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bench/")
    return sum(1 for p in pages for o in p.get("Contents", ()) if not o["Key"].startswith("bench/_backupctl/"))


@dataclass
class Ours:
    """One measured prune of ours."""

    seconds: float
    requests: dict[str, int]  # the whole prune (listing + delete), store requests only
    delete_requests: dict[str, int]  # the delete alone
    listed_keys: int  # keys the ListObjectsV2 answers carried
    delete_seconds: float  # the store's delete call alone
    deleted: int  # snapshots deleted


def run_ours(endpoint: str, bucket: str) -> Ours:
    """One prune, measured (see :class:`Ours`)."""
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
    listed = [0]
    client.meta.events.register("after-call.s3.ListObjectsV2",
                                lambda parsed, **_: listed.__setitem__(0, listed[0] + parsed.get("KeyCount", 0)))
    blobs = S3Blobs(client, bucket, "bench")
    t0 = time.perf_counter()
    reports: list[tuple[DeleteReport, float]] = []

    class TimedStore(S3Store):
        def delete(self, snapshots: Any, progress: Any = None) -> DeleteReport:
            started = time.perf_counter()
            report = super().delete(snapshots, progress)
            reports.append((report, time.perf_counter() - started))
            return report

    store = TimedStore(config, client=client, workers=16)
    result = run_prune(config, store, AuditLog(blobs), lambda: acquire_lock(blobs, ttl=timedelta(hours=1), now=NOW),
                       now=NOW)
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"bench prune failed: {result.failed or result.refusals}")
    return Ours(elapsed, result.requests, reports[0][0].requests, listed[0], reports[0][1], len(result.deleted))


def _peer_env() -> dict[str, str]:
    return {**os.environ, **_ENV}


def run_aws(endpoint: str, bucket: str) -> float:
    """``aws s3 rm --recursive``; returns wall seconds.

    More retries than the CLI's default: it lists while it deletes, and moto's listing then
    sometimes fails with a 500 (a KeyError in moto's key store, a race on its side)."""
    env = {**_peer_env(), "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "20"}
    t0 = time.perf_counter()
    subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "rm", f"s3://{bucket}/bench", "--recursive",
                    "--only-show-errors"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=3600)
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


def _fresh_bucket(server: Server, client: Any, name: str, snapshots: int) -> int:
    client.create_bucket(Bucket=name)
    return server.seed(name, snapshots)


def run(quick: bool) -> list[Row]:
    """The benchmark rows (see the module docstring)."""
    snapshots = 200 if quick else 2000
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    rows: list[Row] = []
    with moto_server() as server:
        endpoint = server.endpoint
        client = _client(endpoint)
        n = _fresh_bucket(server, client, "bench-ours", snapshots)
        ours = run_ours(endpoint, "bench-ours")
        left = _count(client, "bench-ours")
        floor = _list_seconds(client, "bench-ours-floor", server, snapshots)
        peers: dict[str, float] = {}
        if shutil.which("aws"):
            _fresh_bucket(server, client, "bench-aws", snapshots)
            peers["aws s3 rm --recursive"] = run_aws(endpoint, "bench-aws")
        if shutil.which("rclone"):
            _fresh_bucket(server, client, "bench-rclone", snapshots)
            peers["rclone delete"] = run_rclone(endpoint, "bench-rclone")
    size = f"{n // 1000}k objects ({snapshots} snapshots x {OBJECTS_PER_SNAPSHOT})"
    for name, t in peers.items():
        target = "ours >= 10x faster" if name.startswith("aws") else "faster"
        ratio = t / ours.seconds
        mine = f"{ours.seconds:.1f} s (delete {ours.delete_seconds:.1f} s)"
        rows.append(Row("prune S3 (wall)", size, mine, f"{name}: {t:.1f} s",
                        f"{ratio:.1f}x faster", target, ratio >= 10 if name.startswith("aws") else ratio > 1))
    rows.append(Row("  one plain listing of the same prefix (moto)", size, f"{floor:.1f} s", "-", "-",
                    "every tool lists the prefix once", None))
    rows += request_rows(ours, size, deleted_objects=n - left)
    return rows


def _list_seconds(client: Any, bucket: str, server: Server, snapshots: int) -> float:
    """Wall seconds of one ListObjectsV2 pass over a freshly seeded prefix: the floor every
    tool pays (moto re-sorts every key under the prefix for each page of 1000)."""
    _fresh_bucket(server, client, bucket, snapshots)
    t0 = time.perf_counter()
    _count(client, bucket)
    return time.perf_counter() - t0


def request_rows(ours: Ours, size: str, deleted_objects: int) -> list[Row]:
    """The request-count rows: DeleteObjects and ListObjectsV2 against their targets, the rest."""
    got = ours.requests.get("DeleteObjects", 0)
    ideal = math.ceil(deleted_objects / 1000)
    ours_bound = math.ceil(ours.deleted / 1000) + math.ceil((deleted_objects - ours.deleted) / 1000)
    rows = [Row("prune S3 DeleteObjects requests", size, str(got),
                f"ideal ceil(N/1000) = {ideal}, N = {deleted_objects} objects",
                f"{got - ideal:+d} vs ideal",
                f"= ceil({ours.deleted} manifests/1000) + ceil(data/1000) = {ours_bound} (<= ideal + 1)",
                got == ours_bound <= ideal + 1)]
    lists = ours.requests.get("ListObjectsV2", 0)
    ideal_lists = math.ceil(ours.listed_keys / 1000)
    at_delete = ours.delete_requests.get("ListObjectsV2", 0)
    rows.append(Row("prune S3 ListObjectsV2 requests", size, f"{lists} ({at_delete} at delete time)",
                    f"ceil(listed/1000) = {ideal_lists}, listed = {ours.listed_keys} keys",
                    f"{lists / max(ideal_lists, 1):.2f}x", f"= {ideal_lists}, 0 at delete time",
                    lists == ideal_lists and at_delete == 0))
    other = {op: c for op, c in ours.requests.items() if op not in ("DeleteObjects", "ListObjectsV2")}
    rows.append(Row("prune S3 other requests", size, json.dumps(other, sort_keys=True), "-", "-", "-", None))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
