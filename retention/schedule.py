"""When backups are expected, and which snapshot fills each expected time.

Expected times come from a cron expression in a timezone.

DST rules (the ones cron and systemd follow, and the ones an auditor expects):

* Spring forward: a wall time that does not exist (02:00 or 02:30 on 2026-03-29 in
  Europe/Amsterdam) is expected at the first valid instant after the gap (03:00 CEST).
  If that instant is also a scheduled time of its own (an hourly job), it counts once.
* Fall back: a wall time that occurs twice (02:00 on 2026-10-25) is expected once, at its
  first occurrence (CEST), when the cron hour field is fixed. When the hour field is ``*``
  (hourly jobs), each real hour runs, so the repeated hour is expected twice.

Matching: an expected time ``t`` is satisfied by a snapshot with ``t <= snapshot.time <
deadline``, where the deadline is ``t + tolerance`` or, by default, the next scheduled
time. One snapshot satisfies at most one expected time. An expected time whose deadline
has not yet passed and that has no snapshot is *pending*, not missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal

from retention.duration import Duration, add_duration
from retention.snapshot import Snapshot

if TYPE_CHECKING:
    from croniter import croniter

__all__ = [
    "ALIASES",
    "ExpectedSlot",
    "Schedule",
    "ScheduleError",
    "SlotMatch",
    "add_duration",
    "check_cron",
    "match_snapshots",
]

Status = Literal["filled", "missed", "pending"]

ALIASES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {
        m: i + 1
        for i, m in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
        )
    },
    {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
)
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_EXPECTED = (
    "expected 5 fields (minute hour day-of-month month day-of-week) such as '0 2 * * *', "
    "or @daily …"
)


def _croniter() -> tuple[type[croniter], type[Exception]]:
    """croniter and its error class, imported on first use: importing croniter runs a subprocess
    (``platform.architecture()``), which ``import retention`` must not do."""
    from croniter import CroniterError, croniter

    return croniter, CroniterError


class ScheduleError(ValueError):
    """A cron expression that is refused (see :func:`check_cron`), or naive datetimes."""


def check_cron(expr: str) -> str:
    """Validate a cron expression once; return it as five fields (``@daily`` -> ``0 0 * * *``).

    Refused: anything but five fields or one of :data:`ALIASES` (a sixth, seconds field would
    expect 86,400 backups a day), what croniter cannot parse, a range that runs backwards
    (``1-0``, ``5-2``, ``fri-mon``: croniter reads some of them as "every"), and a schedule
    that never fires (``0 0 30 2 *``).

    Raises:
        ScheduleError: saying what was expected.
    """
    text = expr.strip() if isinstance(expr, str) else ""
    shown = repr(expr) if len(repr(expr)) <= 60 else repr(expr)[:50] + "…"
    fields = ALIASES.get(text.lower(), text).split()
    if len(fields) != 5:
        raise ScheduleError(
            f"invalid cron expression {shown}: has {len(fields)} field(s); {_EXPECTED}"
        )
    cron = " ".join(fields)
    croniter, cron_error = _croniter()
    if not croniter.is_valid(cron):
        raise ScheduleError(f"invalid cron expression {shown}: {_EXPECTED}")
    for index, field in enumerate(fields):
        for part in field.split(","):
            bounds = part.split("/", 1)[0].split("-")
            if len(bounds) == 2:
                lo, hi = (_NAMES[index].get(b.lower(), b) for b in bounds)
                if str(lo).isdigit() and str(hi).isdigit() and int(lo) > int(hi):
                    raise ScheduleError(
                        f"invalid cron expression {shown}: the {_FIELDS[index]} range {part!r} "
                        f"runs backwards (expected low-high, e.g. '1-5')"
                    )
    try:
        croniter(cron, datetime(2000, 1, 1)).get_next(datetime)
    except (cron_error, ValueError, OverflowError):
        raise ScheduleError(
            f"cron expression {shown} never fires (no such date, e.g. 30 February); "
            "expected a schedule that runs, such as '0 2 * * *'"
        ) from None
    return cron


@dataclass(frozen=True, slots=True)
class ExpectedSlot:
    """One expected backup: due at ``expected``, satisfied by a snapshot before ``deadline``."""

    expected: datetime
    deadline: datetime


@dataclass(frozen=True, slots=True)
class SlotMatch:
    """An expected slot and its outcome; ``snapshot`` is set exactly when ``status == "filled"``."""

    slot: ExpectedSlot
    status: Status
    snapshot: Snapshot | None


@dataclass(frozen=True)
class Schedule:
    """A cron expression evaluated in ``zone``.

    ``tolerance`` None means: until the next scheduled time.
    """

    cron: str
    zone: tzinfo
    tolerance: Duration | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fields", check_cron(self.cron))

    @property
    def fields(self) -> str:
        """The expression as five cron fields (aliases such as ``@daily`` expanded)."""
        value: str = self.__dict__["_fields"]
        return value

    def times(self, start: datetime, end: datetime) -> list[datetime]:
        """Expected instants ``t`` with ``start <= t < end``, aware in ``zone``, ascending.

        The instants are DST-correct (see the module docstring).

        Raises:
            ScheduleError: ``start`` or ``end`` is naive.
        """
        _aware(start, end)
        wall = start.astimezone(self.zone).replace(tzinfo=None) - timedelta(
            hours=3
        )  # catch shifted gap times
        hour_wild = self.fields.split()[1] == "*"
        croniter, cron_error = _croniter()
        it = croniter(self.fields, wall)
        out: list[datetime] = []
        while True:
            try:
                naive: datetime = it.get_next(datetime)
                instants = self._localize(naive, hour_wild)
            except (cron_error, ValueError, OverflowError):  # past year 9999: no more runs
                return out
            if _ts(instants[0]) >= _ts(end):
                return out
            for (
                t
            ) in instants:  # compare instants, not wall clocks (same-zone comparison ignores fold)
                if _ts(start) <= _ts(t) < _ts(end) and (not out or _ts(t) > _ts(out[-1])):
                    out.append(t)

    def slots(self, start: datetime, end: datetime) -> list[ExpectedSlot]:
        """Expected slots with ``start <= expected < end`` and their deadlines."""
        times = self.times(start, end)
        if self.tolerance is not None:
            tol = self.tolerance
            return [ExpectedSlot(t, add_duration(t, tol)) for t in times]
        following = self._first_after(end) if times else []
        nexts = [*times[1:], *following]
        if len(nexts) < len(
            times
        ):  # no further run within a year+: the window stays open for a year
            nexts.append(add_duration(times[-1], Duration(years=1)))
        return [ExpectedSlot(t, n) for t, n in zip(times, nexts, strict=True)]

    def _first_after(self, end: datetime) -> list[datetime]:
        """The first scheduled instant at or after ``end`` within a year (none: an empty list).

        Widens a day at a time to a week, then to the year, so a frequent schedule costs a few
        runs, not a year of them.
        """
        for span in (timedelta(days=1), timedelta(days=8), timedelta(days=366)):
            try:
                found = self.times(end, end + span)
            except OverflowError:
                return []
            if found:
                return found[:1]
        return []

    def _localize(self, naive: datetime, hour_wild: bool) -> list[datetime]:
        """Real instants of a wall time.

        The first valid one after a gap; both (hourly) or the first of a fold.
        """
        first = _resolve(naive.replace(fold=0), self.zone)
        if _to_wall(first, self.zone) != naive:  # in a gap: run at the first instant after it
            other = _resolve(naive.replace(fold=1), self.zone)
            return [_transition(min(first, other), max(first, other), self.zone)]
        second = _resolve(naive.replace(fold=1), self.zone)
        if _ts(second) != _ts(first) and hour_wild:
            return [first, second]
        return [first]


def _ts(t: datetime) -> float:
    return t.timestamp()


def _resolve(naive: datetime, zone: tzinfo) -> datetime:
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _to_wall(t: datetime, zone: tzinfo) -> datetime:
    return t.astimezone(zone).replace(tzinfo=None, fold=0)


def _transition(lo: datetime, hi: datetime, zone: tzinfo) -> datetime:
    """The instant in ``(lo, hi]`` where the UTC offset of ``zone`` changes (to the second)."""
    before = lo.utcoffset()
    lo_u, hi_u = lo.astimezone(UTC), hi.astimezone(UTC)
    while hi_u - lo_u > timedelta(seconds=1):
        mid = lo_u + (hi_u - lo_u) / 2
        if mid.astimezone(zone).utcoffset() == before:
            lo_u = mid
        else:
            hi_u = mid
    return hi_u.replace(microsecond=0).astimezone(zone)


def _aware(*ts: datetime) -> None:
    for t in ts:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ScheduleError(f"time {t.isoformat()} has no timezone")


def match_snapshots(
    slots: Sequence[ExpectedSlot],
    snapshots: Iterable[Snapshot],
    *,
    now: datetime,
) -> list[SlotMatch]:
    """Match snapshots to expected slots.

    Each slot takes the earliest unused snapshot in its window. Slots are taken in order of
    ``expected``; with equal-length windows this greedy choice fills as many slots as any
    assignment can. A slot without a snapshot is ``missed`` when its deadline is at or before
    ``now``, else ``pending``.

    Returns:
        One :class:`SlotMatch` per slot, in the order of ``slots``.
    """
    times = sorted(snapshots, key=lambda s: _ts(s.time))
    stamps = [_ts(s.time) for s in times]
    order = sorted(range(len(slots)), key=lambda i: _ts(slots[i].expected))
    result: list[SlotMatch | None] = [None] * len(slots)
    used = [False] * len(times)
    lo = 0
    for i in order:
        slot = slots[i]
        expected, deadline = _ts(slot.expected), _ts(slot.deadline)
        while lo < len(times) and stamps[lo] < expected:
            lo += 1  # earlier snapshots can fill no later slot either
        j = lo
        while j < len(times) and used[j]:
            j += 1
        if j < len(times) and stamps[j] < deadline:
            used[j] = True
            result[i] = SlotMatch(slot, "filled", times[j])
        else:
            result[i] = SlotMatch(slot, "missed" if deadline <= _ts(now) else "pending", None)
    return [m for m in result if m is not None]
