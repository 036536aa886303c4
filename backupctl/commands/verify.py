"""``backupctl verify``: missed backups, coverage gaps, over-retention, integrity, audit chain.

Exit codes: 0 no violation, 1 error (store unreadable), 2 bad usage or config, 3 violations found.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import click

from backupctl import humanize
from backupctl.commands.options import (
    at_option,
    config_option,
    group_option,
    load_config,
    metrics_file_option,
    only_groups,
    reference_time,
)
from backupctl.config import Config
from backupctl.errors import ViolationFound
from backupctl.evidence.checks import Finding, Violation, lookup
from backupctl.evidence.verify import VerifyReport, parse_day_or_time, verify_store

__all__ = ["SHOWN", "command", "render_report"]

SHOWN = 5
"""Findings listed per kind and group without ``-v`` (the rest is counted; --json has all)."""


@click.command("verify")
@config_option()
@at_option(
    "Check as of this time: now (default; BACKUPCTL_NOW honoured), 2026-11-23, "
    "2026-11-23T10:00 (the config's timezone) or an ISO time with offset. --now is an alias."
)
@click.option(
    "--from",
    "from_text",
    metavar="DATE",
    default=None,
    help="Report no missed backup or coverage gap before DATE (2026-03-01 or an ISO time).",
)
@group_option("checks")
@metrics_file_option()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(
    config_path: str | None,
    at_text: str | None,
    from_text: str | None,
    groups: tuple[str, ...],
    metrics_file: str | None,
    as_json: bool,
) -> None:
    """Check that every promised backup is there, nothing is kept too long, data and audit log
    are intact.

    Violation kinds: missed, coverage, over_retention, integrity, audit, no_snapshots.
    Incomplete snapshots, unknown keys and unconfigured groups are printed as notes
    (counted; -v lists each).

    Exit codes: 0 no violation, 1 error, 2 bad usage or config, 3 violations found.
    """
    from backupctl.stores import open_store
    from backupctl.stores.locations import audit_blobs_for

    full = load_config(config_path)
    config = only_groups(full, groups)
    at = reference_time(at_text, config.timezone)
    since = parse_day_or_time(from_text, "--from", config.timezone) if from_text else None
    if metrics_file:
        from backupctl.evidence.job_metrics import check_target

        check_target(metrics_file)
    started = time.time()
    store = open_store(full)
    listing = store.listing()
    if groups:  # only these groups' snapshots: the others are not unconfigured, just not asked
        listing = _only(listing, set(groups))
    report = verify_store(
        config,
        store,
        at=at,
        since=since,
        audit_blobs=lambda: audit_blobs_for(config),
        listing=listing,
    )
    from backupctl import notify  # what [notify]'s end event says (commands/__init__.py)

    notify.report(
        violations=len(report.violations),
        notes=len(report.notes),
        snapshots=sum(g.get("snapshots", 0) for g in report.checked.get("groups", {}).values()),
    )
    if metrics_file:
        from backupctl.evidence.job_metrics import verify_metrics, write

        write(metrics_file, verify_metrics(report, time.time() - started))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        from backupctl.log import is_verbose

        for line in render_report(report, config, verbose=is_verbose()):
            click.echo(line)
    if not report.ok:
        raise ViolationFound(f"verify: {len(report.violations)} violation(s) found")


def _only(listing: Any, groups: set[str]) -> Any:
    """``listing`` with only the snapshots (complete and incomplete) of ``groups``."""
    return dataclasses.replace(
        listing,
        snapshots=[s for s in listing.snapshots if s.snapshot.group in groups],
        incomplete=[s for s in listing.incomplete if s.snapshot.group in groups],
        unknown=[],
    )


def render_report(
    report: VerifyReport, config: Config | None = None, *, verbose: bool = False
) -> Iterator[str]:
    """Human lines: a verdict, what was checked per group, then violations (grouped by kind
    and group, with what to do), then notes counted by kind.

    Without ``verbose``, at most :data:`SHOWN` findings are listed per kind and group and the
    rest counted; ``verbose`` (``-v``) lists each. Times are in the config's timezone.
    """
    n = len(report.violations)
    yield f"verify at {humanize.when(report.at)}: " + (
        "OK, no violations" if report.ok else f"{n} violation(s)"
    )
    incomplete = _count_by_group(report.notes, "incomplete")
    for group, checked in report.checked.get("groups", {}).items():
        yield from _group_lines(group, checked, _policy(config, group), incomplete.get(group, 0))
    integ = report.checked.get("integrity", {})
    damaged = [v for v in report.violations if v.kind == "integrity"]
    yield _integrity_line(integ, damaged, config)
    if "audit" in report.checked:
        a = report.checked["audit"]
        yield f"  audit log: {a['records']} records, {'intact' if a['ok'] else 'DAMAGED'}"
    by_kind: dict[str, dict[str, list[Violation]]] = {}
    for v in report.violations:
        by_kind.setdefault(v.kind, {}).setdefault(v.group, []).append(v)
    for kind, groups in by_kind.items():
        check = lookup(kind)
        yield ""
        yield f"{kind.upper()} ({sum(len(v) for v in groups.values())}): what to do: {check.advice}"
        for group, items in groups.items():
            yield f"  {group}:" + (f" {len(items)}" if len(items) > SHOWN else "")
            yield from _listed(
                [_describe(v, incomplete.get(v.group, 0)) for v in items], verbose, "    - "
            )
    if report.notes:
        yield ""
        yield f"NOTES ({len(report.notes)}, not violations):"
        by_note: dict[str, list[Finding]] = {}
        for note in report.notes:
            by_note.setdefault(note.kind, []).append(note)
        for kind, notes in by_note.items():
            per_group = _count_by_group(notes, kind)
            where = ", ".join(f"{g} {c}" for g, c in sorted(per_group.items()) if g)
            yield f"  {len(notes)} {_NOTE_NAMES.get(kind, kind)}" + (f" ({where})" if where else "")
            yield from _listed([lookup(kind).describe(x) for x in notes], verbose, "    - ")


def _integrity_line(integ: dict[str, Any], damaged: Sequence[Violation], config: Any) -> str:
    """What the integrity check covered. A restic repository is checked as a whole by
    ``restic check --read-data-subset=n/10``: the structure of every snapshot and the data of
    one tenth of the packs (a part that rotates daily), not a re-read of sampled snapshots."""
    problems = f"{len(damaged)} problem(s)" if damaged else "no damage"
    url = str(getattr(getattr(config, "store", None), "url", ""))
    if url.startswith("restic:") and integ.get("sampled"):
        from backupctl.clock import now
        from backupctl.stores.restic import rotating_subset

        spec = rotating_subset(now().toordinal())
        part, parts = spec.split("/")
        return (
            f"  integrity: restic check --read-data-subset={spec}: the structure of the whole "
            f"repository ({integ.get('of', 0)} snapshots) and the data of part {part} of "
            f"{parts} of its packs (every pack is read once in {parts} days): {problems}"
        )
    ids = {v.details.get("id") for v in damaged}
    return (
        f"  integrity: {integ.get('sampled', 0)} of {integ.get('of', 0)} snapshots re-read "
        "and compared with their manifests: " + (f"{len(ids)} damaged" if damaged else "no damage")
    )


_NOTE_NAMES = {
    "incomplete": "incomplete snapshot folder(s), no manifest.json, never deleted",
    "unknown_key": "key(s) that belong to no snapshot, left alone",
    "no_integrity_reference": "single-object snapshot(s) checked by size only",
    "name_time": "snapshot name(s) in a repeated DST hour, read as the first occurrence",
    "unconfigured_group": "group(s) without a policy, left alone",
    "future": "snapshot(s) dated in the future",
    "audit_unavailable": "audit log not readable",
}


def _listed(lines: Sequence[str], verbose: bool, prefix: str) -> Iterator[str]:
    shown = lines if verbose or len(lines) <= SHOWN else lines[:SHOWN]
    yield from (prefix + line for line in shown)
    if len(shown) < len(lines):
        yield f"{prefix}… and {len(lines) - len(shown)} more (-v lists them all; --json too)"


def _count_by_group(findings: Sequence[Finding], kind: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        if f.kind == kind:
            counts[f.group] = counts.get(f.group, 0) + 1
    return counts


def _describe(v: Violation, incomplete: int) -> str:
    text = lookup(v.kind).describe(v)
    if v.kind == "no_snapshots" and incomplete:
        text += (
            f"; but {incomplete} folder(s) of it have no manifest.json (see NOTES): the backup "
            "job may not write one, or its uploads never finish"
        )
    return text


def _policy(config: Config | None, group: str) -> Any:
    return config.policy_for_group(group) if config is not None else None


def _group_lines(
    group: str, checked: dict[str, Any], policy: Any, incomplete: int
) -> Iterator[str]:
    """What was checked for one group, said as what it means (not ``coverage 0/0 slots``)."""
    count = checked.get("snapshots", 0)
    if not count:
        extra = f", {incomplete} folder(s) without a manifest.json" if incomplete else ""
        yield f"  {group}: no snapshots{extra}"
        return
    span = ""
    if checked.get("oldest") and checked.get("newest"):
        span = f" ({humanize.when(_t(checked['oldest']))} … {humanize.when(_t(checked['newest']))})"
    yield f"  {group}: {count} snapshots{span}"
    sched = checked.get("schedule")
    within = _within(policy)
    if sched:
        missed = sched.get("missed", 0)
        pending = sched.get("pending", 0)
        what = (
            f"every scheduled backup the policy keeps ({within})"
            if within
            else ("the scheduled backups the policy keeps")
        )
        yield (
            f"    schedule {sched.get('cron', '')}: {sched.get('filled', 0)} of "
            f"{sched.get('expected', 0)} expected backups present since "
            f"{humanize.when(_t(sched['from']))}"
            + (f", {missed} missed" if missed else "")
            + (f", {pending} not yet due" if pending else "")
            + f": checked {what}"
        )
    cov = checked.get("coverage", {})
    tiers = _tiers(policy)
    if cov.get("slots", 0):
        missing = cov["slots"] - cov.get("filled", 0)
        yield (
            f"    calendar tiers ({tiers or 'count rules'}): {cov.get('filled', 0)} of "
            f"{cov['slots']} promised buckets hold a snapshot"
            + (f", {missing} empty" if missing else "")
        )
    elif tiers:
        yield f"    calendar tiers ({tiers}): no bucket due yet"
    else:
        yield "    calendar tiers: none in this policy (nothing more to check than the schedule)"
    over = checked.get("over_retention", 0)
    yield (
        f"    over-retention: {over} snapshot(s) kept past their last rule"
        if over
        else ("    over-retention: none (nothing kept past its rules)")
    )


def _within(policy: Any) -> str:
    if policy is None or policy.policy.keep_within.is_zero():
        return ""
    return f"keep_within {policy.policy.keep_within}"


def _tiers(policy: Any) -> str:
    """``daily 7d, weekly 4w, monthly 6m``: the policy's calendar rules, as promised."""
    if policy is None:
        return ""
    from retention import CALENDARS, RULES

    p = policy.policy
    parts = [f"{c.name} {p.within(c.name)}" for c in CALENDARS if not p.within(c.name).is_zero()]
    parts += [f"{r.name} {p.count(r.name)}" for r in RULES if r.calendar and p.count(r.name)]
    return ", ".join(parts)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)
