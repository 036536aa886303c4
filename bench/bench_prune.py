"""Prune 100k objects on a moto S3 server: ours vs ``aws s3 rm --recursive`` vs ``rclone delete``.

Data: ``S`` snapshots x 50 objects (2000 x 50 = 100k; ``--quick``: 200 x 50 = 10k) in one
group; the policy keeps the newest snapshot only, so ours deletes all but 50 objects; the
peers delete the whole prefix. The bucket is re-seeded before every run (straight into the
server's backend, in the child process: 100k HTTP PUTs take minutes), so each tool sees
identical data. The moto server runs in a child process, so neither side shares a GIL with
it. Ours runs once per ``store.listing`` strategy: ``objects`` (one listing of every
key, as the peers do) and ``folders`` (delimiter listings of snapshot folders, contents from
the manifests), each with an empty manifest cache, and once more with ``objects`` and a warm
cache (filled by a listing just before, not measured: the scheduled prune after a plan).
Our S3 requests are counted by operation with botocore event hooks, for the
whole prune (listing + delete) and for the delete alone; the lock and audit log use their
own client, so only the store's requests are counted.

Request targets: ListObjectsV2 = ceil(listed keys / 1000) for ``objects`` (the one listing;
0 at delete time); for ``folders``, one request per 1000 entries of each folder it lists
(the top level, each group's folder, the deletion journals). DeleteObjects: the ideal for N
deleted objects is ceil(N/1000); no request may hold a manifest.json together with its own
snapshot's data (a snapshot must never look whole while its data is gone), so the first
request holds manifests only, and the fewest possible is ceil(N/1000) from 1000 manifests on,
else 1 + ceil(data/1000). The row checks ours against that figure, the ideal beside it.

moto's ListObjectsV2 re-reads and sorts every key under the prefix for each page, so one
listing of 100k keys costs tens of seconds there (a row shows it); on AWS S3 a page costs
tens of milliseconds.

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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backupctl.stores.base import DeleteReport
from backupctl.stores.batches import fewest_delete_requests
from bench.table import Row, print_table

OBJECTS_PER_SNAPSHOT = 50
LISTINGS = ("objects", "folders")  # store.listing: every key, or snapshot folders + manifests
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class BackendWriter:
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
        bucket, snapshots, objects = seeds.get()
        seeded.put(seed(BackendWriter(bucket, "bench"), snapshots, objects))


@dataclass
class Server:
    """A moto S3 server in a child process: its endpoint and a way to seed a bucket there."""

    endpoint: str
    seeds: Any
    seeded: Any

    def seed(self, bucket: str, snapshots: int, objects: int = OBJECTS_PER_SNAPSHOT) -> int:
        """Write ``snapshots`` x ``objects`` objects into an existing bucket (server side).

        Returns the number of objects written.
        """
        self.seeds.put((bucket, snapshots, objects))
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
    from backupctl.stores.s3client import make_s3_client

    return make_s3_client(endpoint, "us-east-1")


def seed(writer: Any, snapshots: int, objects: int = OBJECTS_PER_SNAPSHOT) -> int:
    """Write ``snapshots`` x ``objects`` objects (the manifest last per snapshot, and one of
    the objects) through ``writer``, one snapshot every 6 hours back from :data:`NOW`.

    Returns the number of objects written.
    """
    from backupctl.seed import write_snapshot

    data = {f"obj-{i:02d}.bin": b"x" for i in range(objects - 1)}
    for i in range(snapshots):
        write_snapshot(writer, "app", NOW - timedelta(hours=6 * (i + 1)), data)
    return snapshots * objects


def _count(client: Any, bucket: str) -> int:
    """Snapshot objects left under the prefix (backupctl's own lock and audit keys not counted)."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bench/")
    return sum(
        1
        for p in pages
        for o in p.get("Contents", ())
        if not o["Key"].startswith("bench/_backupctl/")
    )


@dataclass
class Ours:
    """One measured prune of ours."""

    seconds: float
    requests: dict[str, int]  # the whole prune (listing + delete), store requests only
    delete_requests: dict[str, int]  # the delete alone
    listed_keys: int  # keys (and folders) the ListObjectsV2 answers carried
    delete_seconds: float  # the store's delete call alone
    deleted: int  # snapshots deleted
    listed_pages: dict[str, tuple[int, int]]  # per listed Prefix: (answers, entries)

    def ideal_lists(self) -> int:
        """One request per page of 1000 entries of each listed prefix (an empty listing is one)."""
        return sum(max(1, math.ceil(entries / 1000)) for _, entries in self.listed_pages.values())


def run_ours(endpoint: str, bucket: str, listing: str = "objects", warm: bool = False) -> Ours:
    """One prune, measured (see :class:`Ours`). The manifest cache is a fresh, empty folder
    (a cold run), or with ``warm`` one filled by a listing just before (not measured)."""
    from backupctl.config import parse_config
    from backupctl.evidence.audit import AuditLog
    from backupctl.prune.lock import acquire_lock
    from backupctl.prune.runner import run_prune
    from backupctl.stores.blobs import S3Blobs
    from backupctl.stores.s3 import S3Store

    config = parse_config(
        {
            "timezone": "UTC",
            "store": {"url": f"s3://{bucket}/bench", "endpoint_url": endpoint, "listing": listing},
            "cache": {"dir": (cache_dir := tempfile.mkdtemp(prefix="bench-cache-"))},
            "safety": {"max_delete_fraction": 1.0, "stale_after": "30d"},
            "policy": [{"name": "app", "keep_last": 1}],
        }
    )
    if warm:
        S3Store(config, client=_client(endpoint)).listing()  # fills the cache: not measured
    client = _client(endpoint)
    pages: dict[str, tuple[int, int]] = {}

    def on_list(parsed: dict[str, Any], **_: Any) -> None:
        answers, entries = pages.get(parsed.get("Prefix", ""), (0, 0))
        pages[parsed.get("Prefix", "")] = (answers + 1, entries + parsed.get("KeyCount", 0))

    client.meta.events.register("after-call.s3.ListObjectsV2", on_list)
    blobs = S3Blobs(
        _client(endpoint), bucket, "bench"
    )  # its own client: the hooks count the store alone
    t0 = time.perf_counter()
    reports: list[tuple[DeleteReport, float]] = []

    class TimedStore(S3Store):
        def delete(self, snapshots: Any, progress: Any = None, listing: Any = None) -> DeleteReport:
            started = time.perf_counter()
            report = super().delete(snapshots, progress, listing)
            reports.append((report, time.perf_counter() - started))
            return report

    store = TimedStore(config, client=client, workers=16)
    result = run_prune(
        config,
        store,
        AuditLog(blobs),
        lambda: acquire_lock(blobs, ttl=timedelta(hours=1), now=NOW),
        now=NOW,
    )
    elapsed = time.perf_counter() - t0
    shutil.rmtree(cache_dir, ignore_errors=True)
    if not result.ok:
        raise RuntimeError(f"bench prune failed: {result.failed or result.refusals}")
    return Ours(
        elapsed,
        result.requests,
        reports[0][0].requests,
        sum(e for _, e in pages.values()),
        reports[0][1],
        len(result.deleted),
        pages,
    )


def _peer_env() -> dict[str, str]:
    return {**os.environ, **_ENV}


def run_aws(endpoint: str, bucket: str) -> float:
    """``aws s3 rm --recursive``; returns wall seconds.

    More retries than the CLI's default: it lists while it deletes, and moto's listing then
    sometimes fails with a 500 (a KeyError in moto's key store, a race on its side)."""
    env = {**_peer_env(), "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "20"}
    t0 = time.perf_counter()
    subprocess.run(
        [
            "aws",
            "--endpoint-url",
            endpoint,
            "s3",
            "rm",
            f"s3://{bucket}/bench",
            "--recursive",
            "--only-show-errors",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=3600,
    )
    return time.perf_counter() - t0


def run_rclone(endpoint: str, bucket: str) -> float:
    """``rclone delete`` with an on-the-fly S3 remote; returns wall seconds."""
    env = {
        **_peer_env(),
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": "testing",
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": "testing",
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
    }
    env.pop(
        "AWS_CA_BUNDLE", None
    )  # Debian's rclone 1.60 fails with LoadCustomCABundleError otherwise
    t0 = time.perf_counter()
    subprocess.run(
        ["rclone", "delete", f"bench:{bucket}/bench"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=3600,
    )
    return time.perf_counter() - t0


def _fresh_bucket(server: Server, client: Any, name: str, snapshots: int) -> int:
    client.create_bucket(Bucket=name)
    return server.seed(name, snapshots)


def run(quick: bool) -> list[Row]:
    """The benchmark rows (see the module docstring)."""
    snapshots = 200 if quick else 2000
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    ours: dict[str, Ours] = {}  # by label: the listing, ", warm cache" for a warm run
    left: dict[str, int] = {}
    with moto_server() as server:
        endpoint = server.endpoint
        client = _client(endpoint)
        for listing, warm in [*((x, False) for x in LISTINGS), ("objects", True)]:
            label = f"{listing}, warm cache" if warm else listing
            name = f"bench-ours-{listing}{'-warm' if warm else ''}"
            n = _fresh_bucket(server, client, name, snapshots)
            ours[label] = run_ours(endpoint, name, listing, warm)
            left[label] = _count(client, name)
        floor = _list_seconds(client, "bench-ours-floor", server, snapshots)
        peers: dict[str, float] = {}
        if shutil.which("aws"):
            _fresh_bucket(server, client, "bench-aws", snapshots)
            peers["aws s3 rm --recursive"] = run_aws(endpoint, "bench-aws")
        if shutil.which("rclone"):
            _fresh_bucket(server, client, "bench-rclone", snapshots)
            peers["rclone delete"] = run_rclone(endpoint, "bench-rclone")
    size = f"{n // 1000}k objects ({snapshots} snapshots x {OBJECTS_PER_SNAPSHOT})"
    rows: list[Row] = []
    for listing, mine in ours.items():
        for name, t in peers.items():
            target = "ours >= 10x faster" if name.startswith("aws") else "faster"
            ratio = t / mine.seconds
            rows.append(
                Row(
                    f"prune S3 (wall), listing={listing}",
                    size,
                    f"{mine.seconds:.1f} s (delete {mine.delete_seconds:.1f} s)",
                    f"{name}: {t:.1f} s",
                    f"{ratio:.1f}x faster",
                    target,
                    ratio >= 10 if name.startswith("aws") else ratio > 1,
                )
            )
    rows.append(
        Row(
            "  one plain listing of every key (moto)",
            size,
            f"{floor:.1f} s",
            "-",
            "-",
            "what listing=objects and every peer pay",
            None,
        )
    )
    for label, mine in ours.items():
        rows += request_rows(mine, size, deleted_objects=n - left[label], listing=label)
    return rows


def _list_seconds(client: Any, bucket: str, server: Server, snapshots: int) -> float:
    """Wall seconds of one ListObjectsV2 pass over a freshly seeded prefix: the floor every
    tool pays (moto re-sorts every key under the prefix for each page of 1000)."""
    _fresh_bucket(server, client, bucket, snapshots)
    t0 = time.perf_counter()
    _count(client, bucket)
    return time.perf_counter() - t0


def request_rows(ours: Ours, size: str, deleted_objects: int, listing: str) -> list[Row]:
    """The request-count rows: DeleteObjects and ListObjectsV2 against their targets, the rest."""
    got = ours.requests.get("DeleteObjects", 0)
    ideal = math.ceil(deleted_objects / 1000)
    fewest = fewest_delete_requests(ours.deleted, deleted_objects - ours.deleted)
    rows = [
        Row(
            f"prune S3 DeleteObjects requests, listing={listing}",
            size,
            str(got),
            f"ideal ceil(N/1000) = {ideal}, N = {deleted_objects} objects",
            f"{got - ideal:+d} vs ideal",
            f"= fewest manifest-first = {fewest} ({ours.deleted} manifests)",
            got == fewest,
        )
    ]
    lists = ours.requests.get("ListObjectsV2", 0)
    at_delete = ours.delete_requests.get("ListObjectsV2", 0)
    if listing.startswith("objects"):
        want, how = (
            math.ceil(ours.listed_keys / 1000),
            f"ceil(listed/1000) = {{}}, listed = {ours.listed_keys} keys",
        )
    else:
        want = ours.ideal_lists()
        how = (
            f"one per 1000 entries of each listed folder = {{}}; {len(ours.listed_pages)} folders, "
            f"{ours.listed_keys} entries"
        )
    rows.append(
        Row(
            f"prune S3 ListObjectsV2 requests, listing={listing}",
            size,
            f"{lists} ({at_delete} at delete time)",
            how.format(want),
            f"{lists / max(want, 1):.2f}x",
            f"= {want}, 0 at delete time",
            lists == want and at_delete == 0,
        )
    )
    other = {
        op: c for op, c in ours.requests.items() if op not in ("DeleteObjects", "ListObjectsV2")
    }
    rows.append(
        Row(
            f"prune S3 other requests, listing={listing}",
            size,
            json.dumps(other, sort_keys=True),
            "-",
            "-",
            "-",
            None,
        )
    )
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
