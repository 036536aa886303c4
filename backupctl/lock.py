"""One prune per store at a time: a lock object written with a conditional PUT.

The lock is ``_backupctl/lock.json`` beside the backups, created with ``If-None-Match: *``
(file stores: an exclusive link), so of two prunes racing exactly one creates it. It names
its owner, host, pid, run id, when it was taken and when it expires. An expired lock is
*stale*: it is reported with the command to clear it (``backupctl unlock``), never taken
over silently. Releasing deletes the lock only while it still carries our run id.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from backupctl.errors import LockHeld, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import BlobStore, PreconditionFailed
from retention import Duration

__all__ = [
    "LOCK_KEY", "Lock", "LockInfo", "acquire_lock", "default_actor", "lock_blobs_for", "read_lock", "ttl_delta",
]

LOCK_KEY = "_backupctl/lock.json"


def _log() -> Any:
    """The logger, resolved per call so it follows the CLI's ``log.configure`` (a module-level
    bound logger would keep structlog's import-time default: plain text on stdout)."""
    return get_logger("lock")


def default_actor() -> str:
    """``user@host`` of this process (``uid<N>@host`` when the user has no name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def ttl_delta(ttl: timedelta | Duration, now: datetime) -> timedelta:
    """A lock TTL as a timedelta; a config :class:`Duration` is measured back from ``now``."""
    if isinstance(ttl, timedelta):
        return ttl
    return now - ttl.cutoff(now)


@dataclass(frozen=True)
class LockInfo:
    """What the lock object says: who holds it, where, since and until when."""

    owner: str
    host: str
    pid: int
    run_id: str
    acquired: datetime
    expires: datetime

    def is_stale(self, now: datetime) -> bool:
        """True once ``now`` is at or past the expiry."""
        return now >= self.expires

    def to_bytes(self) -> bytes:
        """The JSON stored in the lock object."""
        data = asdict(self) | {"version": 1, "acquired": self.acquired.isoformat(), "expires": self.expires.isoformat()}
        return json.dumps(data, indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LockInfo:
        """Parse a lock object.

        Raises:
            ValueError: not JSON, a field missing or of the wrong type, or a time without offset.
        """
        data: Any = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        try:
            info = cls(
                owner=str(data["owner"]), host=str(data["host"]), pid=int(data["pid"]), run_id=str(data["run_id"]),
                acquired=datetime.fromisoformat(data["acquired"]), expires=datetime.fromisoformat(data["expires"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or malformed field {exc}") from None
        if info.acquired.tzinfo is None or info.expires.tzinfo is None:
            raise ValueError("acquired/expires carry no UTC offset")
        return info

    def describe(self) -> str:
        """``alice@db1 (pid 42, run 1f2e…) since … until …`` for messages."""
        return (f"{self.owner} (host {self.host}, pid {self.pid}, run {self.run_id}) "
                f"since {self.acquired.isoformat()} until {self.expires.isoformat()}")


def _where(blobs: BlobStore) -> str:
    url = getattr(blobs, "url", None)
    return f"{url.rstrip('/')}/{LOCK_KEY}" if isinstance(url, str) else LOCK_KEY


def read_lock(blobs: BlobStore) -> LockInfo | None:
    """The current lock, or None when there is none.

    Raises:
        StoreError: the lock object exists but cannot be parsed (names it; never removed here).
    """
    try:
        raw = blobs.get(LOCK_KEY)
    except KeyError:
        return None
    try:
        return LockInfo.from_bytes(raw)
    except ValueError as exc:
        raise StoreError(f"the lock object {_where(blobs)} is unreadable ({exc}); inspect it, and if no prune "
                         "is running remove it with `backupctl unlock --force`") from None


class Lock:
    """A held lock; use as a context manager (``with acquire_lock(...) as lock:``)."""

    def __init__(self, blobs: BlobStore, info: LockInfo) -> None:
        self.blobs = blobs
        self.info = info
        self.released = False

    def release(self) -> bool:
        """Delete the lock if it still carries our run id; True when it was deleted.

        A lock that is gone or now belongs to another run (it was cleared by ``unlock``
        and re-taken) is left alone and logged.
        """
        if self.released:
            return False
        self.released = True
        try:
            current = read_lock(self.blobs)
        except StoreError as exc:
            _log().warning("lock_release_unreadable", error=str(exc))
            return False
        if current is None or current.run_id != self.info.run_id:
            _log().warning("lock_not_ours_at_release", run_id=self.info.run_id,
                         holder=current.describe() if current else None)
            return False
        self.blobs.delete(LOCK_KEY)
        _log().info("lock_released", run_id=self.info.run_id)
        return True

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.release()
        except StoreError as failure:
            if exc is None:
                raise
            # keep the prune's own error; the lock then expires after its TTL
            _log().error("lock_release_failed", error=str(failure), run_id=self.info.run_id)


def acquire_lock(
    blobs: BlobStore, *, owner: str | None = None, ttl: timedelta | Duration, now: datetime,
    run_id: str | None = None, config_path: str | None = None,
) -> Lock:
    """Take the store's prune lock with a conditional PUT.

    Args:
        blobs: the store's blob store (``_backupctl/`` beside the backups).
        owner: who takes it (default ``user@host``).
        ttl: how long the lock is valid (``config.safety.lock_ttl``).
        now: the current time, aware.
        run_id: this run's id (default a fresh uuid4 hex).
        config_path: shown in the ``backupctl unlock --config …`` hint.

    Returns:
        The held :class:`Lock`; release it with ``with`` or :meth:`Lock.release`.

    Raises:
        LockHeld: another run holds the lock, or a stale lock is there (the message names
            the holder, since/until, and for a stale lock the command that clears it).
        StoreError: the store failed, or the existing lock object is unreadable.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    info = LockInfo(owner=owner or default_actor(), host=socket.gethostname(), pid=os.getpid(),
                    run_id=run_id or uuid.uuid4().hex, acquired=now, expires=now + ttl_delta(ttl, now))
    held: LockInfo | None = None
    for _attempt in range(3):  # the holder may release between our PUT and our read: try again
        try:
            blobs.put(LOCK_KEY, info.to_bytes(), if_absent=True)
        except PreconditionFailed:
            held = read_lock(blobs)
            if held is None:
                continue
            if held.run_id == info.run_id:
                return Lock(blobs, held)  # our own PUT, retried after a lost response
            raise _held_error(blobs, held, now, config_path) from None
        _log().info("lock_acquired", owner=info.owner, run_id=info.run_id, expires=info.expires.isoformat())
        return Lock(blobs, info)
    raise _held_error(blobs, held, now, config_path)


def _held_error(blobs: BlobStore, held: LockInfo | None, now: datetime, config_path: str | None) -> LockHeld:
    where = _where(blobs)
    unlock = f"backupctl unlock --config {config_path or '<your config>'}"
    if held is None:  # taken and released under our feet, repeatedly
        return LockHeld(f"the lock {where} keeps being taken and released by other runs; nothing was changed, "
                        "run again")
    if held.is_stale(now):
        _log().warning("lock_stale", holder=held.describe())
        return LockHeld(
            f"STALE lock {where}: held by {held.describe()}, expired {now - held.expires} ago; its prune probably "
            f"died. Nothing was changed and the lock was not taken over. Check that no backupctl runs on "
            f"{held.host} (pid {held.pid}), then clear it with `{unlock}` and run again")
    return LockHeld(
        f"another prune holds the lock {where}: {held.describe()}; nothing was changed. Wait for it to finish "
        f"(or, if you are sure it is dead, `{unlock} --force`)")


def lock_blobs_for(config: Any) -> BlobStore:
    """Where the prune lock lives for ``config``: beside the backups for s3/file stores; for
    restic stores the audit location (see :func:`backupctl.audit.audit_blobs_for`).

    Raises:
        ConfigError: a restic store whose lock location cannot be derived.
        UsageError: a malformed store URL.
    """
    from backupctl.audit import audit_blobs_for, store_blobs_for

    if config.store.kind == "restic":
        return audit_blobs_for(config)
    return store_blobs_for(config)
