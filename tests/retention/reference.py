"""A deliberately plain transcription of restic's ``ApplyPolicy`` (0.14, plus -1 = unlimited and
0.16's keep-oldest), used as an oracle for the optimised planner. Slow and obvious on purpose."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from retention import RULES, Policy, Snapshot, group_key


def _bucket(kind: str, t: datetime, nr: int) -> int:
    """restic's bucket functions, written out again (not read from the table under test)."""
    if kind == "last":
        return nr
    if kind == "hourly":
        return t.year * 1000000 + t.month * 10000 + t.day * 100 + t.hour
    if kind == "daily":
        return t.year * 10000 + t.month * 100 + t.day
    if kind == "weekly":
        iso = t.isocalendar()
        return iso[0] * 100 + iso[1]
    if kind == "monthly":
        return t.year * 100 + t.month
    if kind == "yearly":
        return t.year
    raise ValueError(f"the oracle has no bucket for the rule {kind!r}: add one here")


KINDS = tuple(
    r.name for r in RULES
)  # a new rule of the table fails here until the oracle knows its bucket


def reference_plan(
    snapshots: Sequence[Snapshot],
    policy: Policy,
    now: datetime,
    group_by: Sequence[str] = ("group",),
) -> list[tuple[bool, list[str]]]:
    """(kept, rule kinds) per snapshot, in input order."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(snapshots):
        groups.setdefault(group_key(s, group_by), []).append(i)
    out: list[tuple[bool, list[str]]] = [(False, [])] * len(snapshots)
    for indices in groups.values():
        # instants, not wall clocks: two times in one DST zone compare by wall clock in Python
        walk = sorted(indices, key=lambda i: snapshots[i].time.timestamp(), reverse=True)
        latest = None
        for i in walk:
            ts = snapshots[i].time.timestamp()
            if ts < now.timestamp() and (latest is None or ts > latest.timestamp()):
                latest = snapshots[i].time
        counts = {k: policy.count(k) for k in KINDS}
        last = {k: -1 for k in KINDS}
        wlast = {k: -1 for k in KINDS}
        for nr, i in enumerate(walk):
            t = snapshots[i].time
            oldest = policy.keep_oldest and nr == len(walk) - 1
            kinds = ["tag" for tags in policy.keep_tags if snapshots[i].has_tags(tags)]
            ts = t.timestamp()
            within = policy.keep_within
            if not within.is_zero() and (latest is None or ts > within.cutoff(latest).timestamp()):
                kinds.append("within")
            for k in KINDS:
                if counts[k] > 0 or counts[k] == -1:
                    value = _bucket(k, t, nr)
                    if value != last[k] or oldest:
                        kinds.append(k)
                        last[k] = value
                        if counts[k] > 0:
                            counts[k] -= 1
            for k in KINDS[1:]:
                d = policy.within(k)
                if not d.is_zero() and (latest is None or ts > d.cutoff(latest).timestamp()):
                    value = _bucket(k, t, nr)
                    if value != wlast[k] or oldest:
                        kinds.append(f"within_{k}")
                        wlast[k] = value
            out[i] = (bool(kinds), kinds)
    return out
