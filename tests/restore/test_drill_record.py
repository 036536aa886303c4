"""The drill's typed results: phase functions return a frozen ``Phase``, ``run_drill`` a
``DrillRecord`` whose ``to_json()`` is the record as audited and printed, key for key."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from restore.drill import (
    Choice,
    DrillRecord,
    DrillSettings,
    Failure,
    Phase,
    _fetched,
    _phase_live,
    choose_snapshot,
    run_drill,
)
from restore.protocol import RestoreOutcome
from restore.workday import WorkingCalendar
from tests.restore.fakes import DirStore, write_snapshot

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# the record's keys in order, as `drill --json` printed them before DrillRecord (seed and
# audit_seq are the command's)
RECORD_KEYS = [
    "kind",
    "snapshot",
    "selection",
    "requested",
    "live",
    "deadline",
    "target",
    "target_seconds",
    "phases",
    "bytes",
    "wall_seconds",
    "working_time",
    "working_time_seconds",
    "verdict",
    "passed",
    "message",
    "failed_objects",
    "forecast",
    "scratch_dir",
]
COMMON = ["name", "seconds", "bytes", "throughput_bytes_per_second"]
PHASE_KEYS = [
    [*COMMON, "files"],
    [*COMMON, "by", "objects", "objects_in_manifest", "sample_percent", "size_only"],
    [*COMMON, "attempts", "configured"],
]
FORECAST_KEYS = [
    "snapshot",
    "bytes",
    "size_known",
    "seconds",
    "started",
    "finish",
    "deadline",
    "meets_target",
]


@pytest.fixture()
def store(tmp_path: Path) -> DirStore:
    root = tmp_path / "store"
    for day in (1, 20):
        write_snapshot(
            root,
            "server",
            datetime(2026, 11, day, 2, 0, tzinfo=UTC),
            {"etc/hosts": f"hosts {day}".encode(), "db.dump": bytes([day]) * 50_000},
        )
    return DirStore(root)


def settings(tmp_path: Path, **kw: object) -> DrillSettings:
    base: dict[str, object] = {
        "target": timedelta(hours=8),
        "calendar": WorkingCalendar(),
        "target_text": "1 working day",
        "scratch_dir": tmp_path / "scratch",
        "sleep": lambda _s: None,
    }
    base.update(kw)
    return DrillSettings(**base)  # type: ignore[arg-type]


def test_phase_functions_return_frozen_phases(store: DirStore, tmp_path: Path) -> None:
    live = _phase_live(tmp_path, settings(tmp_path, live_check=lambda _d: True))
    assert isinstance(live, Phase) and live.ok and live.name == "live"
    assert list(live.to_json()) == PHASE_KEYS[2] and live.details == {
        "attempts": 1,
        "configured": True,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        live.seconds = 1.0  # type: ignore[misc]
    timeout = _phase_live(
        tmp_path, settings(tmp_path, live_check=lambda _d: False, live_check_timeout=0.0)
    )
    assert timeout.failure is not None and timeout.failure.verdict == "live_check_timeout"

    sel = choose_snapshot(store.list_snapshots(), Choice("latest"))
    fetch = _fetched(sel, RestoreOutcome(bytes=1000, files=2), None, 0.5)
    assert fetch == Phase("fetch", 0.5, 1000, {"files": 2}) and fetch.rate == 2000.0
    assert fetch.to_json() == {
        "name": "fetch",
        "seconds": 0.5,
        "bytes": 1000,
        "throughput_bytes_per_second": 2000.0,
        "files": 2,
    }
    failed = _fetched(sel, None, OSError("gone"), 0.1)
    assert failed.failure == Failure(
        "restore_failed", f"restore of {sel.snapshot.snapshot.id} failed: OSError: gone"
    )
    assert list(failed.to_json()) == COMMON


def test_run_drill_returns_a_record_whose_json_has_todays_keys(
    store: DirStore, tmp_path: Path
) -> None:
    result = run_drill(
        store, Choice("latest"), settings(tmp_path, live_check=lambda _d: True), requested=MONDAY_10
    )
    assert isinstance(result, DrillRecord) and result.passed and result.verdict == "passed"
    assert [p.name for p in result.phases] == ["fetch", "verify", "live"]
    rec = result.to_json()
    assert list(rec) == RECORD_KEYS
    assert [list(p) for p in rec["phases"]] == PHASE_KEYS
    assert list(rec["forecast"]) == FORECAST_KEYS
    assert list(rec["snapshot"]) == ["id", "group", "time", "size"]
    assert list(rec["selection"]) == ["mode", "seed", "tier"]
    assert json.loads(json.dumps(rec)) == rec
    assert rec["bytes"] == result.bytes == 50_000 + len(b"hosts 20")


def test_a_failed_drill_keeps_the_keys_and_stops_at_the_failed_phase(
    tmp_path: Path, store: DirStore
) -> None:
    store.fail_restore = OSError("disk on fire")
    result = run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    rec = result.to_json()
    assert list(rec) == RECORD_KEYS and [list(p) for p in rec["phases"]] == [COMMON]
    assert result.verdict == "restore_failed" and rec["live"] is None and rec["forecast"] is None


def test_the_audited_record_has_the_same_keys(store: DirStore, tmp_path: Path) -> None:
    """`drill --json` on a file store prints to_json() plus seed and audit_seq, in order; the audit
    record's data is to_json() plus the seed (the audit log stores canonical JSON: sorted keys)."""
    from click.testing import CliRunner

    from backupctl.cli import main
    from backupctl.config import load_config
    from backupctl.evidence.audit import AuditLog
    from backupctl.stores.locations import audit_blobs_for

    config = tmp_path / "backupctl.toml"
    config.write_text(
        f'[store]\nurl = "file://{store.root}"\n\n[[policy]]\nname = "server"\ngroup = "server"\n'
        f'keep_daily = 7\n\n[drill]\nscratch_dir = "{tmp_path / "scratch"}"\n'
    )
    out = CliRunner().invoke(
        main,
        ["drill", "--config", str(config), "--json", "--seed", "4"],
        env={"BACKUPCTL_NOW": MONDAY_10.isoformat()},
    )
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout)
    assert list(printed) == [*RECORD_KEYS, "seed", "audit_seq"]
    (audited,) = [
        r["data"]
        for r in AuditLog(audit_blobs_for(load_config(str(config)))).records()
        if r["action"] == "drill"
    ]
    assert sorted(audited) == sorted([*RECORD_KEYS, "seed"])
    assert audited == {k: v for k, v in printed.items() if k != "audit_seq"}
