"""Why a plan forgets a snapshot: the rules it fell outside, each with its cut-off.

The planner (retention/planner.py) gives a kept snapshot its reasons; a forgotten one has none.
People (and auditors) need the other side too: ``outside within 2m (cut-off 2026-09-23
06:00:00 CEST)``, ``daily 2026-11-20: a newer snapshot of that day is kept``. These lines are
derived from the plan itself (the policy, the group's newest snapshot and what was kept), so
they never disagree with it. Used by ``plan`` for both of its sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from backupctl import humanize
from retention import CALENDARS, RULES, Decision, Duration, Policy

__all__ = ["GroupContext", "why_forgotten"]


class GroupContext:
    """What explaining one group's forgotten snapshots needs: its policy, its newest snapshot
    at or before ``now`` (the cut-offs count back from it, as restic's do), the buckets its
    kept snapshots fill, per rule, and the zone to show cut-offs in."""

    def __init__(
        self,
        policy: Policy,
        decisions: Sequence[Decision],
        now: datetime,
        zone: tzinfo | None = None,
    ) -> None:
        self.policy = policy
        self.zone = zone  # the cut-offs are shown in it (None: humanize's zone)
        present = [d.snapshot.time for d in decisions if d.snapshot.time <= now]
        self.newest: datetime | None = max(present, default=None)
        self.kept_labels: dict[str, set[str]] = {}
        kept = [d for d in decisions if d.action == "keep"]
        for rule in CALENDARS:
            self.kept_labels[rule.name] = {rule.label(d.snapshot.time, 0) for d in kept}


def why_forgotten(d: Decision, ctx: GroupContext) -> list[str]:
    """The rules ``d`` (a forget decision) fell outside, one phrase each, in restic's rule order.

    ``outside within 2m (cut-off …)``, ``outside daily within 7d (cut-off …)``, ``daily
    2026-11-20: a newer snapshot of it is kept``, ``not among the last 7 days``, ``no tag x``.
    """
    p, t = ctx.policy, d.snapshot.time
    out: list[str] = []
    if p.keep_tags:
        out.append("no tag " + " or ".join(",".join(tags) for tags in p.keep_tags))
    if not p.keep_within.is_zero() and ctx.newest is not None:
        out.append(f"outside within {p.keep_within} (cut-off {_cut(p.keep_within, ctx)})")
    for rule in RULES:
        n = p.count(rule.name)
        if n == 0:
            continue
        if rule.calendar:
            label = rule.label(t, 0)
            if label in ctx.kept_labels.get(rule.name, set()):
                out.append(f"{rule.name} {label}: a newer snapshot of it is kept")
                continue
        out.append(f"not among the last {n} {rule.each}" if n > 0 else f"{rule.name}: not kept")
    for rule in CALENDARS:
        within = p.within(rule.name)
        if within.is_zero() or ctx.newest is None:
            continue
        if t <= within.cutoff(ctx.newest):
            out.append(f"outside {rule.name} within {within} (cut-off {_cut(within, ctx)})")
        else:
            label = rule.label(t, 0)
            out.append(f"{rule.name} {label}: a newer snapshot of it is kept")
    return list(dict.fromkeys(out))  # a count and a within rule of one bucket say it once


def _cut(duration: Duration, ctx: GroupContext) -> str:
    assert ctx.newest is not None
    return humanize.when(duration.cutoff(ctx.newest), ctx.zone)
