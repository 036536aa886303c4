"""``backupctl unlock``: clear a stale prune lock (or, with --force, any lock)."""

from __future__ import annotations

import json
import os

import click

from backupctl import clock
from backupctl.audit import AuditLog, audit_blobs_for
from backupctl.config import load_config
from backupctl.errors import LockHeld, StoreError
from backupctl.lock import LOCK_KEY, LockInfo, lock_blobs_for, read_lock
from backupctl.stores.base import BlobStore


def _lock_data(held: LockInfo | None) -> dict[str, object] | None:
    return json.loads(held.to_bytes()) if held else None


def _read(blobs: BlobStore, force: bool) -> LockInfo | None:
    """The lock, or None when there is none or (with --force) it is unreadable.

    Raises:
        StoreError: the lock is unreadable and --force was not given.
    """
    try:
        return read_lock(blobs)
    except StoreError:
        if not force:
            raise
        return None


@click.command("unlock")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default: $BACKUPCTL_CONFIG or ./backupctl.toml).")
@click.option("--force", is_flag=True,
              help="Remove the lock even if it has not expired (only when you are sure no prune runs).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(config_path: str | None, force: bool, as_json: bool) -> None:
    """Remove the store's prune lock if it is stale (expired), or any lock with --force.

    A live lock is refused (exit 4). The removal is recorded in the audit log.
    """
    config = load_config(config_path or os.environ.get("BACKUPCTL_CONFIG") or "backupctl.toml")
    blobs = lock_blobs_for(config)
    now = clock.now()
    held = _read(blobs, force)
    if held is None and not _exists(blobs):
        _emit(as_json, {"removed": False, "lock": None}, "no lock is held; nothing to do")
        return
    stale = held is not None and held.is_stale(now)
    if held is not None and not stale and not force:
        raise LockHeld(f"the lock is live: held by {held.describe()}; nothing was changed. Wait until it "
                       "expires, or pass --force if you are sure that prune is no longer running")
    again = _read(blobs, force)
    if (again.run_id if again else None) != (held.run_id if held else None):
        raise LockHeld("the lock changed while unlocking (another run took it); nothing was changed, look again")
    blobs.delete(LOCK_KEY)
    data = {"lock": _lock_data(held), "stale": stale, "forced": force}
    AuditLog(audit_blobs_for(config)).append("unlock", data, now=now)
    what = held.describe() if held else "an unreadable lock"
    _emit(as_json, {"removed": True, **data},
          f"removed the {'stale ' if stale else ''}lock held by {what}" + (" (forced)" if force else ""))


def _exists(blobs: BlobStore) -> bool:
    try:
        blobs.get(LOCK_KEY)
    except KeyError:
        return False
    return True


def _emit(as_json: bool, data: dict[str, object], text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)
