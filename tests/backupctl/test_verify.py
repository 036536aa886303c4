"""verify's pure checks and report assembly, against an in-memory store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backupctl.config import parse_config
from backupctl.errors import UsageError
from backupctl.evidence.verify import check_group, integrity_sample, parse_day_or_time, verify_store
from backupctl.stores.base import StoredSnapshot
from retention import Snapshot, plan
from retention.schedule import Schedule
from tests.backupctl.fakes import FakeStore

AMS = ZoneInfo("Europe/Amsterdam")
CONFIG = parse_config(
    {
        "timezone": "Europe/Amsterdam",
        "store": {"url": "file:///nowhere"},
        "verify": {"integrity_sample": 3},
        "policy": [
            {"name": "server", "schedule": "0 2 * * *", "preset": "sla-server"},
            {"name": "app", "schedule": "0 0,6,12,18 * * *", "keep_within": "2m"},
        ],
    }
)
AT = datetime(2026, 11, 30, 10, tzinfo=AMS)


def ideal(group: str, cron: str, start: datetime, skip: Sequence[datetime] = ()) -> list[Snapshot]:
    skipped = {t.timestamp() for t in skip}
    return [
        Snapshot(f"{group}/{t.isoformat()}", t, group)
        for t in Schedule(cron, AMS).times(start, AT)
        if t.timestamp() not in skipped
    ]


def pruned(snaps: list[Snapshot], name: str) -> list[Snapshot]:
    policy = next(p for p in CONFIG.policies if p.name == name).policy
    return [d.snapshot for d in plan(snaps, policy, now=AT - timedelta(hours=6)).kept()]


def check(name: str, snaps: list[Snapshot], since: datetime | None = None):  # type: ignore[no-untyped-def]
    policy = next(p for p in CONFIG.policies if p.name == name)
    return check_group(
        policy, snaps, at=AT, zone=AMS, grace=CONFIG.verify.over_retention_grace, since=since
    )


def test_a_pruned_complete_history_has_no_violation() -> None:
    for name, cron in (("server", "0 2 * * *"), ("app", "0 0,6,12,18 * * *")):
        g = check(name, pruned(ideal(name, cron, datetime(2026, 1, 1, tzinfo=AMS)), name))
        assert g.violations == [], name


def test_old_pruned_backups_are_not_missed_but_recent_gaps_are() -> None:
    gap = datetime(2026, 11, 27, 2, tzinfo=AMS)
    g = check(
        "server",
        pruned(ideal("server", "0 2 * * *", datetime(2026, 1, 1, tzinfo=AMS), [gap]), "server"),
    )
    assert [(v.kind, v.details.get("expected")) for v in g.violations] == [
        ("missed", gap.isoformat())
    ]
    assert g.checked["schedule"]["from"] == "2026-11-24T02:00:00+01:00"  # keep_within_daily = 7d


def test_a_deleted_daily_is_a_coverage_gap() -> None:
    snaps = pruned(ideal("server", "0 2 * * *", datetime(2026, 1, 1, tzinfo=AMS)), "server")
    monthly = next(s for s in snaps if s.time.date() == date(2026, 8, 31))
    g = check("server", [s for s in snaps if s != monthly])
    assert [(v.kind, v.details["rule"], v.details["bucket"]) for v in g.violations] == [
        ("coverage", "within_monthly", "2026-08")
    ]


def test_no_misses_before_history_began_or_before_from() -> None:
    young = ideal("app", "0 0,6,12,18 * * *", datetime(2026, 11, 20, tzinfo=AMS))
    assert check("app", young).violations == []
    holey = [s for s in young if s.time.day != 22]
    assert len(check("app", holey).violations) == 4
    assert check("app", holey, since=datetime(2026, 11, 23, tzinfo=AMS)).violations == []


def test_empty_group_is_a_violation() -> None:
    assert check("app", []).violations[0].kind == "no_snapshots"


def test_integrity_sample_rotates_through_everything() -> None:
    snaps = [StoredSnapshot(Snapshot(f"g/{i:03d}", AT, "g")) for i in range(10)]
    seen: set[str] = set()
    for day in range(4):
        sample = integrity_sample(snaps, 3.0, date(2026, 1, 1) + timedelta(days=day))
        assert len(sample) == 3
        seen |= {s.snapshot.id for s in sample}
    assert len(seen) == 10
    assert len(integrity_sample(snaps, -0.5, date(2026, 1, 1))) == 5  # "50%"
    assert integrity_sample([], 5.0, date(2026, 1, 1)) == []


def test_verify_store_reports_integrity_and_notes() -> None:
    server = pruned(ideal("server", "0 2 * * *", datetime(2026, 1, 1, tzinfo=AMS)), "server")
    app = pruned(ideal("app", "0 0,6,12,18 * * *", datetime(2026, 9, 1, tzinfo=AMS)), "app")
    stored = [StoredSnapshot(s) for s in server + app]
    stored.append(StoredSnapshot(Snapshot("misc/1", AT, "misc")))
    incomplete = StoredSnapshot(Snapshot("app/x", AT, "app"), "incomplete")
    sample = integrity_sample(stored, 3.0, AT.date())
    store = FakeStore([*stored, incomplete], unknown=["stray.txt"], corrupt=[sample[0].snapshot.id])
    report = verify_store(CONFIG, store, at=AT)  # type: ignore[arg-type]
    assert sorted(store.checked) == sorted(s.snapshot.id for s in sample)
    assert [v.kind for v in report.violations] == ["integrity"]
    assert report.violations[0].details["id"] == sample[0].snapshot.id and not report.ok
    assert sorted(n.kind for n in report.notes) == [
        "incomplete",
        "unconfigured_group",
        "unknown_key",
    ]
    assert report.to_json()["checked"]["integrity"]["sampled"] == 3


def test_parse_day_or_time() -> None:
    assert parse_day_or_time("2026-03-29", "--from", AMS).isoformat() == "2026-03-29T00:00:00+01:00"
    assert parse_day_or_time("2026-03-29T10:00:00Z", "--at", AMS).hour == 10
    for bad in ("2026-13-01", "yesterday", "2026-03-29T10:00:00"):
        with pytest.raises(UsageError):
            parse_day_or_time(bad, "--at", AMS)
