"""Restore drills against a directory-backed fake store: choice, verdicts, records, cleanup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from restore.drill import Choice, DrillError, DrillSettings, choose_snapshot, history_from_records
from restore.drill import run_drill as drill_record
from restore.protocol import StoredSnapshot
from restore.workday import WorkingCalendar
from retention import Snapshot
from tests.restore.fakes import DirStore, write_snapshot

AMS = ZoneInfo("Europe/Amsterdam")
CAL = WorkingCalendar()
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=AMS)


def run_drill(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The drill's record as written to the audit log (``DrillRecord.to_json()``)."""
    return drill_record(*args, **kwargs).to_json()


@pytest.fixture()
def store(tmp_path: Path) -> DirStore:
    root = tmp_path / "store"
    for day in (1, 10, 20):
        write_snapshot(
            root,
            "server",
            datetime(2026, 11, day, 2, 0, tzinfo=UTC),
            {"etc/hosts": f"hosts {day}".encode(), "db.dump": bytes([day]) * 300_000},
        )
    return DirStore(root)


def settings(tmp_path: Path, **kw: object) -> DrillSettings:
    base: dict[str, object] = {
        "target": timedelta(hours=8),
        "calendar": CAL,
        "target_text": "1 working day",
        "scratch_dir": tmp_path / "scratch",
        "sleep": lambda _s: None,
    }
    base.update(kw)
    return DrillSettings(**base)  # type: ignore[arg-type]


def test_clean_restore_passes_and_records_everything(store: DirStore, tmp_path: Path) -> None:
    rec = run_drill(
        store,
        Choice("latest"),
        settings(tmp_path, live_check=lambda d: (d / "etc/hosts").exists()),
        requested=MONDAY_10,
    )
    assert rec["verdict"] == "passed" and rec["passed"] and rec["failed_objects"] == []
    assert rec["snapshot"]["id"] == "server/20261120T020000Z"
    assert [p["name"] for p in rec["phases"]] == ["fetch", "verify", "live"]
    assert rec["phases"][1]["objects"] == 2 and rec["phases"][1]["by"] == "backupctl"
    assert rec["bytes"] == 300_000 + len(b"hosts 20")
    assert rec["deadline"] == "2026-11-24T10:00:00+01:00"
    assert rec["working_time_seconds"] == pytest.approx(rec["wall_seconds"], abs=1e-3)
    assert rec["forecast"]["meets_target"] is True and rec["forecast"]["bytes"] == rec["bytes"]
    json.dumps(rec)  # JSON-ready
    assert not list((tmp_path / "scratch").iterdir()), "scratch space must be cleaned up"


def test_corrupted_object_fails_with_its_name(store: DirStore, tmp_path: Path) -> None:
    victim = store.root / "server/20261120T020000Z/db.dump"
    data = bytearray(victim.read_bytes())
    data[1234] ^= 0x01
    victim.write_bytes(bytes(data))
    rec = run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "verify_failed" and rec["live"] is None
    assert len(rec["failed_objects"]) == 1 and rec["failed_objects"][0].startswith(
        "db.dump: sha256"
    )
    assert not list((tmp_path / "scratch").iterdir())


def test_live_check_that_never_passes_times_out(store: DirStore, tmp_path: Path) -> None:
    calls: list[Path] = []

    def never(d: Path) -> bool:
        calls.append(d)
        return False

    rec = run_drill(
        store,
        Choice("latest"),
        settings(
            tmp_path,
            live_check=never,
            live_check_timeout=0.2,
            live_check_interval=0.05,
            sleep=__import__("time").sleep,
        ),
        requested=MONDAY_10,
    )
    assert rec["verdict"] == "live_check_timeout"
    assert "did not pass within 0.2 s" in rec["message"]
    assert 2 <= len(calls) <= 10 and rec["phases"][2]["attempts"] == len(calls)


def test_crashing_live_check_is_a_failing_check_with_its_reason(
    store: DirStore, tmp_path: Path
) -> None:
    def boom(_d: Path) -> bool:
        raise RuntimeError("connection refused")

    rec = run_drill(
        store,
        Choice("latest"),
        settings(tmp_path, live_check=boom, live_check_timeout=0.01),
        requested=MONDAY_10,
    )
    assert rec["verdict"] == "live_check_timeout" and "connection refused" in rec["message"]


def test_restore_failure_is_recorded_and_scratch_removed(store: DirStore, tmp_path: Path) -> None:
    store.fail_restore = OSError("bucket gone")
    rec = run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "restore_failed" and "bucket gone" in rec["message"]
    assert rec["forecast"] is None
    assert not store.restored_to[0].exists()


def test_over_target_when_live_after_the_deadline(store: DirStore, tmp_path: Path) -> None:
    # a target of one microsecond: any real restore is over it
    rec = run_drill(
        store,
        Choice("latest"),
        settings(tmp_path, target=timedelta(microseconds=1)),
        requested=datetime(2026, 11, 20, 15, 59, 59, tzinfo=AMS),
    )
    assert rec["verdict"] == "over_target" and rec["live"] is not None


def test_request_outside_hours_uses_no_working_time(store: DirStore, tmp_path: Path) -> None:
    rec = run_drill(
        store,
        Choice("latest"),
        settings(tmp_path),
        requested=datetime(2026, 11, 22, 3, 0, tzinfo=AMS),
    )
    assert rec["working_time_seconds"] == 0 and rec["verdict"] == "passed"
    assert rec["deadline"] == "2026-11-23T17:00:00+01:00"


def test_keep_leaves_the_restore_in_place(store: DirStore, tmp_path: Path) -> None:
    rec = run_drill(store, Choice("latest"), settings(tmp_path, keep=True), requested=MONDAY_10)
    assert (Path(rec["scratch_dir"]) / "etc/hosts").read_bytes() == b"hosts 20"


def test_sample_verifies_a_seeded_share(store: DirStore, tmp_path: Path) -> None:
    rec = run_drill(
        store, Choice("latest", seed=7), settings(tmp_path, sample_percent=10), requested=MONDAY_10
    )
    assert rec["phases"][1]["objects"] == 1 and rec["phases"][1]["objects_in_manifest"] == 2


def test_forecast_uses_the_largest_snapshot(store: DirStore, tmp_path: Path) -> None:
    write_snapshot(
        store.root, "server", datetime(2026, 11, 5, 2, 0, tzinfo=UTC), {"big": b"x" * 3_000_000}
    )
    rec = run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert (
        rec["forecast"]["snapshot"] == "server/20261105T020000Z"
        and rec["forecast"]["bytes"] == 3_000_000
    )


def test_store_verified_restore_with_problems_is_verify_failed(tmp_path: Path) -> None:
    from restore.protocol import RestoreOutcome

    class Verifying(DirStore):
        def restore(self, snapshot: StoredSnapshot, target: Path, **_kw: object) -> RestoreOutcome:
            return RestoreOutcome(
                bytes=10, files=1, problems=("data/x: hash mismatch",), verified_by_store=True
            )

    root = tmp_path / "s"
    write_snapshot(root, "app", datetime(2026, 11, 1, tzinfo=UTC), {"x": b"1"})
    rec = run_drill(Verifying(root), Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "verify_failed" and rec["failed_objects"] == ["data/x: hash mismatch"]
    assert rec["phases"][1]["by"] == "store"


# -- choice --------------------------------------------------------------------------------------


def snaps(*days: int, group: str = "server") -> list[StoredSnapshot]:
    return [
        StoredSnapshot(
            Snapshot(
                f"{group}/{d:03d}", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=d), group
            )
        )
        for d in days
    ]


def test_choice_latest_explicit_prefix_and_errors() -> None:
    pool = snaps(1, 50, 100) + snaps(99, group="app")
    assert choose_snapshot(pool, Choice("latest")).snapshot.snapshot.id == "server/100"
    assert choose_snapshot(pool, Choice("app/099")).mode == "explicit"
    assert choose_snapshot(pool, Choice("app/")).snapshot.snapshot.id == "app/099"
    with pytest.raises(DrillError, match="matches 3"):
        choose_snapshot(pool, Choice("server/"))
    with pytest.raises(DrillError, match="matches no"):
        choose_snapshot(pool, Choice("nope"))
    with pytest.raises(DrillError, match="no complete snapshot"):
        choose_snapshot([], Choice("latest"))


def test_choice_random_is_reproducible_from_the_seed() -> None:
    pool = snaps(*range(40))
    picks = {
        choose_snapshot(pool, Choice("random", seed=s)).snapshot.snapshot.id for s in range(20)
    }
    assert len(picks) > 5
    again = choose_snapshot(list(reversed(pool)), Choice("random", seed=3))
    assert choose_snapshot(pool, Choice("random", seed=3)) == again


def test_stratified_rotates_tiers_and_hits_the_oldest_monthly() -> None:
    # newest at day 200: daily < 7 d older, weekly 7 d .. 4 w, monthly older
    pool = snaps(20, 60, 120, 180, 190, 196, 198, 200)
    history: list[tuple[str, datetime]] = []
    seen = []
    for i in range(6):
        sel = choose_snapshot(pool, Choice(stratified=True, history=history))
        seen.append((sel.tier, sel.snapshot.snapshot.id))
        history.append((sel.tier or "", MONDAY_10 + timedelta(days=i)))
    assert seen[:3] == [
        ("monthly", "server/020"),
        ("weekly", "server/180"),
        ("daily", "server/200"),
    ]
    assert seen[3:] == seen[:3]


def test_stratified_skips_empty_tiers_and_follows_history() -> None:
    pool = snaps(195, 198, 200)  # only dailies
    sel = choose_snapshot(pool, Choice(stratified=True, history=[("monthly", MONDAY_10)]))
    assert sel.tier == "daily" and sel.snapshot.snapshot.id == "server/200"
    pool = snaps(20, 190, 200)
    sel = choose_snapshot(
        pool,
        Choice(
            stratified=True,
            history=[
                ("monthly", MONDAY_10),
                ("weekly", MONDAY_10),
                ("daily", MONDAY_10 - timedelta(days=1)),
            ],
        ),
    )
    assert sel.tier == "daily"


def test_history_from_records_skips_malformed() -> None:
    recs: list[dict[str, Any]] = [
        {"selection": {"tier": "weekly"}, "requested": "2026-11-23T10:00:00+01:00"},
        {"selection": {"tier": None}, "requested": "2026-11-23T10:00:00+01:00"},
        {"selection": {"tier": "daily"}, "requested": "not a time"},
        {"selection": "x"},
        {},
    ]
    assert history_from_records(recs) == [("weekly", MONDAY_10)]


def test_objects_the_store_could_not_fetch_are_a_failed_restore(tmp_path: Path) -> None:
    from restore.protocol import RestoreOutcome

    class Partial(DirStore):
        def restore(self, snapshot: StoredSnapshot, target: Path, **_kw: object) -> RestoreOutcome:
            return RestoreOutcome(bytes=0, files=0, problems=("app/x: NoSuchKey",))

    root = tmp_path / "s"
    write_snapshot(root, "app", datetime(2026, 11, 1, tzinfo=UTC), {"x": b"1"})
    rec = run_drill(Partial(root), Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "restore_failed" and rec["failed_objects"] == ["app/x: NoSuchKey"]


def test_reraised_errors_propagate_and_scratch_is_still_removed(
    store: DirStore, tmp_path: Path
) -> None:
    class BadConfig(Exception):
        pass

    store.fail_restore = BadConfig("no restic password")
    with pytest.raises(BadConfig):
        run_drill(
            store, Choice("latest"), settings(tmp_path, reraise=(BadConfig,)), requested=MONDAY_10
        )
    assert not store.restored_to[0].exists()
