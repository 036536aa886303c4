"""verify of 200 small S3 stores on a moto server: ``backupctl fleet verify`` (one process, a
pool of 8) against the same 200 ``backupctl verify --config`` runs one after another.

The peer is what a fleet replaces: a loop in a shell or a scheduler starting one process per
store, each paying Python's, click's and botocore's start-up and its own connections. Both sides
run as child processes of this one (``python -m backupctl``), against the same moto server (in
its own process, so neither side shares a GIL with it), and must find the same verdicts. Both
run warm, as on every day after the first: an untimed fleet run first fills the OS's caches and
backupctl's manifest cache (one temporary ``$XDG_CACHE_HOME`` for both sides); a third row
runs both sides cold (``--no-cache``), as on the first day. Peak memory is
each child's maximum resident set (``wait4``); a second fleet row at a quarter of the stores
shows that the peak follows the pool, not the fleet's size.

Each store: one group, a daily snapshot for 14 days, one 256-byte object each (written straight
into moto's backend: seeding over HTTP would take longer than the measurement).
Target (issue 16): the fleet at least 8x faster than the sequential runs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.bench_prune import BackendWriter
from bench.peak import module_argv, read_peak
from bench.table import Row

TARGET = 8.0
WORKERS = 8
AT = "2026-11-15T10:00:00+01:00"
AMS = ZoneInfo("Europe/Amsterdam")
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
POLICY = '\n[[policy]]\nname = "app"\nschedule = "0 2 * * *"\nkeep_daily = 30\n'


def _serve(port: int, jobs: Any, done: Any) -> None:
    """The child process: a moto server, and a seeder writing into its backend."""
    import logging

    from moto.server import ThreadedMotoServer

    from backupctl.seed import seed_history

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while True:
        buckets = jobs.get()
        for bucket in buckets:
            seed_history(
                BackendWriter(bucket, "backups"),
                start=datetime(2026, 11, 1, tzinfo=AMS),
                end=datetime(2026, 11, 15, tzinfo=AMS),
                tz=AMS,
                groups={"app": "0 2 * * *"},
                sizes={"app": (256,)},
                workers=1,
            )
        done.put(len(buckets))


@contextmanager
def _moto() -> Iterator[tuple[str, Any, Any]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    jobs, done = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_serve, args=(port, jobs, done), daemon=True)
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", jobs, done
    finally:
        proc.terminate()
        proc.join(timeout=10)


def _child(args: list[str], cache: Path) -> tuple[float, int, str, int]:
    """Run ``python -m backupctl ARGS`` (manifest cache in ``cache``): seconds, exit code,
    stdout, peak RSS in bytes."""
    argv, peak = module_argv("backupctl", args)  # the child's own peak (bench/peak.py)
    env = {**os.environ, **_ENV, "BACKUPCTL_NOW": AT, "XDG_CACHE_HOME": str(cache), **peak}
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    return seconds, proc.returncode, proc.stdout, read_peak(peak)


def _fleet_file(folder: Path, configs: list[Path], name: str) -> Path:
    path = folder / name
    path.write_text(
        f"[fleet]\nworkers = {WORKERS}\n"
        + "".join(f'[[store]]\nname = "{c.stem}"\nconfig = "{c.name}"\n' for c in configs)
    )
    return path


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def run(quick: bool = False) -> list[Row]:
    """The rows: fleet vs sequential at 200 stores (20 with ``quick``), and the fleet's peak
    memory at a quarter of the stores."""
    from backupctl.stores.s3client import make_s3_client

    n = 20 if quick else 200
    rows: list[Row] = []
    with _moto() as (endpoint, jobs, done), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.update({k: os.environ.get(k, v) for k, v in _ENV.items()})
        client = make_s3_client(endpoint_url=endpoint, region="us-east-1")
        buckets = [f"fleet-bench-{i:04d}" for i in range(n)]
        for b in buckets:
            client.create_bucket(Bucket=b)
        jobs.put(buckets)
        done.get(timeout=1800)
        configs = []
        for b in buckets:
            cfg = folder / f"{b}.toml"
            cfg.write_text(
                'timezone = "Europe/Amsterdam"\n'
                f'[store]\nurl = "s3://{b}/backups"\nendpoint_url = "{endpoint}"\n' + POLICY
            )
            configs.append(cfg)
        fleet = _fleet_file(folder, configs, "fleet.toml")
        quarter = _fleet_file(folder, configs[: n // 4], "quarter.toml")
        cache = folder / "cache"
        # a daily run: the OS's and backupctl's manifest caches are warm on both sides
        _child(["fleet", "verify", "--fleet", str(fleet), "--json"], cache)
        q_s, q_code, _q_out, q_rss = _child(
            ["fleet", "verify", "--fleet", str(quarter), "--json"], cache
        )
        f_s, f_code, f_out, f_rss = _child(
            ["fleet", "verify", "--fleet", str(fleet), "--json"], cache
        )
        seq_s, seq_rss, verdicts = 0.0, 0, {}
        for cfg in configs:
            s, code, out, rss = _child(["verify", "--config", str(cfg), "--json"], cache)
            seq_s, seq_rss = seq_s + s, max(seq_rss, rss)
            verdicts[cfg.stem] = (code, json.loads(out)["ok"])
        # the first day (or --no-cache): every manifest read, on both sides
        c_s, _c_code, _c_out, _c_rss = _child(
            ["fleet", "verify", "--fleet", str(fleet), "--json", "--no-cache"], cache
        )
        cseq_s = sum(
            _child(["verify", "--config", str(cfg), "--json", "--no-cache"], cache)[0]
            for cfg in configs
        )
        doc = json.loads(f_out)
        fleet_verdicts = {k: (e["exit"], e["result"]["ok"]) for k, e in doc["stores"].items()}
        same = fleet_verdicts == verdicts and f_code == 0 and q_code == 0
        ratio = seq_s / f_s
        print(
            f"fleet verify: {n} stores in {f_s:.2f} s (peak {_mib(f_rss)}); sequential "
            f"{seq_s:.2f} s ({seq_s / n * 1000:.0f} ms a store, peak {_mib(seq_rss)} each); "
            f"{n // 4} stores: {q_s:.2f} s, peak {_mib(q_rss)}; same verdicts: {same}",
            file=sys.stderr,
        )
        rows.append(
            Row(
                benchmark=f"fleet verify, {WORKERS} workers (peak {_mib(f_rss)})",
                size=f"{n} S3 stores x 14 snapshots",
                ours=f"{f_s:.2f} s",
                peer=f"{n} x backupctl verify in a row: {seq_s:.2f} s (peak {_mib(seq_rss)} each)",
                ratio=f"{ratio:.1f}x",
                target=f">= {TARGET:g}x",
                ok=ratio >= TARGET and same,
            )
        )
        rows.append(
            Row(
                benchmark="  the same, cold: --no-cache on both sides",
                size=f"{n} S3 stores x 14 snapshots",
                ours=f"{c_s:.2f} s",
                peer=f"{cseq_s:.2f} s",
                ratio=f"{cseq_s / c_s:.1f}x",
                target="(the first day)",
                ok=None,
            )
        )
        rows.append(
            Row(
                benchmark="fleet verify peak memory vs fleet size",
                size=f"{n} vs {n // 4} stores",
                ours=_mib(f_rss),
                peer=f"{n // 4} stores: {_mib(q_rss)}",
                ratio=f"{f_rss / q_rss:.2f}x",
                target="bounded by the pool",
                ok=None,
            )
        )
    return rows
