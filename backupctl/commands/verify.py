"""``backupctl verify``: missed backups, coverage gaps, over-retention, integrity, audit chain.

Exit codes: 0 no violation, 1 error (store unreadable), 2 bad usage or config, 3 violations found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import click

from backupctl import clock
from backupctl.config import load_cli_config
from backupctl.errors import ViolationFound
from backupctl.evidence.checks import Violation, lookup
from backupctl.evidence.verify import VerifyReport, parse_day_or_time, verify_store

__all__ = ["command", "render_report"]


@click.command("verify")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $BACKUPCTL_CONFIG, else ./backupctl.toml).",
)
@click.option(
    "--at",
    "at_text",
    metavar="TIME",
    default=None,
    help="Check as of this ISO time (default: now; BACKUPCTL_NOW honoured).",
)
@click.option(
    "--from",
    "from_text",
    metavar="DATE",
    default=None,
    help="Report no missed backup or coverage gap before DATE (2026-03-01 or an ISO time).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(
    config_path: str | None, at_text: str | None, from_text: str | None, as_json: bool
) -> None:
    """Check that every promised backup is there, nothing is kept too long, data and audit log
    are intact.

    Violation kinds: missed, coverage, over_retention, integrity, audit, no_snapshots.
    Incomplete snapshots, unknown keys and unconfigured groups are printed as notes.

    Exit codes: 0 no violation, 1 error, 2 bad usage or config, 3 violations found.
    """
    from backupctl.stores import open_store
    from backupctl.stores.locations import audit_blobs_for

    config = load_cli_config(config_path)
    at = parse_day_or_time(at_text, "--at", config.timezone) if at_text else clock.now()
    since = parse_day_or_time(from_text, "--from", config.timezone) if from_text else None
    report = verify_store(
        config, open_store(config), at=at, since=since, audit_blobs=lambda: audit_blobs_for(config)
    )
    from backupctl import notify  # what [notify]'s end event says (commands/__init__.py)

    notify.report(
        violations=len(report.violations),
        notes=len(report.notes),
        snapshots=sum(g.get("snapshots", 0) for g in report.checked.get("groups", {}).values()),
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in render_report(report):
            click.echo(line)
    if not report.ok:
        raise ViolationFound(f"verify: {len(report.violations)} violation(s) found")


def render_report(report: VerifyReport) -> Iterator[str]:
    """Human lines: a verdict, then violations, then notes.

    Violations are grouped by kind and group, with what to do.
    """
    n = len(report.violations)
    yield f"verify at {report.at.isoformat()}: " + (
        "OK, no violations" if report.ok else f"{n} violation(s)"
    )
    for group, checked in report.checked.get("groups", {}).items():
        sched = checked.get("schedule", {})
        cov = checked.get("coverage", {})
        yield (
            f"  {group}: {checked.get('snapshots', 0)} snapshots; "
            f"schedule {sched.get('filled', 0)}/{sched.get('expected', 0)} "
            f"since {sched.get('from', '-')}; "
            f"coverage {cov.get('filled', 0)}/{cov.get('slots', 0)} slots"
        )
    integ = report.checked.get("integrity", {})
    yield f"  integrity: {integ.get('sampled', 0)} of {integ.get('of', 0)} snapshots re-read"
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
            yield f"  {group}:"
            for v in items:
                yield "    - " + check.describe(v)
    if report.notes:
        yield ""
        yield f"NOTES ({len(report.notes)}, not violations):"
        for note in report.notes:
            yield "  - " + lookup(note.kind).describe(note)
