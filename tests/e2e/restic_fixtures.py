"""Helpers that build real restic repositories for tests (a plain module, not a conftest).

restic pays ~0.6 s of key derivation per command, so repositories are built once per
session and the snapshots of one repository are created concurrently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backupctl.config import Config, parse_config

PASSWORD = "correct horse battery staple"
COMMAND_LIMIT = 60.0  # seconds; every restic call in the fixtures is bounded


@dataclass(frozen=True)
class SnapshotSpec:
    """One ``restic backup`` of the source tree: host, tags, and a local time in ``tz`` (None = now)."""

    host: str
    tags: tuple[str, ...] = ()
    time: str | None = None  # "YYYY-MM-DD HH:MM:SS", read by restic in the zone ``tz``
    tz: str = "UTC"


@dataclass
class Repo:
    """A built repository: its restic location, the source tree, and ids by spec index."""

    location: str
    source: Path
    ids: list[str]
    env: dict[str, str]


def restic_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for restic in tests: the test password plus ``extra``."""
    return {**os.environ, "RESTIC_PASSWORD": PASSWORD, **(extra or {})}


def restic(
    location: str, *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run restic directly (tests' own view of the repository, independent of backupctl)."""
    result = subprocess.run(
        ["restic", "--repo", location, *args],
        env=restic_env(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_LIMIT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"restic {' '.join(args)} failed ({result.returncode}): {result.stderr}"
        )
    return result


def make_source(root: Path) -> dict[str, bytes]:
    """A small tree with a 300 KB incompressible file (so there is a data pack worth corrupting)."""
    files = {
        "etc/app.conf": b"listen = 8080\n",
        "data/blob.bin": os.urandom(300_000),
        "data/notes/readme.txt": "héllo wörld\n".encode(),
        "empty.txt": b"",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def build_repo(
    location: str, source: Path, specs: Sequence[SnapshotSpec], env: Mapping[str, str] | None = None
) -> Repo:
    """``restic init`` then one backup per spec, one after the other (bounded by COMMAND_LIMIT).

    Sequential on purpose: concurrent backups into a fresh repository may each write their own
    copy of the same data, which makes packs and prune results differ from run to run.
    """
    restic(location, "init", env=env)
    ids = []
    for spec in specs:
        args = [
            "restic",
            "--repo",
            location,
            "backup",
            str(source),
            "--host",
            spec.host,
            "--json",
            "--quiet",
        ]
        for tag in spec.tags:
            args += ["--tag", tag]
        if spec.time is not None:
            args += ["--time", spec.time]
        ids.append(
            _snapshot_id(
                subprocess.Popen(
                    args,
                    env=restic_env({**(env or {}), "TZ": spec.tz}),
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                )
            )
        )
    return Repo(location=location, source=source, ids=ids, env=dict(env or {}))


def _snapshot_id(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=COMMAND_LIMIT)
    if process.returncode != 0:
        raise AssertionError(f"restic backup failed: {err}")
    summary = [line for line in out.splitlines() if '"snapshot_id"' in line][-1]
    short = summary.split('"snapshot_id":"', 1)[1].split('"', 1)[0]
    return short


def full_ids(location: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """short id -> full id, from restic's own listing."""
    listed = json.loads(restic(location, "snapshots", "--json", env=env).stdout)
    return {s["short_id"]: s["id"] for s in listed}


def copy_repo(repo_dir: Path, dest: Path) -> Path:
    """A private copy of a local repository (tests that delete or corrupt use one)."""
    shutil.copytree(repo_dir, dest)
    return dest


def restic_config(url: str, **store: object) -> Config:
    """A minimal validated config for a restic store URL with extra ``[store]`` keys."""
    return parse_config(
        {"store": {"url": url, **store}, "policy": [{"name": "all", "keep_last": 1}]},
        path="test.toml",
    )


def wait_for(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Poll ``predicate()`` every 50 ms until true; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {limit} s waiting for {what}")
