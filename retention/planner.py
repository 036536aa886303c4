"""Decide keep/forget for every snapshot, with reasons, the way restic 0.14 ``forget`` does.

The algorithm is restic's ``ApplyPolicy``: per group, walk the snapshots newest first
(a stable sort, so equal times keep input order); a snapshot is kept when a tag list
matches, when it is within ``keep_within`` of the group's newest non-future snapshot,
or when it is the first one seen in a new calendar bucket of a rule with count left
(or inside that rule's within-duration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from retention.duration import Duration
from retention.policy import Policy, PolicyError
from retention.snapshot import Snapshot

__all__ = [
    "GROUP_FIELDS", "Decision", "EmptyPolicyError", "Plan", "Reason", "group_key", "plan",
]

GROUP_FIELDS = ("group", "host", "paths", "tags")
Action = Literal["keep", "forget"]


class EmptyPolicyError(PolicyError):
    """The policy keeps nothing explicitly; like restic, we refuse to plan with it."""

    def __init__(self) -> None:
        super().__init__(["no keep rule is set: an empty policy would remove nothing in restic "
                          "and everything here, so it is refused; set at least one keep_* rule"])


class Reason(NamedTuple):
    """Why a snapshot is kept: ``rule`` is the rule kind (``"daily"``, ``"within_daily"``,
    ``"last"``, ``"within"``, ``"tag"`` …), ``text`` the human reason (``"daily 2026-11-20"``)."""

    rule: str
    text: str


class Decision(NamedTuple):
    """The verdict for one snapshot. ``reasons`` is non-empty exactly when kept."""

    snapshot: Snapshot
    group: str
    action: Action
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """All decisions, in the order the snapshots were given."""

    decisions: tuple[Decision, ...]
    policy: Policy

    def kept(self) -> list[Decision]:
        """Decisions whose action is keep, in input order."""
        return [d for d in self.decisions if d.action == "keep"]

    def forgotten(self) -> list[Decision]:
        """Decisions whose action is forget, in input order."""
        return [d for d in self.decisions if d.action == "forget"]

    def by_group(self) -> dict[str, list[Decision]]:
        """Decisions per group key, each list in input order."""
        groups: dict[str, list[Decision]] = {}
        for d in self.decisions:
            groups.setdefault(d.group, []).append(d)
        return groups


class _Bucketing(NamedTuple):
    rule: str
    key: Callable[[datetime, int], int]
    label: Callable[[datetime, int], str]


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


def _always(_: datetime, nr: int) -> int:
    return nr


def _week_label(t: datetime, _: int) -> str:
    year, week, _day = t.isocalendar()
    return f"{year}-W{week:02d}"


_BUCKETINGS: dict[str, _Bucketing] = {
    "last": _Bucketing("last", _always, lambda _t, nr: str(nr + 1)),
    "hourly": _Bucketing("hourly", _ymdh, lambda t, _: t.strftime("%Y-%m-%d %H:00")),
    "daily": _Bucketing("daily", _ymd, lambda t, _: t.strftime("%Y-%m-%d")),
    "weekly": _Bucketing("weekly", _yw, _week_label),
    "monthly": _Bucketing("monthly", _ym, lambda t, _: t.strftime("%Y-%m")),
    "yearly": _Bucketing("yearly", _y, lambda t, _: t.strftime("%Y")),
}


class _CountRule:
    """A ``keep_<bucket> = n`` rule while walking one group."""

    __slots__ = ("bucketing", "remaining", "last")

    def __init__(self, bucketing: _Bucketing, count: int) -> None:
        self.bucketing = bucketing
        self.remaining = count  # -1: unlimited
        self.last = -1


class _WithinRule:
    """A ``keep_within_<bucket> = duration`` rule while walking one group."""

    __slots__ = ("bucketing", "duration", "cutoff", "last")

    def __init__(self, bucketing: _Bucketing, duration: Duration, cutoff: datetime | None) -> None:
        self.bucketing = bucketing
        self.duration = duration
        self.cutoff = cutoff  # None: no newest non-future snapshot, everything is within
        self.last = -1


def group_key(snapshot: Snapshot, group_by: Sequence[str]) -> str:
    """The group label of ``snapshot`` for the fields in ``group_by``.

    ``("group",)`` gives the store's group name; restic-style fields give
    ``"host=h paths=/a,/b tags=x"`` (paths and tags sorted, as restic does).
    """
    parts = []
    for name in group_by:
        if name == "group":
            parts.append(snapshot.group)
        elif name == "host":
            parts.append(f"host={snapshot.host}")
        elif name == "paths":
            parts.append("paths=" + ",".join(sorted(snapshot.paths)))
        elif name == "tags":
            parts.append("tags=" + ",".join(sorted(snapshot.tags)))
        else:
            raise ValueError(f"unknown grouping field {name!r}: expected one of {', '.join(GROUP_FIELDS)}")
    return " ".join(parts)


def plan(
    snapshots: Iterable[Snapshot],
    policy: Policy,
    *,
    now: datetime,
    group_by: Sequence[str] = ("group",),
) -> Plan:
    """Decide keep or forget for every snapshot.

    Args:
        snapshots: any order; the plan's decisions follow this order.
        policy: the rules; applied to each group separately.
        now: the reference clock; snapshots after it do not count as the group's newest.
        group_by: fields of :data:`GROUP_FIELDS` that form a group.

    Returns:
        A :class:`Plan` with one decision per snapshot.

    Raises:
        EmptyPolicyError: the policy has no rule.
        ValueError: ``now`` is naive or ``group_by`` names an unknown field.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if policy.is_empty():
        raise EmptyPolicyError()
    items = list(snapshots)
    groups: dict[str, list[int]] = {}
    for index, snapshot in enumerate(items):
        groups.setdefault(group_key(snapshot, group_by), []).append(index)
    result: list[Decision | None] = [None] * len(items)
    for key, indices in groups.items():
        for index, decision in _plan_group(items, indices, key, policy, now):
            result[index] = decision
    return Plan(decisions=tuple(d for d in result if d is not None), policy=policy)


def _plan_group(
    items: list[Snapshot], indices: list[int], key: str, policy: Policy, now: datetime,
) -> Iterable[tuple[int, Decision]]:
    order = sorted(indices, key=lambda i: items[i].time, reverse=True)  # stable, newest first
    newest = next((items[i].time for i in order if items[i].time < now), None)
    counts, withins = _rules(policy, newest)
    within_active = not policy.keep_within.is_zero()
    within_cutoff = _cutoff(policy.keep_within, newest)
    oldest_nr = len(order) - 1 if policy.keep_oldest else -2
    for nr, index in enumerate(order):
        snapshot = items[index]
        t = snapshot.time
        reasons: list[Reason] = [
            Reason("tag", "tag " + ",".join(tags)) for tags in policy.keep_tags if snapshot.has_tags(tags)
        ]
        if within_active and (within_cutoff is None or t > within_cutoff):
            reasons.append(Reason("within", f"within {policy.keep_within}"))
        for rule in counts:
            if rule.remaining != 0:
                value = rule.bucketing.key(t, nr)
                if value != rule.last or nr == oldest_nr:
                    reasons.append(_count_reason(rule.bucketing, t, nr, value == rule.last))
                    rule.last = value
                    if rule.remaining > 0:
                        rule.remaining -= 1
        for within in withins:
            if within.cutoff is None or t > within.cutoff:
                value = within.bucketing.key(t, nr)
                if value != within.last or nr == oldest_nr:
                    within.last = value
                    b = within.bucketing
                    reasons.append(Reason(f"within_{b.rule}", f"{b.rule} {b.label(t, nr)} within {within.duration}"))
        action: Action = "keep" if reasons else "forget"
        yield index, Decision(snapshot, key, action, tuple(reasons))


def _cutoff(duration: Duration, newest: datetime | None) -> datetime | None:
    return None if newest is None else duration.cutoff(newest)


def _rules(policy: Policy, newest: datetime | None) -> tuple[list[_CountRule], list[_WithinRule]]:
    counts = [
        _CountRule(_BUCKETINGS[name], getattr(policy, f"keep_{name}"))
        for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
        if getattr(policy, f"keep_{name}") != 0
    ]
    withins = []
    for name in ("hourly", "daily", "weekly", "monthly", "yearly"):
        duration: Duration = getattr(policy, f"keep_within_{name}")
        if not duration.is_zero():
            withins.append(_WithinRule(_BUCKETINGS[name], duration, _cutoff(duration, newest)))
    return counts, withins


def _count_reason(b: _Bucketing, t: datetime, nr: int, oldest: bool) -> Reason:
    text = f"{b.rule} {b.label(t, nr)}"
    return Reason(b.rule, text + " (oldest)" if oldest else text)
