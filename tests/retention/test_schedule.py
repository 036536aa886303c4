"""Expected backup times from cron in a timezone (DST nights, month ends) and slot matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention import Duration, Snapshot
from retention.schedule import ExpectedSlot, Schedule, ScheduleError, add_duration, match_snapshots

AMS = ZoneInfo("Europe/Amsterdam")


def ams(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


def iso(ts: list[datetime]) -> list[str]:
    return [t.isoformat() for t in ts]


def test_daily_0200_on_spring_forward_night_runs_at_0300_cest() -> None:
    times = Schedule("0 2 * * *", AMS).times(ams(2026, 3, 28), ams(2026, 3, 31))
    assert iso(times) == [
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_daily_0230_in_the_gap_runs_at_the_first_valid_instant() -> None:
    times = Schedule("30 2 * * *", AMS).times(ams(2026, 3, 29), ams(2026, 3, 30))
    assert iso(times) == ["2026-03-29T03:00:00+02:00"]


def test_daily_0200_on_fall_back_night_runs_once_at_first_occurrence() -> None:
    times = Schedule("0 2 * * *", AMS).times(ams(2026, 10, 24), ams(2026, 10, 27))
    assert iso(times) == [
        "2026-10-24T02:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-26T02:00:00+01:00",
    ]


def test_hourly_job_runs_both_repeated_hours_and_skips_the_missing_one() -> None:
    fall = Schedule("0 * * * *", AMS).times(ams(2026, 10, 25, 1), ams(2026, 10, 25, 4))
    assert iso(fall) == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    spring = Schedule("0 * * * *", AMS).times(ams(2026, 3, 29, 1), ams(2026, 3, 29, 5))
    assert iso(spring) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]


def test_app_schedule_gives_four_a_day_across_both_dst_nights() -> None:
    sched = Schedule("0 0,6,12,18 * * *", AMS)
    for day in (ams(2026, 3, 29), ams(2026, 10, 25)):
        times = sched.times(day, day + timedelta(days=1, hours=1))
        assert [t.astimezone(AMS).hour for t in times if t.astimezone(AMS).day == day.day] == [
            0,
            6,
            12,
            18,
        ]


def test_month_end_schedule_31st_only_in_long_months() -> None:
    times = Schedule("0 2 31 * *", AMS).times(ams(2026, 1, 1), ams(2027, 1, 1))
    assert [t.month for t in times] == [1, 3, 5, 7, 8, 10, 12]


def test_bounds_are_half_open_and_naive_times_refused() -> None:
    sched = Schedule("0 2 * * *", AMS)
    assert iso(sched.times(ams(2026, 5, 1, 2), ams(2026, 5, 2, 2))) == ["2026-05-01T02:00:00+02:00"]
    with pytest.raises(ScheduleError):
        sched.times(datetime(2026, 5, 1), ams(2026, 5, 2))
    with pytest.raises(ScheduleError):
        Schedule("61 * * * *", AMS)


def test_slot_deadline_is_next_run_or_tolerance() -> None:
    slots = Schedule("0 0,6,12,18 * * *", AMS).slots(ams(2026, 5, 1), ams(2026, 5, 2))
    assert [s.deadline - s.expected for s in slots] == [timedelta(hours=6)] * 4
    tol = Schedule("0 2 * * *", AMS, tolerance=Duration(hours=3)).slots(
        ams(2026, 5, 1), ams(2026, 5, 2)
    )
    assert tol == [ExpectedSlot(ams(2026, 5, 1, 2), ams(2026, 5, 1, 5))]


def test_match_fills_missed_and_pending() -> None:
    slots = Schedule("0 2 * * *", AMS).slots(ams(2026, 5, 1), ams(2026, 5, 4))
    snaps = [Snapshot("a", ams(2026, 5, 1, 2, 5)), Snapshot("early", ams(2026, 5, 2, 1, 59))]
    result = match_snapshots(slots, snaps, now=ams(2026, 5, 3, 12))
    # "early" (01:59 on the 2nd) lies in the 1st's window but the 1st is taken: one snapshot, one
    # slot
    assert [(m.status, m.snapshot.id if m.snapshot else None) for m in result] == [
        ("filled", "a"),
        ("missed", None),
        ("pending", None),
    ]


def test_a_late_backup_fills_its_own_slot_not_the_next() -> None:
    slots = Schedule("0 2 * * *", AMS).slots(ams(2026, 5, 1), ams(2026, 5, 3))
    late = [Snapshot("late", ams(2026, 5, 2, 1, 0)), Snapshot("b", ams(2026, 5, 2, 2, 0))]
    assert [m.status for m in match_snapshots(slots, late, now=ams(2026, 5, 9))] == [
        "filled",
        "filled",
    ]


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 1)),
    cron=st.sampled_from(
        ["0 2 * * *", "30 2 * * *", "0 0,6,12,18 * * *", "15 * * * *", "0 3 * * 0"]
    ),
    zone=st.sampled_from(["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_times_are_strictly_increasing_and_in_bounds(start: datetime, cron: str, zone: str) -> None:
    z = ZoneInfo(zone)
    a = start.replace(tzinfo=UTC)
    b = a + timedelta(days=9)
    times = Schedule(cron, z).times(a, b)
    stamps = [t.timestamp() for t in times]
    assert stamps == sorted(set(stamps))
    assert all(a <= t < b for t in times)
    if cron.startswith(("0 2 ", "30 2 ")):  # a fixed daily time: exactly one per local day
        days = [t.astimezone(z).date() for t in times]
        assert len(days) == len(set(days))
        assert len(days) >= 8


@settings(max_examples=60, deadline=None)
@given(offsets=st.lists(st.integers(min_value=0, max_value=10 * 24 * 60), max_size=40))
def test_each_snapshot_fills_at_most_one_slot_inside_its_window(offsets: list[int]) -> None:
    base = ams(2026, 10, 20)
    slots = Schedule("0 0,6,12,18 * * *", AMS).slots(base, base + timedelta(days=8))
    snaps = [Snapshot(str(i), base + timedelta(minutes=m)) for i, m in enumerate(offsets)]
    result = match_snapshots(slots, snaps, now=base + timedelta(days=20))
    ids = [m.snapshot.id for m in result if m.snapshot]
    assert len(ids) == len(set(ids))
    for m in result:
        if m.snapshot:
            assert m.slot.expected <= m.snapshot.time < m.slot.deadline
    # greedy is maximal: no missed slot has an unused snapshot in its window
    unused = [s for s in snaps if s.id not in ids]
    for m in result:
        if m.status == "missed":
            assert not any(m.slot.expected <= s.time < m.slot.deadline for s in unused)


def test_add_duration_uses_go_calendar_arithmetic() -> None:
    assert add_duration(ams(2026, 1, 31, 2), Duration(months=1)) == ams(2026, 3, 3, 2)
    assert (
        add_duration(ams(2026, 3, 28, 2), Duration(days=1, hours=1)).isoformat()
        == "2026-03-29T04:00:00+02:00"
    )


# --- issue 11: schedules are validated once (check_cron), random text only raises ScheduleError


@pytest.mark.parametrize(
    ("cron", "needle"),
    [
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 11 *", "never fires"),
        ("* * * * * * *", "7 field"),
        ("* * * * * *", "6 field"),
        ("1-0 * * * *", "backwards"),
        ("* * * dec-jan *", "backwards"),
        ("@reboot", "1 field"),
        ("", "0 field"),
        ("61 * * * *", "expected"),
    ],
)
def test_check_cron_refuses(cron: str, needle: str) -> None:
    from retention.schedule import check_cron

    with pytest.raises(ScheduleError, match=needle):
        check_cron(cron)
    with pytest.raises(ScheduleError):
        Schedule(cron, AMS)


@pytest.mark.parametrize(
    ("alias", "cron"),
    [
        ("@daily", "0 0 * * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@hourly", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
    ],
)
def test_aliases_expand(alias: str, cron: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=AMS)
    assert Schedule(alias, AMS).fields == cron
    assert Schedule(alias, AMS).slots(start, start + timedelta(days=800)) == Schedule(
        cron, AMS
    ).slots(start, start + timedelta(days=800))


def test_a_frequent_schedule_does_not_compute_a_year_ahead() -> None:
    import time

    start = datetime(2026, 11, 1, tzinfo=AMS)
    began = time.monotonic()
    slots = Schedule("* * * * *", AMS).slots(start, start + timedelta(hours=2))
    assert len(slots) == 120 and slots[-1].deadline == start + timedelta(hours=2)
    assert time.monotonic() - began < 2


def test_times_end_quietly_at_year_9999() -> None:
    late = datetime(9999, 12, 1, tzinfo=UTC)
    slots = Schedule("0 0 1 * *", UTC).slots(late - timedelta(days=40), late + timedelta(days=29))
    assert slots and slots[-1].deadline == datetime.max.replace(tzinfo=UTC)


_FIELD = st.sampled_from(
    [
        "*",
        "0",
        "1-0",
        "5",
        "*/7",
        "1,2",
        "30",
        "31",
        "2",
        "jan-mar",
        "mon-fri",
        "L",
        "61",
        "0-59/15",
        "fri-mon",
        "?",
        "H",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_FIELD, min_size=1, max_size=7).map(" ".join) | st.text(max_size=20))
def test_any_cron_text_parses_or_raises_schedule_error(cron: str) -> None:
    try:
        schedule = Schedule(cron, AMS)
    except ScheduleError:
        return
    start = datetime(2026, 11, 1, tzinfo=AMS)
    schedule.slots(start, start + timedelta(hours=3))  # a valid schedule computes its slots
