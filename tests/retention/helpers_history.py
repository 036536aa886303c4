"""Small helpers for retention tests: ideal on-schedule histories and pruning by the planner."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from retention import Policy, Snapshot, plan
from retention.schedule import Schedule

AMS = ZoneInfo("Europe/Amsterdam")


def ams(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


def history(cron: str, start: datetime, end: datetime, group: str = "g") -> list[Snapshot]:
    """One snapshot at each scheduled time in [start, end), ids ``group/<iso>``."""
    return [
        Snapshot(f"{group}/{t.isoformat()}", t, group)
        for t in Schedule(cron, AMS).times(start, end)
    ]


def pruned_daily(snaps: list[Snapshot], policy: Policy, prune_hour: int = 3) -> list[Snapshot]:
    """Replay the history with a prune every day at ``prune_hour``.

    Returns what a store looks like after.
    """
    kept: list[Snapshot] = []
    pending = sorted(snaps, key=lambda s: s.time.timestamp())
    i = 0
    if not pending:
        return []
    day = pending[0].time.astimezone(AMS).replace(hour=prune_hour, minute=0, second=0)
    end = pending[-1].time
    while i < len(pending) or day <= end:
        while i < len(pending) and pending[i].time <= day:
            kept.append(pending[i])
            i += 1
        if kept:
            kept = [d.snapshot for d in plan(kept, policy, now=day).kept()]
        if day > end:
            break
        day = (day + timedelta(days=1, hours=2)).replace(hour=prune_hour)
    return kept
