"""Deterministic backup histories in the S3/file snapshot layout.

They serve the tests, the demo and the benchmarks.

``seed_history`` walks each group's cron schedule (in ``tz``) from ``start`` to ``end`` and
writes, per expected time, the data objects and then ``manifest.json`` (last, as a real
producer does) with real sizes and sha256. The same arguments always give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol

from croniter import croniter

from backupctl.stores.layout import MANIFEST, KeyTemplate, snapshot_id

__all__ = [
    "DEFAULT_GROUPS",
    "DEFAULT_SIZES",
    "DirWriter",
    "S3Writer",
    "SeededSnapshot",
    "Writer",
    "expected_times",
    "seed_history",
    "write_snapshot",
]

DEFAULT_GROUPS: dict[str, str] = {"app": "0 0,6,12,18 * * *", "server": "0 2 * * *"}
DEFAULT_SIZES: dict[str, tuple[int, ...]] = {"app": (3072, 1024), "server": (4096, 2048, 1024)}
_NAMES: dict[str, tuple[str, ...]] = {
    "app": ("db.sql.gz", "files.tar.gz"),
    "server": ("root.tar.gz", "etc.tar.gz", "var.tar.gz"),
}
_EPS = timedelta(microseconds=1)


class Writer(Protocol):
    """Anything with ``put(key, data)`` (a BlobStore fits).

    Keys are relative to the store's root.
    """

    def put(self, key: str, data: bytes) -> None: ...


class S3Writer:
    """Writes keys under ``s3://bucket/prefix`` with a boto3 client (thread-safe)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)


class DirWriter:
    """Writes keys as files under a directory (a ``file://`` store's root)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


@dataclass(frozen=True)
class SeededSnapshot:
    """What was written: the snapshot id, its UTC time and its objects (relative key -> bytes)."""

    id: str
    group: str
    time: datetime
    objects: Mapping[str, bytes]


def expected_times(schedule: str, start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """Cron fire times in ``tz`` with ``start <= t <= end`` (aware, in ``tz``)."""
    it = croniter(schedule, start.astimezone(tz) - _EPS)
    out: list[datetime] = []
    while True:
        t = it.get_next(datetime)
        if t > end:
            return out
        if t >= start:
            out.append(t)


def _payload(seed: int, sid: str, index: int, size: int) -> bytes:
    return random.Random(f"{seed}:{sid}:{index}").randbytes(size)


def write_snapshot(
    writer: Writer,
    group: str,
    time: datetime,
    objects: Mapping[str, bytes],
    template: str = "{group}/{time}/",
) -> str:
    """Write one snapshot: its data objects, then ``manifest.json``; returns the snapshot id."""
    folder = KeyTemplate.compile(template).folder(group, time)
    entries = []
    for name, data in objects.items():
        writer.put(folder + name, data)
        entries.append({"key": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {
        "version": 1,
        "group": group,
        "time": time.astimezone(UTC).isoformat(),
        "objects": entries,
    }
    writer.put(folder + MANIFEST, json.dumps(manifest, indent=1).encode())
    return snapshot_id(group, time)


def seed_history(
    writer: Writer,
    *,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    groups: Mapping[str, str] | None = None,
    missed: Collection[datetime | tuple[str, datetime]] = (),
    sizes: Mapping[str, Sequence[int]] | None = None,
    seed: int = 0,
    template: str = "{group}/{time}/",
    workers: int = 16,
) -> list[SeededSnapshot]:
    """Write every scheduled snapshot of ``groups`` (name -> cron in ``tz``) between ``start``
    and ``end``, except the times in ``missed`` (compared as instants): a time skips every
    group's backup at that instant, a ``(group, time)`` pair only that group's.

    ``sizes`` gives per group the object sizes (default: app 2 objects, server 3 objects of a
    few KB; other groups 2 objects of 1 KB). Returns what was written, sorted by (group, time).
    """
    groups = DEFAULT_GROUPS if groups is None else groups
    sizes = DEFAULT_SIZES if sizes is None else sizes
    skip_all = {m.astimezone(UTC) for m in missed if isinstance(m, datetime)}
    skip = {(m[0], m[1].astimezone(UTC)) for m in missed if isinstance(m, tuple)}
    plan: list[SeededSnapshot] = []
    for group, schedule in groups.items():
        group_sizes = tuple(sizes.get(group, (1024, 1024)))
        names = _NAMES.get(group, ()) + tuple(f"part-{i}.bin" for i in range(len(group_sizes)))
        for t in expected_times(schedule, start, end, tz):
            t_utc = t.astimezone(UTC)
            if t_utc in skip_all or (group, t_utc) in skip:
                continue
            sid = snapshot_id(group, t_utc)
            objects = {names[i]: _payload(seed, sid, i, n) for i, n in enumerate(group_sizes)}
            plan.append(SeededSnapshot(sid, group, t_utc, objects))

    def write(s: SeededSnapshot) -> None:
        write_snapshot(writer, s.group, s.time, s.objects, template)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(write, plan))
    return sorted(plan, key=lambda s: (s.group, s.time))
