"""``backupctl simulate``: the schedules and policies run forward on a simulated clock.

Backups appear at their scheduled times; a prune runs every day at ``prune_at`` (03:00 in the
config's timezone) and keeps what the planner keeps of the snapshots still present. Each
day plans only the kept set plus the new snapshots, which gives the same kept set as
planning the whole history at once (the planner is idempotent on its kept set; the tests
check exactly that), so a year of the SLA runs in well under a second per group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from retention import CALENDARS, Decision, Policy, Snapshot, plan
from retention.schedule import Schedule

__all__ = ["DayRow", "SimGroup", "Simulation", "history_for", "prune_instants", "simulate"]

TIERS = ("tag", "last", "within", *(cal.name for cal in CALENDARS))
"""The reason kinds a day row counts: tag, last, within, hourly … yearly.

``within_daily`` is counted as ``daily``.
"""


@dataclass(frozen=True)
class SimGroup:
    """One policy to simulate: its group, rules and schedule."""

    name: str
    group: str
    policy: Policy
    schedule: Schedule


@dataclass(frozen=True)
class DayRow:
    """What one group holds after one day's prune: counts, per-tier counts, added and removed."""

    day: date
    group: str
    kept: int
    added: int
    removed: int
    tiers: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "day": self.day.isoformat(),
            "group": self.group,
            "kept": self.kept,
            "added": self.added,
            "removed": self.removed,
            "tiers": self.tiers,
        }


@dataclass
class Simulation:
    """The run: per-day rows, the final kept decisions per group and the full history made."""

    start: datetime
    end: datetime
    rows: list[DayRow] = field(default_factory=list)
    final: dict[str, list[Decision]] = field(default_factory=dict)
    history: dict[str, list[Snapshot]] = field(default_factory=dict)
    initial: dict[str, int] = field(default_factory=dict)  # real snapshots it started from

    def to_json(self) -> dict[str, Any]:
        """``{"start", "end", "days": [...], "final": {group: [{"id","time","reasons"}]}}``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "initial": dict(self.initial),
            "days": [r.to_json() for r in self.rows],
            "final": {
                g: [
                    {
                        "id": d.snapshot.id,
                        "time": d.snapshot.time.isoformat(),
                        "reasons": [r.text for r in d.reasons],
                    }
                    for d in ds
                ]
                for g, ds in self.final.items()
            },
        }


def prune_instants(start: date, days: int, zone: tzinfo, at: time = time(3, 0)) -> list[datetime]:
    """The daily prune times: ``at`` on each of ``days`` days from ``start``, in ``zone``
    (a time in a DST gap moves forward by the gap, as the zone resolves it)."""
    out = []
    for i in range(days):
        d = start + timedelta(days=i)
        out.append(datetime.combine(d, at, tzinfo=zone))
    return out


def history_for(
    group: SimGroup, start: datetime, end: datetime, skip: Iterable[datetime] = ()
) -> list[Snapshot]:
    """One snapshot at each scheduled time in ``[start, end)``, except the instants in ``skip``;
    ids are ``<group>/<UTC YYYYMMDDTHHMMSSZ>`` like the S3/file layout."""
    skipped = {t.timestamp() for t in skip}
    return [
        Snapshot(f"{group.group}/{t.astimezone(UTC):%Y%m%dT%H%M%SZ}", t, group.group)
        for t in group.schedule.times(start, end)
        if t.timestamp() not in skipped
    ]


def simulate(
    groups: Sequence[SimGroup],
    *,
    start: date,
    days: int,
    zone: tzinfo,
    prune_at: time = time(3, 0),
    initial: Mapping[str, Sequence[Snapshot]] | None = None,
) -> Simulation:
    """Run each group's schedule and policy forward ``days`` days from ``start``.

    The run starts at midnight in ``zone``, from an empty history, or with ``initial`` (per
    group, e.g. the store's real snapshots: ``simulate --from-store``) already there; a
    group's simulated backups then begin after its newest initial snapshot.

    Returns:
        A :class:`Simulation`; ``final`` holds the decisions of the last day's prune.

    Raises:
        ValueError: ``days`` is not positive.
    """
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    instants = prune_instants(start, days, zone, prune_at)
    begin = datetime.combine(start, time(0, 0), tzinfo=zone)
    sim = Simulation(start=begin, end=instants[-1])
    end = instants[-1] + timedelta(microseconds=1)
    for g in groups:
        real = sorted(
            (s for s in (initial or {}).get(g.group, ()) if s.time < end), key=lambda s: s.time
        )
        first = max(begin, real[-1].time + timedelta(microseconds=1)) if real else begin
        sim.history[g.group] = history_for(g, first, end)
        if initial is not None:
            sim.initial[g.group] = len(real)
        there = [s for s in real if s.time <= instants[0]]  # present before the first prune
        arriving = [s for s in real if s.time > instants[0]] + sim.history[g.group]
        sim.final[g.group] = _run_group(g, arriving, instants, sim.rows, there)
    sim.rows.sort(key=lambda r: (r.day, r.group))
    return sim


def _run_group(
    g: SimGroup,
    history: list[Snapshot],
    instants: list[datetime],
    rows: list[DayRow],
    there: Sequence[Snapshot] = (),
) -> list[Decision]:
    """Prune at each instant what is kept so far plus what arrived (``history``, in time
    order); ``there`` is held before the first prune (not counted as added)."""
    kept: list[Snapshot] = list(there)
    decisions: list[Decision] = []
    i = 0
    for prune in instants:
        new = 0
        while i < len(history) and history[i].time.timestamp() <= prune.timestamp():
            kept.append(history[i])
            i += 1
            new += 1
        before = len(kept)
        decisions = plan(kept, g.policy, now=prune).kept() if kept else []
        kept = [d.snapshot for d in decisions]
        tiers = Counter(r.rule.removeprefix("within_") for d in decisions for r in d.reasons)
        rows.append(
            DayRow(
                prune.date(),
                g.group,
                len(kept),
                new,
                before - len(kept),
                {t: tiers[t] for t in TIERS if tiers[t]},
            )
        )
    return decisions
