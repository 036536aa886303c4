"""The one table of restic's bucket rules and their calendars.

Each :class:`Rule` is one row: ``keep_<name> = n`` keeps the newest snapshot of each of the
``n`` newest buckets, ``keep_within_<name> = D`` (calendar rules only) the newest of each
bucket newer than ``D`` before the group's newest. Everything that knows about a rule reads
this table: the :class:`~retention.policy.Policy` key lists, the planner, coverage,
over-retention, ``verify``'s horizon, the ``plan --from-restic`` flags and ``simulate``.

Buckets are taken in the snapshot's own wall clock (ISO weeks for ``weekly``), as restic does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CALENDARS", "COUNT_RULES", "RULES", "WITHIN_RULES", "Rule", "bucket_label", "rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One bucket rule.

    Attributes:
        name: ``"daily"``: the rule kind in reasons (``"daily 2026-11-20"``) and the config
            keys ``keep_daily`` / ``keep_within_daily``.
        key: the bucket of the ``nr``-th snapshot of restic's walk at wall time ``t``, as an
            int (restic's ``ymd`` …); a new value is a new bucket.
        label: the bucket as people read it (``"2026-11-20"``, ``"2026-W47"``).
        length: the longest time one bucket spans (a month: 31 days; a DST fall-back adds an
            hour); for ``last``, one day per snapshot is assumed. Sizes the look-back of
            coverage and verify's horizon.
        coarse: the bucket cannot change while the wall-clock date stays the same (a day or
            coarser), which the planner's fast paths rely on.
        calendar: the bucket is a calendar period, so ``keep_within_<name>`` exists too
            (``last`` counts snapshots, not periods).
        short: restic's one-letter ``forget`` flag (``-d``), or None.
        each: what one bucket is, for the flag help (``"days"``: "each of the last N days").
    """

    name: str
    key: Callable[[datetime, int], int]
    label: Callable[[datetime, int], str]
    length: timedelta
    coarse: bool
    calendar: bool
    short: str | None
    each: str

    @property
    def count_key(self) -> str:
        """The count rule's config key and :class:`~retention.policy.Policy` field.

        For example ``keep_daily``.
        """
        return f"keep_{self.name}"

    @property
    def within_key(self) -> str:
        """The within rule's config key and field: ``keep_within_daily`` (calendar rules only)."""
        return f"keep_within_{self.name}"


def _always(_: datetime, nr: int) -> int:
    return nr


def _ymdh(t: datetime, _: int) -> int:
    return t.year * 1000000 + t.month * 10000 + t.day * 100 + t.hour


def _ymd(t: datetime, _: int) -> int:
    return t.year * 10000 + t.month * 100 + t.day


def _yw(t: datetime, _: int) -> int:
    year, week, _day = t.isocalendar()
    return year * 100 + week


def _ym(t: datetime, _: int) -> int:
    return t.year * 100 + t.month


def _y(t: datetime, _: int) -> int:
    return t.year


def _week_label(t: datetime, _: int) -> str:
    year, week, _day = t.isocalendar()
    return f"{year}-W{week:02d}"


_DAY = timedelta(days=1)
RULES: tuple[Rule, ...] = (
    Rule("last", _always, lambda _t, nr: str(nr + 1), _DAY, False, False, "-l", "snapshots"),
    Rule(
        "hourly",
        _ymdh,
        lambda t, _: t.strftime("%Y-%m-%d %H:00"),
        timedelta(hours=1),
        False,
        True,
        "-H",
        "hours",
    ),
    Rule("daily", _ymd, lambda t, _: t.strftime("%Y-%m-%d"), _DAY, True, True, "-d", "days"),
    Rule("weekly", _yw, _week_label, 7 * _DAY, True, True, "-w", "ISO weeks"),
    Rule("monthly", _ym, lambda t, _: t.strftime("%Y-%m"), 31 * _DAY, True, True, "-m", "months"),
    Rule("yearly", _y, lambda t, _: t.strftime("%Y"), 366 * _DAY, True, True, "-y", "years"),
)
"""Every bucket rule, in restic's order (the order of reasons in a decision)."""

_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}
CALENDARS: tuple[Rule, ...] = tuple(r for r in RULES if r.calendar)
"""The rules whose buckets are calendar periods (all but ``last``), each with a within rule."""
COUNT_RULES: tuple[str, ...] = tuple(r.count_key for r in RULES)
"""The count keys: ``keep_last``, ``keep_hourly`` … ``keep_yearly``."""
WITHIN_RULES: tuple[str, ...] = ("keep_within", *(r.within_key for r in CALENDARS))
"""The duration keys: ``keep_within`` and ``keep_within_hourly`` … ``keep_within_yearly``."""


def rule(name: str) -> Rule:
    """The rule called ``name`` (``"daily"``).

    Raises:
        KeyError: no such rule.
    """
    return _BY_NAME[name]


def bucket_label(kind: str, t: datetime) -> str:
    """The calendar bucket of ``t`` in its own wall clock.

    For example ``"2026-11-20"``, ``"2026-W47"``, ``"2026-11"``…

    Raises:
        KeyError: ``kind`` is not a calendar rule of :data:`CALENDARS`.
    """
    found = _BY_NAME[kind]
    if not found.calendar:
        raise KeyError(kind)
    return found.label(t, 0)
