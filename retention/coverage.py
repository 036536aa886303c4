"""The slots a policy promises at a time T, and which snapshot fills each.

* ``keep_within = D``: every scheduled backup in ``(cutoff, T]`` is a slot (the SLA's
  "4 app backups per day, each kept 2 months"), matched as in :mod:`retention.schedule`.
* ``keep_within_<bucket> = D``: one slot per calendar bucket (hour, day, ISO week, month,
  year in the snapshot's local time) that holds a scheduled backup in ``(cutoff, T]``;
  the cut-off is ``D`` back from T with restic's arithmetic (:meth:`Duration.cutoff`).
  It is filled by the bucket's newest snapshot after the cut-off (the one restic keeps).
* ``keep_<bucket> = n``: the ``n`` newest buckets holding a scheduled backup; ``-1``: every
  such bucket since ``since``. ``keep_last = n``: the ``n`` newest scheduled backups.

Only slots whose scheduled backup is *due* (its deadline passed by T) are promised, and
none before ``since`` (history began then). Without a schedule, bucket rules promise
every complete bucket strictly inside the window, and ``keep_within``/``keep_last``
promise nothing (there is nothing to count against).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from retention.buckets import CALENDARS, bucket_label, rule
from retention.duration import Duration
from retention.planner import plan
from retention.policy import Policy
from retention.schedule import ExpectedSlot, Schedule, match_snapshots
from retention.snapshot import Snapshot

__all__ = ["CoverageSlot", "bucket_label", "coverage", "keep_all_since"]


_MAX_LOOKBACK = timedelta(days=3660)
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class CoverageSlot:
    """One promise a rule makes, and the snapshot that fills it.

    ``rule`` (``"within"``, ``"within_daily"``, ``"daily"``, ``"last"`` …), the bucket (a
    calendar label, or the expected time for per-backup rules), the newest scheduled time it
    stands for (None without a schedule), and the snapshot that fills it (None = missing).
    """

    rule: str
    bucket: str
    expected: datetime | None
    snapshot: Snapshot | None

    @property
    def filled(self) -> bool:
        """True when a snapshot fills the slot."""
        return self.snapshot is not None


def coverage(
    policy: Policy,
    snapshots: Iterable[Snapshot],
    *,
    now: datetime,
    schedule: Schedule | None,
    since: datetime | None = None,
) -> list[CoverageSlot]:
    """Every slot ``policy`` promises at ``now`` for one group's ``snapshots``.

    Args:
        policy: the group's rules.
        snapshots: the group's present snapshots; those after ``now`` are ignored.
        now: the reference time T.
        schedule: when backups are expected, or None.
        since: no slot before this instant (when history began), or None.

    Returns:
        Slots per rule, each rule's slots oldest first.
    """
    present = [s for s in snapshots if s.time <= now]
    out: list[CoverageSlot] = []
    if not policy.keep_within.is_zero() and schedule is not None:
        out += _within_slots(policy.keep_within, present, now, schedule, since)
    for cal in CALENDARS:
        duration = policy.within(cal.name)
        if not duration.is_zero():
            out += _within_bucket_slots(cal.name, duration, present, now, schedule, since)
    if policy.keep_last and schedule is not None:
        out += _last_slots(policy.keep_last, present, now, schedule, since)
    for cal in CALENDARS:
        count = policy.count(cal.name)
        if count and schedule is not None:
            out += _count_slots(cal.name, count, present, now, schedule, since)
    return out


def _due(
    schedule: Schedule,
    start: datetime,
    now: datetime,
    since: datetime | None,
    *,
    pending: bool = False,
) -> list[ExpectedSlot]:
    """Scheduled slots in ``[max(start, since), now]`` whose deadline passed.

    With ``pending``, all of them.
    """
    if since is not None and since > start:
        start = since
    return [s for s in schedule.slots(start, now + _INSTANT) if pending or s.deadline <= now]


def _within_slots(
    duration: Duration,
    present: list[Snapshot],
    now: datetime,
    schedule: Schedule,
    since: datetime | None,
) -> list[CoverageSlot]:
    cutoff = duration.cutoff(now)
    slots = [s for s in _due(schedule, cutoff, now, since) if s.expected > cutoff]
    return [
        CoverageSlot("within", m.slot.expected.isoformat(), m.slot.expected, m.snapshot)
        for m in match_snapshots(slots, present, now=now)
    ]


def _newest_by_bucket(kind: str, snapshots: Iterable[Snapshot]) -> dict[str, Snapshot]:
    newest: dict[str, Snapshot] = {}
    for s in snapshots:
        label = bucket_label(kind, s.time)
        if label not in newest or s.time > newest[label].time:
            newest[label] = s
    return newest


def _within_bucket_slots(
    kind: str,
    duration: Duration,
    present: list[Snapshot],
    now: datetime,
    schedule: Schedule | None,
    since: datetime | None,
) -> list[CoverageSlot]:
    cutoff = duration.cutoff(now)
    fill = _newest_by_bucket(kind, (s for s in present if s.time > cutoff))
    rule = f"within_{kind}"
    if schedule is None:
        labels = _complete_buckets(kind, cutoff, now, since)
        return [CoverageSlot(rule, label, None, fill.get(label)) for label in labels]
    latest: dict[str, datetime] = {}
    for slot in _due(schedule, cutoff, now, since):
        if slot.expected > cutoff:
            latest[bucket_label(kind, slot.expected)] = slot.expected
    return [CoverageSlot(rule, label, t, fill.get(label)) for label, t in latest.items()]


def _complete_buckets(
    kind: str, cutoff: datetime, now: datetime, since: datetime | None
) -> list[str]:
    """Labels of buckets lying wholly inside ``(cutoff, now]`` (and after ``since``).

    The range is sampled hourly.
    """
    start = max(cutoff, since) if since is not None else cutoff
    step = timedelta(hours=1)
    labels: list[str] = []
    t = start
    while t <= now:
        label = bucket_label(kind, t.astimezone(now.tzinfo))
        if not labels or labels[-1] != label:
            labels.append(label)
        t += step
    return labels[1:-1]  # the first holds the cut-off, the last is still running


def _last_slots(
    count: int,
    present: list[Snapshot],
    now: datetime,
    schedule: Schedule,
    since: datetime | None,
) -> list[CoverageSlot]:
    slots = _due_lookback(
        schedule,
        now,
        since,
        lambda due: count > 0 and len(due) >= count,
        rule("last").length * min(count, _MAX_LOOKBACK.days),
    )
    chosen = slots if count < 0 else slots[-count:]
    return [
        CoverageSlot("last", m.slot.expected.isoformat(), m.slot.expected, m.snapshot)
        for m in match_snapshots(chosen, present, now=now)
        if m.status != "pending"
    ]


def _count_slots(
    kind: str,
    count: int,
    present: list[Snapshot],
    now: datetime,
    schedule: Schedule,
    since: datetime | None,
) -> list[CoverageSlot]:
    def enough(due: Sequence[ExpectedSlot]) -> bool:
        return count > 0 and len({bucket_label(kind, s.expected) for s in due}) > count

    due = _due_lookback(
        schedule, now, since, enough, rule(kind).length * min(max(count, 1), _MAX_LOOKBACK.days)
    )
    latest: dict[str, ExpectedSlot] = {}
    for slot in due:
        latest[bucket_label(kind, slot.expected)] = slot
    labels = list(latest)
    if count > 0:
        labels = labels[
            -count:
        ]  # the n newest buckets, counting one still pending (restic counts it once it exists)
    fill = _newest_by_bucket(kind, present)
    return [
        CoverageSlot(kind, label, latest[label].expected, fill.get(label))
        for label in labels
        if label in fill
        or any(s.deadline <= now for s in due if bucket_label(kind, s.expected) == label)
    ]


def _due_lookback(
    schedule: Schedule,
    now: datetime,
    since: datetime | None,
    enough: Callable[[Sequence[ExpectedSlot]], bool],
    first_span: timedelta,
) -> list[ExpectedSlot]:
    """Scheduled slots (due or pending) back from ``now``.

    The span looked back doubles until ``enough`` or ``since``. It never exceeds
    :data:`_MAX_LOOKBACK` (ten years): a count larger than ten years of buckets
    (``keep_daily = 1000000``) promises what the schedule produced in those ten years.
    """
    span = min(max(first_span, timedelta(days=1)), _MAX_LOOKBACK)
    while True:
        start = _before(now, span)
        hit_floor = (since is not None and start <= since) or span >= _MAX_LOOKBACK
        due = _due(schedule, start, now, since, pending=True)
        if enough(due) or hit_floor:
            return due
        span = min(span * 2, _MAX_LOOKBACK)


def _before(now: datetime, span: timedelta) -> datetime:
    """``now - span``, clamped to the earliest representable instant."""
    try:
        return now - span
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def keep_all_since(
    policy: Policy, schedule: Schedule, *, now: datetime, horizon: Duration
) -> datetime | None:
    """The oldest instant from which the policy keeps *every* on-schedule backup at ``now``.

    Plans an ideal history (one snapshot at each scheduled time of the ``horizon`` before
    ``now``) and walks back from the newest until the first one the plan forgets. Missed
    backups can only be detected after this instant: older ones may rightly be pruned.

    Returns:
        The expected time of the oldest backup in the unbroken kept run, or None when
        nothing is scheduled in the horizon.
    """
    times = [s.expected for s in schedule.slots(horizon.cutoff(now), now)]
    if not times:
        return None
    ideal = [Snapshot(id=str(i), time=t, group="ideal") for i, t in enumerate(times)]
    decisions = {d.snapshot.id: d.action for d in plan(ideal, policy, now=now).decisions}
    oldest: datetime | None = None
    for snap in reversed(ideal):
        if decisions[snap.id] != "keep":
            break
        oldest = snap.time
    return oldest
