"""Snapshots kept too long.

The plan at T forgets them, and they lost their last reason more than a grace ago.

A snapshot starts life kept by every rule (it is the newest); it loses a rule's reason when a
newer snapshot arrives that pushes it out: a newer snapshot in the same bucket, the cut-off
of a within-rule passing it (measured back from the newest snapshot, as restic does), or
``n`` newer buckets/snapshots for count rules. The moment it lost its *last* reason is the
arrival time of the snapshot that took that reason away (:func:`lost_reason_at`). A prune
that ran after that moment would have deleted it, so a snapshot still present ``grace``
after that moment is over-retained. A freshly pruned store therefore has no over-retention;
a store whose prune stopped three months ago has exactly the snapshots that became
forgettable more than ``grace`` ago.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from retention.buckets import CALENDARS, bucket_label
from retention.duration import Duration, add_duration
from retention.planner import group_key, plan
from retention.policy import Policy
from retention.snapshot import Snapshot

__all__ = ["OverRetention", "lost_reason_at", "over_retained"]


@dataclass(frozen=True, slots=True)
class OverRetention:
    """A snapshot kept too long: its group, and when it lost its last reason to be kept."""

    snapshot: Snapshot
    group: str
    lost_at: datetime

    def as_violation(self) -> dict[str, str]:
        """The verify JSON shape.

        ``{"kind": "over_retention", "group", "id", "time", "lost_reason_at"}``.
        """
        return {
            "kind": "over_retention",
            "group": self.group,
            "id": self.snapshot.id,
            "time": self.snapshot.time.isoformat(),
            "lost_reason_at": self.lost_at.isoformat(),
        }


def over_retained(
    snapshots: Iterable[Snapshot],
    policy: Policy,
    *,
    now: datetime,
    grace: Duration,
    group_by: Sequence[str] = ("group",),
) -> list[OverRetention]:
    """Snapshots the plan at ``now`` forgets, and that lost their last reason long ago.

    "Long ago" is more than ``grace`` before ``now``. Snapshots after ``now`` are ignored (they
    are not history yet).

    Returns:
        Over-retained snapshots, oldest first.

    Raises:
        EmptyPolicyError: the policy has no rule.
    """
    present = [s for s in snapshots if s.time <= now]
    groups: dict[str, list[Snapshot]] = {}
    for s in present:
        groups.setdefault(group_key(s, group_by), []).append(s)
    out: list[OverRetention] = []
    for decision in plan(present, policy, now=now, group_by=group_by).forgotten():
        lost = lost_reason_at(decision.snapshot, groups[decision.group], policy)
        if lost is not None and add_duration(lost, grace) < now:
            out.append(OverRetention(decision.snapshot, decision.group, lost))
    return sorted(out, key=lambda o: o.snapshot.time.timestamp())


def lost_reason_at(
    snapshot: Snapshot, group: Sequence[Snapshot], policy: Policy
) -> datetime | None:
    """The arrival time of the snapshot after which ``policy`` no longer keeps ``snapshot``.

    Args:
        snapshot: one snapshot of ``group``.
        group: every snapshot of its group (any order).
        policy: the rules.

    Returns:
        The time, or None when some rule keeps it however many snapshots follow (a tag,
        an unlimited ``keep_last``) or no newer snapshot has taken its last reason yet.
    """
    if any(snapshot.has_tags(tags) for tags in policy.keep_tags):
        return None
    newer = sorted((s for s in group if s.time > snapshot.time), key=lambda s: s.time.timestamp())
    losses: list[datetime | None] = []
    if not policy.keep_within.is_zero():
        losses.append(_cut_passes(snapshot, newer, policy.keep_within))
    if policy.keep_last:
        losses.append(
            newer[policy.keep_last - 1].time if 0 < policy.keep_last <= len(newer) else None
        )
    for cal in CALENDARS:
        kind = cal.name
        within = policy.within(kind)
        if not within.is_zero():
            losses.append(
                _earliest(_same_bucket(kind, snapshot, newer), _cut_passes(snapshot, newer, within))
            )
        count = policy.count(kind)
        if count:
            losses.append(
                _earliest(
                    _same_bucket(kind, snapshot, newer), _buckets_pass(kind, snapshot, newer, count)
                )
            )
    if not losses or any(t is None for t in losses):
        return None
    return max((t for t in losses if t is not None), key=lambda t: t.timestamp())


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.timestamp() <= b.timestamp() else b


def _cut_passes(
    snapshot: Snapshot, newer: Sequence[Snapshot], duration: Duration
) -> datetime | None:
    """The first newer snapshot whose cut-off (``duration`` back from it) reaches ``snapshot``."""
    t = snapshot.time.timestamp()
    i = bisect_left(
        newer, True, key=lambda s: duration.cutoff(s.time).timestamp() >= t
    )  # cut-offs only grow
    return newer[i].time if i < len(newer) else None


def _same_bucket(kind: str, snapshot: Snapshot, newer: Sequence[Snapshot]) -> datetime | None:
    if newer and bucket_label(kind, newer[0].time) == bucket_label(
        kind, snapshot.time
    ):  # buckets follow time
        return newer[0].time
    return None


def _buckets_pass(
    kind: str, snapshot: Snapshot, newer: Sequence[Snapshot], count: int
) -> datetime | None:
    """The first newer snapshot that opens the ``count``-th newer bucket (``-1``: never)."""
    if count < 0:
        return None
    seen = {bucket_label(kind, snapshot.time)}
    for s in newer:
        label = bucket_label(kind, s.time)
        if label not in seen:
            seen.add(label)
            if len(seen) > count:
                return s.time
    return None
