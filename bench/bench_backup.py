"""``backupctl backup`` of a tree to a moto S3 server vs ``aws s3 cp --recursive`` of the same
tree to the same server, and the same tree as a tar stream on standard input (size unknown).

Both sides run as child processes (each pays its start-up; the aws CLI is taken from $PATH),
the moto server in a third (see :func:`bench.bench_prune.moto_server`), so nobody shares a GIL
with the server; each measurement gets a fresh server (moto keeps every byte in memory).
The tree mixes many small files (one PutObject each) with a few files larger than the 8 MiB
part (parallel multipart uploads). Throughput is bytes / median wall seconds of
:data:`ROUNDS` interleaved rounds (the range is shown). Targets (issue 13): the tree at least
as fast as aws, standard input at least 90% of aws's tree throughput.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.bench_prune import _ENV, moto_server
from bench.table import Row

_BIN = Path(sys.executable).parent
ROUNDS = 3  # each side measured this many times, interleaved; the medians are compared


def _tree(root: Path, small: int, big: int, big_size: int) -> int:
    """``small`` files of 256 KiB and ``big`` files of ``big_size`` bytes; returns total bytes."""
    rng = random.Random(0)
    total = 0
    for i in range(small):
        path = root / f"d{i % 8}" / f"sub{i % 3}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(256 << 10))
        total += 256 << 10
    block = rng.randbytes(1 << 20)
    for i in range(big):
        with open(root / f"big{i}.bin", "wb") as fh:
            for n in range(big_size >> 20):
                fh.write(block[n:] + block[:n])
        total += big_size
    return total


def _env() -> dict[str, str]:
    return {**os.environ, **_ENV}


def _timed(args: list[str], stdin: Path | None = None) -> float:
    """Seconds ``args`` took; ``stdin``: a file fed through a pipe (``cat file |``), so the
    size is unknown to the tool, as from ``tar c … |`` or ``pg_dump |``."""
    t0 = time.perf_counter()
    if stdin is None:
        subprocess.run(args, env=_env(), check=True, stdout=subprocess.DEVNULL, timeout=3600)
        return time.perf_counter() - t0
    with subprocess.Popen(["cat", str(stdin)], stdout=subprocess.PIPE) as feed:
        subprocess.run(
            args, env=_env(), check=True, stdin=feed.stdout, stdout=subprocess.DEVNULL, timeout=3600
        )
    return time.perf_counter() - t0


def _aws(endpoint: str, *args: str, stdin: Path | None = None) -> float:
    aws = shutil.which("aws", path=f"{_BIN}:{os.environ.get('PATH', '')}")
    assert aws, "aws CLI not found"
    return _timed([aws, "--endpoint-url", endpoint, "s3", *args, "--only-show-errors"], stdin)


def _ours(config: Path, *args: str, stdin: Path | None = None) -> float:
    cmd = [str(_BIN / "backupctl"), "-q", "backup", "--config", str(config), *args]
    return _timed(cmd, stdin)


def _fresh(root: Path, measure: Callable[[str, Path], float]) -> float:
    """``measure(endpoint, config)`` against a fresh moto server with an empty bucket ``bench``: the
    server holds every upload in memory, so a run after others would pay for their bytes."""
    import boto3

    with moto_server() as server:
        boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=_ENV["AWS_DEFAULT_REGION"],
        ).create_bucket(Bucket="bench")
        config = root / "backupctl.toml"
        config.write_text(
            f'[store]\nurl = "s3://bench/backups"\nendpoint_url = "{server.endpoint}"\n'
            '[[policy]]\nname = "bench"\ngroup = "bench"\nkeep_within_daily = "7d"\n'
        )
        return measure(server.endpoint, config)


def run(quick: bool) -> list[Row]:
    """The benchmark rows (see the module docstring)."""
    small, big, big_size = (64, 2, 24 << 20) if quick else (256, 4, 48 << 20)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tree = root / "tree"
        total = _tree(tree, small, big, big_size)
        tar = root / "tree.tar"  # the same tree as one stream, as `tar c tree | backupctl …`
        subprocess.run(["tar", "-cf", str(tar), "-C", str(root), "tree"], check=True)
        pipe_bytes = tar.stat().st_size
        # rounds interleaved (aws, ours, aws, ours …) and medians compared: one run on a shared
        # 2-core machine swings by ±20%, and each tool then meets the same swings
        times: dict[str, list[float]] = {
            "aws_tree": [],
            "ours_tree": [],
            "aws_pipe": [],
            "ours_pipe": [],
        }
        for _ in range(1 if quick else ROUNDS):
            times["aws_tree"].append(
                _fresh(
                    root, lambda ep, _c: _aws(ep, "cp", "--recursive", str(tree), "s3://bench/t/")
                )
            )
            times["ours_tree"].append(
                _fresh(
                    root, lambda _ep, c: _ours(c, "--group", "bench", "--time", "now", str(tree))
                )
            )
            times["aws_pipe"].append(
                _fresh(root, lambda ep, _c: _aws(ep, "cp", "-", "s3://bench/t.tar", stdin=tar))
            )
            times["ours_pipe"].append(
                _fresh(
                    root,
                    lambda _ep, c: _ours(c, "--group", "bench", "--name", "t.tar", "-", stdin=tar),
                )
            )
    aws_tree, ours_tree, aws_pipe, ours_pipe = (
        statistics.median(times[k]) for k in ("aws_tree", "ours_tree", "aws_pipe", "ours_pipe")
    )
    spread = {k: f"{min(v):.2f}–{max(v):.2f} s" for k, v in times.items()}
    mb = total / 1e6
    aws_rate, ours_rate = mb / aws_tree, mb / ours_tree
    pipe_mb = pipe_bytes / 1e6
    size = f"{small} x 256 KiB + {big} x {big_size >> 20} MiB = {mb:.0f} MB"
    rows.append(
        Row(
            "backup tree to S3 (moto)",
            size,
            f"{ours_tree:.2f} s, {ours_rate:.0f} MB/s ({spread['ours_tree']})",
            f"aws s3 cp --recursive: {aws_tree:.2f} s, {aws_rate:.0f} MB/s ({spread['aws_tree']})",
            f"{ours_rate / aws_rate:.2f}x",
            ">= 1x aws",
            ours_rate >= aws_rate,
        )
    )
    rows.append(
        Row(
            "backup stdin to S3 (moto)",
            f"the tree as a tar stream, {pipe_mb:.0f} MB",
            f"{ours_pipe:.2f} s, {pipe_mb / ours_pipe:.0f} MB/s ({spread['ours_pipe']})",
            f"aws tree {aws_rate:.0f} MB/s (aws s3 cp -: {pipe_mb / aws_pipe:.0f} MB/s)",
            f"{pipe_mb / ours_pipe / aws_rate:.2f}x",
            ">= 0.9x aws tree",
            pipe_mb / ours_pipe >= 0.9 * aws_rate,
        )
    )
    return rows
