"""``backupctl proof``: write an auditor's proof for a period.

``backupctl proof check DIR``: verify one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backupctl import clock, humanize
from backupctl.commands.options import config_option, load_config
from backupctl.config import Config
from backupctl.errors import BackupctlError, UsageError, ViolationFound
from backupctl.evidence.proof_files import check_proof, write_proof
from backupctl.evidence.proof_model import ProofInputs, build_proof, deletions
from backupctl.evidence.verify import parse_day_or_time, verify_store
from backupctl.stores.base import IntegrityProblem, Listing, Store, StoredSnapshot
from backupctl.untrusted import UntrustedInput, loads
from retention import Snapshot

if TYPE_CHECKING:
    from backupctl.evidence.signing import Signer

__all__ = ["command"]


@click.group("proof", invoke_without_command=True)
@click.option(
    "--from",
    "from_text",
    metavar="DATE",
    default=None,
    help="Start of the period (2026-01-01 or ISO time); without --from/--to: the last full "
    "calendar month.",
)
@click.option(
    "--to",
    "to_text",
    metavar="DATE",
    default=None,
    help="End of the period, exclusive (2026-04-01 …).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory for proof.json and proof.html (created; default: proof-YYYY-MM of the "
    "period's start).",
)
@config_option()
@click.pass_context
def command(
    ctx: click.Context,
    from_text: str | None,
    to_text: str | None,
    out_dir: str | None,
    config_path: str | None,
) -> None:
    """Write the retention proof for a period: proof.json and a self-contained proof.html.

    \b
    backupctl proof --from 2026-01-01 --to 2026-04-01 --out proof-q1
    backupctl proof check proof-q1          recompute the hash the page records

    The proof lists every scheduled backup of the period (present, deleted by a recorded
    prune, or missed), every snapshot with its manifest hash, every deletion with its reason,
    every drill, the audit log's head and verification, and a verdict.
    Exit codes: 0 proof written and the promise held, 1 error, 2 bad usage or config,
    3 proof written but the verdict is FAIL.
    """
    if ctx.invoked_subcommand is not None:
        return
    if bool(from_text) != bool(to_text):  # a period needs both ends (none: last month)
        raise UsageError(
            f"proof: {'--to' if from_text else '--from'} is missing: give both --from and --to "
            "(e.g. --from 2026-01-01 --to 2026-04-01), or neither for the last full calendar "
            "month; or use 'backupctl proof check DIR'"
        )
    config = load_config(config_path)
    if from_text and to_text:
        start = parse_day_or_time(from_text, "--from", config.timezone)
        end = parse_day_or_time(to_text, "--to", config.timezone)
    else:  # no period: the last full calendar month (issue 14)
        start, end = clock.last_full_month(clock.now(), config.timezone)
    out_dir = out_dir or f"proof-{start:%Y-%m}"
    if end <= start:
        raise UsageError(f"--to {to_text} is not after --from {from_text}")
    signer = _signer(config)  # a bad key file stops here, before the store is read
    proof = make_proof(config, start, end, clock.now())
    written = write_proof(Path(out_dir), proof, signer)
    v = proof["verdict"]
    zone = config.timezone
    period = f"{humanize.when(start, zone)} to {humanize.when(end, zone)}"
    click.echo(f"{v['summary']}: proof for {period}")
    for finding in v["findings"]:
        click.echo(f"  - {finding}")
    rendered = ", ".join(str(p) for p in written.files.values())
    click.echo(f"wrote {written.json_path} (sha256 {written.digest}) and {rendered}")
    if written.sig_path is not None:
        click.echo(f"signed: {written.sig_path} (key {signer.key_id if signer else '?'})")
    if not v["ok"]:
        raise ViolationFound(f"proof: verdict FAIL ({len(v['findings'])} finding(s))")


@command.command("check")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--pubkey",
    "pubkey",
    type=str,
    default=None,
    help="The audit log's public key (.pub): proof.json.sig must then be its valid signature.",
)
def check(directory: str, pubkey: str | None) -> None:
    """Recompute proof.json's SHA-256 and compare it with the one proof.html records; with
    --pubkey, check proof.json.sig as well (someone who edits proof.json can re-embed its
    hash, but cannot sign it).

    Exit codes: 0 match, 2 a bad key file, 3 mismatch, a file missing, or (with --pubkey)
    the signature missing or wrong.
    """
    from backupctl.evidence.signing import load_public_key

    verifier = load_public_key(pubkey) if pubkey else None
    checked = check_proof(Path(directory), verifier)
    names = ", ".join(p.name for p in checked.files)
    click.echo(f"OK: proof.json matches the hash recorded in {names} ({checked.digest})")
    if checked.key_id is not None:
        click.echo(f"OK: proof.json.sig is a valid signature by key {checked.key_id}")
    elif checked.signed:
        click.echo("note: proof.json.sig was not checked (give --pubkey FILE to check it)")
    else:
        click.echo("note: the proof is not signed (no proof.json.sig)")


def make_proof(config: Config, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """Read the store and the audit log, then build the proof document.

    Raises:
        StoreError: the store or the audit log cannot be read. ConfigError: no audit log location.
    """
    from backupctl.evidence.audit import ROTATE_ACTION, audit_log_for
    from backupctl.stores import open_store
    from backupctl.stores.locations import audit_blobs_for

    store = open_store(config)
    listing = store.listing()
    log = audit_log_for(config, sign=False)  # checks signatures with [audit] public_key_file
    report = log.verify_report(history=True)  # versions, WORM note
    records = _records(log)
    audit = report.to_json()
    # the signed key.rotate records, so the key the log began with checks this proof's signature
    audit["rotations"] = [r for r in records if r.get("action") == ROTATE_ACTION]
    at = min(end, now, key=lambda t: t.timestamp())
    past = _as_of(listing, records, at)
    verify = verify_store(
        config,
        _PresentOnly(store, listing),
        at=at,
        listing=past,
        audit_blobs=lambda: audit_blobs_for(config),
    )
    inputs = ProofInputs(
        config=config,
        listing=listing,
        records=records,
        audit=audit,
        verify=verify,
        start=start,
        end=end,
        now=now,
    )
    return build_proof(inputs)


def _signer(config: Config) -> Signer | None:
    """The proof's signing key (``[audit] signing_key_file``), or None.

    Raises:
        KeyFileError (exit 2): the key file is bad.
    """
    from backupctl.evidence.signing import load_signer

    path = config.audit.signing_key_file
    return load_signer(path) if path else None


def _records(log: Any) -> list[dict[str, Any]]:
    """The audit records.

    If one is unreadable (tampered), the readable ones (verify names the rest).
    """
    try:
        return list(log.records())
    except BackupctlError:
        out = []
        for n, line in enumerate(log.export_jsonl().splitlines(), start=1):
            try:
                record = loads(line, f"audit export line {n}")
            except UntrustedInput:
                continue  # audit verify names it
            if isinstance(record, dict) and "action" in record:
                out.append(record)
        return out


def _as_of(listing: Listing, records: Sequence[dict[str, Any]], at: datetime) -> Listing:
    """The store as it stood at ``at``.

    That is the present snapshots plus those a prune deleted after ``at``.
    """
    later = []
    for d in deletions(records):
        try:
            deleted_at, t = (
                datetime.fromisoformat(str(d["deleted_at"])),
                datetime.fromisoformat(str(d["time"])),
            )
        except ValueError:
            continue
        if deleted_at.timestamp() > at.timestamp() and t.timestamp() <= at.timestamp():
            later.append(StoredSnapshot(Snapshot(d["id"], t, d["group"])))
    return Listing(
        snapshots=[*listing.snapshots, *later],
        incomplete=listing.incomplete,
        unknown=listing.unknown,
    )


class _PresentOnly:
    """A store view whose integrity check skips snapshots that are no longer present."""

    def __init__(self, store: Store, listing: Listing) -> None:
        self._store = store
        self._ids = {s.snapshot.id for s in listing.snapshots}

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> list[IntegrityProblem]:
        return self._store.check_integrity([s for s in snapshots if s.snapshot.id in self._ids])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
