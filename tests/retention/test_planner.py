"""Planner unit cases: DST folds, reason texts, grouping, keep_oldest, empty and edge inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from retention import SLA_SERVER, Duration, EmptyPolicyError, Policy, Snapshot, plan

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _ids(snaps: list[Snapshot], policy: Policy, now: datetime = NOW, **kw: object) -> list[str]:
    return [d.snapshot.id for d in plan(snaps, policy, now=now, **kw).kept()]  # type: ignore[arg-type]


def test_autumn_overlap_is_ordered_by_instant_not_wall_clock() -> None:
    """02:50 CEST (00:50Z) is older than 02:10 CET (01:10Z) although its wall clock is later.
    Python compares two times of one ZoneInfo by wall clock; the planner must not."""
    cest = datetime(2026, 10, 25, 2, 50, tzinfo=AMS)  # fold=0: first pass, CEST
    cet = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=AMS)
    assert cest.utcoffset() == timedelta(hours=2) and cet.utcoffset() == timedelta(hours=1)
    snaps = [Snapshot("cest", cest), Snapshot("cet", cet)]
    assert _ids(snaps, Policy(keep_last=1)) == ["cet"]
    assert _ids(snaps, Policy(keep_within=Duration(hours=1)), now=NOW) == ["cest", "cet"]


def test_now_in_the_same_zone_compares_by_instant() -> None:
    """A snapshot at 02:30 CEST is before `now` = 02:10 CET; it is the group's newest non-future."""
    past = Snapshot("past", datetime(2026, 10, 25, 2, 30, tzinfo=AMS))
    older = Snapshot("older", datetime(2026, 10, 24, 2, 0, tzinfo=AMS))
    now = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=AMS)
    assert _ids([past, older], Policy(keep_within=Duration(hours=2)), now=now) == ["past"]


def test_add_date_re_resolves_the_overlap_like_go() -> None:
    """Go's AddDate(0, 0, 0) on 02:30 CEST rebuilds the wall time 02:30, which time.Date resolves
    to CET, one hour later; so restic (run in that zone) computes `within 1h` of a newest at
    02:30 CEST as 01:30 CEST and does not keep the newest itself. We reproduce that."""
    newest = datetime(2026, 10, 25, 2, 30, tzinfo=AMS)
    assert Duration(hours=1).cutoff(newest).timestamp() == newest.timestamp()
    assert _ids([Snapshot("n", newest)], Policy(keep_within=Duration(hours=1))) == []
    fixed = newest.astimezone(
        timezone(timedelta(hours=2))
    )  # as restic's JSON gives it: fixed offset
    assert _ids([Snapshot("n", fixed)], Policy(keep_within=Duration(hours=1))) == ["n"]


def test_within_hours_are_absolute_across_the_spring_gap() -> None:
    newest = datetime(2026, 3, 29, 4, 0, tzinfo=AMS)  # 02:00Z
    snaps = [
        Snapshot("n", newest),
        Snapshot("in", datetime(2026, 3, 29, 0, 30, tzinfo=AMS)),  # 23:30Z
        Snapshot("out", datetime(2026, 3, 28, 23, 59, tzinfo=AMS)),
    ]  # 22:59Z
    assert _ids(snaps, Policy(keep_within=Duration(hours=3))) == ["n", "in"]


def test_reason_texts() -> None:
    t = datetime(2026, 11, 20, 2, 0, tzinfo=timezone(timedelta(hours=1)))
    snaps = [Snapshot("a", t, tags=("x", "y")), Snapshot("b", t - timedelta(days=30))]
    policy = Policy(
        keep_last=1,
        keep_hourly=1,
        keep_daily=1,
        keep_weekly=1,
        keep_monthly=2,
        keep_yearly=1,
        keep_within=Duration(days=2),
        keep_within_daily=Duration(weeks=1),
        keep_tags=(("x", "y"),),
    )
    result = plan(snaps, policy, now=NOW)
    assert [r.text for r in result.decisions[0].reasons] == [
        "tag x,y",
        "within 2d",
        "last 1",
        "hourly 2026-11-20 02:00",
        "daily 2026-11-20",
        "weekly 2026-W47",
        "monthly 2026-11",
        "yearly 2026",
        "daily 2026-11-20 within 1w",
    ]
    assert [r.text for r in result.decisions[1].reasons] == ["monthly 2026-10"]


def test_keep_oldest_marks_the_oldest() -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    snaps = [Snapshot(str(i), base + timedelta(hours=i)) for i in range(5)]
    result = plan(snaps, Policy(keep_daily=3, keep_oldest=True), now=NOW)
    assert [d.action for d in result.decisions] == ["keep", "forget", "forget", "forget", "keep"]
    assert result.decisions[0].reasons[0].text == "daily 2026-11-01 (oldest)"
    assert _ids(snaps, Policy(keep_daily=1, keep_oldest=True)) == ["4"]  # count used up: no oldest


def test_iso_week_53_and_year_crossing_week() -> None:
    snaps = [
        Snapshot(d, datetime.fromisoformat(d + "T12:00:00+00:00"))
        for d in (
            "2021-01-03",
            "2020-12-31",
            "2020-12-27",
            "2026-01-01",
            "2025-12-29",
            "2025-12-28",
        )
    ]
    result = plan(snaps, Policy(keep_weekly=-1), now=NOW)
    assert [(d.snapshot.id, d.action) for d in result.decisions if d.action == "keep"] == [
        ("2021-01-03", "keep"),
        ("2020-12-27", "keep"),
        ("2026-01-01", "keep"),
        ("2025-12-28", "keep"),
    ]
    assert result.decisions[0].reasons[0].text == "weekly 2020-W53"
    assert result.decisions[3].reasons[0].text == "weekly 2026-W01"


def test_grouping_and_unknown_field() -> None:
    t = datetime(2026, 11, 20, tzinfo=UTC)
    snaps = [
        Snapshot("a", t, host="h1", paths=("/b", "/a")),
        Snapshot("b", t - timedelta(days=1), host="h2"),
    ]
    result = plan(snaps, Policy(keep_last=1), now=NOW, group_by=("host", "paths"))
    assert [d.group for d in result.decisions] == ["host=h1 paths=/a,/b", "host=h2 paths="]
    assert len(result.kept()) == 2
    assert _ids(snaps, Policy(keep_last=1), group_by=()) == ["a"]
    with pytest.raises(ValueError, match="unknown grouping field 'user'"):
        plan(snaps, Policy(keep_last=1), now=NOW, group_by=("user",))


def test_empty_policy_and_input_and_naive_now() -> None:
    with pytest.raises(EmptyPolicyError):
        plan([], Policy(), now=NOW)
    assert plan([], SLA_SERVER, now=NOW).decisions == ()
    with pytest.raises(ValueError, match="aware"):
        plan([], SLA_SERVER, now=datetime(2026, 1, 1))


def test_all_future_means_everything_within() -> None:
    """No snapshot before now: restic's latest is the zero time, so every snapshot is within."""
    snaps = [Snapshot(str(i), NOW + timedelta(days=i + 1)) for i in range(3)]
    assert _ids(snaps, Policy(keep_within=Duration(days=1))) == ["0", "1", "2"]


def test_unlimited_count_keeps_one_per_bucket() -> None:
    base = datetime(2026, 1, 1, 0, tzinfo=UTC)
    snaps = [Snapshot(f"{i}", base + timedelta(hours=6 * i)) for i in range(40)]  # 4 a day, 10 days
    assert len(_ids(snaps, Policy(keep_daily=-1))) == 10
