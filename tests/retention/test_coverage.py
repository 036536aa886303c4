"""Coverage slots a policy promises at T: within buckets, keep_within per backup, counts.

Includes DST nights, month ends and ISO week 53.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from retention import SLA_APP, SLA_SERVER, Duration, Policy
from retention.coverage import bucket_label, coverage, keep_all_since
from retention.schedule import Schedule
from tests.retention.helpers_history import AMS, ams, history, pruned_daily

DAILY = Schedule("0 2 * * *", AMS)
APP = Schedule("0 0,6,12,18 * * *", AMS)


def by_rule(slots, rule):  # type: ignore[no-untyped-def]
    return [s for s in slots if s.rule == rule]


def test_pruned_sla_server_store_fills_every_slot() -> None:
    now = ams(2026, 11, 30, 10)
    store = pruned_daily(history("0 2 * * *", ams(2026, 1, 1), now), SLA_SERVER)
    slots = coverage(SLA_SERVER, store, now=now, schedule=DAILY)
    assert all(s.filled for s in slots)
    assert [s.bucket for s in by_rule(slots, "within_daily")] == [
        f"2026-11-{d}" for d in range(24, 30)
    ]
    assert [s.bucket for s in by_rule(slots, "within_weekly")] == [
        "2026-W45",
        "2026-W46",
        "2026-W47",
        "2026-W48",
    ]
    assert [s.bucket for s in by_rule(slots, "within_monthly")] == [
        f"2026-{m:02d}" for m in range(5, 12)
    ]


def test_daily_slot_is_pending_until_its_deadline() -> None:
    store = history("0 2 * * *", ams(2026, 11, 1), ams(2026, 11, 30, 3))
    slots = coverage(SLA_SERVER, store, now=ams(2026, 11, 30, 10), schedule=DAILY)
    assert "2026-11-30" not in [s.bucket for s in slots]  # due only at 2026-12-01 02:00


def test_a_missing_daily_leaves_exactly_its_slot_empty() -> None:
    now = ams(2026, 11, 30, 10)
    store = [
        s
        for s in history("0 2 * * *", ams(2026, 10, 1), now)
        if s.time.date().isoformat() != "2026-11-26"
    ]
    slots = coverage(SLA_SERVER, store, now=now, schedule=DAILY, since=store[0].time)
    assert [(s.rule, s.bucket) for s in slots if not s.filled] == [("within_daily", "2026-11-26")]


def test_keep_within_promises_every_scheduled_backup_of_two_months() -> None:
    now = ams(2026, 11, 30, 10)
    store = pruned_daily(history("0 0,6,12,18 * * *", ams(2026, 8, 1), now), SLA_APP)
    slots = coverage(SLA_APP, store, now=now, schedule=APP)
    assert all(s.filled for s in slots)
    # 2026-09-30 10:00 (exclusive) .. 2026-11-30 06:00 (the 06:00 backup is due at 12:00: pending)
    assert len(slots) == 2 + 4 * 31 + 4 * 29 + 1
    assert slots[0].expected == ams(2026, 9, 30, 12)


def test_dst_night_backup_at_0300_fills_the_daily_slot() -> None:
    now = ams(2026, 4, 2, 10)
    store = history("0 2 * * *", ams(2026, 3, 1), now)
    slots = coverage(SLA_SERVER, store, now=now, schedule=DAILY)
    day = next(s for s in slots if s.rule == "within_daily" and s.bucket == "2026-03-29")
    assert day.snapshot is not None and day.snapshot.time.isoformat() == "2026-03-29T03:00:00+02:00"


def test_month_end_cutoff_follows_go_normalisation() -> None:
    # 6 months back from 31 August is "31 February" = 3 March: February is no longer promised
    now = ams(2026, 8, 31, 10)
    slots = coverage(
        SLA_SERVER, history("0 2 * * *", ams(2026, 1, 1), now), now=now, schedule=DAILY
    )
    assert [s.bucket for s in by_rule(slots, "within_monthly")] == [
        f"2026-{m:02d}" for m in range(3, 9)
    ]


def test_iso_week_53() -> None:
    now = ams(2027, 1, 12, 10)
    slots = coverage(
        SLA_SERVER, history("0 2 * * *", ams(2026, 11, 1), now), now=now, schedule=DAILY
    )
    assert "2026-W53" in [s.bucket for s in by_rule(slots, "within_weekly")]
    assert bucket_label("weekly", ams(2027, 1, 3)) == "2026-W53"


def test_count_rules_promise_the_n_newest_buckets() -> None:
    policy = Policy(keep_daily=3, keep_last=2)
    now = ams(2026, 5, 10, 10)
    slots = coverage(policy, history("0 2 * * *", ams(2026, 5, 1), now), now=now, schedule=DAILY)
    # today's backup exists, so it counts as the newest bucket (as restic counts it)
    assert [s.bucket for s in by_rule(slots, "daily")] == ["2026-05-08", "2026-05-09", "2026-05-10"]
    assert [s.expected for s in by_rule(slots, "last")] == [ams(2026, 5, 9, 2), ams(2026, 5, 10, 2)]
    # without today's backup (not yet due) the promise is the three before it, and today's is not
    # missing
    early = [s for s in history("0 2 * * *", ams(2026, 5, 1), now) if s.time.day != 10]
    slots = coverage(policy, early, now=now, schedule=DAILY)
    assert [s.bucket for s in by_rule(slots, "daily")] == ["2026-05-08", "2026-05-09"]
    assert all(s.filled for s in slots)


def test_since_drops_slots_before_history_began() -> None:
    now = ams(2026, 11, 30, 10)
    store = history("0 2 * * *", ams(2026, 11, 20), now)
    slots = coverage(SLA_SERVER, store, now=now, schedule=DAILY, since=store[0].time)
    assert all(s.filled for s in slots)
    assert by_rule(slots, "within_monthly")[0].bucket == "2026-11"


def test_without_schedule_only_complete_buckets_are_promised() -> None:
    now = ams(2026, 5, 10, 10)
    slots = coverage(Policy(keep_within_daily=Duration(days=3)), [], now=now, schedule=None)
    assert [s.bucket for s in slots] == ["2026-05-08", "2026-05-09"]
    assert not any(s.filled for s in slots)


def test_keep_all_since_is_the_window_where_every_backup_is_kept() -> None:
    now = ams(2026, 11, 30, 10)
    assert keep_all_since(SLA_APP, APP, now=now, horizon=Duration(months=3)) == ams(2026, 9, 30, 12)
    assert keep_all_since(SLA_SERVER, DAILY, now=now, horizon=Duration(months=7)) == ams(
        2026, 11, 24, 2
    )


@settings(max_examples=25, deadline=None)
@given(
    end_day=st.integers(min_value=0, max_value=400),
    policy=st.sampled_from(
        [
            SLA_SERVER,
            Policy(keep_daily=5, keep_weekly=3, keep_monthly=2),
            Policy(keep_within_daily=Duration(days=10), keep_within_monthly=Duration(months=3)),
        ]
    ),
)
def test_a_store_pruned_daily_keeps_every_promise(end_day: int, policy: Policy) -> None:
    now = ams(2026, 1, 1, 10) + timedelta(days=end_day)
    start = now - timedelta(days=200)
    store = pruned_daily(history("0 2 * * *", start, now), policy)
    slots = coverage(policy, store, now=now, schedule=DAILY, since=start)
    assert [s for s in slots if not s.filled] == []
