"""Decide keep/forget for every snapshot, with reasons, the way restic 0.14 ``forget`` does.

The algorithm is restic's ``ApplyPolicy``: per group, walk the snapshots newest first
(a stable sort, so equal times keep input order); a snapshot is kept when a tag list
matches, when it is within ``keep_within`` of the group's newest non-future snapshot,
or when it is the first one seen in a new calendar bucket of a rule with count left
(or inside that rule's within-duration).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from itertools import compress, repeat
from operator import attrgetter, lt
from typing import Any, Literal, NamedTuple, overload

from retention.buckets import CALENDARS, RULES, Rule
from retention.duration import Duration
from retention.policy import Policy, PolicyError
from retention.snapshot import Snapshot

__all__ = [
    "GROUP_FIELDS",
    "Decision",
    "EmptyPolicyError",
    "Plan",
    "Reason",
    "group_key",
    "plan",
]

GROUP_FIELDS = ("group", "host", "paths", "tags")
Action = Literal["keep", "forget"]


class EmptyPolicyError(PolicyError):
    """The policy keeps nothing explicitly; like restic, we refuse to plan with it."""

    def __init__(self) -> None:
        super().__init__(
            [
                "no keep rule is set: an empty policy would remove nothing in restic "
                "and everything here, so it is refused; set at least one keep_* rule"
            ]
        )


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

    def to_json(self) -> dict[str, Any]:
        """The decision as ``plan --json`` shows it: id, group, ISO time, action, reasons' texts
        and their rule kinds (the one decision JSON of every plan)."""
        return {
            "id": self.snapshot.id,
            "group": self.group,
            "time": self.snapshot.time.isoformat(),
            "action": self.action,
            "reasons": [r.text for r in self.reasons],
            "rules": [r.rule for r in self.reasons],
        }


class _Decisions(Sequence[Decision]):
    """Every snapshot's decision, in input order, made on access from the kept ones.

    A plan mostly forgets: building a million identical "forget" tuples up front cost as much
    as the rest of planning, so only the kept decisions are stored. Immutable; compares and
    hashes like the tuple of its decisions (so ``plan([], ...).decisions == ()``).
    """

    __slots__ = ("_groups", "_kept", "_snapshots")

    def __init__(
        self, snapshots: tuple[Snapshot, ...], groups: Sequence[str], kept: dict[int, Decision]
    ) -> None:
        self._snapshots = snapshots
        self._groups = groups  # the group key of each snapshot
        self._kept = kept  # input index -> keep decision

    def __len__(self) -> int:
        return len(self._snapshots)

    @overload
    def __getitem__(self, index: int) -> Decision: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Decision, ...]: ...

    def __getitem__(self, index: int | slice) -> Decision | tuple[Decision, ...]:
        if isinstance(index, slice):
            return tuple(map(self._decision, range(len(self))[index]))
        return self._decision(range(len(self))[index])  # range raises IndexError, handles negatives

    def __iter__(self) -> Iterator[Decision]:
        return map(self._decision, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Decisions | tuple):
            return len(self) == len(other) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))

    def kept(self) -> list[Decision]:
        """The keep decisions, in input order."""
        return [self._kept[index] for index in sorted(self._kept)]

    def _decision(self, index: int) -> Decision:
        decision = self._kept.get(index)
        if decision is None:
            return Decision(self._snapshots[index], self._groups[index], "forget", ())
        return decision


@dataclass(frozen=True, slots=True)
class Plan:
    """All decisions, in the order the snapshots were given."""

    decisions: Sequence[Decision]
    policy: Policy

    def kept(self) -> list[Decision]:
        """Decisions whose action is keep, in input order."""
        if isinstance(self.decisions, _Decisions):
            return self.decisions.kept()
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


class _CountRule:
    """A ``keep_<bucket> = n`` rule while walking one group."""

    __slots__ = ("bucketing", "coarse", "last", "remaining")

    def __init__(self, bucketing: Rule, count: int) -> None:
        self.bucketing = bucketing
        self.coarse = bucketing.coarse
        self.remaining = count  # -1: unlimited
        self.last = -1


class _WithinRule:
    """A ``keep_within_<bucket> = duration`` rule while walking one group."""

    __slots__ = ("bucketing", "coarse", "cutoff", "duration", "last")

    def __init__(self, bucketing: Rule, duration: Duration, cutoff: datetime | None) -> None:
        self.bucketing = bucketing
        self.coarse = bucketing.coarse
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
            raise ValueError(
                f"unknown grouping field {name!r}: expected one of {', '.join(GROUP_FIELDS)}"
            )
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
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if policy.is_empty():
        raise EmptyPolicyError()
    items = tuple(snapshots)  # the plan's own copy: the caller may change its list later
    keys = _group_keys(items, group_by)
    kept: dict[int, Decision] = {}
    with _collections_paused():
        for key, indices in _groups(keys, len(items)).items():
            _plan_group(items, indices, key, policy, now.astimezone(UTC), kept)
    return Plan(decisions=_Decisions(items, keys, kept), policy=policy)


@contextmanager
def _collections_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block, restoring its state after.

    A walk that keeps much makes many acyclic tuples (decisions, reasons): the collections
    their allocation triggers find nothing to free and cost a noticeable share of the plan.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _group_keys(items: Sequence[Snapshot], group_by: Sequence[str]) -> Sequence[str]:
    """The group key of every snapshot, in input order."""
    if tuple(group_by) == ("group",):
        return list(map(attrgetter("group"), items))
    for name in group_by:
        if name not in GROUP_FIELDS:
            raise ValueError(
                f"unknown grouping field {name!r}: expected one of {', '.join(GROUP_FIELDS)}"
            )
    return [group_key(s, group_by) for s in items]


def _groups(keys: Sequence[str], size: int) -> dict[str, Sequence[int]]:
    """Indices per group key, each in input order (one ``range`` when there is one group)."""
    distinct = set(keys)
    if len(distinct) <= 1:
        return {k: range(size) for k in distinct}
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return dict(groups)


def _instants(times: list[datetime]) -> tuple[list[Any], Callable[[datetime], Any]]:
    """Sort keys that order ``times`` by instant, and the function that makes such a key.

    Aware datetimes with fixed offsets compare by instant; two times sharing one DST zone
    object would compare by wall clock (wrong inside the autumn overlap), so then POSIX
    timestamps are used.
    """
    if all(type(z) is timezone for z in set(map(attrgetter("tzinfo"), times))):
        return times, _as_utc
    return [t.timestamp() for t in times], datetime.timestamp


def _as_utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _plan_group(
    items: Sequence[Snapshot],
    indices: Sequence[int],
    key: str,
    policy: Policy,
    now: datetime,
    kept: dict[int, Decision],
) -> None:
    """Add to ``kept`` (by input index) what restic's ApplyPolicy keeps of one group at ``indices``.

    restic walks the group newest first (stable: equal instants keep input order). When only
    within-rules are set, nothing at or before the earliest cut-off can be kept, so only the
    snapshots after it are sorted and walked; otherwise the whole group is sorted and the walk
    stops once no rule can keep anything more.
    """
    whole = isinstance(indices, range) and len(indices) == len(items)
    times = list(map(attrgetter("time"), items if whole else map(items.__getitem__, indices)))
    walk, order = _walk_order(times, policy, now, key)
    for nr, position in enumerate(order):
        t = times[position]
        if walk.bounded is None and walk.exhausted(t):
            if policy.keep_oldest:  # the oldest may still be kept by a rule with count left
                nr, position = len(order) - 1, order[-1]
                _keep(kept, indices[position], walk.decide(items[indices[position]], nr))
            return
        if not walk.forgets_same_day(t, nr):
            _keep(kept, indices[position], walk.decide(items[indices[position]], nr))


def _walk_order(
    times: list[datetime], policy: Policy, now: datetime, key: str
) -> tuple[_Walk, list[int]]:
    """The walk over one group's ``times`` and the positions it visits, newest first.

    The reference for durations is the newest time before ``now``. A walk bounded by a cut-off
    (within-rules only) visits just the times after it.
    """
    instants, instant_of = _instants(times)
    now_instant = instant_of(now)
    latest = max(instants, default=None)
    if latest is not None and not latest < now_instant:  # some are in the future: not the reference
        latest = max(filter(now_instant.__gt__, instants), default=None)
    newest = None if latest is None else times[instants.index(latest)]
    walk = _Walk(policy, newest, key, len(times))
    if walk.bounded is not None:
        bound = instant_of(walk.bounded)
        order = list(compress(range(len(times)), map(lt, repeat(bound), instants)))
    else:
        order = list(range(len(times)))
    order.sort(key=instants.__getitem__, reverse=True)
    return walk, order


def _keep(kept: dict[int, Decision], index: int, decision: Decision) -> None:
    """Record ``decision`` for input ``index`` when it keeps.

    Forget is every snapshot's default, so it is not recorded.
    """
    if decision.reasons:
        kept[index] = decision


class _Walk:
    """The state of restic's walk over one group: rule counters and the last bucket seen."""

    def __init__(self, policy: Policy, newest: datetime | None, key: str, size: int) -> None:
        self.policy = policy
        self.key = key
        self.oldest_nr = size - 1 if policy.keep_oldest else -2
        self.counts, self.withins = _rules(policy, newest)
        self.within_cutoff: datetime | None = (
            None
            if policy.keep_within.is_zero()
            else _cutoff(policy.keep_within, newest) or _EARLIEST
        )
        self.within_text = f"within {policy.keep_within}"
        cutoffs = [w.cutoff or _EARLIEST for w in self.withins]
        if self.within_cutoff is not None:
            cutoffs.append(self.within_cutoff)
        self.last_cutoff = min(cutoffs, default=None)
        # within-rules only: the walk needs nothing at or before the earliest cut-off
        self.bounded = self.last_cutoff if not (self.counts or policy.keep_tags) else None
        self.last_day: tuple[int, int, int] | None = None
        # within-rules only, each of a day or coarser: see forgets_same_day
        self.day_grained = (
            self.bounded is not None
            and self.within_cutoff is None
            and all(within.coarse for within in self.withins)
        )

    def forgets_same_day(self, t: datetime, nr: int) -> bool:
        """True when :meth:`decide` would surely forget ``t``, the ``nr``-th of the walk.

        Known without asking it: ``t`` is on the previous snapshot's wall-clock day and every
        rule is a within-rule of a day or coarser, so no rule sees a new bucket (a shortcut for
        long walks).
        """
        return (
            self.day_grained and (t.year, t.month, t.day) == self.last_day and nr != self.oldest_nr
        )

    def exhausted(self, t: datetime) -> bool:
        """True when no rule can keep ``t`` or any older snapshot (the rest is forgotten),
        not counting keep_oldest's last snapshot."""
        if self.policy.keep_tags or any(rule.remaining != 0 for rule in self.counts):
            return False
        return self.last_cutoff is None or not t > self.last_cutoff

    def decide(self, snapshot: Snapshot, nr: int) -> Decision:
        """The decision for the ``nr``-th snapshot of the walk (restic's loop body)."""
        t = snapshot.time
        policy = self.policy
        reasons: list[Reason] = []
        if policy.keep_tags:
            reasons = [
                Reason("tag", "tag " + ",".join(tags))
                for tags in policy.keep_tags
                if snapshot.has_tags(tags)
            ]
        if self.within_cutoff is not None and t > self.within_cutoff:
            reasons.append(Reason("within", self.within_text))
        # Buckets coarser than an hour cannot change while the wall-clock date stays the same,
        # and every rule is active on a prefix of the walk, so they need no look then.
        day = (t.year, t.month, t.day)
        same_day = day == self.last_day and nr != self.oldest_nr
        self.last_day = day
        for rule in self.counts:
            if rule.remaining != 0 and not (same_day and rule.coarse):
                value = rule.bucketing.key(t, nr)
                if value != rule.last or nr == self.oldest_nr:
                    reasons.append(_count_reason(rule.bucketing, t, nr, value == rule.last))
                    rule.last = value
                    if rule.remaining > 0:
                        rule.remaining -= 1
        for within in self.withins:
            if not (same_day and within.coarse) and (within.cutoff is None or t > within.cutoff):
                value = within.bucketing.key(t, nr)
                if value != within.last or nr == self.oldest_nr:
                    within.last = value
                    b = within.bucketing
                    reasons.append(
                        Reason(
                            f"within_{b.name}",
                            f"{b.name} {b.label(t, nr)} within {within.duration}",
                        )
                    )
        return Decision(snapshot, self.key, "keep" if reasons else "forget", tuple(reasons))


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _cutoff(duration: Duration, newest: datetime | None) -> datetime | None:
    return None if newest is None else duration.cutoff(newest)


def _rules(policy: Policy, newest: datetime | None) -> tuple[list[_CountRule], list[_WithinRule]]:
    counts = [
        _CountRule(rule, policy.count(rule.name)) for rule in RULES if policy.count(rule.name) != 0
    ]
    withins = []
    for rule in CALENDARS:
        duration = policy.within(rule.name)
        if not duration.is_zero():
            withins.append(_WithinRule(rule, duration, _cutoff(duration, newest)))
    return counts, withins


def _count_reason(b: Rule, t: datetime, nr: int, oldest: bool) -> Reason:
    text = f"{b.name} {b.label(t, nr)}"
    return Reason(b.name, text + " (oldest)" if oldest else text)
