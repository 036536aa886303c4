"""The rule table (retention.buckets) and what reads it: Policy.count/within, the key lists,
the one count check, the lazy croniter import and the planner's scoped pause of the collector."""

from __future__ import annotations

import dataclasses
import gc
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from retention import (
    CALENDARS,
    COUNT_RULES,
    RULES,
    WITHIN_RULES,
    Duration,
    Policy,
    PolicyError,
    Snapshot,
    plan,
)
from retention.buckets import bucket_label, rule
from retention.policy import MAX_COUNT, count_problem

ZONES = [
    UTC,
    ZoneInfo("Europe/Amsterdam"),
    ZoneInfo("Pacific/Chatham"),
    timezone(timedelta(hours=-9, minutes=-30)),
]


def test_the_key_lists_are_restics_in_restics_order() -> None:
    assert COUNT_RULES == (
        "keep_last",
        "keep_hourly",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
        "keep_yearly",
    )
    assert WITHIN_RULES == (
        "keep_within",
        "keep_within_hourly",
        "keep_within_daily",
        "keep_within_weekly",
        "keep_within_monthly",
        "keep_within_yearly",
    )
    assert [r.name for r in CALENDARS] == ["hourly", "daily", "weekly", "monthly", "yearly"]
    assert [r.short for r in RULES] == ["-l", "-H", "-d", "-w", "-m", "-y"]


def test_policy_count_and_within_read_the_fields() -> None:
    p = Policy(
        keep_last=3,
        keep_daily=-1,
        keep_within=Duration(days=1),
        keep_within_weekly=Duration(weeks=4),
    )
    assert [p.count(r.name) for r in RULES] == [3, 0, -1, 0, 0, 0]
    assert p.within("weekly") == Duration(weeks=4) and p.within("daily").is_zero()
    for name in ("last", "nope", "keep_daily", ""):
        with pytest.raises(KeyError):
            p.within(name)
    with pytest.raises(KeyError):
        p.count("keep_daily")


def test_a_coarse_bucket_never_changes_within_a_wall_clock_day() -> None:
    """What the planner's same-day shortcuts rely on.

    And a bucket never spans more than its length.
    """
    start = datetime(2026, 3, 27, tzinfo=UTC)
    for zone in ZONES:
        times = [
            (start + timedelta(minutes=37 * i)).astimezone(zone) for i in range(2000)
        ]  # spring forward
        times += [
            (datetime(2026, 10, 20, tzinfo=UTC) + timedelta(minutes=29 * i)).astimezone(zone)
            for i in range(600)
        ]  # fall back
        times += [
            (datetime(2026, 12, 28, tzinfo=UTC) + timedelta(minutes=41 * i)).astimezone(zone)
            for i in range(600)
        ]
        for r in CALENDARS:
            by_day: dict[tuple[int, int, int], set[int]] = {}
            span: dict[int, list[datetime]] = {}
            for t in times:
                by_day.setdefault((t.year, t.month, t.day), set()).add(r.key(t, 0))
                span.setdefault(r.key(t, 0), []).append(t)
            if r.coarse:
                assert all(len(keys) == 1 for keys in by_day.values()), r.name
            else:
                assert any(len(keys) > 1 for keys in by_day.values()), r.name
            assert all(max(ts) - min(ts) < r.length + timedelta(hours=1) for ts in span.values()), (
                r.name
            )  # DST
    assert not rule("last").coarse and rule("last").key(start, 5) != rule("last").key(start, 6)


def test_bucket_labels() -> None:
    t = datetime(2027, 1, 3, 14, 5, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert [bucket_label(r.name, t) for r in CALENDARS] == [
        "2027-01-03 14:00",
        "2027-01-03",
        "2026-W53",
        "2027-01",
        "2027",
    ]
    with pytest.raises(KeyError):
        bucket_label("last", t)


def test_counts_are_checked_in_one_place() -> None:
    assert (
        count_problem(-1) is None and count_problem(0) is None and count_problem(MAX_COUNT) is None
    )
    assert (
        count_problem(10**40, None) is None
    )  # Policy itself has no upper bound (the CLI's Go range is larger)
    assert count_problem(MAX_COUNT + 1) == (
        "1000001 is not a count: expected an integer from -1 (unlimited) to 1000000; 0 = off"
    )
    assert count_problem(10**40) == (
        "a 41-digit number is not a count: "
        "expected an integer from -1 (unlimited) to 1000000; 0 = off"
    )
    assert (
        count_problem(True) is not None
        and count_problem("3") is not None
        and count_problem(-2, None) is not None
    )
    with pytest.raises(PolicyError, match=r"^keep_daily: -2 is not a count"):
        Policy(keep_daily=-2)
    with pytest.raises(PolicyError) as exc:
        Policy.from_mapping({"keep_hourly": 2_000_000, "keep_last": "x"}, where="policy[0]")
    assert exc.value.problems == [
        "policy[0].keep_last: 'x' is not a count: "
        "expected an integer from -1 (unlimited) to 1000000; 0 = off",
        "policy[0].keep_hourly: 2000000 is not a count: "
        "expected an integer from -1 (unlimited) to 1000000; 0 = off",
    ]


def test_policy_fields_and_table_agree() -> None:
    names = {f.name for f in dataclasses.fields(Policy)}
    assert names == {*COUNT_RULES, *WITHIN_RULES, "keep_tags", "keep_oldest"}


def test_importing_retention_does_not_import_croniter() -> None:
    """croniter's import runs a subprocess (platform.architecture()).

    So retention imports it on first use.
    """
    code = (
        "import sys, retention, retention.coverage, retention.overretention, retention.schedule; "
        "assert 'croniter' not in sys.modules, 'croniter imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    subprocess.run(
        [sys.executable, "-c", "import retention, sys; assert 'croniter' not in sys.modules"],
        check=True,
        timeout=60,
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_plan_leaves_the_collector_as_it_found_it(enabled: bool) -> None:
    snaps = [
        Snapshot(str(i), datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i), "g")
        for i in range(50)
    ]
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        plan(snaps, Policy(keep_last=-1), now=datetime(2026, 6, 1, tzinfo=UTC))
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError):
            plan(
                snaps, Policy(keep_last=1), now=datetime(2026, 6, 1, tzinfo=UTC), group_by=("nope",)
            )
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
