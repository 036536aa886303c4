"""Durations such as ``2m``, ``4w``, ``1y2m3d4h`` and restic's calendar arithmetic.

restic (0.14) knows the units ``y m d h``; ``w`` (weeks, counted as 7 days) is our extension.
A cut-off is computed the way restic does it: Go's ``time.AddDate(-y, -m, -d)`` on the
newest snapshot's wall clock (normalising overflowing days, so 31 March minus 1 month is
3 March), then ``Add(-hours)`` as an absolute duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = ["Duration", "DurationError", "go_add_date"]

_TOKEN = re.compile(r"(\d+)([ymwdh])")
_UNIT_ORDER = "ymwdh"
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class DurationError(ValueError):
    """A duration string that is not of the form ``1y2m3w4d5h``."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar duration: years, months, weeks, days and hours, each non-negative."""

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
                out-of-order unit, or a negative value.
        """
        s = text.strip()
        if not s:
            raise DurationError(f"empty duration {text!r}: expected e.g. '7d', '4w', '2m', '1y2m3d4h'")
        values: dict[str, int] = {}
        pos = 0
        for match in _TOKEN.finditer(s):
            if match.start() != pos:
                break
            unit = match.group(2)
            if unit in values:
                raise DurationError(f"duration {text!r} repeats the unit {unit!r}")
            if values and _UNIT_ORDER.index(unit) < max(_UNIT_ORDER.index(u) for u in values):
                raise DurationError(f"duration {text!r}: units must be in the order y, m, w, d, h")
            values[unit] = int(match.group(1))
            pos = match.end()
        if pos != len(s):
            raise DurationError(
                f"invalid duration {text!r} at {s[pos:]!r}: expected numbers with units "
                "y (years), m (months), w (weeks), d (days), h (hours), e.g. '1y2m3d4h'"
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
        parts = [(self.years, "y"), (self.months, "m"), (self.weeks, "w"), (self.days, "d"), (self.hours, "h")]
        return "".join(f"{n}{u}" for n, u in parts if n)

    def cutoff(self, newest: datetime) -> datetime:
        """Return the instant ``self`` before ``newest``, with restic's arithmetic.

        The result is in UTC: the hours are subtracted as absolute time (Go's ``Add``), which
        Python's same-zone arithmetic would not do across a DST change.
        Snapshots strictly after the cut-off are "within" the duration. A cut-off before
        year 1 (which Python cannot represent) is clamped to the earliest representable
        instant, so everything is within, as in restic.
        """
        try:
            back = go_add_date(newest, -self.years, -self.months, -(self.days + 7 * self.weeks))
            return back.astimezone(UTC) - timedelta(hours=self.hours)
        except (ValueError, OverflowError):
            return _EARLIEST


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
