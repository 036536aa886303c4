"""The wall clock, overridable for tests and the demo with BACKUPCTL_NOW (ISO 8601 with offset),
and the one parser of the reference times people give on the command line (:func:`parse_at`)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, tzinfo

from backupctl.errors import UsageError


def now() -> datetime:
    """The current time, aware. ``BACKUPCTL_NOW`` (e.g. ``2026-11-23T10:00:00+01:00``) overrides it.

    Raises:
        UsageError: BACKUPCTL_NOW is set but not an ISO time with an offset.
    """
    fixed = os.environ.get("BACKUPCTL_NOW")
    if not fixed:
        return datetime.now(UTC)
    return parse_time(fixed, "BACKUPCTL_NOW")


def parse_time(text: str, what: str) -> datetime:
    """Parse an ISO 8601 time that carries an offset (``Z`` allowed).

    Raises:
        UsageError: naming ``what``, when the text is not such a time.
    """
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what}: {text!r} is not an ISO 8601 time (expected e.g. 2026-11-23T10:00:00+01:00)"
        ) from None
    if t.tzinfo is None:
        raise UsageError(
            f"{what}: {text!r} has no UTC offset (expected e.g. 2026-11-23T10:00:00+01:00 or …Z)"
        )
    return t


_AT_EXAMPLE = "now, 2026-11-23, 2026-11-23T10:00 (the config's timezone) or 2026-11-23T10:00+01:00"


def parse_at(text: str, zone: tzinfo, what: str = "--at") -> datetime:
    """A reference time as people type it, for ``--at`` (and its alias ``--now``), ``drill
    deadline --from`` …: ``now`` (the :func:`now` clock), an ISO 8601 time with an offset,
    a local time without one (``2026-11-23T10:00`` or ``2026-11-23 10:00``, in ``zone``), or a
    day (``2026-11-23``: midnight in ``zone``).

    A local time that falls in a DST gap is refused; one that occurs twice (the fall-back hour)
    is the first of the two.

    Raises:
        UsageError: naming ``what``, for anything else.
    """
    value = text.strip()
    if value.lower() == "now":
        return now()
    if len(value) == 10:
        try:
            d = date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{what}: {text!r} is not a time (expected {_AT_EXAMPLE})") from None
        return _local(datetime(d.year, d.month, d.day), zone, text, what)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a time (expected {_AT_EXAMPLE})") from None
    if t.tzinfo is None:
        return _local(t, zone, text, what)
    return t


def _local(naive: datetime, zone: tzinfo, text: str, what: str) -> datetime:
    t = naive.replace(tzinfo=zone, fold=0)
    try:
        back = t.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        raise UsageError(
            f"{what}: {text!r} is outside the supported range (expected {_AT_EXAMPLE})"
        ) from None
    if back != naive:
        raise UsageError(
            f"{what}: {text!r} does not exist in {zone} (the clocks skip it at the DST change); "
            "expected a time that does, or one with an offset"
        )
    return t


def last_full_month(at: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The last whole calendar month before ``at`` in ``zone``: (its first midnight, the
    next month's first midnight), e.g. at 2026-11-23 → 2026-10-01 .. 2026-11-01."""
    local = at.astimezone(zone)
    end = datetime(local.year, local.month, 1, tzinfo=zone)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return datetime(year, month, 1, tzinfo=zone), end
