"""``backupctl keygen --out FILE``: an Ed25519 key pair for signing the audit log and proofs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import click

from backupctl.errors import UsageError
from backupctl.evidence.signing import generate, key_id_of, load_public_key

__all__ = ["command"]


def _create(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (O_EXCL: never an existing file, never a
    moment with wider permissions whatever the umask), write ``data``, fsync.

    Raises:
        FileExistsError: ``path`` exists (a symlink too, even a dangling one).
        OSError: it cannot be written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widened
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        os.close(fd)


@click.command("keygen")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The private key file to create (mode 0600); the public key goes to FILE.pub.",
)
def command(out: str) -> None:
    """Write a new Ed25519 key pair: FILE (private, PEM PKCS#8, mode 0600) and FILE.pub
    (public, PEM SubjectPublicKeyInfo).

    \b
    backupctl keygen --out /etc/backupctl/audit.key
    [audit] signing_key_file = "/etc/backupctl/audit.key"     (the host that prunes)
    [audit] public_key_file  = "/etc/backupctl/audit.key.pub" (and every auditor)

    Never overwrites: an existing FILE or FILE.pub is refused (exit 2).
    """
    private_path, public_path = Path(out), Path(out + ".pub")
    for p in (private_path, public_path):
        if p.exists() or p.is_symlink():
            raise UsageError(
                f"keygen: {p} already exists; nothing was written (choose a new --out)"
            )
    private_pem, public_pem = generate()
    try:
        _create(private_path, private_pem, 0o600)
    except FileExistsError:
        raise UsageError(f"keygen: {private_path} already exists; nothing was written") from None
    except OSError as exc:
        raise UsageError(f"keygen: cannot write {private_path}: {exc.strerror or exc}") from None
    try:
        _create(public_path, public_pem, 0o644)
    except OSError as exc:
        with contextlib.suppress(OSError):
            private_path.unlink()  # ours, created a moment ago: no half pair is left behind
        why = "it already exists" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise UsageError(f"keygen: cannot write {public_path}: {why}; nothing was kept") from None
    key_id = key_id_of(load_public_key(public_path).public)
    click.echo(f"wrote {private_path} (private, mode 0600) and {public_path} (public)")
    click.echo(f"key id {key_id}")
