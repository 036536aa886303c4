"""``backupctl drill``: a timed test restore against the working-day target, and
``backupctl drill deadline``: when a restore requested at a given time is due.

The drill itself lives in :mod:`restore.drill`; this module wires in the store, the live
check (through :func:`backupctl.proc.run`), the progress bar and the audit log.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backupctl import clock, humanize
from backupctl.commands.options import (
    config_option,
    load_config,
    metrics_file_option,
    reference_time,
)
from backupctl.config import Config, DrillConfig
from backupctl.errors import ConfigError, StoreError, UsageError, ViolationFound
from backupctl.log import get_logger

if TYPE_CHECKING:
    from restore.drill import DrillSettings
    from restore.workday import WorkingCalendar

__all__ = ["calendar_for", "command", "deadline_json", "live_check_for"]

DEFAULT_TZ = "Europe/Amsterdam"


def calendar_for(
    drill: DrillConfig,
    tz: Any,
    where: str,
    *,
    lazy_holidays: bool = False,
) -> tuple[WorkingCalendar, timedelta]:
    """The working calendar and target of a ``[drill]`` config section; ``lazy_holidays``
    defers loading the holiday table (and finding an unknown country) to its first use.

    Raises:
        ConfigError: bad working hours, holidays country or target (naming ``where``).
    """
    from restore.workday import WorkdayError, WorkingCalendar, parse_target

    try:
        calendar = WorkingCalendar(
            drill.working_hours, tz, drill.holidays, lazy_holidays=lazy_holidays
        )
        return calendar, parse_target(drill.target, drill.working_day_hours)
    except WorkdayError as exc:
        raise ConfigError(where, [f"drill.{exc}"]) from None


def deadline_json(
    calendar: WorkingCalendar, start: datetime, budget: timedelta, target_text: str
) -> dict[str, Any]:
    """The ``drill deadline --json`` object: deadline (ISO with offset) and the budget both as
    an ISO 8601 duration and in seconds, plus the holidays the deadline skipped."""
    from restore.workday import format_iso_duration

    deadline = calendar.add_working_time(start, budget)
    local_start = start.astimezone(calendar.tz)
    days = (deadline.date() - local_start.date()).days
    skipped = [
        {"date": d.isoformat(), "name": name}
        for d in (local_start.date() + timedelta(days=i) for i in range(days + 1))
        if (name := calendar.holiday_name(d)) is not None
    ]
    return {
        "from": local_start.isoformat(),
        "deadline": deadline.isoformat(),
        "target": target_text,
        "working_time_budget": format_iso_duration(budget),
        "working_time_budget_seconds": _seconds(budget),
        "timezone": str(calendar.tz),
        "holidays_skipped": skipped,
    }


def _seconds(d: timedelta) -> int | float:
    s = d.total_seconds()
    return int(s) if s.is_integer() else s


def live_check_for(command_text: str, timeout: float) -> Callable[[Path], bool]:
    """A live check running ``sh -c command_text`` with ``{dir}`` replaced by the shell-quoted
    restore directory; it passes when the command exits 0. All attempts together stay within
    ``timeout`` seconds (each attempt gets what is left)."""
    from backupctl.proc import run

    try:
        command_text.format(dir="")
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            f"drill.live_check: {command_text!r} has a bad placeholder ({exc}); "
            "expected only {dir} (write {{ and }} for literal braces)"
        ) from None
    started: list[float] = []

    def check(target: Path) -> bool:
        if not started:
            started.append(time.monotonic())
        left = max(0.1, timeout - (time.monotonic() - started[0]))
        result = run(
            ["sh", "-c", command_text.format(dir=shlex.quote(str(target)))],
            timeout=left,
            cwd=target,
        )
        return result.returncode == 0

    return check


class _GroupStore:
    """A drill store showing only one group's snapshots (``drill --group``). It lists before
    it restores (no restore by reference: that could pick another group's snapshot)."""

    def __init__(self, store: Any, group: str) -> None:
        self._store, self._group = store, group

    def list_snapshots(self) -> list[Any]:
        return [s for s in self._store.list_snapshots() if s.snapshot.group == self._group]

    def restore(self, *args: Any, **kwargs: Any) -> Any:
        return self._store.restore(*args, **kwargs)


def _history(config: Config) -> list[tuple[str, datetime]]:
    from backupctl.evidence.audit import AuditLog
    from backupctl.stores.locations import audit_blobs_for
    from restore.drill import history_from_records

    records = AuditLog(audit_blobs_for(config)).records()
    return history_from_records([r.get("data", {}) for r in records if r.get("action") == "drill"])


def _settings(config: Config, sample: float, keep: bool, stderr_progress: bool) -> DrillSettings:
    from backupctl.progress import progress
    from restore.drill import DrillSettings

    # the holidays load beside the restore (~0.1 s of start-up otherwise); see run_drill
    calendar, target = calendar_for(config.drill, config.timezone, config.path, lazy_holidays=True)
    d = config.drill
    return DrillSettings(
        target=target,
        calendar=calendar,
        target_text=d.target,
        workers=d.workers,
        verify_workers=max(1, min(8, os.cpu_count() or 1)),
        sample_percent=sample,
        scratch_dir=Path(d.scratch_dir) if d.scratch_dir else None,
        keep=keep,
        live_check=live_check_for(d.live_check, d.live_check_timeout) if d.live_check else None,
        live_check_timeout=d.live_check_timeout,
        live_check_interval=d.live_check_interval,
        progress=progress if stderr_progress else None,
        reraise=(UsageError,),
    )


def _summary(rec: dict[str, Any]) -> list[str]:
    """The human drill summary: verdict and message, each phase (what it covered, its time,
    size and rate for people), the deadline and the forecast, times in the config's zone."""
    snap = rec["snapshot"]
    lines = [
        f"drill {rec['verdict'].upper()}: {snap['id']} ({rec['selection']['mode']}, "
        f"taken {_when(snap.get('time'))}, {humanize.size(snap.get('size') or 0)} stored)",
        f"  {rec['message']}",
    ]
    lines += [f"  failed: {o}" for o in rec["failed_objects"][:20]]
    if len(rec["failed_objects"]) > 20:
        lines.append(f"  … and {len(rec['failed_objects']) - 20} more")
    for p in rec["phases"]:
        rate = p.get("throughput_bytes_per_second")
        lines.append(
            f"  {p['name']:<7}{humanize.duration(p['seconds']):>10} {humanize.size(p['bytes']):>10}"
            + (f" {humanize.size(rate)}/s" if rate else "")
            + (f"  {covered}" if (covered := _covered(p)) else "")
        )
    lines.append(
        f"  requested {_when(rec['requested'])}, deadline {_when(rec['deadline'])}; "
        f"{humanize.duration(rec['working_time_seconds'])} of working time "
        f"(target {rec['target']})"
    )
    if fc := rec.get("forecast"):
        meets = "meets" if fc["meets_target"] else "MISSES"
        lines.append(
            f"  forecast: a full restore of {fc['snapshot']} ({humanize.size(fc['bytes'])} of "
            f"data) takes ~{humanize.duration(fc['seconds'])}; started now it {meets} the "
            f"target (deadline {_when(fc['deadline'])})"
        )
    if rec.get("scratch_dir"):
        lines.append(f"  kept: {rec['scratch_dir']}")
    return lines


def _covered(phase: dict[str, Any]) -> str:
    """What a phase checked, in words: verify by backupctl (objects of the manifest, the
    sample) or by the store (restic's ``restore --verify``), and whether a live check ran."""
    name = phase["name"]
    if name == "verify":
        if phase.get("by") == "store":
            return (
                f"by the store: restic restore --verify re-read all {phase.get('objects', 0)} "
                "restored file(s) against the repository"
            )
        if phase.get("by") == "backupctl":
            sample = phase.get("sample_percent", 100)
            part = "" if sample >= 100 else f" ({sample:g}% sample)"
            size_only = phase.get("size_only", 0)
            weak = (
                f"; {size_only} by size only (no recorded sha256 and no S3 checksum: "
                "`backupctl adopt` records one)"
                if size_only
                else ""
            )
            return (
                f"{phase.get('objects', 0)} of {phase.get('objects_in_manifest', 0)} manifest "
                f"object(s) hashed{part}{weak}"
            )
        return "not verified"
    if name == "live":
        if not phase.get("configured", True):
            return "no live check configured"
        return f"live check passed after {phase.get('attempts', 0)} attempt(s)"
    if name == "fetch" and "files" in phase:
        return f"{phase['files']} file(s) restored"
    return ""


def _when(text: Any) -> str:
    if not isinstance(text, str):
        return "-"
    try:
        return humanize.when(datetime.fromisoformat(text))
    except ValueError:
        return text


@click.group("drill", invoke_without_command=True)
@config_option()
@click.option(
    "--snapshot",
    "how",
    default="latest",
    show_default=True,
    metavar="ID|latest|random",
    help=(
        "Which snapshot to restore: an id (or unique id prefix), the latest, "
        "or a seeded random one."
    ),
)
@click.option(
    "--stratified",
    is_flag=True,
    help="Rotate over the daily, weekly and monthly tiers (least recently drilled tier first).",
)
@click.option(
    "--sample",
    type=click.FloatRange(0, 100, min_open=True),
    default=100.0,
    show_default=True,
    metavar="PCT",
    help="Verify only this share of the objects (seeded).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for --snapshot random and --sample (default: a fresh one, recorded).",
)
@click.option("--keep", is_flag=True, help="Leave the restored files in the scratch directory.")
@click.option(
    "--group",
    "group",
    default=None,
    metavar="NAME",
    help="Drill a snapshot of this group only (default: any configured group).",
)
@metrics_file_option()
@click.option("--json", "as_json", is_flag=True, help="Print the drill record as JSON.")
@click.pass_context
def command(
    ctx: click.Context,
    config_path: str | None,
    how: str,
    stratified: bool,
    sample: float,
    seed: int | None,
    keep: bool,
    group: str | None,
    metrics_file: str | None,
    as_json: bool,
) -> None:
    """Restore a snapshot into scratch space, verify it, wait until it is live, and measure
    the time against the working-day target. Exit 3 when the drill fails."""
    if ctx.invoked_subcommand is not None:
        return
    from backupctl.log import is_quiet
    from backupctl.stores import open_store
    from restore.drill import FAILED_VERDICTS, Choice, DrillError, SnapshotMismatch, run_drill
    from restore.workday import WorkdayError

    config = load_config(config_path)
    if group is not None:
        from backupctl.commands.options import check_groups

        check_groups([group], (p.group for p in config.policies))
    if metrics_file:
        from backupctl.evidence.job_metrics import check_target

        check_target(metrics_file)
    settings = _settings(config, sample, keep, stderr_progress=not (as_json or is_quiet()))
    seed = secrets.randbits(32) if seed is None else seed
    choice = Choice(
        how=how, stratified=stratified, seed=seed, history=_history(config) if stratified else ()
    )
    requested = clock.now()
    try:
        store: Any = open_store(config)
        if group is not None:
            store = _GroupStore(store, group)
        result = run_drill(store, choice, settings, requested=requested)
    except DrillError as exc:
        raise UsageError(f"drill: {exc}") from None
    except WorkdayError as exc:  # the lazily loaded holidays: an unknown country
        raise ConfigError(config.path, [f"drill.{exc}"]) from None
    except SnapshotMismatch as exc:
        raise StoreError(f"drill: {exc}; nothing was recorded") from None
    record = {**result.to_json(), "seed": seed}  # the edge: the record as audited and printed
    get_logger("drill").info(
        "drill.done",
        snapshot=record["snapshot"]["id"],
        verdict=record["verdict"],
        wall_s=record["wall_seconds"],
    )
    from backupctl import notify  # what [notify]'s end event says (commands/__init__.py)

    notify.report(
        f"drill {record['verdict']}: {record['snapshot']['id']}: {record['message']}",
        failed_objects=len(record["failed_objects"]),
        wall_seconds=record["wall_seconds"],
    )
    from backupctl.evidence.audit import audit_log_for  # after the restore: not on its start-up

    audit_error: StoreError | None = None
    try:  # signed with [audit] signing_key_file
        entry = audit_log_for(config).append("drill", record, now=clock.now())
        record["audit_seq"] = entry.get("seq")
    except StoreError as exc:
        audit_error = exc
    if metrics_file:
        from backupctl.evidence.job_metrics import drill_metrics, write

        write(metrics_file, drill_metrics(record, result.verdict not in FAILED_VERDICTS))
    click.echo(json.dumps(record, indent=2) if as_json else "\n".join(_summary(record)))
    if audit_error is not None:
        raise StoreError(
            f"the drill ran ({record['verdict']}) but its record could not be written "
            f"to the audit log: {audit_error}"
        )
    if result.verdict in FAILED_VERDICTS:
        raise ViolationFound(f"drill {result.verdict}: {result.message}")


@command.command("deadline")
@click.option(
    "--from",
    "--at",
    "--now",
    "start",
    default=None,
    metavar="TIME",
    help="When the restore is requested: now (default), 2026-12-24T16:30 (the config's "
    "timezone) or an ISO time with offset. --at and --now are aliases.",
)
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Config file for [drill] hours, holidays and target (default: the built-in SLA defaults).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print {deadline, working_time_budget, …} as JSON."
)
def deadline(start: str | None, config_path: str | None, as_json: bool) -> None:
    """When a restore requested at TIME (default: now) must be live: the target in working
    time, counted in opening hours only, skipping weekends and public holidays."""
    from zoneinfo import ZoneInfo

    if config_path is not None:
        config = load_config(config_path)
        calendar, budget = calendar_for(config.drill, config.timezone, config.path)
        target_text = config.drill.target
        zone: Any = config.timezone
    else:
        defaults = DrillConfig()
        calendar, budget = calendar_for(defaults, DEFAULT_TZ, "<built-in defaults>")
        target_text = defaults.target
        zone = ZoneInfo(DEFAULT_TZ)
        humanize.use_zone(zone)
    when = reference_time(start, zone, "--from")
    from restore.workday import WorkdayError

    try:
        out = deadline_json(calendar, when, budget, target_text)
    except WorkdayError as exc:  # a --from at the ends of the datetime range (year 1, 9999)
        raise UsageError(f"drill deadline --from {start!r}: {exc}") from None
    except OverflowError:
        raise UsageError(
            f"drill deadline --from {start!r}: too close to the end of the calendar to compute a "
            "deadline (expected a time well before 9999-12-31)"
        ) from None
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"deadline: {humanize.when(datetime.fromisoformat(out['deadline']))}")
    click.echo(
        f"  {target_text} = {humanize.duration(budget)} of working time "
        f"from {humanize.when(when)} ({out['timezone']})"
    )
    for h in out["holidays_skipped"]:
        click.echo(f"  skipped holiday: {h['date']} {h['name']}")
