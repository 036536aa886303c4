"""``backupctl simulate``: configured schedules and policies run forward on a simulated clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import click

from backupctl import clock, humanize
from backupctl.commands.options import config_option, load_config
from backupctl.errors import UsageError
from backupctl.evidence.verify import parse_day_or_time, schedule_of
from backupctl.simulate import SimGroup, Simulation, simulate
from retention import Snapshot

__all__ = ["command", "render"]

_MAX_DAYS = 3660


@click.command("simulate")
@click.option("--days", type=int, required=True, help=f"How many days to run (1..{_MAX_DAYS}).")
@config_option()
@click.option(
    "--start",
    "start_text",
    metavar="DATE",
    default=None,
    help="First simulated day (default: today).",
)
@click.option(
    "--from-store",
    "from_store",
    is_flag=True,
    help="Start from the store's real snapshots (read only) instead of an empty history.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print every day and the final kept set as JSON."
)
def command(
    days: int, config_path: str | None, start_text: str | None, from_store: bool, as_json: bool
) -> None:
    """Run each policy forward: backups appear at their scheduled times, a prune runs
    daily at 03:00.

    Prints per day and group what is kept (counts per tier: within, daily, weekly, monthly …),
    then the final kept set with the reasons. Nothing is written to the store; with
    --from-store its complete snapshots are read and the run starts from them (what the
    first prunes would do to the real history, and how it settles).
    """
    if not 1 <= days <= _MAX_DAYS:
        raise UsageError(f"--days: expected 1..{_MAX_DAYS}, got {days}")
    config = load_config(config_path)
    start = (
        (parse_day_or_time(start_text, "--start", config.timezone) if start_text else clock.now())
        .astimezone(config.timezone)
        .date()
    )
    groups = []
    for p in config.policies:
        sched = schedule_of(p, config.timezone)
        if sched is None:
            raise UsageError(
                f"policy {p.name!r} has no schedule: simulate needs one to know when backups appear"
            )
        groups.append(SimGroup(p.name, p.group, p.policy, sched))
    initial: dict[str, list[Snapshot]] | None = None
    if from_store:
        from backupctl.stores import open_store

        initial = {}
        for stored in open_store(config, planning=True).listing().snapshots:
            initial.setdefault(stored.snapshot.group, []).append(stored.snapshot)
    sim = simulate(groups, start=start, days=days, zone=config.timezone, initial=initial)
    if as_json:
        click.echo(json.dumps(sim.to_json(), indent=2))
        return
    for line in render(sim):
        click.echo(line)


def render(sim: Simulation) -> Iterator[str]:
    """A compact calendar per group, then the final set.

    The calendar has one line a day: kept, +added -removed, tiers.
    """
    for group in sim.final:
        rows = [r for r in sim.rows if r.group == group]
        real = f"{sim.initial[group]} from the store + " if group in sim.initial else ""
        yield (
            f"== {group}: {real}{len(sim.history[group])} backups made, "
            f"{rows[-1].kept if rows else 0} kept at the end"
        )
        yield (
            f"   {'day':<10} {'kept':>5} {'+new':>5} {'-del':>5}  "
            "tiers (one snapshot may serve several)"
        )
        for r in rows:
            tiers = " ".join(f"{k}={v}" for k, v in r.tiers.items())
            yield f"   {_day(r.day)} {r.kept:>5} {r.added:>+5} {-r.removed:>5}  {tiers}"
        yield f"   final kept set of {group} at {humanize.when(sim.end)}:"
        for d in sim.final[group]:
            yield f"     {humanize.when(d.snapshot.time)}  {', '.join(r.text for r in d.reasons)}"
        yield ""


def _day(d: date) -> str:
    return d.isoformat()
