"""One store's plan / verify / prune / proof / drill, in-process, as one small :class:`Outcome`.

Each job calls the layers the single-store command calls (``load_config`` or the template's
rendering, ``open_store``, then ``runner.plan_store`` / ``verify_store`` / ``runner.run_prune``
under the lock / ``make_proof`` and ``write_proof`` / ``run_drill`` and the audit record), and
maps what it found to the command's exit code. Nothing is printed: the fleet prints one summary.
A job never raises (but for KeyboardInterrupt): a bad config, an unreachable endpoint or a bug
becomes that store's error outcome, so one store never stops the others.
"""

from __future__ import annotations

import secrets as _secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from backupctl import clock
from backupctl.config import Config
from backupctl.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_VIOLATION,
    BackupctlError,
    ConfigError,
    StoreError,
    UsageError,
)
from backupctl.fleet.spec import StoreEntry, load_store_config
from backupctl.log import get_logger
from backupctl.secrets import redact_text

__all__ = ["COMMANDS", "JobOptions", "Outcome", "run_store"]

COMMANDS = ("plan", "verify", "prune", "proof", "drill")
log = get_logger("fleet")


@dataclass(frozen=True)
class JobOptions:
    """The fleet command's options, the same for every store. Times are given as text and
    parsed in each store's own time zone (a day such as ``2026-03-01`` starts at a different
    instant in each)."""

    command: str
    at: str | None = None  # verify --at
    since: str | None = None  # verify --from
    dry_run: bool = False  # prune
    proof_from: str | None = None  # proof
    proof_to: str | None = None
    proof_out: Path | None = None
    drill_how: str = "latest"  # drill
    drill_stratified: bool = False
    drill_sample: float = 100.0
    drill_seed: int | None = None
    drill_keep: bool = False
    no_cache: bool = False  # --no-cache: every store's manifest cache off


@dataclass
class Outcome:
    """What one store's run came to: the exit code its single-store command would have given,
    a one-word verdict, a few counts for the summary table, the command's JSON result (None on
    error) and the error line (redacted)."""

    exit: int
    verdict: str
    counts: dict[str, int | float] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """``{"exit", "verdict", "seconds", "counts", "error", "result"}``."""
        return {
            "exit": self.exit,
            "verdict": self.verdict,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "error": self.error,
            "result": self.result,
        }

    def summary(self) -> Outcome:
        """This outcome without its (possibly large) result: what the fleet keeps per store."""
        return Outcome(self.exit, self.verdict, self.counts, None, self.error, self.seconds)


class _Ended(BackupctlError):
    """Carries a non-zero exit code out of a notified job (the end event names it)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error or outcome.verdict)
        self.exit_code = outcome.exit
        self.outcome = outcome


def run_store(entry: StoreEntry, options: JobOptions) -> Outcome:
    """Run ``options.command`` on one store; never raises (but for KeyboardInterrupt).

    The store's ``[notify]`` hooks get its start and end events, as the single-store command
    sends them (not for a dry run).
    """
    from backupctl.stores.s3client import shared_clients

    started = time.monotonic()
    try:
        config = load_store_config(entry)
        if options.no_cache:
            config = config.with_cache_off()
        with shared_clients():  # the store, its audit log and lock: one S3 client (s3client.py)
            outcome = _notified(
                config, options, lambda: _JOBS[options.command](config, entry, options)
            )
    except BackupctlError as exc:
        outcome = Outcome(
            exc.exit_code, _ERROR_VERDICTS.get(exc.exit_code, "error"), error=_line(exc)
        )
    except Exception as exc:  # a bug or a library's surprise: this store's error, not the fleet's
        log.warning("fleet.store_crashed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
        outcome = Outcome(EXIT_ERROR, "error", error=_line(exc, prefix=f"{type(exc).__name__}: "))
    outcome.seconds = time.monotonic() - started
    return outcome


_ERROR_VERDICTS = {1: "error", 2: "config", 3: "violation", 4: "refused"}


def _line(exc: BaseException, prefix: str = "") -> str:
    """An error as one redacted line (a ConfigError's problems joined with ``; ``)."""
    if isinstance(exc, ConfigError):
        text = f"{exc.path}: " + "; ".join(exc.problems)
    else:
        text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return redact_text(prefix + (text or type(exc).__name__))


def _notified(config: Config, options: JobOptions, job: Callable[[], Outcome]) -> Outcome:
    from backupctl import notify
    from backupctl.notify import Notifier

    notifier = Notifier.from_config(config)
    if options.dry_run or not notifier.notifies(options.command):
        return job()
    try:
        with notifier.job(options.command):
            outcome = job()
            notify.report(outcome.error or outcome.verdict, **outcome.counts)
            if outcome.exit != EXIT_OK:
                raise _Ended(outcome)
    except _Ended as ended:
        return ended.outcome
    return outcome


def _at(text: str | None, what: str, config: Config) -> datetime | None:
    from backupctl.evidence.verify import parse_day_or_time

    return parse_day_or_time(text, what, config.timezone) if text else None


# --------------------------------------------------------------------------------- the jobs


def _plan(config: Config, entry: StoreEntry, options: JobOptions) -> Outcome:
    from backupctl.prune.runner import plan_store
    from backupctl.stores import open_store

    run, refusals = plan_store(config, open_store(config, planning=True), clock.now())
    counts: dict[str, int | float] = {
        "keep": len(run.kept_ids()),
        "forget": len(run.to_forget()),
        "unknown": len(run.unknown),
        "incomplete": len(run.incomplete),
        "refusals": len(refusals),
    }
    return Outcome(EXIT_OK, "ok", counts, run.to_json(refusals))


def _verify(config: Config, entry: StoreEntry, options: JobOptions) -> Outcome:
    from backupctl.evidence.verify import verify_store
    from backupctl.stores import open_store
    from backupctl.stores.locations import audit_blobs_for

    at = _at(options.at, "--at", config) or clock.now()
    since = _at(options.since, "--from", config)
    report = verify_store(
        config, open_store(config), at=at, since=since, audit_blobs=lambda: audit_blobs_for(config)
    )
    groups = report.checked.get("groups", {})
    counts: dict[str, int | float] = {
        "violations": len(report.violations),
        "notes": len(report.notes),
        "snapshots": sum(int(g.get("snapshots", 0)) for g in groups.values()),
        "sampled": int(report.checked.get("integrity", {}).get("sampled", 0)),
    }
    ok = report.ok
    return Outcome(
        EXIT_OK if ok else EXIT_VIOLATION,
        "ok" if ok else "violation",
        counts,
        report.to_json(),
        None if ok else f"{len(report.violations)} violation(s) found",
    )


def _prune(config: Config, entry: StoreEntry, options: JobOptions) -> Outcome:
    from backupctl.prune import runner
    from backupctl.prune.lock import acquire_lock
    from backupctl.stores import open_store
    from backupctl.stores.locations import lock_blobs_for

    now = clock.now()
    audit: Any = None
    if not options.dry_run:
        from backupctl.evidence.audit import audit_log_for

        audit = audit_log_for(config)  # a bad signing key stops here, before anything changes
    store = open_store(config, planning=True)

    def lock() -> AbstractContextManager[Any]:
        blobs = lock_blobs_for(config)
        return acquire_lock(blobs, ttl=config.safety.lock_ttl, now=now, config_path=config.path)

    result = runner.run_prune(
        config, store, audit, lock, now=now, dry_run=options.dry_run, progress=None
    )
    doc = result.to_json()
    record = getattr(audit, "last_appended", None)
    if record is not None:
        from backupctl.evidence.audit import record_hash

        doc["audit_head"] = {"seq": record["seq"], "head": record_hash(record)}
    counts: dict[str, int | float] = {
        ("would_delete" if result.dry_run else "deleted"): len(
            result.would_delete if result.dry_run else result.deleted
        ),
        "kept": result.kept,
        "failed": len(result.failed),
        "refusals": len(result.refusals),
        "bytes_freed": result.bytes_freed,
    }
    stop = runner.blocking(result.refusals, result.forced is not None)
    if stop:
        error = "prune refused, nothing was deleted: " + "; ".join(r.message for r in stop)
        return Outcome(EXIT_REFUSED, "refused", counts, doc, error)
    if result.failed:
        error = f"{len(result.failed)} snapshot(s) could not be deleted (run prune again to finish)"
        return Outcome(EXIT_ERROR, "failed", counts, doc, error)
    return Outcome(EXIT_OK, "dry-run" if result.dry_run else "ok", counts, doc)


def _proof(config: Config, entry: StoreEntry, options: JobOptions) -> Outcome:
    from backupctl.commands.proof import make_proof
    from backupctl.evidence.proof_files import write_proof
    from backupctl.evidence.signing import load_signer

    assert options.proof_out is not None
    start = _at(options.proof_from, "--from", config)
    end = _at(options.proof_to, "--to", config)
    assert start is not None and end is not None
    if end <= start:
        raise UsageError(f"--to {options.proof_to} is not after --from {options.proof_from}")
    key = config.audit.signing_key_file
    signer = load_signer(key) if key else None  # a bad key file stops here, before any read
    proof = make_proof(config, start, end, clock.now())
    written = write_proof(options.proof_out / entry.name, proof, signer)
    v = proof["verdict"]
    result = {
        "verdict": v["summary"],
        "ok": bool(v["ok"]),
        "findings": list(v["findings"]),
        "dir": entry.name,
        "files": {k: Path(p).name for k, p in written.files.items()},
        "json": Path(written.json_path).name,
        "sha256": written.digest,
        "signed": written.sig_path is not None,
    }
    counts: dict[str, int | float] = {"findings": len(v["findings"])}
    if v["ok"]:
        return Outcome(EXIT_OK, "PASS", counts, result)
    return Outcome(
        EXIT_VIOLATION,
        "FAIL",
        counts,
        result,
        f"proof verdict FAIL ({len(v['findings'])} finding(s))",
    )


def _drill(config: Config, entry: StoreEntry, options: JobOptions) -> Outcome:
    import os

    from backupctl.commands.drill import calendar_for, live_check_for
    from backupctl.evidence.audit import AuditLog, audit_log_for
    from backupctl.stores import open_store
    from backupctl.stores.locations import audit_blobs_for
    from restore.drill import (
        FAILED_VERDICTS,
        Choice,
        DrillError,
        DrillSettings,
        SnapshotMismatch,
        history_from_records,
        run_drill,
    )
    from restore.workday import WorkdayError

    d = config.drill
    calendar, target = calendar_for(d, config.timezone, config.path, lazy_holidays=True)
    settings = DrillSettings(
        target=target,
        calendar=calendar,
        target_text=d.target,
        workers=d.workers,
        verify_workers=max(1, min(8, os.cpu_count() or 1)),
        sample_percent=options.drill_sample,
        scratch_dir=Path(d.scratch_dir) if d.scratch_dir else None,
        keep=options.drill_keep,
        live_check=live_check_for(d.live_check, d.live_check_timeout) if d.live_check else None,
        live_check_timeout=d.live_check_timeout,
        live_check_interval=d.live_check_interval,
        progress=None,  # the fleet draws one progress display, not one per store
        reraise=(UsageError,),
    )
    seed = _secrets.randbits(32) if options.drill_seed is None else options.drill_seed
    history: list[tuple[str, datetime]] = []
    if options.drill_stratified:
        records = AuditLog(audit_blobs_for(config)).records()
        history = history_from_records(
            [r.get("data", {}) for r in records if r.get("action") == "drill"]
        )
    choice = Choice(
        how=options.drill_how, stratified=options.drill_stratified, seed=seed, history=history
    )
    try:
        drilled = run_drill(open_store(config), choice, settings, requested=clock.now())
    except DrillError as exc:
        raise UsageError(f"drill: {exc}") from None
    except WorkdayError as exc:  # the lazily loaded holidays: an unknown country
        raise ConfigError(config.path, [f"drill.{exc}"]) from None
    except SnapshotMismatch as exc:
        raise StoreError(f"drill: {exc}; nothing was recorded") from None
    record = {**drilled.to_json(), "seed": seed}
    counts: dict[str, int | float] = {
        "bytes": drilled.bytes,
        "wall_seconds": round(drilled.wall_seconds, 3),
    }
    try:
        entry_record = audit_log_for(config).append("drill", record, now=clock.now())
        record["audit_seq"] = entry_record.get("seq")
    except StoreError as exc:
        error = f"the drill ran ({record['verdict']}) but its audit record was not written: {exc}"
        return Outcome(EXIT_ERROR, "error", counts, record, redact_text(error))
    if drilled.verdict in FAILED_VERDICTS:
        return Outcome(EXIT_VIOLATION, drilled.verdict, counts, record, drilled.message)
    return Outcome(EXIT_OK, drilled.verdict, counts, record)


_JOBS: dict[str, Callable[[Config, StoreEntry, JobOptions], Outcome]] = {
    "plan": _plan,
    "verify": _verify,
    "prune": _prune,
    "proof": _proof,
    "drill": _drill,
}
