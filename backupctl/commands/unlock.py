"""``backupctl unlock``: clear a stale prune lock (or, with --force, any lock, garbage included)."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import click

from backupctl import clock
from backupctl.commands.options import config_option, load_config
from backupctl.errors import LockHeld, StoreError
from backupctl.evidence.audit import audit_log_for
from backupctl.prune.lock import LOCK_KEY, LockInfo, UnreadableLock, read_lock, read_lock_raw
from backupctl.stores.base import BlobStore
from backupctl.stores.locations import lock_blobs_for


def _read(blobs: BlobStore, force: bool) -> tuple[LockInfo | None, str | None]:
    """The lock (None when there is none or it is unreadable) and, if unreadable, why.

    Raises:
        UnreadableLock: the lock is unreadable and --force was not given.
    """
    try:
        return read_lock(blobs), None
    except UnreadableLock as exc:
        if not force:
            raise
        return None, exc.reason


def _raw(blobs: BlobStore) -> bytes | str | None:
    """The lock object's bytes (None when absent; the error when it cannot be read): what
    must not change while we unlock."""
    try:
        return read_lock_raw(blobs)
    except UnreadableLock as exc:
        return exc.reason


@click.command("unlock")
@config_option()
@click.option(
    "--force",
    is_flag=True,
    help="Remove the lock even if it has not expired or is unreadable (only when you are sure no "
    "prune runs).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(config_path: str | None, force: bool, as_json: bool) -> None:
    """Remove the store's prune lock if it is stale (expired), or any lock with --force.

    Expiry is judged by the store's clock (S3: the response's Date against the lock's
    Last-Modified; file stores: the file's mtime against this host's clock), so a host whose
    clock is off does not remove a live lock. A live lock is refused (exit 4); an unreadable
    one is reported (exit 1) and removed only with --force. The removal is recorded in the
    audit log.
    """
    config = load_config(config_path or os.environ.get("BACKUPCTL_CONFIG") or "backupctl.toml")
    blobs = lock_blobs_for(config)
    now = clock.now()
    before = _raw(blobs)
    held, unreadable = _read(blobs, force)
    if before is None and held is None and unreadable is None:
        _emit(as_json, {"removed": False, "lock": None}, "no lock is held; nothing to do")
        return
    stale = held is not None and held.is_stale(now)
    if held is not None and not stale and not force:
        left = timedelta(seconds=round(-held.overdue(now).total_seconds()))
        raise LockHeld(
            f"the lock is live: held by {held.describe()}, {left} left {held.clock()}; "
            "nothing was changed. Wait until it expires, or pass --force if you are sure "
            "that prune is no longer running"
        )
    if _raw(blobs) != before:
        raise LockHeld(
            "the lock changed while unlocking (another run took it); "
            "nothing was changed, look again"
        )
    blobs.delete(LOCK_KEY)
    data: dict[str, object] = {
        "lock": held.to_json() if held else None,
        "stale": stale,
        "forced": force,
        "unreadable": unreadable,
    }
    if held is not None:
        data["judged"] = held.clock()
    what = held.describe() if held else f"nobody readable (unreadable: {unreadable})"
    text = f"removed the {'stale ' if stale else ''}lock held by {what}" + (
        " (forced)" if force else ""
    )
    try:
        audit_log_for(config).append("unlock", data, now=now)  # signed when configured
    except StoreError as exc:
        raise StoreError(
            f"{text}, but the removal could not be recorded in the audit log: {exc}"
        ) from None
    _emit(as_json, {"removed": True, **data}, text)


def _emit(as_json: bool, data: dict[str, object], text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)
