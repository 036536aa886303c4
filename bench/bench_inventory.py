"""Planning from an S3 Inventory report (``store.inventory``): 10 million objects in 200,000
snapshots (``--quick``: 100,000 in 2,000), time and peak memory, against the floor of reading
the same report with gzip + ``csv.reader`` and nothing else.

Data (bench setup, not timed): one report in AWS's format (manifest.json, manifest.checksum,
gzip CSV data files of 10,000 snapshots each, quoted fields, schema ``Bucket, Key, Size,
LastModifiedDate, ETag, StorageClass``) in a local directory, written by parallel worker
processes. Four groups of 50,000 snapshots, one every 30 minutes, 49 data objects and a
manifest.json each.

What is measured, in a fresh subprocess (its peak RSS, ``VmHWM``, is the memory figure,
interpreter and imports included): ``InventoryS3Store.listing()`` and
``runner.compute_run_plan`` of the four policies. The report is read by the store's own code
(:class:`~backupctl.stores.inventory.DirReportSource` is the same reader as S3's, over local
files: the MD5 and size of every data file checked, every row parsed and classified). The
manifests come from the manifest cache, filled by an untimed setup process under the report's
ETags (the path of any run after the first), each naming one object: a manifest naming all 49
would make the listing hold 10M manifest entries, ~240 bytes each, which is the manifest
store's memory with any listing, not this one's. Two live listings are stubbed, and the row
says so: the keys since the report (none: nothing new) and the deletion journals (none).

Targets (issue 16): under 2 minutes and under 300 MB peak at 10M objects / 200k snapshots.

Run: ``python -m bench bench_inventory`` (or ``python -m bench.bench_inventory [--quick]``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.peak import PEAK_FUNCTION
from bench.table import Row, print_table

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
REPORT = NOW - timedelta(hours=1)
GROUPS = 4
OBJECTS = 50  # per snapshot, manifest.json included
PER_FILE = 10_000  # snapshots per data file
CONFIG = "inv/src/daily/"
TIME_TARGET = 120.0
MEMORY_TARGET = 300.0  # MB


def _times(snapshots: int) -> list[datetime]:
    per_group = snapshots // GROUPS
    first = REPORT - timedelta(days=2) - timedelta(minutes=30 * per_group)
    return [first + timedelta(minutes=30 * i) for i in range(per_group)]


def _write_file(args: tuple[Path, int, int, int]) -> tuple[str, int, str]:
    """One data file: snapshots ``start .. stop`` (over all groups); its key, size and MD5."""
    root, n, start, stop = args
    times = _times(n)
    per_group = len(times)
    buf = io.StringIO()
    data = [f"part-{j:02d}.bin" for j in range(OBJECTS - 1)]
    etags = [hashlib.md5(name.encode()).hexdigest() for name in data]
    for s in range(start, stop):
        g, i = divmod(s, per_group)
        t = times[i]
        folder = f"bk/app{g}/{t.strftime('%Y%m%dT%H%M%SZ')}/"
        mod = t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for name, etag in zip(data, etags, strict=True):
            buf.write(f'"src","{folder}{name}","4096","{mod}","{etag}","STANDARD"\n')
        buf.write(f'"src","{folder}manifest.json","200","{mod}","{s:032x}","STANDARD"\n')
    blob = gzip.compress(buf.getvalue().encode(), compresslevel=1)
    key = f"{CONFIG}data/part-{start:08d}.csv.gz"
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return key, len(blob), hashlib.md5(blob).hexdigest()


def write_report(root: Path, snapshots: int) -> None:
    """The synthetic report of ``snapshots`` snapshots under ``root`` (the destination bucket)."""
    jobs = [
        (root, snapshots, s, min(s + PER_FILE, snapshots)) for s in range(0, snapshots, PER_FILE)
    ]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        files = list(pool.map(_write_file, jobs))
    doc = {
        "sourceBucket": "src",
        "destinationBucket": "arn:aws:s3:::dest",
        "version": "2016-11-30",
        "creationTimestamp": str(int(REPORT.timestamp() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass",
        "files": [{"key": k, "size": n, "MD5checksum": md5} for k, n, md5 in files],
    }
    body = json.dumps(doc).encode()
    folder = root / CONFIG / REPORT.strftime("%Y-%m-%dT%H-%MZ")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_bytes(body)
    (folder / "manifest.checksum").write_bytes(hashlib.md5(body).hexdigest().encode())


# The measured child: a fresh interpreter reporting its own VmHWM (bench/peak.py). With
# "warm" as argv[3] it only fills the manifest cache (bench setup, another process).
_CHILD = (
    PEAK_FUNCTION
    + r"""
import json, os, sys, time
from pathlib import Path
os.environ["BACKUPCTL_NOW"] = sys.argv[2]
from backupctl.config import parse_config
from backupctl.prune.runner import compute_run_plan
from backupctl.stores.cache import CachedManifest
from backupctl.stores.inventory import DirReportSource, InventoryS3Store
from backupctl.stores.layout import ManifestRead
from backupctl import clock

FETCHED = []

class Bench(InventoryS3Store):
    def _live(self, head, start):
        return iter(())  # nothing written since the report
    def _journal_keys(self):
        return []
    def _fetch_manifest(self, folder):  # only on a cache miss: counted, must stay 0
        FETCHED.append(folder)
        return ManifestRead(manifest(folder)), None

def manifest(folder):
    m = store.template.match(folder + "x")
    doc = {"version": 1, "group": m.group, "time": m.time.isoformat(),
           "objects": [{"key": "part-00.bin", "size": 4096, "sha256": "0" * 64}]}
    return json.dumps(doc).encode()

policies = [
    {"name": f"app{g}", "keep_within_daily": "7d", "keep_within_weekly": "4w",
     "keep_within_monthly": "6m", "keep_last": 10}
    for g in range(4)
]
config = parse_config({
    "timezone": "UTC",
    "store": {"url": "s3://src/bk", "inventory": "s3://dest/inv/src/daily/"},
    "cache": {"dir": sys.argv[4], "max_size": 2**30},
    "safety": {"stale_after": "3d"},
    "policy": policies,
})
store = Bench(config, source=DirReportSource(Path(sys.argv[1]), "inv/src/daily/"))
if sys.argv[3] == "warm":
    from backupctl.stores.inventory import iter_rows, newest_report
    report = newest_report(store.source, "src")
    batch = []
    for key, size, etag, _ in iter_rows(report, store.source, "bk/"):
        if key.endswith("/manifest.json"):
            batch.append((key, CachedManifest(f'"{etag}"', manifest(key[:-13]), {})))
            if len(batch) == 5000:
                store.cache.put(batch)
                batch = []
    store.cache.put(batch)
    print(json.dumps({"cached": len(store.cache.cached_keys())}))
    sys.exit(0)
t0 = time.perf_counter()
listing = store.listing()
t1 = time.perf_counter()
run = compute_run_plan(config, listing, clock.now())
t2 = time.perf_counter()
print(json.dumps({
    "listing_s": t1 - t0, "plan_s": t2 - t1, "fetched": len(FETCHED),
    "snapshots": len(listing.snapshots),
    "forget": sum(len(g.forgotten()) for g in run.groups.values()),
    "maxrss_mb": peak_bytes() / 2**20,
}))
"""
)

_FLOOR = (
    PEAK_FUNCTION
    + r"""
import csv, gzip, io, json, sys, time
from pathlib import Path
root = Path(sys.argv[1])
t0 = time.perf_counter()
n = 0
for path in sorted((root / "inv/src/daily/data").iterdir()):
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            n += 1
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": n,
                  "maxrss_mb": peak_bytes() / 2**20}))
"""
)


def _child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool = False) -> list[Row]:
    snapshots = 2_000 if quick else 200_000
    objects = snapshots * OBJECTS
    size = f"{objects / 1e6:g}M objects / {snapshots:,} snapshots"
    with tempfile.TemporaryDirectory(prefix="bench-inventory-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_report(root, snapshots)
        print(
            f"bench_inventory: report of {objects:,} objects written in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        cache = str(root / "cache")
        warm = _child(_CHILD, str(root), NOW.isoformat(), "warm", cache)
        assert warm["cached"] == snapshots, warm
        floor = _child(_FLOOR, str(root))
        ours = _child(_CHILD, str(root), NOW.isoformat(), "plan", cache)
    assert floor["rows"] == objects, floor
    assert ours["snapshots"] == snapshots and ours["fetched"] == 0, ours
    total = ours["listing_s"] + ours["plan_s"]
    label = (
        "plan from S3 Inventory (report read+checked+classified, manifests from the warm "
        "cache, 1 entry each; plan; live listings stubbed empty)"
    )
    return [
        Row(
            label,
            size,
            f"{total:.1f} s (listing {ours['listing_s']:.1f} s, plan {ours['plan_s']:.1f} s)",
            f"gzip+csv.reader of the report: {floor['seconds']:.1f} s",
            f"{total / floor['seconds']:.2f}x",
            f"< {TIME_TARGET:.0f} s",
            total < TIME_TARGET if not quick else None,
        ),
        Row(
            "peak memory of that run (RSS, interpreter and boto included)",
            size,
            f"{ours['maxrss_mb']:.0f} MB",
            f"gzip+csv.reader: {floor['maxrss_mb']:.0f} MB",
            f"{ours['maxrss_mb'] / floor['maxrss_mb']:.1f}x",
            f"< {MEMORY_TARGET:.0f} MB",
            ours["maxrss_mb"] < MEMORY_TARGET if not quick else None,
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
