"""Duration parsing/printing and Go's AddDate arithmetic (month-end normalisation, DST gap/overlap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention import Duration, DurationError, go_add_date

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", Duration(days=7)), ("4w", Duration(weeks=4)), ("2m", Duration(months=2)),
        ("1y2m3d4h", Duration(1, 2, 0, 3, 4)), ("1y2m3w4d5h", Duration(1, 2, 3, 4, 5)),
        (" 12h ", Duration(hours=12)), ("0d", Duration()),
    ],
)
def test_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "empty"), ("7", "at '7'"), ("d", "at 'd'"), ("7x", "at '7x'"), ("1d1d", "repeats"),
     ("1d2m", "order"), ("-1d", "at '-1d'"), ("1.5d", "at '1.5d'"), ("1d 2h", "at ' 2h'")],
)
def test_parse_rejects(text: str, needle: str) -> None:
    with pytest.raises(DurationError, match="duration") as info:
        Duration.parse(text)
    assert needle in str(info.value)


@given(st.builds(Duration, *(st.integers(0, 500) for _ in range(5))))
def test_print_parse_round_trip(d: Duration) -> None:
    assert d.is_zero() == (str(d) == "")
    if not d.is_zero():
        assert Duration.parse(str(d)) == d


def test_str() -> None:
    assert str(Duration(1, 2, 0, 3, 4)) == "1y2m3d4h"
    assert str(Duration(weeks=4)) == "4w"


@pytest.mark.parametrize(
    ("start", "ymd", "expected"),
    [
        ((2026, 3, 31), (0, -1, 0), (2026, 3, 3)),     # 31 Feb -> 3 Mar (Go normalises forward)
        ((2024, 3, 31), (0, -1, 0), (2024, 3, 2)),     # leap year: 31 Feb -> 2 Mar
        ((2026, 5, 31), (0, -1, 0), (2026, 5, 1)),     # 31 Apr -> 1 May
        ((2024, 2, 29), (-1, 0, 0), (2023, 3, 1)),     # 29 Feb 2023 -> 1 Mar
        ((2026, 1, 31), (0, 1, 0), (2026, 3, 3)),
        ((2026, 1, 1), (0, 0, -1), (2025, 12, 31)),
        ((2026, 3, 1), (0, -14, -3), (2024, 12, 29)),
        ((2026, 12, 31), (0, 2, 0), (2027, 3, 3)),
    ],
)
def test_go_add_date_month_end(start: tuple[int, int, int], ymd: tuple[int, int, int],
                               expected: tuple[int, int, int]) -> None:
    t = datetime(*start, 10, 30, 5, 123, tzinfo=UTC)
    out = go_add_date(t, *ymd)
    assert (out.year, out.month, out.day) == expected
    assert (out.hour, out.minute, out.second, out.microsecond) == (10, 30, 5, 123)


def test_go_add_date_dst_gap_moves_forward_like_go() -> None:
    """02:30 does not exist on 2026-03-29 in Amsterdam; Go's time.Date gives 03:30 CEST."""
    out = go_add_date(datetime(2026, 3, 30, 2, 30, tzinfo=AMS), 0, 0, -1)
    assert out.isoformat() == "2026-03-29T03:30:00+02:00"
    assert out.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_go_add_date_dst_overlap_takes_the_later_offset_like_go() -> None:
    """02:30 happens twice on 2026-10-25 in Amsterdam; Go's time.Date picks CET (+01:00)."""
    out = go_add_date(datetime(2026, 10, 26, 2, 30, tzinfo=AMS), 0, 0, -1)
    assert out.utcoffset() == timedelta(hours=1)
    assert out.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_go_add_date_fixed_offset_ignores_dst() -> None:
    t = datetime(2026, 3, 30, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    assert go_add_date(t, 0, 0, -1).isoformat() == "2026-03-29T02:30:00+02:00"


def test_go_add_date_rejects_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        go_add_date(datetime(2026, 1, 1), 0, 0, 1)


def test_cutoff_hours_are_absolute_after_the_calendar_step() -> None:
    """restic: latest.AddDate(-y, -m, -d).Add(-h): the hours cross DST as real hours."""
    newest = datetime(2026, 3, 29, 4, 0, tzinfo=AMS)  # 02:00 UTC, after the gap
    assert Duration(hours=3).cutoff(newest) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # not 00:00Z
    assert Duration(days=1, hours=3).cutoff(newest) == datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
    assert Duration(weeks=1, days=1).cutoff(newest) == go_add_date(newest, 0, 0, -8)


def test_cutoff_far_back_is_before_everything() -> None:
    """A duration reaching before year 1 keeps everything instead of crashing."""
    newest = datetime(2026, 1, 1, tzinfo=UTC)
    assert Duration(years=5000).cutoff(newest) < datetime(1, 1, 2, tzinfo=UTC)
