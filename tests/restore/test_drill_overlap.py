"""Drills on stores that restore by reference: the listing runs beside the restore, and the
choice is still checked against the listing (same errors, same record, scratch cleaned)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from restore.drill import Choice, DrillError, DrillSettings, SnapshotMismatch
from restore.drill import run_drill as drill_record
from restore.workday import WorkingCalendar
from tests.restore.fakes import RefDirStore, write_snapshot

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NEWEST = "server/20261120T020000Z"


def run_drill(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The drill's record as written to the audit log (``DrillRecord.to_json()``)."""
    return drill_record(*args, **kwargs).to_json()


def make_store(tmp_path: Path, **kw: object) -> RefDirStore:
    root = tmp_path / "store"
    for day in (1, 10, 20):
        write_snapshot(
            root,
            "server",
            datetime(2026, 11, day, 2, 0, tzinfo=UTC),
            {"etc/hosts": f"hosts {day}".encode(), "db.dump": bytes([day]) * 1000},
        )
    write_snapshot(root, "app", datetime(2026, 11, 15, 6, 0, tzinfo=UTC), {"app.db": b"app"})
    return RefDirStore(root, **kw)  # type: ignore[arg-type]


def settings(tmp_path: Path) -> DrillSettings:
    return DrillSettings(
        target=timedelta(hours=8),
        calendar=WorkingCalendar(),
        scratch_dir=tmp_path / "scratch",
        sleep=lambda _s: None,
    )


def scratch_is_empty(tmp_path: Path) -> bool:
    return not list((tmp_path / "scratch").iterdir())


def test_explicit_prefix_lists_while_restoring_and_records_the_snapshot(tmp_path: Path) -> None:
    store = make_store(
        tmp_path, rendezvous=5.0
    )  # each side waits for the other: sequential would time out
    rec = run_drill(store, Choice("app/"), settings(tmp_path), requested=MONDAY_10)
    assert store.references == ["app/"] and store.listings == 1
    assert rec["verdict"] == "passed", rec["message"]
    assert rec["snapshot"] == {
        "id": "app/20261115T060000Z",
        "group": "app",
        "time": "2026-11-15T06:00:00+00:00",
        "size": 3,
    }
    assert rec["selection"] == {"mode": "explicit", "seed": None, "tier": None}
    assert rec["phases"][0]["name"] == "fetch" and rec["phases"][0]["bytes"] == 3
    assert rec["wall_seconds"] >= rec["phases"][0]["seconds"]
    assert scratch_is_empty(tmp_path)


def test_latest_records_the_snapshot_the_store_restored(tmp_path: Path) -> None:
    store = make_store(tmp_path, rendezvous=5.0)
    rec = run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert store.references == ["latest"]
    assert rec["verdict"] == "passed"
    assert rec["snapshot"]["id"] == NEWEST and rec["snapshot"]["group"] == "server"
    assert rec["snapshot"]["time"] == "2026-11-20T02:00:00+00:00"
    assert rec["selection"]["mode"] == "latest"


def test_latest_named_by_short_prefix_is_identified_in_the_listing(tmp_path: Path) -> None:
    store = make_store(tmp_path, report="app/2026")  # unique prefix, as restic's 8-digit short id
    rec = run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert (
        rec["snapshot"]["id"] == "app/20261115T060000Z"
    )  # what the store said, not the listing's newest


@pytest.mark.parametrize("how", ["nosuch", "server/"])  # no match; several matches
def test_unknown_or_ambiguous_id_fails_clearly_and_cleans_up(tmp_path: Path, how: str) -> None:
    store = make_store(tmp_path)
    with pytest.raises(DrillError, match=f"snapshot '{how}' matches (no|3) complete snapshot"):
        run_drill(store, Choice(how), settings(tmp_path), requested=MONDAY_10)
    assert store.references == [how]
    assert scratch_is_empty(tmp_path)


@pytest.mark.parametrize(
    ("how", "report", "why"),
    [
        ("latest", None, "did not say which snapshot"),
        ("latest", "server/2026", "matches 3 snapshot"),
        ("latest", "gone/", "matches no snapshot"),
        ("app/", "server/20261101T020000Z", "but the store restored"),
    ],
)
def test_restored_snapshot_that_cannot_be_identified_fails_clearly(
    tmp_path: Path, how: str, report: object, why: str
) -> None:
    store = make_store(tmp_path, report=report)
    with pytest.raises(SnapshotMismatch, match=why):
        run_drill(store, Choice(how), settings(tmp_path), requested=MONDAY_10)
    assert scratch_is_empty(tmp_path)
    assert store.listings == (
        2 if report == "gone/" else 1
    )  # an unknown id is looked up in one fresh listing


def test_refused_reference_falls_back_to_listing_first(tmp_path: Path) -> None:
    store = make_store(tmp_path, refuse=True)
    rec = run_drill(store, Choice("server/20261101"), settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "passed" and rec["snapshot"]["id"] == "server/20261101T020000Z"
    assert store.listings == 1 and store.restored_to


@pytest.mark.parametrize("choice", [Choice("random", seed=3), Choice("latest", stratified=True)])
def test_random_and_stratified_list_first(tmp_path: Path, choice: Choice) -> None:
    store = make_store(tmp_path)
    rec = run_drill(store, choice, settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "passed" and store.references == [] and store.listings == 1


def test_failed_restore_by_reference_is_recorded_against_the_listing_choice(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.fail_restore = OSError("disk full")
    rec = run_drill(store, Choice("app/"), settings(tmp_path), requested=MONDAY_10)
    assert rec["verdict"] == "restore_failed" and "disk full" in rec["message"]
    assert rec["snapshot"]["id"] == "app/20261115T060000Z"
    assert scratch_is_empty(tmp_path)


def test_listing_error_comes_first(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (store.root / "app/20261115T060000Z/manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="Expecting property name"):
        run_drill(store, Choice("latest"), settings(tmp_path), requested=MONDAY_10)
    assert scratch_is_empty(tmp_path)
