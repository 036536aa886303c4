"""Differential tests: backupctl's planner against the real restic 0.14 ``forget``.

One small local restic repository is built per session (cached in pytest's cache dir,
keyed by the snapshot list, so a rerun costs no backups). Its snapshots cover DST nights
in Europe/Amsterdam and America/New_York, equal timestamps, gaps of weeks, several hosts,
paths and tags, ISO week 53 (2020) and a year-crossing ISO week 1 (2025-12-29), and one
snapshot in the future. For each policy, ``restic forget --dry-run --json`` is compared with
``backupctl plan --from-restic`` on ``restic snapshots --json``: same groups, same kept set,
same reason kinds per snapshot.

restic and backupctl both run with TZ=UTC here: restic then does its calendar arithmetic in
each snapshot's recorded offset, which is what backupctl does (see docs/retention.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from tests.e2e.restic_fixtures import cheapen_key

pytestmark = pytest.mark.e2e

RESTIC = shutil.which("restic")
AMS, NYC, UTC_TZ = "Europe/Amsterdam", "America/New_York", "UTC"

# (TZ for `restic backup --time`, local wall time, host, tags, data dir)
_ALPHA_HISTORY = [
    "2025-06-01 02:00",
    "2025-06-20 02:00",
    "2025-07-15 02:00",
    "2025-08-30 02:00",
    "2025-10-05 02:00",
    "2025-11-11 02:00",
    "2025-12-24 02:00",
    "2026-01-15 02:00",
    "2026-02-10 02:00",
    "2026-04-20 02:00",
    "2026-05-05 02:00",
    "2026-06-30 02:00",
    "2026-08-08 02:00",
    "2026-09-15 02:00",
    "2026-11-01 02:00",
    "2026-11-15 02:00",
    "2026-11-20 11:00",
    "2026-11-22 02:00",
    "2026-09-22 02:30",  # inside `--keep-within 2m` only when restic runs with TZ=Europe/Amsterdam
]
_ALPHA_DST = [
    "2026-03-27 02:30",
    "2026-03-28 01:30",
    "2026-03-28 02:30",
    "2026-03-28 03:30",
    "2026-03-29 01:30",
    "2026-03-29 02:30",
    "2026-03-29 03:30",
    "2026-03-29 04:30",
    "2026-03-30 02:30",
    "2026-10-24 02:30",
    "2026-10-25 00:30",
    "2026-10-25 01:30",
    "2026-10-25 02:30",
    "2026-10-25 03:30",
    "2026-10-26 02:30",
]
_BETA = [
    "2026-03-07 23:00",
    "2026-03-08 01:30",
    "2026-03-08 02:30",
    "2026-03-08 03:30",
    "2026-10-31 22:00",
    "2026-11-01 01:30",
    "2026-11-01 02:30",
    "2026-11-10 08:00",
    "2026-11-16 12:00",
    "2026-11-17 12:00",
    "2026-11-18 12:00",
    "2026-11-20 05:00",
]
_GAMMA = [
    "2020-12-27 12:00",
    "2020-12-28 00:00",
    "2020-12-31 23:59",
    "2021-01-01 00:00",
    "2021-01-03 23:00",
    "2021-01-04 00:00",
    "2025-12-28 12:00",
    "2025-12-29 00:00",
    "2025-12-31 23:00",
    "2026-01-01 01:00",
    "2026-11-01 10:00",
    "2026-11-20 10:00",
    "2026-11-22 10:00",
    "2026-12-31 12:00",
    "2026-11-16 22:00",
    "2026-09-22 10:00",  # exactly at the 5d12h and 2m cut-offs: not within
]


def _spec() -> list[tuple[str, str, str, tuple[str, ...], str]]:
    """The snapshots to create, as (TZ, wall time, host, tags, data dir name)."""
    spec: list[tuple[str, str, str, tuple[str, ...], str]] = []
    for i, t in enumerate(_ALPHA_HISTORY):
        spec.append((AMS, t, "alpha", ("app",) if i % 3 else ("app", "monthly"), "data"))
    for i, t in enumerate(_ALPHA_DST):
        spec.append((AMS, t, "alpha", ("db", "nightly") if i % 2 else ("db",), "data"))
    # 02:10 CEST in the autumn overlap (Go resolves --time "02:30" to CET, so force +02:00):
    # same wall-clock hour as 02:30 CET, one real hour earlier
    spec.append(("Etc/GMT-2", "2026-10-25 02:10", "alpha", ("db",), "data"))
    for t in ("2026-03-29 03:30", "2026-11-20 11:00"):  # equal timestamps within one group
        spec.append((AMS, t, "alpha", ("db",), "data"))
    for t in ("2026-02-01 02:00", "2026-03-29 03:00", "2026-11-21 02:00", "2026-11-21 02:00"):
        spec.append((AMS, t, "alpha", (), "other"))  # same host, other paths
    for i, t in enumerate(_BETA):
        spec.append((NYC, t, "beta", ("app",) if i % 2 else ("db", "nightly"), "data"))
    spec.append((NYC, "2026-11-20 05:00", "beta", ("app",), "data"))  # tie, = 10:00 UTC
    for t in _GAMMA:
        spec.append((UTC_TZ, t, "gamma", ("db",), "data"))
    return spec


def _run_restic(args: list[str], env: dict[str, str], tz: str = "UTC") -> str:
    proc = subprocess.run(
        [RESTIC or "restic", "--no-cache", *args],
        env={**env, "TZ": tz},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"restic {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@pytest.fixture(scope="session")
def restic_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Env (RESTIC_REPOSITORY, RESTIC_PASSWORD) of the shared differential repository."""
    if RESTIC is None:
        pytest.skip("restic binary not installed")
    spec = _spec()
    digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    name = f"restic-differential-{digest}"
    root = Path(cache.mkdir(name)) if cache is not None else tmp_path_factory.mktemp(name)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "RESTIC_REPOSITORY": str(root / "repo"),
        "RESTIC_PASSWORD": "differential-test-only",
    }
    if (root / "complete").exists():
        return env
    for stale in root.parent.glob("restic-differential-*"):  # repositories of older snapshot lists
        if stale != root:
            shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(root / "repo", ignore_errors=True)
    for name in ("data", "other"):
        (root / name).mkdir(exist_ok=True)
        (root / name / "file.txt").write_text(f"{name}\n")
    _run_restic(["init"], env)
    cheapen_key(env["RESTIC_REPOSITORY"], env["RESTIC_PASSWORD"])  # ~0.2 s a command, not ~0.7 s
    for tz, wall, host, tags, data in spec:
        tag_args = [a for t in tags for a in ("--tag", t)]
        _run_restic(
            ["backup", "-q", "--time", f"{wall}:00", "--host", host, *tag_args, str(root / data)],
            env,
            tz,
        )
    (root / "complete").write_text(digest)
    return env


@pytest.fixture(scope="session")
def snapshots_json(restic_repo: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`restic snapshots --json` of the shared repository, written to a file."""
    path = tmp_path_factory.mktemp("restic") / "snapshots.json"
    path.write_text(_run_restic(["snapshots", "--json"], restic_repo))
    return path


_MATCH = [
    (re.compile(r"^has tags "), "tag"),
    (re.compile(r"^within "), "within"),
    (re.compile(r"^(last|hourly|daily|weekly|monthly|yearly) snapshot$"), None),
    (re.compile(r"^(hourly|daily|weekly|monthly|yearly) within "), "within_"),
]


def restic_kind(match: str) -> str:
    """Map a restic reason to our rule kind.

    restic's reasons read "daily snapshot", "daily within 7d", "has tags [a]" ….
    """
    for pattern, kind in _MATCH:
        m = pattern.match(match)
        if m:
            if kind is None:
                return m.group(1)
            return kind + m.group(1) if kind == "within_" else kind
    raise AssertionError(f"unknown restic reason {match!r}")


def _restic_forget(env: dict[str, str], flags: list[str], tz: str = "UTC") -> dict[str, Any]:
    """{id: (group tuple, kept, [kinds])} from `restic forget --dry-run --json` run with TZ=tz."""
    groups = json.loads(_run_restic(["forget", "--dry-run", "--json", *flags], env, tz) or "[]")
    out: dict[str, Any] = {}
    for g in groups:
        key = (g["host"], tuple(g["paths"] or ()), tuple(g["tags"] or ()))
        for sn, reason in zip(g["keep"] or [], g["reasons"] or [], strict=True):
            assert sn["time"] == reason["snapshot"]["time"]
            out[sn["id"]] = (key, True, [restic_kind(m) for m in reason["matches"]])
        for sn in g["remove"] or []:
            out[sn["id"]] = (key, False, [])
    return out


def _ours(path: Path, flags: list[str], now: datetime) -> dict[str, Any]:
    result = CliRunner().invoke(
        main, ["plan", "--from-restic", str(path), "--json", "--now", now.isoformat(), *flags]
    )
    assert result.exit_code == 0, result.output
    return {d["id"]: d for d in json.loads(result.output)["decisions"]}


POLICIES: list[list[str]] = [
    ["--keep-last", "5"],
    ["-H", "10"],
    ["--keep-daily", "7"],
    ["--keep-weekly", "6"],
    ["--keep-monthly", "5"],
    ["--keep-yearly", "3"],
    ["--keep-monthly", "100"],
    ["--keep-within", "2m"],
    ["--keep-within", "5d12h"],
    ["--keep-within-hourly", "1y"],
    ["--keep-within-daily", "8m"],
    ["--keep-within-weekly", "1y"],
    ["--keep-within-monthly", "1y6m"],
    ["--keep-within-yearly", "10y"],
    ["--keep-tag", "app", "--keep-tag", "db,nightly"],
    ["-l", "2", "-d", "5", "-w", "4", "-m", "6", "-y", "2", "--group-by", "host"],
    ["--keep-daily", "3", "--keep-weekly", "3", "--group-by", ""],
    ["--keep-weekly", "10", "--group-by", "tags"],
    ["--keep-within", "1m2d", "--keep-hourly", "3", "--group-by", "host,tags"],
    ["--keep-within-daily", "7d", "--keep-within-weekly", "28d", "--keep-within-monthly", "6m"],
    # restic's own duration syntax (issue 11 part 9): any unit order, a repeated unit overrides,
    # negatives
    ["--keep-within", "2d1m", "--keep-hourly", "3", "--group-by", "host,tags"],
    ["--keep-within", "12h5d"],
    ["--keep-within", "2d3m1m"],
    ["--keep-within-daily", "1d8m", "--keep-within-weekly", "3y1y"],
    ["--keep-within", "-1d", "--keep-daily", "3"],
    ["--keep-within", "1m-3d"],
    # Not hourly here: the 2026-11-20 10:00 UTC tie spans Amsterdam, New York and UTC wall clocks
    # (different hours), and restic's tie order (its load order) then changes how many hourly
    # buckets are used up, so restic itself is not deterministic there.
    [
        "--keep-daily",
        "30",
        "--keep-within-daily",
        "1y",
        "--keep-tag",
        "monthly",
        "--group-by",
        "paths",
    ],
]


def _tie_key(decision: dict[str, Any]) -> tuple[str, datetime]:
    return decision["group"], datetime.fromisoformat(decision["time"]).astimezone(UTC)


@pytest.mark.parametrize("flags", POLICIES, ids=[" ".join(p) or "-" for p in POLICIES])
def test_plan_equals_restic_forget(
    restic_repo: dict[str, str], snapshots_json: Path, flags: list[str]
) -> None:
    """Same groups, same kept set and the same reason kinds per snapshot as restic 0.14 (TZ=UTC)."""
    theirs = _restic_forget(restic_repo, flags)
    assert_same_plan(theirs, _ours(snapshots_json, flags, datetime.now(UTC)))
    assert {kept for _group, kept, _kinds in theirs.values()} == {
        True,
        False,
    }  # the policy discriminates


AMS_POLICIES = [["--keep-within", "2m"], ["--keep-within-daily", "2m", "--keep-hourly", "2"]]


@pytest.mark.parametrize("flags", AMS_POLICIES, ids=[" ".join(p) for p in AMS_POLICIES])
def test_restic_tz_emulates_restic_run_in_that_zone(
    restic_repo: dict[str, str],
    snapshots_json: Path,
    flags: list[str],
) -> None:
    """restic run with TZ=Europe/Amsterdam does DST-aware cut-offs.

    `--restic-tz` reproduces them.
    """
    theirs = _restic_forget(restic_repo, flags, AMS)
    ours = _ours(snapshots_json, [*flags, "--restic-tz", AMS], datetime.now(UTC))
    assert_same_plan(theirs, ours)
    in_utc = _restic_forget(restic_repo, flags, "UTC")
    ties = Counter(_tie_key(d) for d in ours.values())  # restic's order inside a tie varies per run
    differs = [
        sid for sid in theirs if theirs[sid][1] != in_utc[sid][1] and ties[_tie_key(ours[sid])] == 1
    ]
    assert [ours[sid]["time"] for sid in differs] == ["2026-09-22T02:30:00+02:00"]


def assert_same_plan(theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """Assert restic's and our per-snapshot outcomes agree: groups, keep/forget, reason kinds.

    Snapshots with equal times in one group are walked by restic in the order its parallel
    loader returns them (not deterministic), so inside such a tie only the multiset of
    outcomes is compared.
    """
    assert set(theirs) == set(ours)
    our_groups: dict[str, set[str]] = {}
    their_groups: dict[Any, set[str]] = {}
    for sid, d in ours.items():
        our_groups.setdefault(d["group"], set()).add(sid)
        their_groups.setdefault(theirs[sid][0], set()).add(sid)
    assert sorted(map(sorted, our_groups.values())) == sorted(map(sorted, their_groups.values()))
    ties = Counter(_tie_key(d) for d in ours.values())
    tied_ours: dict[Any, Counter[tuple[bool, tuple[str, ...]]]] = {}
    tied_theirs: dict[Any, Counter[tuple[bool, tuple[str, ...]]]] = {}
    for sid, d in ours.items():
        mine = (d["action"] == "keep", tuple(d["rules"]))
        other = (theirs[sid][1], tuple(theirs[sid][2]))
        key = _tie_key(d)
        if ties[key] > 1:
            tied_ours.setdefault(key, Counter())[mine] += 1
            tied_theirs.setdefault(key, Counter())[other] += 1
        else:
            assert mine == other, f"{sid[:8]} {d['time']} {d['group']}: ours {mine}, restic {other}"
    assert tied_ours == tied_theirs


def test_fixture_covers_the_edge_cases(snapshots_json: Path) -> None:
    """The repository really has the snapshots the comparison relies on.

    DST, tie, week-53 and future snapshots.
    """
    data = json.loads(snapshots_json.read_text())
    times = [d["time"] for d in data]
    assert "2026-03-29T03:30:00+02:00" in times  # 02:30 in the spring gap became 03:30 CEST
    assert any(t.startswith("2026-10-25T02:30:00+01:00") for t in times)  # autumn overlap
    assert any(t.startswith("2026-10-25T02:10:00+02:00") for t in times)
    assert any(t.startswith("2026-11-01T01:30:00-0") for t in times)  # New York overlap
    assert len(times) - len(set(times)) >= 2  # equal timestamps
    assert any(t.startswith("2020-12-31") for t in times)  # ISO week 2020-W53
    assert (
        any(datetime.fromisoformat(t) > datetime.now(UTC) for t in times)
        or datetime.now(UTC).year > 2026
    )
    assert {d["hostname"] for d in data} == {"alpha", "beta", "gamma"}
