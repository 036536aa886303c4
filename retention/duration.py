"""Durations such as ``2m``, ``4w``, ``1y2m3d4h`` and restic's calendar arithmetic.

restic (0.14) knows the units ``y m d h``; ``w`` (weeks, counted as 7 days) is our extension.
Two parsers: :meth:`Duration.parse` is the strict config syntax (units once each, in the
order y, m, w, d, h, numbers >= 0); :meth:`Duration.parse_restic` is restic 0.14's own
``ParseDuration`` (units in any order, a repeated unit overrides the earlier one, a ``-``
before a number makes it negative, empty text is the zero duration). Both refuse a
duration longer than :data:`MAX_YEARS` years (``10000y``, ``2147483648d``), whose cut-offs
Python (and, for hours, Go) cannot compute.
A cut-off is computed the way restic does it: Go's ``time.AddDate(-y, -m, -d)`` on the
newest snapshot's wall clock (normalising overflowing days, so 31 March minus 1 month is
3 March), then ``Add(-hours)`` as an absolute duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = ["MAX_YEARS", "Duration", "DurationError", "add_duration", "go_add_date"]

_TOKEN = re.compile(r"([0-9]+)([ymwdh])")  # ASCII digits only: restic's Atoi takes no others
_RESTIC_TOKEN = re.compile(r"(-?)([0-9]+)([ymwdh])")
_UNIT_ORDER = "ymwdh"
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
MAX_YEARS = 1000
"""The longest duration accepted, in (Gregorian, 365.2425-day) years, counting every unit."""
_MAX_DAYS = MAX_YEARS * 365.2425
_UNIT_DAYS = {"y": 365.2425, "m": 365.2425 / 12, "w": 7.0, "d": 1.0, "h": 1 / 24}
_MAX_DIGITS = 12  # longer numbers are refused before int() (which refuses 4300+ digits itself)
_GO_MAX_HOURS = (2**63 - 1) // (
    3600 * 10**9
)  # restic's time.Hour * n overflows (wraps) beyond this
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)  # Go's unicode.IsSpace, what strings.TrimSpace strips
_EXPECTED = (
    "expected numbers with units y (years), m (months), w (weeks), d (days), h (hours), "
    "e.g. '1y2m3d4h'"
)


class DurationError(ValueError):
    """A duration string that is not of the form ``1y2m3w4d5h``."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar duration: years, months, weeks, days and hours (non-negative, except from
    :meth:`parse_restic`), at most :data:`MAX_YEARS` years in total when parsed."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``text`` such as ``"2m"`` or ``"1y2m3d4h"``.

        Raises:
            DurationError: empty text, unknown unit, missing number, repeated or
                out-of-order unit, a negative value, or longer than :data:`MAX_YEARS` years.
        """
        s = text.strip()
        if not s:
            raise DurationError(
                f"empty duration {_short(text)}: expected e.g. '7d', '4w', '2m', '1y2m3d4h'"
            )
        values: dict[str, int] = {}
        pos = 0
        for match in _TOKEN.finditer(s):
            if match.start() != pos:
                break
            unit = match.group(2)
            if unit in values:
                raise DurationError(
                    f"duration {_short(text)} repeats the unit {unit!r} "
                    "(expected each unit once, e.g. '1y2m3d4h')"
                )
            if values and _UNIT_ORDER.index(unit) < max(_UNIT_ORDER.index(u) for u in values):
                raise DurationError(
                    f"duration {_short(text)}: units must be in the order y, m, w, d, h "
                    "(expected e.g. '1y2m3d4h')"
                )
            values[unit] = _number(match.group(1), text)
            pos = match.end()
        if pos != len(s):
            raise DurationError(
                f"invalid duration {_short(text)} at {_short(s[pos:])}: {_EXPECTED}"
            )
        return cls._bounded(values, text)

    @classmethod
    def parse_restic(cls, text: str) -> Duration:
        """Parse ``text`` exactly as restic 0.14's ``ParseDuration`` does (``--keep-within`` …).

        Units may come in any order; a repeated unit overrides the earlier one (``1d2d`` is
        2 days); a ``-`` right before a number makes it negative (the cut-off then lies after
        the newest snapshot); leading and trailing white space is ignored, and empty text is
        the zero duration (the rule is off). ``w`` (weeks) is our extension, which restic
        refuses. Restic also parses numbers that overflow its date arithmetic: those are
        refused here (see :data:`MAX_YEARS`; hours beyond Go's ``time.Duration`` range).

        Raises:
            DurationError: a missing number or unit, an unknown unit, or a too-long duration.
        """
        s = text.strip(_GO_SPACE)
        values: dict[str, int] = {}
        pos = 0
        for match in _RESTIC_TOKEN.finditer(s):
            if match.start() != pos:
                break
            sign, digits, unit = match.groups()
            values[unit] = -_number(digits, text) if sign else _number(digits, text)
            pos = match.end()
        if pos != len(s):
            raise DurationError(
                f"invalid duration {_short(text)} at {_short(s[pos:])}: {_EXPECTED} "
                "(restic's syntax: units in any order, a repeated unit overrides)"
            )
        if abs(values.get("h", 0)) > _GO_MAX_HOURS:
            raise DurationError(
                f"duration {_short(text)} is too long: expected at most {_GO_MAX_HOURS}h "
                "(restic's hour arithmetic overflows beyond)"
            )
        return cls._bounded(values, text)

    @classmethod
    def _bounded(cls, values: dict[str, int], text: str) -> Duration:
        if sum(abs(n) * _UNIT_DAYS[u] for u, n in values.items()) > _MAX_DAYS:
            raise DurationError(
                f"duration {_short(text)} is too long: expected at most {MAX_YEARS} years "
                f"in total (e.g. '{MAX_YEARS}y', '{MAX_YEARS * 12}m', '365242d')"
            )
        return cls(
            years=values.get("y", 0),
            months=values.get("m", 0),
            weeks=values.get("w", 0),
            days=values.get("d", 0),
            hours=values.get("h", 0),
        )

    def is_zero(self) -> bool:
        """Return True when every component is zero (the rule is off)."""
        return not (self.years or self.months or self.weeks or self.days or self.hours)

    def __str__(self) -> str:
        parts = [
            (self.years, "y"),
            (self.months, "m"),
            (self.weeks, "w"),
            (self.days, "d"),
            (self.hours, "h"),
        ]
        return "".join(f"{n}{u}" for n, u in parts if n)

    def cutoff(self, newest: datetime) -> datetime:
        """Return the instant ``self`` before ``newest``, with restic's arithmetic.

        The result is in UTC: the hours are subtracted as absolute time (Go's ``Add``), which
        Python's same-zone arithmetic would not do across a DST change.
        Snapshots strictly after the cut-off are "within" the duration. A cut-off before
        year 1 (which Python cannot represent) is clamped to the earliest representable
        instant, so everything is within, as in restic; a (negative, restic) cut-off after
        year 9999 is clamped to the latest instant, so nothing is.
        """
        try:
            back = go_add_date(newest, -self.years, -self.months, -(self.days + 7 * self.weeks))
            return back.astimezone(UTC) - timedelta(hours=self.hours)
        except (ValueError, OverflowError):
            return _EARLIEST if self._days() >= 0 else _LATEST

    def _days(self) -> float:
        """The approximate length in days (negative for a negative restic duration)."""
        return sum(
            n * _UNIT_DAYS[u]
            for n, u in (
                (self.years, "y"),
                (self.months, "m"),
                (self.weeks, "w"),
                (self.days, "d"),
                (self.hours, "h"),
            )
        )


def _number(digits: str, text: str) -> int:
    if len(digits) > _MAX_DIGITS:
        raise DurationError(
            f"duration {_short(text)} has a {len(digits)}-digit number: expected at most "
            f"{MAX_YEARS} years in total (e.g. '{MAX_YEARS}y', '365242d')"
        )
    return int(digits)


def _short(text: str) -> str:
    """``repr(text)``, cut to 40 characters: an error line stays one readable line."""
    return repr(text) if len(text) <= 40 else repr(text[:30]) + f"… ({len(text)} characters)"


def add_duration(t: datetime, d: Duration) -> datetime:
    """``t`` plus ``d`` with the same calendar arithmetic restic uses for cut-offs (forward).

    A result after year 9999 is clamped to the latest representable instant (a duration is
    at most :data:`MAX_YEARS` long, but ``t`` may be late itself).
    """
    try:
        return go_add_date(t, d.years, d.months, d.days + 7 * d.weeks) + timedelta(hours=d.hours)
    except (ValueError, OverflowError):
        return _LATEST


def go_add_date(t: datetime, years: int, months: int, days: int) -> datetime:
    """Emulate Go's ``t.AddDate(years, months, days)`` for an aware datetime.

    The wall clock in ``t``'s own zone is shifted; an overflowing month or day is
    normalised forward (Go semantics), and a wall time that falls in a DST gap or
    overlap is resolved the way Go's ``time.Date`` resolves it.
    """
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t.isoformat()} has no timezone")
    month_index = t.year * 12 + (t.month - 1) + months
    year, month0 = divmod(month_index, 12)
    year += years
    day = date(year, month0 + 1, 1) + timedelta(days=t.day - 1 + days)
    wall = datetime(day.year, day.month, day.day, t.hour, t.minute, t.second, t.microsecond)
    return _go_localize(wall, t.tzinfo)


def _go_localize(wall: datetime, zone: tzinfo) -> datetime:
    """Attach ``zone`` to the naive ``wall`` time as Go's ``time.Date`` does."""
    as_utc = wall.replace(tzinfo=UTC)
    guess = as_utc.astimezone(zone).utcoffset() or timedelta(0)
    instant = as_utc - guess
    actual = instant.astimezone(zone).utcoffset() or timedelta(0)
    if actual != guess:
        instant = as_utc - actual
    return instant.astimezone(zone)
