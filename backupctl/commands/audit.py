"""``backupctl audit``: verify and export the hash-chained audit log."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backupctl import clock, humanize
from backupctl.commands.options import config_option, load_config
from backupctl.config import Config
from backupctl.errors import EXIT_VIOLATION, UsageError
from backupctl.evidence.audit import (
    AUDIT_PREFIX,
    AuditLog,
    AuditReport,
    Since,
    audit_log_for,
    verify_jsonl_report,
)
from backupctl.stores.locations import audit_blobs_for

if TYPE_CHECKING:
    from backupctl.evidence.anchor import Anchor
    from backupctl.evidence.signing import Verifier


def _log_for(path: str | None) -> tuple[AuditLog, str]:
    """The audit log of the config at ``path`` and a description of where it is."""
    blobs = audit_blobs_for(load_config(path))
    url = str(getattr(blobs, "url", "the store"))
    return AuditLog(blobs), f"{url.rstrip('/')}/{AUDIT_PREFIX}"


def _read_text(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--file {file}: cannot read the audit export ({exc})") from None


def _when(iso: str) -> str:
    """An ISO time from a file (the anchor) as people read it; as written when it is not one."""
    try:
        return humanize.when(datetime.fromisoformat(iso))
    except (TypeError, ValueError):
        return iso


def _print_report(
    report: AuditReport, source: str, as_json: bool, notes: dict[str, Any] | None = None
) -> None:
    notes = dict(notes or {})
    lines = notes.pop("lines", [])
    if as_json:
        click.echo(json.dumps({"source": source, **report.to_json(), **notes}, indent=2))
        return
    head = f"head {report.head}" if report.head else "head unknown"
    if report.ok:
        click.echo(f"audit log {source}: {report.records} record(s), {head}: intact")
        for line in lines:
            click.echo(f"  note: {line}")
        return
    click.echo(
        f"audit log {source}: TAMPERED: {len(report.problems)} problem(s) "
        f"in {report.records} record(s):"
    )
    for problem in report.problems:
        click.echo(f"  - {problem}")
    for note in report.notes:
        click.echo(f"  note: {note}")
    click.echo("Keep the log as it is (export it for the auditor); do not repair it by hand.")


@click.group("audit")
def command() -> None:
    """The append-only, hash-chained audit log of prunes and drills.

    Each record carries the SHA-256 of the one before it, so any edit, removal,
    insertion or reordering is detected by `backupctl audit verify`.
    """


@command.command("verify")
@config_option()
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
    help=(
        "A head hash recorded earlier (e.g. in a proof): it must be the hash of one of the records."
    ),
)
@click.option(
    "--pubkey",
    "pubkey",
    type=str,
    default=None,
    help="The public key the log began with (default: [audit] public_key_file): every record "
    "must then carry a valid signature (key.rotate records hand the trust on).",
)
@click.option(
    "--signed-from",
    "signed_from",
    type=click.IntRange(min=1),
    default=None,
    metavar="SEQ",
    help="With a public key: the first seq that must be signed (default: [audit] signed_from, "
    "else 1), for a log that began before signing was enabled.",
)
@click.option(
    "--since-proof",
    "since_proof",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="A proof directory: the log must still extend the head that proof recorded "
    "(with a public key, proof.json.sig is checked first).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def verify(
    ctx: click.Context,
    config_path: str | None,
    file: str | None,
    expect_head: str | None,
    pubkey: str | None,
    signed_from: int | None,
    since_proof: str | None,
    as_json: bool,
) -> None:
    """Check the whole chain. Exit 0 when intact, 3 when tampered.

    The stored log must also extend the head this host verified last (remembered under
    $XDG_STATE_HOME/backupctl/): a log that was emptied, cut or rewritten is tampered.
    """
    if expect_head is not None and (
        len(expect_head) != 64 or any(c not in "0123456789abcdef" for c in expect_head)
    ):
        raise UsageError(f"--head {expect_head!r}: expected 64 lowercase hex digits (a SHA-256)")
    if file is not None and config_path:
        raise UsageError(
            "--file and --config exclude each other: verify either an export or the stored log"
        )
    config = load_config(config_path) if file is None else None
    trust, first_signed = _trust(config, pubkey, signed_from)
    since = [_proof_head(Path(since_proof), trust)] if since_proof else []
    anchor: Anchor | None = None
    if file is not None:
        source = file
        report = verify_jsonl_report(
            _read_text(file), expect_head, trust=trust, signed_from=first_signed, since=since
        )
    else:
        from backupctl.evidence.anchor import read_anchor

        assert config is not None
        log = audit_log_for(config, sign=False)
        log.verifier, log.signed_from = trust, first_signed
        source = _source(log)
        anchor = read_anchor(source)
        if anchor is not None:
            since.append(
                Since(
                    anchor.seq,
                    anchor.head,
                    f"this host's verification of {_when(anchor.verified_at)}",
                )
            )
        report = log.verify_report(expect_head, since=since, history=True)
    remembered = _remember(source, report) if file is None and report.ok else None
    _print_report(report, source, as_json, _notes(report, trust, anchor, remembered, file))
    if not report.ok:
        ctx.exit(EXIT_VIOLATION)


def _source(log: AuditLog) -> str:
    url = str(getattr(log.blobs, "url", "the store"))
    return f"{url.rstrip('/')}/{AUDIT_PREFIX}"


def _trust(
    config: Config | None, pubkey: str | None, signed_from: int | None
) -> tuple[Verifier | None, int]:
    """The key the log began with (``--pubkey``, else ``[audit] public_key_file``) and the
    first seq that must be signed.

    Raises:
        KeyFileError (exit 2): the key file is bad.
    """
    from backupctl.evidence.signing import load_public_key

    settings = config.audit if config is not None else None
    if pubkey:
        trust = load_public_key(pubkey, "--pubkey")
    elif settings is not None and settings.public_key_file:
        trust = load_public_key(settings.public_key_file, "[audit] public_key_file")
    else:
        trust = None
    first = signed_from or (settings.signed_from if settings is not None else 1)
    return trust, first


def _proof_head(directory: Path, trust: Verifier | None) -> Since:
    """The head a proof recorded, as a :class:`Since`; with ``trust``, only from a proof whose
    proof.json.sig verifies.

    Raises:
        UsageError (exit 2): no readable proof.json with an audit head there.
        ViolationFound (exit 3): with ``trust``, the proof's signature is missing or wrong.
    """
    from backupctl.evidence.proof_files import JSON_NAME, check_proof
    from backupctl.untrusted import UntrustedInput, loads

    what = f"--since-proof {directory}"
    if trust is not None:
        check_proof(directory, trust)
    try:
        with (directory / JSON_NAME).open("rb") as fh:
            raw = fh.read((256 << 20) + 1)
        doc = loads(raw, f"{what}: {JSON_NAME}", max_bytes=256 << 20)
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {JSON_NAME} ({exc.strerror or exc})") from None
    except UntrustedInput as exc:
        raise UsageError(str(exc)) from None
    audit: Any = doc.get("audit") if isinstance(doc, dict) else None
    head = audit.get("head") if isinstance(audit, dict) else None
    seq = audit.get("head_seq", audit.get("records")) if isinstance(audit, dict) else None
    if (
        not isinstance(head, str)
        or len(head) != 64
        or isinstance(seq, bool)
        or not isinstance(seq, int)
        or seq < 0
    ):
        raise UsageError(f"{what}: {JSON_NAME} records no audit head (expected audit.head)")
    if not audit.get("ok"):
        raise UsageError(f"{what}: the proof found its audit log damaged, so its head is no anchor")
    when = doc.get("generated_at") if isinstance(doc, dict) else None
    return Since(seq, head, f"the proof in {directory} (made {str(when)[:40]})")


def _remember(source: str, report: AuditReport) -> Anchor | None:
    """Store the verified head as this host's anchor; a failure is a warning, not an error."""
    from backupctl.evidence.anchor import AnchorError, save_anchor

    if report.head is None:
        return None
    try:
        return save_anchor(source, report.head_seq, report.head, clock.now())
    except AnchorError as exc:
        click.echo(f"backupctl: warning: {exc}", err=True)
        return None


def _notes(
    report: AuditReport,
    trust: Verifier | None,
    anchor: Anchor | None,
    remembered: Anchor | None,
    file: str | None,
) -> dict[str, Any]:
    """What the check covered, beyond the chain: signatures and the remembered head."""
    notes: dict[str, Any] = {
        "signatures": (
            {"checked": True, "trusted_key": trust.key_id, "key_id_at_head": report.key_id}
            if trust is not None
            else {"checked": False}
        ),
        "anchor": anchor.to_json() if anchor is not None else None,
    }
    lines = list(report.notes)
    if trust is None:
        lines.append(
            "signatures not checked (no public key: --pubkey FILE or [audit] public_key_file)"
        )
    elif report.ok:
        lines.append(f"every record signed; key at the head {report.key_id}")
    if file is None and anchor is None and report.ok:
        lines.append(
            "first verification of this log on this host: its head is remembered from now on "
            "(removal or rewriting before today cannot be seen here; compare with a proof's head)"
        )
    elif anchor is not None and report.ok:
        lines.append(
            f"extends the head this host verified at {anchor.verified_at} (seq {anchor.seq})"
        )
    notes["lines"] = lines
    return notes


@command.command("export")
@config_option()
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


@command.command("rotate-key")
@config_option()
@click.option(
    "--new-key",
    "new_key",
    required=True,
    type=str,
    help="The new private key (from `backupctl keygen`); its .pub is what it names.",
)
def rotate_key(config_path: str | None, new_key: str) -> None:
    """Hand the log's signing over to a new key: append a `key.rotate` record, signed by the
    current [audit] signing_key_file, that names the new public key. Verification accepts
    only the new key after it. Then set [audit] signing_key_file to the new key; auditors
    keep the first .pub.
    """
    from backupctl.evidence.audit import ROTATE_ACTION
    from backupctl.evidence.signing import load_signer, public_hex

    config = load_config(config_path)
    if not config.audit.signing_key_file:
        raise UsageError(
            "audit rotate-key: [audit] signing_key_file is not set: the rotation record must "
            "be signed by the current key"
        )
    new = load_signer(new_key, "--new-key")
    log = audit_log_for(config)
    assert log.signer is not None
    if new.key_id == log.signer.key_id:
        raise UsageError(f"audit rotate-key: --new-key {new_key} is the current signing key")
    record = log.append(
        ROTATE_ACTION,
        {
            "old_key_id": log.signer.key_id,
            "new_key_id": new.key_id,
            "new_public_key": public_hex(new.private.public_key()),
        },
        now=clock.now(),
    )
    click.echo(
        f"rotated: record {record['seq']} (signed by key {log.signer.key_id}) hands the log "
        f"to key {new.key_id}"
    )
    click.echo(
        f"now set [audit] signing_key_file = {json.dumps(new_key)} on every host that writes "
        "this log; keep public_key_file (the key the log began with)"
    )


def _register_log() -> None:
    """``audit log`` (the readable listing) lives in backupctl/commands/audit_log.py."""
    from backupctl.commands.audit_log import command as log_command

    command.add_command(log_command)


_register_log()
