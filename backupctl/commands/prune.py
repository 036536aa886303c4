"""``backupctl prune``: apply the plan to the configured store, safely.

Lock -> list -> plan -> safety rules -> audit ``prune.intent`` -> delete (manifest first)
-> audit ``prune.result`` -> unlock. ``--dry-run`` stops after the plan and writes nothing.
Exit codes: 0 done, 1 some deletions failed (rerun to finish), 2 bad usage or config,
4 a safety refusal or the lock is held.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
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
from backupctl.errors import SafetyRefusal, StoreError, UsageError
from backupctl.evidence.metrics import PruneMetrics, write_textfile
from backupctl.log import get_logger, is_quiet
from backupctl.progress import progress as progress_bar
from backupctl.prune import runner
from backupctl.prune.runner import PruneResult, Refusal, blocking

__all__ = ["command", "render_result"]

log = get_logger("prune")


@click.command("prune")
@config_option()
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and what would be deleted; touch nothing."
)
@click.option(
    "--force",
    is_flag=True,
    help="Override safety refusals (not the newest-snapshot rule); needs --reason.",
)
@click.option(
    "--reason", metavar="TEXT", default=None, help="Why --force is used (logged, audited)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@metrics_file_option()
@at_option(
    "With --dry-run: plan as of this time: now (default), 2026-11-23, 2026-11-23T10:00 "
    "(the config's timezone) or an ISO time with offset. --now is an alias."
)
@group_option("snapshots")
def command(
    config_path: str | None,
    dry_run: bool,
    force: bool,
    reason: str | None,
    as_json: bool,
    metrics_file: str | None,
    at_text: str | None,
    groups: tuple[str, ...],
) -> None:
    """Delete the snapshots the policy no longer keeps (plan first, then apply).

    The first prune of an existing history is usually refused (its backups predate the
    policy, so most are due at once): check `backupctl plan`, then run the
    `--force --reason "…"` command the refusal prints.

    Exit codes: 0 ok, 1 some deletions failed (rerun to finish), 2 bad usage or config,
    4 refused by a safety rule or another prune holds the lock.
    """
    force_reason = _check_force(force, reason)
    if at_text is not None and not dry_run:
        raise UsageError(
            "prune: --at goes with --dry-run only (a real prune always runs at the current time)"
        )
    full = load_config(config_path)
    config = only_groups(full, groups)
    audit = _audit_for(config, dry_run)  # a bad signing key stops here, before anything changes
    if metrics_file and not dry_run:
        _check_metrics_target(metrics_file)  # before anything is deleted, not after
    now = reference_time(at_text, config.timezone)
    log.info(
        "prune.start", config=config.path, store=config.store.url, dry_run=dry_run, forced=force
    )
    started = time.time()
    try:
        result = _run(config, now, dry_run, force_reason, as_json, audit, full)
    except (StoreError, SafetyRefusal):  # store failure, lock held
        if metrics_file and not dry_run:
            _write_metrics(
                metrics_file,
                PruneMetrics(
                    failed=1, duration_s=time.time() - started, **_head_metrics(audit_head(audit))
                ),
            )
        raise
    head = audit_head(audit)
    from backupctl import notify  # what [notify]'s end event says (commands/__init__.py)

    notify.report(
        deleted=len(result.deleted),
        kept=result.kept,
        failed=len(result.failed),
        refusals=len(result.refusals),
        bytes_freed=result.bytes_freed,
    )
    if metrics_file and not dry_run:
        _write_metrics(metrics_file, _metrics(result, success=result.ok, head=head))
    _finish(result, as_json, head, _again(config_path, groups))


def _again(config_path: str | None, groups: Sequence[str]) -> str:
    """The options to repeat this run with, for the command a refusal prints."""
    parts = ["--config", shlex.quote(config_path)] if config_path else []
    for g in groups:
        parts += ["--group", shlex.quote(g)]
    return " ".join(parts)


def _check_force(force: bool, reason: str | None) -> str | None:
    if force and not (reason and reason.strip()):
        raise UsageError(
            "prune: --force needs --reason TEXT "
            "(why the safety rules are overridden; it is audited)"
        )
    if reason is not None and not force:
        raise UsageError("prune: --reason is only meaningful with --force")
    return reason.strip() if force and reason else None


def _audit_for(config: Config, dry_run: bool) -> Any:
    """The run's audit log (signing with ``[audit] signing_key_file``), or a guard for a dry run."""
    from backupctl.evidence.audit import audit_log_for

    return audit_log_for(config) if not dry_run else _NoAudit()


def audit_head(audit: Any) -> dict[str, Any] | None:
    """``{"seq", "head"}`` of the newest audit record this run wrote, or None (it wrote none):
    the head a system outside the bucket can keep (``audit verify --head``)."""
    record = getattr(audit, "last_appended", None)
    if record is None:
        return None
    from backupctl.evidence.audit import record_hash

    return {"seq": record["seq"], "head": record_hash(record)}


def _head_metrics(head: dict[str, Any] | None) -> dict[str, Any]:
    return {"audit_seq": head["seq"], "audit_head": head["head"]} if head else {}


def _run(
    config: Config,
    now: Any,
    dry_run: bool,
    force_reason: str | None,
    as_json: bool,
    audit: Any,
    full: Config | None = None,
) -> PruneResult:
    """Run the prune of ``config`` (maybe only some groups: see ``--group``) on the store
    ``full`` (the whole config: its layout knows every group) describes."""
    from backupctl.prune.lock import acquire_lock
    from backupctl.stores import open_store
    from backupctl.stores.locations import lock_blobs_for

    store = open_store(full or config, planning=True)
    blobs = lock_blobs_for(config)

    def lock() -> AbstractContextManager[Any]:
        return acquire_lock(blobs, ttl=config.safety.lock_ttl, now=now, config_path=config.path)

    return runner.run_prune(
        config,
        store,
        audit,
        lock,
        now=now,
        dry_run=dry_run,
        force_reason=force_reason,
        progress=None if as_json or is_quiet() else _progress,
    )


class _NoAudit:
    """A dry run writes nothing; the runner never calls this, it is a guard."""

    def append(self, action: str, data: dict[str, Any], *, now: Any) -> None:
        raise AssertionError("a dry run must not write the audit log")


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    with progress_bar("deleting snapshots", total) as advance:
        yield advance


def _finish(
    result: PruneResult, as_json: bool, head: dict[str, Any] | None = None, again: str = ""
) -> None:
    stop = blocking(result.refusals, result.forced is not None)
    if as_json:
        click.echo(json.dumps({**result.to_json(), "audit_head": head}, indent=2))
    elif not stop or result.dry_run:  # a refusal is told once, by the error below
        for line in render_result(result):
            click.echo(line)
    if stop:
        raise SafetyRefusal(refusal_text(stop, result, again))
    if result.failed:
        raise StoreError(
            f"{len(result.failed)} snapshot(s) could not be deleted (run prune again to finish):\n"
            + "\n".join(f"  - {sid}: {err}" for sid, err in sorted(result.failed.items()))
        )


FIRST_PRUNE_REASON = "first prune: the history predates the policy"


def refusal_text(stop: Sequence[Refusal], result: PruneResult, again: str = "") -> str:
    """The one message of a refused prune: each refusal, and for overridable ones what to do,
    with the exact ``--force --reason "…"`` command (``again``: the run's own options).

    A ``max_delete_fraction`` refusal is what any real history gets on its first prune (its
    backups predate the policy, so most of them are due at once): the message says so.
    """
    going = len(result.would_delete) or sum(result.forgotten_by_group.values())
    lines = [
        ("dry run: a real prune would be refused" if result.dry_run else "prune refused")
        + f", nothing was deleted ({going} snapshot(s) would go, {result.kept} kept):"
    ]
    lines += [
        f"  - {r.message}" + ("" if r.overridable else " (--force cannot lift this)") for r in stop
    ]
    if not any(r.overridable for r in stop):
        return "\n".join(lines)
    if any(r.rule == "max_delete_fraction" for r in stop):
        lines.append(
            "  This is expected on the first prune of a real history: its backups predate the "
            "policy, so most of them are due at once."
        )
        reason = FIRST_PRUNE_REASON
    else:
        reason = "…why the safety rule does not apply…"
    plan_cmd = " ".join(["backupctl plan", *([again] if again else [])])
    prune_cmd = " ".join(["backupctl prune", *([again] if again else [])])
    lines.append(f"  Check what would go with `{plan_cmd}`, then run:")
    lines.append(f'    {prune_cmd} --force --reason "{reason}"')
    return "\n".join(lines)


def render_result(result: PruneResult) -> Iterator[str]:
    """The human summary of a prune or dry run: sizes and durations for people
    (:mod:`backupctl.humanize`); a forced run says what it overrode and why."""
    if result.dry_run:
        yield f"dry run: would delete {len(result.would_delete)} snapshot(s), keep {result.kept}"
        yield from (f"  forget {sid}" for sid in result.would_delete)
    else:
        yield (
            f"deleted {len(result.deleted)} snapshot(s), kept {result.kept}, "
            f"freed {humanize.size(result.bytes_freed)} in {humanize.duration(result.duration_s)}"
        )
        for group, n in sorted(result.forgotten_by_group.items()):
            if n:
                yield f"  {group}: deleted {n}, kept {result.kept_by_group.get(group, 0)}"
    for sid, why in sorted(result.held.items()):
        yield f"  held (Object Lock, skipped): {sid}: {why}"
    for sid, err in sorted(result.failed.items()):
        yield f"  FAILED: {sid}: {err}"
    if result.unknown:
        yield f"unknown keys left alone: {len(result.unknown)}"
    if result.incomplete:
        yield f"incomplete snapshots left alone: {len(result.incomplete)}" + (
            f" ({', '.join(result.incomplete[:3])}{', …' if len(result.incomplete) > 3 else ''})"
        )
    if result.requests:
        yield "requests: " + ", ".join(f"{op}={n}" for op, n in sorted(result.requests.items()))
    forced = result.forced is not None
    for r in result.refusals:
        if forced and r.overridable:
            yield f"overridden by --force: {r.message}"
    if forced:
        yield f"forced, reason (audited): {result.forced}"


def _metrics(
    result: PruneResult, success: bool, head: dict[str, Any] | None = None
) -> PruneMetrics:
    refusals: dict[str, int] = {}
    for r in result.refusals:
        refusals[r.group] = refusals.get(r.group, 0) + 1
    return PruneMetrics(
        kept=result.kept_by_group,
        forgotten=result.forgotten_by_group,
        refusals=refusals,
        bytes_freed=result.bytes_freed,
        duration_s=result.duration_s,
        failed=len(result.failed),
        success_time=time.time() if success else None,
        **_head_metrics(head),
    )


def _check_metrics_target(path: str) -> None:
    """Refuse a ``--metrics-file`` that cannot be written, before the prune changes anything:
    its folder must exist and take a new file (the textfile is written by rename there).

    Raises:
        UsageError: naming the path and why.
    """
    import tempfile
    from pathlib import Path

    folder = Path(path).parent
    if Path(path).is_dir():
        raise UsageError(
            f"--metrics-file {path}: is a directory, expected a file path; nothing was changed"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".backupctl-check-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"--metrics-file {path}: cannot write in {folder}: {exc.strerror or exc}; "
            "nothing was changed"
        ) from None


def _write_metrics(path: str, metrics: PruneMetrics) -> None:
    try:
        write_textfile(path, metrics)
    except OSError as exc:
        raise UsageError(f"--metrics-file {path}: cannot write it: {exc.strerror or exc}") from None
