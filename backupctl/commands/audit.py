"""``backupctl audit``: verify and export the hash-chained audit log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from backupctl.config import load_cli_config
from backupctl.errors import EXIT_VIOLATION, UsageError
from backupctl.evidence.audit import AUDIT_PREFIX, AuditLog, AuditReport, verify_jsonl_report
from backupctl.stores.locations import audit_blobs_for

_CONFIG_HELP = "Config file (default: $BACKUPCTL_CONFIG or ./backupctl.toml)."


def _log_for(path: str | None) -> tuple[AuditLog, str]:
    """The audit log of the config at ``path`` and a description of where it is."""
    blobs = audit_blobs_for(load_cli_config(path))
    url = str(getattr(blobs, "url", "the store"))
    return AuditLog(blobs), f"{url.rstrip('/')}/{AUDIT_PREFIX}"


def _read_text(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--file {file}: cannot read the audit export ({exc})") from None


def _print_report(report: AuditReport, source: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"source": source, **report.to_json()}, indent=2))
        return
    head = f"head {report.head}" if report.head else "head unknown"
    if report.ok:
        click.echo(f"audit log {source}: {report.records} record(s), {head}: intact")
        return
    click.echo(
        f"audit log {source}: TAMPERED: {len(report.problems)} problem(s) in {report.records} record(s):"
    )
    for problem in report.problems:
        click.echo(f"  - {problem}")
    click.echo("Keep the log as it is (export it for the auditor); do not repair it by hand.")


@click.group("audit")
def command() -> None:
    """The append-only, hash-chained audit log of prunes and drills.

    Each record carries the SHA-256 of the one before it, so any edit, removal,
    insertion or reordering is detected by `backupctl audit verify`.
    """


@command.command("verify")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option(
    "--file",
    "file",
    type=str,
    default=None,
    help="Verify an exported JSON Lines file ('-' = stdin) instead of the stored log.",
)
@click.option(
    "--head",
    "expect_head",
    default=None,
    metavar="SHA256",
    help="A head hash recorded earlier (e.g. in a proof): it must be the hash of one of the records.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def verify(
    ctx: click.Context,
    config_path: str | None,
    file: str | None,
    expect_head: str | None,
    as_json: bool,
) -> None:
    """Check the whole chain. Exit 0 when intact, 3 when tampered."""
    if expect_head is not None and (
        len(expect_head) != 64 or any(c not in "0123456789abcdef" for c in expect_head)
    ):
        raise UsageError(f"--head {expect_head!r}: expected 64 lowercase hex digits (a SHA-256)")
    if file is not None:
        if config_path:
            raise UsageError(
                "--file and --config exclude each other: verify either an export or the stored log"
            )
        report, source = verify_jsonl_report(_read_text(file), expect_head), file
    else:
        log, source = _log_for(config_path)
        report = log.verify_report(expect_head)
    _print_report(report, source, as_json)
    if not report.ok:
        ctx.exit(EXIT_VIOLATION)


@command.command("export")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout."
)
def export(config_path: str | None, out: str | None) -> None:
    """Write the log as JSON Lines (one record per line, in seq order) for offline reading.

    Check an export later with `backupctl audit verify --file FILE`.
    """
    log, _source = _log_for(config_path)
    text = log.export_jsonl()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        tmp = Path(out).with_name(Path(out).name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    click.echo(f"wrote {len(text.splitlines())} record(s) to {out}", err=True)
