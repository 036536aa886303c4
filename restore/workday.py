"""The working-day clock: opening hours, public holidays and DST-correct working time.

Opening hours are wall-clock times in the calendar's timezone. Every opening interval of a
local date is turned into two absolute instants with zoneinfo, and working time is the real
elapsed time inside those intervals. With ordinary office hours a DST switch (at night)
changes nothing; an interval that spans a switch counts the time that really passed.

A wall time that does not exist (the spring-forward gap) is read with the offset before the
switch (zoneinfo ``fold=0``), an ambiguous one as its first occurrence.

Pure: no I/O, no clock; depends on the standard library and ``holidays`` only.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import holidays

__all__ = [
    "DAYS",
    "DEFAULT_HOURS",
    "MAX_TARGET_HOURS",
    "Interval",
    "WorkdayError",
    "WorkingCalendar",
    "format_iso_duration",
    "parse_target",
    "parse_working_hours",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS: Mapping[str, str] = {"mon-thu": "09:00-17:00", "fri": "09:00-16:00"}
NO_HOLIDAYS = ("none", "-")
_MAX_DAYS = 366 * 20  # a bound on every day walk: no real target needs 20 years
MAX_TARGET_HOURS = 10_000
"""The longest drill target, in working hours (1,250 working days of 8 hours)."""
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_TARGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+working\s+(day|days|hour|hours)\s*$")


class WorkdayError(ValueError):
    """Bad working hours, timezone, country or target; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Interval:
    """One opening interval of a weekday, in wall-clock minutes since midnight (end may be 1440)."""

    start: int
    end: int


def _minutes(text: str, where: str, *, is_end: bool) -> int:
    m = _CLOCK.match(text.strip())
    if not m:
        raise WorkdayError(f"{where}: {text!r} is not a time of day (expected HH:MM, e.g. 09:00)")
    hh, mm = int(m.group(1)), int(m.group(2))
    if mm > 59 or hh > 24 or (hh == 24 and (mm or not is_end)):
        raise WorkdayError(
            f"{where}: {text!r} is not a time of day (expected 00:00..23:59, or 24:00 as an end)"
        )
    return hh * 60 + mm


def _intervals(value: str, where: str) -> tuple[Interval, ...]:
    """``"09:00-17:00"`` or ``"09:00-12:00,13:00-17:00"``; ``"closed"`` or ``""`` is no interval."""
    if value.strip().lower() in ("", "closed"):
        return ()
    out: list[Interval] = []
    for part in value.split(","):
        bounds = part.split("-")
        if len(bounds) != 2:
            raise WorkdayError(
                f"{where}: {part.strip()!r} is not a range (expected HH:MM-HH:MM, e.g. 09:00-17:00)"
            )
        start = _minutes(bounds[0], where, is_end=False)
        end = _minutes(bounds[1], where, is_end=True)
        if end <= start:
            raise WorkdayError(
                f"{where}: {part.strip()!r} ends before it starts (expected e.g. 09:00-17:00)"
            )
        if out and start < out[-1].end:
            raise WorkdayError(f"{where}: {value!r} has overlapping or unordered ranges")
        out.append(Interval(start, end))
    return tuple(out)


def _days(key: str) -> list[int]:
    """``"mon-thu"`` -> [0..3], ``"fri"`` -> [4], ``"mon,wed"`` -> [0, 2]."""
    days: list[int] = []
    for part in key.lower().split(","):
        names = [n.strip() for n in part.split("-")]
        if len(names) > 2 or not all(n in DAYS for n in names):
            raise WorkdayError(
                f"working_hours: {key!r} is not a day or day range "
                f"(expected day names {', '.join(DAYS)}, e.g. 'mon-thu' or 'fri')"
            )
        first, last = DAYS.index(names[0]), DAYS.index(names[-1])
        if last < first:
            raise WorkdayError(
                f"working_hours: {key!r} runs backwards (expected e.g. 'mon-fri', not 'fri-mon')"
            )
        days.extend(range(first, last + 1))
    return days


def parse_working_hours(hours: Mapping[str, str]) -> tuple[tuple[Interval, ...], ...]:
    """Parse ``{"mon-thu": "09:00-17:00", "fri": "09:00-16:00"}`` into intervals per weekday.

    Returns seven tuples (Monday first); days not named are closed.

    Raises:
        WorkdayError: an unknown day, a backwards range, a day named twice, a bad time or
            range, or no opening hours at all.
    """
    week: list[tuple[Interval, ...] | None] = [None] * 7
    for key, value in hours.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise WorkdayError(
                f"working_hours: {key!r} = {value!r}: expected a day name and an 'HH:MM-HH:MM' text"
            )
        intervals = _intervals(value, f"working_hours.{key}")
        for day in _days(key):
            if week[day] is not None:
                raise WorkdayError(
                    f"working_hours: {DAYS[day]} is given twice (in {key!r} and an earlier key)"
                )
            week[day] = intervals
    result = tuple(w or () for w in week)
    if not any(result):
        raise WorkdayError(
            'working_hours: no opening hours on any day (expected e.g. mon-fri = "09:00-17:00")'
        )
    return result


def parse_target(text: str, working_day_hours: float = 8.0) -> timedelta:
    """``"1 working day"`` -> ``working_day_hours`` hours; ``"4 working hours"`` -> 4 h.

    Raises:
        WorkdayError: text not of the form '<number> working day(s)|hour(s)', a zero target,
            or a non-positive working day length.
    """
    if not math.isfinite(working_day_hours) or not 0 < working_day_hours <= 24:
        raise WorkdayError(
            f"working_day_hours: expected a number of hours in (0, 24], got {working_day_hours!r}"
        )
    m = _TARGET.match(text or "") if len(text or "") <= 100 else None
    if not m:
        raise WorkdayError(
            f"target: expected e.g. '1 working day' or '4 working hours', got {text!r:.100}"
        )
    amount = float(m.group(1))
    hours = amount * working_day_hours if m.group(2).startswith("day") else amount
    if hours <= 0:
        raise WorkdayError(f"target: expected a positive amount of working time, got {text!r}")
    if hours > MAX_TARGET_HOURS:
        raise WorkdayError(
            f"target: {text!r} is too long: expected at most {MAX_TARGET_HOURS} working hours "
            f"({MAX_TARGET_HOURS / working_day_hours:g} working days of {working_day_hours:g} h)"
        )
    return timedelta(hours=hours)


def format_iso_duration(d: timedelta) -> str:
    """ISO 8601 duration in hours, minutes and seconds: 8 h -> ``PT8H``, 90 s -> ``PT1M30S``."""
    total = d.total_seconds()
    sign, total = ("-", -total) if total < 0 else ("", total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{int(hours)}H" if hours else "", f"{int(minutes)}M" if minutes else ""]
    if seconds or not (hours or minutes):
        parts.append(f"{seconds:.6f}".rstrip("0").rstrip(".") + "S")
    return f"{sign}PT{''.join(parts)}"


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkdayError(
            f"timezone: expected an IANA zone such as 'Europe/Amsterdam', got {tz!r}"
        ) from None


def _holidays(country: str | None) -> holidays.HolidayBase | None:
    if country is None or country.strip().lower() in NO_HOLIDAYS:
        return None
    import holidays  # imported here: it is large and only drills need it

    code, _, subdiv = country.strip().partition("-")
    try:
        return holidays.country_holidays(code.upper(), subdiv=subdiv or None)
    except NotImplementedError:
        raise WorkdayError(
            f"holidays: {country!r} is not a country python-holidays knows "
            "(expected an ISO code such as 'NL', 'BE', 'DE', or 'none')"
        ) from None


class _HolidayTable:
    """A country's holiday table, loaded once: on first use, or ahead in a background thread
    (python-holidays takes ~0.1 s to import and build; a drill loads it while it restores)."""

    def __init__(self, country: str | None) -> None:
        self.country = country
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self._table: holidays.HolidayBase | None = None
        self._error: Exception | None = None

    def _claim(self) -> bool:
        with self._lock:
            first, self._started = not self._started, True
        return first

    def start(self) -> None:
        """Begin loading in a daemon thread, unless loading has begun already."""
        if self._claim():
            threading.Thread(target=self._load, name="holidays", daemon=True).start()

    def _load(self) -> None:
        try:
            self._table = _holidays(self.country)
        except Exception as exc:  # kept for get(), which raises it in the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def get(self) -> holidays.HolidayBase | None:
        """The table (None: no holidays); waits for a background load.

        Raises:
            WorkdayError: the country is not one python-holidays knows.
        """
        if self._claim():
            self._load()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._table


class WorkingCalendar:
    """Working time under opening hours, a timezone and a country's public holidays.

    ``hours`` uses the config syntax (``{"mon-thu": "09:00-17:00", "fri": "09:00-16:00"}``),
    ``tz`` an IANA zone, ``country`` a python-holidays code (``"NL"``; ``"none"`` or None for
    no holidays). Raises WorkdayError on bad input; with ``lazy_holidays`` an unknown country
    is only found when the holidays are first needed (see :meth:`preload`).
    """

    def __init__(
        self,
        hours: Mapping[str, str] = DEFAULT_HOURS,
        tz: str | ZoneInfo = "Europe/Amsterdam",
        country: str | None = "NL",
        *,
        lazy_holidays: bool = False,
    ) -> None:
        self.week = parse_working_hours(hours)
        self.tz = _zone(tz)
        self.country = country
        self._holidays = _HolidayTable(country)
        if not lazy_holidays:
            self._holidays.get()
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def preload(self) -> None:
        """Start loading the holiday table in a background thread (a no-op once it is loading
        or loaded), so that work waiting on I/O meanwhile hides its cost."""
        self._holidays.start()

    def holiday_name(self, day: date) -> str | None:
        """The public holiday on ``day`` (local date), or None.

        Raises:
            WorkdayError: a lazily loaded country turned out unknown.
        """
        table = self._holidays.get()
        if table is None:
            return None
        name = table.get(day)
        return str(name) if name else None

    def open_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The opening intervals of a local date as absolute UTC instants (none on holidays)."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        out: tuple[tuple[datetime, datetime], ...] = ()
        if self.holiday_name(day) is None:
            try:
                out = tuple(
                    (self._instant(day, iv.start), self._instant(day, iv.end))
                    for iv in self.week[day.weekday()]
                )
            except OverflowError:  # 9999-12-31 24:00, or a wall time before year 1 in UTC
                out = ()
        self._cache[day] = out
        return out

    def _instant(self, day: date, minute: int) -> datetime:
        if minute >= 24 * 60:
            day, minute = day + timedelta(days=1), minute - 24 * 60
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.tz).astimezone(
            UTC
        )

    def _local_date(self, t: datetime, what: str) -> date:
        try:
            return _aware(t, what).astimezone(self.tz).date()
        except OverflowError:
            raise WorkdayError(
                f"{what}: {t.isoformat()} is outside the calendar in {self.tz} (expected a time "
                "between 0001-01-01 and 9999-12-31 there)"
            ) from None

    def _intervals_from(self, t: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals that end after ``t``, in time order (bounded walk)."""
        day = max(self._local_date(t, "start"), date.min + timedelta(days=1)) - timedelta(days=1)
        for _ in range(_MAX_DAYS):
            for start, end in self.open_intervals(day):
                if end > t:
                    yield start, end
            if day == date.max:
                raise WorkdayError(
                    f"not enough working time between {t.isoformat()} and the end of the calendar "
                    "(9999-12-31): expected a time well before year 9999"
                )
            day += timedelta(days=1)
        raise WorkdayError(f"no working time found within {_MAX_DAYS} days of {t.isoformat()}")

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The deadline: the instant at which ``amount`` of working time after ``start`` has passed.

        Counting starts at ``start`` if it is inside opening hours, else at the next opening.
        The result is inside an opening interval or exactly at a closing time; for a zero
        amount it is the moment counting starts. Returned in the calendar's timezone.

        Raises:
            WorkdayError: a naive ``start`` or a negative ``amount``.
        """
        t = _aware(start, "start").astimezone(UTC)
        if amount < timedelta(0):
            raise WorkdayError(f"working time to add must not be negative, got {amount}")
        left = amount
        for open_at, close_at in self._intervals_from(t):
            begin = max(open_at, t)
            if begin + left <= close_at:
                return (begin + left).astimezone(self.tz)
            left -= close_at - begin
        raise AssertionError(
            "unreachable: _intervals_from raises when exhausted"
        )  # pragma: no cover

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time inside [a, b]; negative when ``b`` is before ``a``.

        Raises:
            WorkdayError: a naive time.
        """
        ta, tb = _aware(a, "from").astimezone(UTC), _aware(b, "to").astimezone(UTC)
        if tb < ta:
            return -self.working_time_between(b, a)
        total = timedelta(0)
        for open_at, close_at in self._intervals_from(ta):
            if open_at >= tb:
                break
            total += min(close_at, tb) - max(open_at, ta)
        return total

    def is_open(self, t: datetime) -> bool:
        """True when ``t`` is inside opening hours (closing time itself is closed)."""
        u = _aware(t, "time").astimezone(UTC)
        day = self._local_date(u, "time")
        return any(
            s <= u < e for d in (day - timedelta(days=1), day) for s, e in self.open_intervals(d)
        )


def _aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise WorkdayError(
            f"{what}: {t.isoformat()} has no timezone (expected an aware time with an offset)"
        )
    try:
        t.astimezone(UTC)
    except OverflowError:
        raise WorkdayError(
            f"{what}: {t.isoformat()} is outside the calendar in UTC (expected a time between "
            "0001-01-01 and 9999-12-31 UTC)"
        ) from None
    return t
