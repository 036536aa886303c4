"""The working-day clock: known answers (holidays, Fridays, nights, DST) and invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restore.workday import (
    MAX_TARGET_HOURS,
    WorkdayError,
    WorkingCalendar,
    format_iso_duration,
    parse_target,
    parse_working_hours,
)

AMS = ZoneInfo("Europe/Amsterdam")
DAY = timedelta(hours=8)
CAL = WorkingCalendar()  # defaults: Mon-Thu 09-17, Fri 09-16, NL, Europe/Amsterdam


def ams(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc,arg-type]


def test_christmas_eve_request_is_due_monday_after_christmas() -> None:
    # Thu 24th: 30 min left; Fri 25 + Sat 26 holidays, Sun 27; Mon 28 09:00 + 7h30.
    deadline = CAL.add_working_time(ams(2026, 12, 24, 16, 30), DAY)
    assert deadline == ams(2026, 12, 28, 16, 30)
    assert deadline.utcoffset() == timedelta(hours=1)
    assert CAL.working_time_between(ams(2026, 12, 24, 16, 30), deadline) == DAY


def test_koningsdag_2026_monday_is_skipped() -> None:
    assert CAL.holiday_name(date(2026, 4, 27)) is not None
    # Fri 24 April 15:00: 1 h until 16:00; Mon 27 is King's Day; Tue 28 09:00 + 7 h.
    assert CAL.add_working_time(ams(2026, 4, 24, 15, 0), DAY) == ams(2026, 4, 28, 16, 0)


def test_koningsdag_moves_to_26_april_when_27th_is_a_sunday() -> None:
    assert CAL.holiday_name(date(2025, 4, 26)) is not None
    assert CAL.holiday_name(date(2025, 4, 27)) is None


def test_liberation_day_only_in_lustrum_years() -> None:
    assert CAL.holiday_name(date(2025, 5, 5)) is not None
    assert CAL.holiday_name(date(2030, 5, 5)) is not None
    assert CAL.holiday_name(date(2026, 5, 5)) is None


def test_friday_afternoon_request_closes_at_16_and_continues_monday() -> None:
    # Fri 2026-11-20 14:00: 2 h until 16:00; Mon 23 09:00 + 6 h = 15:00.
    assert CAL.add_working_time(ams(2026, 11, 20, 14, 0), DAY) == ams(2026, 11, 23, 15, 0)


def test_sunday_night_request_starts_counting_monday_morning() -> None:
    start = ams(2026, 11, 22, 3, 0)
    assert CAL.add_working_time(start, DAY) == ams(2026, 11, 23, 17, 0)
    assert CAL.add_working_time(start, timedelta(0)) == ams(2026, 11, 23, 9, 0)


@pytest.mark.parametrize(
    ("start", "deadline", "offset_after"),
    [
        # spring forward in the night of Sat 28 -> Sun 29 March 2026
        (ams(2026, 3, 27, 15, 0), ams(2026, 3, 30, 16, 0), 2),
        (ams(2026, 3, 29, 3, 0), ams(2026, 3, 30, 17, 0), 2),
        # fall back in the night of Sat 24 -> Sun 25 October 2026
        (ams(2026, 10, 23, 15, 0), ams(2026, 10, 26, 16, 0), 1),
        (ams(2026, 10, 25, 2, 30), ams(2026, 10, 26, 17, 0), 1),
    ],
)
def test_dst_weekends_leave_working_time_alone(
    start: datetime, deadline: datetime, offset_after: int
) -> None:
    got = CAL.add_working_time(start, DAY)
    assert got == deadline
    assert got.utcoffset() == timedelta(hours=offset_after)
    # the absolute time is the local wall time minus the offset valid after the switch
    assert got.astimezone(UTC).hour == deadline.hour - offset_after


def test_interval_spanning_a_dst_switch_counts_real_elapsed_time() -> None:
    cal = WorkingCalendar({"sun": "00:00-24:00"}, country="none")
    assert cal.working_time_between(ams(2026, 3, 29, 0, 0), ams(2026, 3, 30, 0, 0)) == timedelta(
        hours=23
    )
    assert cal.working_time_between(ams(2026, 10, 25, 0, 0), ams(2026, 10, 26, 0, 0)) == timedelta(
        hours=25
    )


def test_times_in_other_zones_are_converted() -> None:
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam
    assert CAL.add_working_time(start, timedelta(hours=1)) == ams(2026, 11, 23, 10, 0)


def test_working_time_between_reversed_is_negative() -> None:
    a, b = ams(2026, 11, 23, 10, 0), ams(2026, 11, 23, 12, 0)
    assert CAL.working_time_between(b, a) == -timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("1 working day", 8),
        ("2 working days", 16),
        ("4 working hours", 4),
        ("1 working hour", 1),
        ("0.5 working day", 4),
    ],
)
def test_parse_target(text: str, hours: float) -> None:
    assert parse_target(text, 8) == timedelta(hours=hours)


@pytest.mark.parametrize(
    "text", ["1 day", "working day", "one working day", "0 working days", "", "1 working week"]
)
def test_parse_target_rejects_with_expected_form(text: str) -> None:
    with pytest.raises(WorkdayError, match="expected"):
        parse_target(text, 8)


def test_parse_working_hours_ranges_singles_lists_and_split_days() -> None:
    week = parse_working_hours({"mon-wed": "09:00-17:00", "thu,sat": "08:00-12:00,13:00-24:00"})
    assert [len(d) for d in week] == [1, 1, 1, 2, 0, 2, 0]
    assert week[3][1].end == 24 * 60


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon-fry": "09:00-17:00"}, "not a day"),
        ({"fri-mon": "09:00-17:00"}, "backwards"),
        ({"mon-fri": "09:00-17:00", "fri": "09:00-16:00"}, "fri is given twice"),
        ({"mon": "9-17"}, "not a time of day"),
        ({"mon": "17:00-09:00"}, "ends before it starts"),
        ({"mon": "09:00-25:00"}, "not a time of day"),
        ({"mon": "09:00"}, "not a range"),
        ({"mon": "09:00-12:00,11:00-13:00"}, "overlapping"),
        ({"mon": "closed"}, "no opening hours"),
    ],
)
def test_bad_working_hours_are_named(hours: dict[str, str], message: str) -> None:
    with pytest.raises(WorkdayError, match=message):
        parse_working_hours(hours)


def test_bad_timezone_country_and_naive_times() -> None:
    with pytest.raises(WorkdayError, match="IANA"):
        WorkingCalendar(tz="Mars/Olympus")
    with pytest.raises(WorkdayError, match="python-holidays"):
        WorkingCalendar(country="XX")
    with pytest.raises(WorkdayError, match="no timezone"):
        CAL.add_working_time(datetime(2026, 1, 5, 9, 0), DAY)


def test_a_lazy_calendar_loads_its_holidays_on_first_use_or_ahead_in_the_background() -> None:
    lazy = WorkingCalendar(country="XX", lazy_holidays=True)  # not known yet
    with pytest.raises(WorkdayError, match="python-holidays"):
        lazy.holiday_name(date(2026, 12, 25))
    with pytest.raises(WorkdayError, match="python-holidays"):  # and again: the error is kept
        lazy.add_working_time(datetime(2026, 12, 24, 16, 30, tzinfo=AMS), DAY)
    ahead = WorkingCalendar(country="NL", lazy_holidays=True)
    ahead.preload()
    ahead.preload()  # one load, whatever the number of calls
    start = datetime(2026, 12, 24, 16, 30, tzinfo=AMS)
    assert ahead.add_working_time(start, DAY) == CAL.add_working_time(start, DAY)
    assert (
        ahead.holiday_name(date(2026, 12, 25)) == CAL.holiday_name(date(2026, 12, 25)) is not None
    )
    on_use = WorkingCalendar(country="NL", lazy_holidays=True)
    assert on_use.holiday_name(date(2026, 4, 27)) == CAL.holiday_name(date(2026, 4, 27)) is not None


def test_format_iso_duration() -> None:
    assert format_iso_duration(timedelta(hours=8)) == "PT8H"
    assert format_iso_duration(timedelta(minutes=90, seconds=5)) == "PT1H30M5S"
    assert format_iso_duration(timedelta(0)) == "PT0S"
    assert format_iso_duration(timedelta(seconds=1.5)) == "PT1.5S"


# -- invariants -------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(AMS)
)
amounts = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=60)).map(
    lambda d: timedelta(seconds=int(d.total_seconds()))
)


@settings(max_examples=150, deadline=None)
@given(a=starts, b=starts, amount=amounts)
def test_deadline_is_monotone_in_start(a: datetime, b: datetime, amount: timedelta) -> None:
    a, b = sorted((a, b))
    assert CAL.add_working_time(a, amount) <= CAL.add_working_time(b, amount)


@settings(max_examples=150, deadline=None)
@given(start=starts, amount=amounts)
def test_working_time_up_to_the_deadline_is_the_amount(start: datetime, amount: timedelta) -> None:
    assert CAL.working_time_between(start, CAL.add_working_time(start, amount)) == amount


@settings(max_examples=150, deadline=None)
@given(start=starts, amount=amounts)
def test_deadline_is_inside_working_hours_or_at_closing(start: datetime, amount: timedelta) -> None:
    deadline = CAL.add_working_time(start, amount)
    assert CAL.is_open(deadline) or CAL.is_open(deadline - timedelta(microseconds=1))
    assert deadline >= start


# --- issue 11: absurd targets and the datetime range's ends give a WorkdayError, never a traceback


@pytest.mark.parametrize(
    ("text", "day_hours"),
    [
        ("99999999999 working days", 8.0),
        ("100000 working hours", 8.0),
        ("1 working day", float("nan")),
        ("1 working day", float("inf")),
        ("1 working day", 25.0),
        ("1251 working days", 8.0),
    ],
)
def test_absurd_targets_are_refused(text: str, day_hours: float) -> None:
    with pytest.raises(WorkdayError, match="expected"):
        parse_target(text, day_hours)


def test_the_longest_target_is_accepted() -> None:
    assert parse_target(f"{MAX_TARGET_HOURS} working hours") == timedelta(hours=MAX_TARGET_HOURS)


@pytest.mark.parametrize(
    "start",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
    ],
)
def test_deadlines_at_the_ends_of_time_raise_workday_error(start: datetime) -> None:
    calendar = WorkingCalendar(country="none")
    with pytest.raises(WorkdayError):
        calendar.add_working_time(start, timedelta(hours=8))


def test_a_deadline_in_year_one_is_computed() -> None:
    calendar = WorkingCalendar(country="none")
    deadline = calendar.add_working_time(datetime(1, 1, 1, tzinfo=UTC), timedelta(hours=8))
    assert deadline.year == 1
