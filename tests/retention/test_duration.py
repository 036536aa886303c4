"""Duration parsing/printing and Go's AddDate arithmetic.

AddDate's month-end normalisation and DST gap/overlap included.
"""

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
        ("7d", Duration(days=7)),
        ("4w", Duration(weeks=4)),
        ("2m", Duration(months=2)),
        ("1y2m3d4h", Duration(1, 2, 0, 3, 4)),
        ("1y2m3w4d5h", Duration(1, 2, 3, 4, 5)),
        (" 12h ", Duration(hours=12)),
        ("0d", Duration()),
    ],
)
def test_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("7", "at '7'"),
        ("d", "at 'd'"),
        ("7x", "at '7x'"),
        ("1d1d", "repeats"),
        ("1d2m", "order"),
        ("-1d", "at '-1d'"),
        ("1.5d", "at '1.5d'"),
        ("1d 2h", "at ' 2h'"),
    ],
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
        ((2026, 3, 31), (0, -1, 0), (2026, 3, 3)),  # 31 Feb -> 3 Mar (Go normalises forward)
        ((2024, 3, 31), (0, -1, 0), (2024, 3, 2)),  # leap year: 31 Feb -> 2 Mar
        ((2026, 5, 31), (0, -1, 0), (2026, 5, 1)),  # 31 Apr -> 1 May
        ((2024, 2, 29), (-1, 0, 0), (2023, 3, 1)),  # 29 Feb 2023 -> 1 Mar
        ((2026, 1, 31), (0, 1, 0), (2026, 3, 3)),
        ((2026, 1, 1), (0, 0, -1), (2025, 12, 31)),
        ((2026, 3, 1), (0, -14, -3), (2024, 12, 29)),
        ((2026, 12, 31), (0, 2, 0), (2027, 3, 3)),
    ],
)
def test_go_add_date_month_end(
    start: tuple[int, int, int], ymd: tuple[int, int, int], expected: tuple[int, int, int]
) -> None:
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
    assert Duration(hours=3).cutoff(newest) == datetime(
        2026, 3, 28, 23, 0, tzinfo=UTC
    )  # not 00:00Z
    assert Duration(days=1, hours=3).cutoff(newest) == datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
    assert Duration(weeks=1, days=1).cutoff(newest) == go_add_date(newest, 0, 0, -8)


def test_cutoff_far_back_is_before_everything() -> None:
    """A duration reaching before year 1 keeps everything instead of crashing."""
    newest = datetime(2026, 1, 1, tzinfo=UTC)
    assert Duration(years=5000).cutoff(newest) < datetime(1, 1, 2, tzinfo=UTC)


# --- issue 11: bounds, restic's own syntax, and no exception but DurationError --------------


@pytest.mark.parametrize(
    "text",
    [
        "9" * 5000 + "d",
        "10000y",
        "2147483648d",
        "99999999999h",
        "1001y",
        "365243d",
        "12001m",
        "500y6001m",
    ],
)
def test_too_long_durations_are_refused(text: str) -> None:
    for parse in (Duration.parse, Duration.parse_restic):
        with pytest.raises(DurationError, match=r"too long|digit") as info:
            parse(text)
        assert len(str(info.value)) < 200  # one short line, even for 5000 digits


@pytest.mark.parametrize("text", ["1000y", "12000m", "365242d", "52000w", "8765000h"])
def test_the_longest_durations_parse_and_cut_off(text: str) -> None:
    d = Duration.parse(text)
    cut = d.cutoff(datetime(2026, 1, 1, tzinfo=UTC))
    assert datetime(1020, 1, 1, tzinfo=UTC) < cut < datetime(1030, 1, 1, tzinfo=UTC)


def test_non_ascii_digits_are_refused() -> None:
    for text in ("٣d", "１d", "²d"):
        with pytest.raises(DurationError):
            Duration.parse(text)
        with pytest.raises(DurationError):
            Duration.parse_restic(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1y1d1m", Duration(years=1, months=1, days=1)),  # any order (restic 0.14)
        ("1d2d", Duration(days=2)),  # a repeated unit overrides the earlier one
        ("2m1y3m", Duration(years=1, months=3)),
        ("12h5d", Duration(days=5, hours=12)),
        ("-1d", Duration(days=-1)),  # restic: a negative number
        ("1m-3d", Duration(months=1, days=-3)),
        ("", Duration()),
        ("  ", Duration()),
        ("\u00a07d\u3000", Duration(days=7)),  # Go's TrimSpace
        ("007d", Duration(days=7)),
        ("4w", Duration(weeks=4)),  # w: our extension
        ("2562047h", Duration(hours=2562047)),
    ],
)
def test_parse_restic(text: str, expected: Duration) -> None:
    assert Duration.parse_restic(text) == expected


@pytest.mark.parametrize(
    "text", ["7", "d", "1x", "1d ", "1 d", "--1d", "1d-", "1.5d", "+1d", "1D", "2562048h"]
)
def test_parse_restic_rejects(text: str) -> None:
    if text == "1d ":
        assert Duration.parse_restic(text) == Duration(days=1)  # trailing space is trimmed
        return
    with pytest.raises(DurationError):
        Duration.parse_restic(text)


def test_a_negative_restic_duration_keeps_nothing_older_than_the_newest() -> None:
    newest = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert Duration.parse_restic("-1d").cutoff(newest) == newest + timedelta(days=1)
    assert Duration(days=-3_000_000).cutoff(newest) == datetime.max.replace(tzinfo=UTC)


_DURATION_TEXT = st.text(alphabet="0123456789ymwdhx- .٣", max_size=30) | st.builds(
    lambda n, u: f"{n}{u}", st.integers(0, 10**40), st.sampled_from("ymwdh")
)


@given(_DURATION_TEXT)
def test_any_text_parses_or_raises_duration_error(text: str) -> None:
    for parse in (Duration.parse, Duration.parse_restic):
        try:
            d = parse(text)
        except DurationError:
            continue
        now = datetime(2026, 11, 23, tzinfo=UTC)
        assert d.cutoff(now).tzinfo is not None  # bounded: the cut-off is computed, never raises
        if parse is Duration.parse and not d.is_zero():
            assert Duration.parse(str(d)) == d
