"""One prune per store at a time: a lock object written with a conditional PUT.

The lock is ``_backupctl/lock.json`` beside the backups, created with ``If-None-Match: *``
(file stores: an exclusive link), so of two prunes racing exactly one creates it. It names
its owner, host, pid, run id, a fresh random token, when it was taken and when it expires.
An expired lock is *stale*: it is reported with the command to clear it (``backupctl
unlock``), never taken over silently. Releasing deletes the lock only while it still
carries our run id and token.

Expiry is judged by the store's clock where the store tells it: a lock is stale once the
service's time when it is read back (S3: the response's ``Date``; file: the local clock) is
more than its TTL (``expires - acquired``, a span that no clock skew changes) past the time
the service stored it (S3: Last-Modified; file: the mtime). The claimed ``expires`` (the
writer's clock) is only used when the store gives no times. A host whose clock is hours off
therefore neither removes a live lock nor keeps a dead one.

After its conditional PUT a prune reads the lock back (it must be byte for byte ours) and
repeats the conditional PUT, which must now be refused: a service or proxy that ignores
``If-None-Match`` is detected there and the prune refuses (:class:`ConditionIgnored`, exit 4).

The lock object is untrusted input: it is parsed with :func:`backupctl.untrusted.loads`,
fields are type-checked, and anything else is an :class:`UnreadableLock` (exit 1; only
``backupctl unlock --force`` removes it, a garbage lock is never "stale").
"""

from __future__ import annotations

import getpass
import json
import math
import os
import socket
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from backupctl import humanize
from backupctl.errors import LockHeld, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import BlobStore, PreconditionFailed
from backupctl.untrusted import loads
from retention import Duration

__all__ = [
    "LOCK_KEY",
    "ConditionIgnored",
    "Lock",
    "LockInfo",
    "UnreadableLock",
    "acquire_lock",
    "confirm_condition",
    "default_actor",
    "read_lock",
    "read_lock_raw",
    "ttl_delta",
]

LOCK_KEY = "_backupctl/lock.json"
LOCK_MAX_BYTES = 64 << 10  # a lock backupctl writes is ~300 bytes
_MAX_FIELD = 1024


class UnreadableLock(StoreError):
    """The lock object exists but is not a lock backupctl wrote (exit 1); ``reason`` says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConditionIgnored(LockHeld):
    """The store does not honour ``If-None-Match: *``: one writer at a time cannot be
    guaranteed there, so the run refuses (exit 4)."""


log = get_logger("lock")


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


def _printable(text: str, limit: int = 200) -> str:
    """``text`` safe for a terminal line: control characters escaped, long text cut."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return out + ("…" if len(text) > limit else "")


def _field_str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    if len(value) > _MAX_FIELD:
        raise ValueError(f"{name}: {len(value)} characters (at most {_MAX_FIELD})")
    return value


def _field_time(data: dict[str, Any], name: str) -> datetime:
    text = _field_str(data, name)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {_printable(text, 40)!r} is not an ISO 8601 time") from None
    if stamp.tzinfo is None:
        raise ValueError(f"{name}: {_printable(text, 40)!r} carries no UTC offset")
    try:
        stamp.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{name}: {_printable(text, 40)!r} is out of range") from None
    return stamp


@dataclass(frozen=True)
class LockInfo:
    """What the lock object says: who holds it, where, since and until when; and, when read
    back from a store that tells, when the service stored it and the service's clock then
    (POSIX seconds, not part of the object)."""

    owner: str
    host: str
    pid: int
    run_id: str
    acquired: datetime
    expires: datetime
    token: str = ""
    written: float | None = field(default=None, compare=False)
    service_now: float | None = field(default=None, compare=False)

    @property
    def ttl(self) -> timedelta:
        """How long the lock is valid: ``expires - acquired`` (both the writer's clock)."""
        return self.expires - self.acquired

    @property
    def by_service_clock(self) -> bool:
        """True when the store gave both the write time and its clock: expiry is judged by them."""
        return self.written is not None and self.service_now is not None

    def overdue(self, now: datetime) -> timedelta:
        """How long past its expiry the lock is (negative while live).

        By the store's clock when known (``service_now - written - ttl``); with only the
        write time, the later of that age against ``now`` and the claimed expiry; else
        ``now - expires`` (this host's clock against the writer's).
        """
        if self.written is not None and self.service_now is not None:
            return timedelta(seconds=self.service_now - self.written) - self.ttl
        claimed = now - self.expires
        if self.written is not None:
            return min(claimed, timedelta(seconds=now.timestamp() - self.written) - self.ttl)
        return claimed

    def is_stale(self, now: datetime) -> bool:
        """True once the lock is past its TTL (see :meth:`overdue`); ``now`` is this host's
        clock, used only when the store gives no times."""
        return self.overdue(now) > timedelta(0)

    def clock(self) -> str:
        """Which clock judged the expiry, for messages."""
        return "by the store's clock" if self.by_service_clock else "by this host's clock"

    def to_bytes(self) -> bytes:
        """The JSON stored in the lock object."""
        data = {
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "run_id": self.run_id,
            "token": self.token,
            "version": 1,
            "acquired": self.acquired.isoformat(),
            "expires": self.expires.isoformat(),
        }
        return json.dumps(data, indent=2, sort_keys=True).encode()

    def to_json(self) -> dict[str, Any]:
        """The stored fields as a JSON-ready dict (for ``unlock`` output and audit records)."""
        return dict(json.loads(self.to_bytes()))

    @classmethod
    def from_bytes(cls, raw: bytes) -> LockInfo:
        """Parse a lock object (untrusted: bounded parse, every field type-checked).

        Raises:
            ValueError: not bounded JSON, not an object, a field missing or of the wrong
                type, a time without offset or out of range, or ``expires`` before ``acquired``.
        """
        data: Any = loads(raw, "the lock object", max_bytes=LOCK_MAX_BYTES)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        pid = data.get("pid")
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise ValueError(f"pid: expected an integer, got {type(pid).__name__}")
        token = data.get("token", "")
        if not isinstance(token, str) or len(token) > _MAX_FIELD:
            raise ValueError("token: expected a short string")
        info = cls(
            owner=_field_str(data, "owner"),
            host=_field_str(data, "host"),
            pid=pid,
            run_id=_field_str(data, "run_id"),
            acquired=_field_time(data, "acquired"),
            expires=_field_time(data, "expires"),
            token=token,
        )
        try:
            ttl = info.ttl
        except OverflowError:
            raise ValueError("acquired/expires are out of range") from None
        if ttl < timedelta(0):
            raise ValueError("expires is before acquired")
        return info

    def describe(self) -> str:
        """``alice@db1 (pid 42, run 1f2e…) since … until …`` for messages."""
        return (
            f"{_printable(self.owner)} (host {_printable(self.host)}, pid {self.pid}, run "
            f"{_printable(self.run_id)}) since {humanize.when(self.acquired)} "
            f"until {humanize.when(self.expires)}"
        )


def _where(blobs: BlobStore) -> str:
    url = getattr(blobs, "url", None)
    return f"{url.rstrip('/')}/{LOCK_KEY}" if isinstance(url, str) else LOCK_KEY


def _get_timed(blobs: BlobStore, key: str) -> tuple[bytes, float | None, float | None]:
    """``get_with_meta`` where the store has it (an optional BlobStore method), else ``get``."""
    getter = getattr(blobs, "get_with_meta", None)
    if not callable(getter):
        return blobs.get(key), None, None
    raw, written, service_now = getter(key)

    def seconds(value: Any) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None

    return raw, seconds(written), seconds(service_now)


def read_lock_raw(blobs: BlobStore) -> bytes | None:
    """The lock object's bytes, None when there is none.

    Raises:
        UnreadableLock: the object cannot be read as a file/object (a symlink, a FIFO, a read
            error).
    """
    try:
        return _get_timed(blobs, LOCK_KEY)[0]
    except KeyError:
        return None
    except StoreError as exc:
        raise _unreadable(blobs, str(exc)) from None


def _unreadable(blobs: BlobStore, reason: str) -> UnreadableLock:
    return UnreadableLock(
        f"the lock object {_where(blobs)} is unreadable ({reason}); inspect it, and if no "
        "prune is running remove it with `backupctl unlock --force`",
        reason,
    )


def read_lock(blobs: BlobStore) -> LockInfo | None:
    """The current lock (with the store's write time and clock where it tells them), or
    None when there is none.

    Raises:
        UnreadableLock: the lock object exists but is not a valid lock, or cannot be read
            (names it and why; never removed here).
    """
    try:
        raw, written, service_now = _get_timed(blobs, LOCK_KEY)
    except KeyError:
        return None
    except StoreError as exc:
        raise _unreadable(blobs, str(exc)) from None
    try:
        info = LockInfo.from_bytes(raw)
    except ValueError as exc:
        raise _unreadable(blobs, str(exc)) from None
    return replace(info, written=written, service_now=service_now)


def confirm_condition(blobs: BlobStore, key: str, data: bytes, what: str) -> None:
    """Check that the store honours ``If-None-Match: *`` on ``key``, which holds ``data``:
    a conditional PUT of the same bytes must be refused. On a store that ignores the
    condition the object is rewritten with identical bytes (harmless).

    Raises:
        ConditionIgnored: the conditional PUT succeeded; names the store and ``what``.
        StoreError: the store failed.
    """
    try:
        blobs.put(key, data, if_absent=True)
    except PreconditionFailed:
        return
    url = getattr(blobs, "url", "the store")
    log.error("conditional_put_ignored", store=str(url), key=key)
    raise ConditionIgnored(
        f"{url} did not honour If-None-Match: * "
        f"(a conditional PUT over the existing {what} succeeded): "
        "backupctl cannot guarantee one writer at a time there, so two prunes could both run and "
        "overwrite each other's audit records. Use a service (or proxy) that honours conditional "
        "writes"
    )


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
            log.warning("lock_release_unreadable", error=str(exc))
            return False
        if (
            current is None
            or current.run_id != self.info.run_id
            or current.token != self.info.token
        ):
            log.warning(
                "lock_not_ours_at_release",
                run_id=self.info.run_id,
                holder=current.describe() if current else None,
            )
            return False
        self.blobs.delete(LOCK_KEY)
        log.info("lock_released", run_id=self.info.run_id)
        return True

    def __enter__(self) -> Lock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except StoreError as failure:
            if exc is None:
                raise
            # keep the prune's own error; the lock then expires after its TTL
            log.error("lock_release_failed", error=str(failure), run_id=self.info.run_id)


def acquire_lock(
    blobs: BlobStore,
    *,
    owner: str | None = None,
    ttl: timedelta | Duration,
    now: datetime,
    run_id: str | None = None,
    config_path: str | None = None,
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
    info = LockInfo(
        owner=owner or default_actor(),
        host=socket.gethostname(),
        pid=os.getpid(),
        run_id=run_id or uuid.uuid4().hex,
        acquired=now,
        expires=now + ttl_delta(ttl, now),
        token=uuid.uuid4().hex,
    )
    data = info.to_bytes()
    held: LockInfo | None = None
    for _attempt in range(3):  # the holder may release between our PUT and our read: try again
        try:
            blobs.put(LOCK_KEY, data, if_absent=True)
        except PreconditionFailed:
            held = read_lock(blobs)
            if held is None:
                continue
            if held.run_id == info.run_id:
                return Lock(blobs, held)  # our own PUT, retried after a lost response
            raise _held_error(blobs, held, now, config_path) from None
        _confirm_ours(blobs, info, data)
        log.info(
            "lock_acquired", owner=info.owner, run_id=info.run_id, expires=info.expires.isoformat()
        )
        return Lock(blobs, info)
    raise _held_error(blobs, held, now, config_path)


def _confirm_ours(blobs: BlobStore, info: LockInfo, data: bytes) -> None:
    """After our conditional PUT: the lock must read back as exactly ours, and a second
    conditional PUT must be refused; otherwise the service ignores If-None-Match.

    Raises:
        ConditionIgnored: the lock was replaced (left alone) or the condition was ignored
            (our lock is removed again). StoreError: the store failed.
    """
    try:
        back: bytes | None = blobs.get(LOCK_KEY)
    except KeyError:
        back = None
    if back != data:
        try:
            now_there = read_lock(blobs)
            there = now_there.describe() if now_there else "nothing (it is gone)"
        except StoreError:
            there = "an unreadable object"
        log.error("lock_replaced", run_id=info.run_id, holder=there)
        raise ConditionIgnored(
            f"the lock {_where(blobs)} was replaced right after this run created it; "
            f"it now holds {there}. The service (or a proxy) did not honour If-None-Match: *, "
            "so another prune could take the lock at the same time. "
            "Nothing was changed; use a service that honours conditional writes"
        )
    try:
        confirm_condition(blobs, LOCK_KEY, data, f"lock {_where(blobs)}")
    except ConditionIgnored as exc:
        Lock(blobs, info).release()  # only while it is still ours
        raise ConditionIgnored(
            f"{exc}. Nothing was changed and this run's lock was removed again"
        ) from None


def _held_error(
    blobs: BlobStore, held: LockInfo | None, now: datetime, config_path: str | None
) -> LockHeld:
    where = _where(blobs)
    unlock = f"backupctl unlock --config {config_path or '<your config>'}"
    if held is None:  # taken and released under our feet, repeatedly
        return LockHeld(
            f"the lock {where} keeps being taken and released by other runs; nothing was changed, "
            "run again"
        )
    if held.is_stale(now):
        log.warning("lock_stale", holder=held.describe(), judged=held.clock())
        overdue = timedelta(seconds=round(held.overdue(now).total_seconds()))
        return LockHeld(
            f"STALE lock {where}: held by {held.describe()}, expired {overdue} ago "
            f"{held.clock()}; its prune probably died. Nothing was changed and the lock was not "
            "taken over. Check that no backupctl runs on "
            f"{_printable(held.host)} (pid {held.pid}), then clear it with `{unlock}` and run again"
        )
    left = timedelta(seconds=round(-held.overdue(now).total_seconds()))
    return LockHeld(
        f"another prune holds the lock {where}: {held.describe()} ({left} left {held.clock()}); "
        "nothing was changed. Wait for it to finish "
        f"(or, if you are sure it is dead, `{unlock} --force`)"
    )
