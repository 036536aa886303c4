"""The manifest cache: ``backupctl plan`` and ``verify``, cold and warm, against one plain
ListObjectsV2 pass of the prefix (the floor), side by side on one moto S3 server.

Data: 2000 snapshots x 4 objects (``--quick``: 200) in one group, seeded straight into the
server's backend (bench_prune's helpers). Every measurement is the real CLI in a subprocess
(``python -m backupctl``), so it pays the CLI's start-up; two start-up rows show that cost
on its own: ``backupctl --version`` (the interpreter and click) and ``backupctl plan`` on an
empty store (plus boto3, the config, one listing and the audit log: the fixed cost of any
plan). A cold run has an empty ``$XDG_CACHE_HOME``; the warm run right after uses the cache
the cold one filled. The floor is one ListObjectsV2 pass over the same prefix with boto3 in
this process (no start-up); ``listing = "folders"`` rows are compared with one delimiter
listing of the group's folder, the listing that mode makes.

Targets (issue 16): a warm plan of 2000 snapshots <= 1.5x the floor plus start-up (the empty
store's plan); a warm verify <= 2x the floor plus start-up. ``listing = "folders"`` confirms
no manifest's ETag, so a warm run still sends one (conditional) GET per manifest: its rows
show what a 304 saves on moto (the body), not a target. Each figure is the best of two runs
(one in ``--quick``), the floor the best of three.

Run: ``python -m bench bench_cache`` (or ``python -m bench.bench_cache [--quick]``).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_prune import _ENV, NOW, _client, _count, moto_server
from bench.table import Row, print_table

OBJECTS = 4
PLAN_TARGET = 1.5
VERIFY_TARGET = 2.0


def _config(path: Path, bucket: str, endpoint: str, listing: str = "objects") -> Path:
    path.write_text(f"""
timezone = "UTC"

[store]
url = "s3://{bucket}/bench"
endpoint_url = "{endpoint}"
listing = "{listing}"

[safety]
stale_after = "30d"

[verify]
integrity_sample = 5

[[policy]]
name = "app"
group = "app"
keep_last = -1
""")
    return path


def _cli(args: list[str], cache_home: Path, ok: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one ``python -m backupctl ARGS`` with this ``$XDG_CACHE_HOME``.

    Raises:
        RuntimeError: it exited with a code not in ``ok``.
    """
    env = {
        **os.environ,
        **_ENV,
        "XDG_CACHE_HOME": str(cache_home),
        "BACKUPCTL_NOW": NOW.isoformat(),
    }
    env.pop("BACKUPCTL_NO_CACHE", None)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "backupctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode not in ok:
        raise RuntimeError(f"backupctl {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return seconds


def _best(func: Callable[[], float], repeat: int) -> float:
    return min(func() for _ in range(repeat))


def _cold_warm(
    args: list[str], work: Path, repeat: int, ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """(cold, warm) seconds of a command: each cold run on an empty cache, each warm one
    right after it on the cache it filled; the best of ``repeat`` pairs."""
    colds: list[float] = []
    warms: list[float] = []
    for _ in range(repeat):
        home = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
        colds.append(_cli(args, home, ok))
        warms.append(_cli(args, home, ok))
    return min(colds), min(warms)


def run(quick: bool) -> list[Row]:
    """The benchmark rows (see the module docstring)."""
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        return _run(quick, Path(tmp))


def _run(quick: bool, work: Path) -> list[Row]:
    snapshots = 200 if quick else 2000
    repeat = 1 if quick else 2
    size = f"{snapshots} snapshots x {OBJECTS}"
    with moto_server() as server:
        client: Any = _client(server.endpoint)
        client.create_bucket(Bucket="bench-cache")
        client.create_bucket(Bucket="bench-cache-empty")
        server.seed("bench-cache", snapshots, OBJECTS)
        objects = _config(work / "objects.toml", "bench-cache", server.endpoint)
        folders = _config(work / "folders.toml", "bench-cache", server.endpoint, "folders")
        empty = _config(work / "empty.toml", "bench-cache-empty", server.endpoint)

        def floor_once() -> float:
            t0 = time.perf_counter()
            _count(client, "bench-cache")
            return time.perf_counter() - t0

        def folder_floor_once() -> float:
            t0 = time.perf_counter()
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket="bench-cache", Prefix="bench/app/", Delimiter="/"
            )
            sum(len(p.get("CommonPrefixes", ())) for p in pages)
            return time.perf_counter() - t0

        floor = _best(floor_once, 3)
        folder_floor = _best(folder_floor_once, 3)
        version = _best(lambda: _cli(["--version"], work), 3)
        startup = _best(lambda: _cli(["plan", "--config", str(empty)], work), 3)
        plan = _cold_warm(["plan", "--config", str(objects)], work, repeat)
        plan_folders = _cold_warm(["plan", "--config", str(folders)], work, repeat)
        verify = _cold_warm(["verify", "--config", str(objects)], work, repeat, ok=(0, 3))
        floor = min(floor, _best(floor_once, 2))  # after the runs too: the same load

    rows = [
        Row("  start-up: backupctl --version", "-", f"{version:.2f} s", "-", "-", "-"),
        Row("  start-up: plan of an empty store", "-", f"{startup:.2f} s", "-", "-", "-"),
        Row("  one plain listing of the prefix (floor)", size, f"{floor:.2f} s", "-", "-", "-"),
        Row(
            "  one delimiter listing of app/ (folders floor)",
            size,
            f"{folder_floor:.2f} s",
            "-",
            "-",
            "-",
        ),
    ]

    def row(what: str, seconds: float, target: float | None, folders: bool = False) -> Row:
        base = folder_floor if folders else floor
        bound = target * base + startup if target is not None else math.nan
        return Row(
            what,
            size,
            f"{seconds:.2f} s",
            f"{'delimiter listing' if folders else 'one ListObjectsV2 pass'}: {base:.2f} s",
            f"{seconds / base:.2f}x ({(seconds - startup) / base:.2f}x less start-up)",
            f"<= {target:g}x + start-up = {bound:.2f} s" if target is not None else "-",
            seconds <= bound if target is not None else None,
        )

    rows += [
        row("plan, listing=objects, cold cache", plan[0], None),
        row("plan, listing=objects, warm cache", plan[1], PLAN_TARGET),
        row("plan, listing=folders, cold cache", plan_folders[0], None, folders=True),
        row("plan, listing=folders, warm cache (304s)", plan_folders[1], None, folders=True),
        row("verify, listing=objects, cold cache", verify[0], None),
        row("verify, listing=objects, warm cache", verify[1], VERIFY_TARGET),
    ]
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
