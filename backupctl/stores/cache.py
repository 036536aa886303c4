"""The local manifest cache: a bounded copy, on disk, of manifests a store returned, keyed by
the store, the manifest's key and its ETag (in the spirit of restic's local cache).

One job: remember bytes. The cache never decides anything. A store may serve a manifest from
it only when its current listing (or a conditional GET answered 304) confirmed both the key
and the ETag the entry was read under; the bytes then go through exactly the same parsing and
validation as fresh ones (an entry is only a copy of what the store said under that ETag,
and the store is untrusted). Deletion decisions rest on the listing, never on the cache.

Storage: one SQLite file, ``<dir>/manifests.sqlite3`` (``dir``: ``[cache] dir``, else
``$XDG_CACHE_HOME/backupctl``, else ``~/.cache/backupctl``), mode 0600 in a 0700 folder.

* Atomic: every write is one SQLite transaction (WAL journal); readers never see half of one.
* Concurrent: each call opens its own connection, so the threads of a fleet and other
  processes can use the same file at once (SQLite locks, a busy timeout of 10 s). A cache
  that stays locked is skipped for that call (a warning), never waited on forever.
* Bounded: the entries of all stores together hold at most ``max_size`` bytes (key, bytes
  and metadata); the least recently used go first. An entry over a quarter of the bound is
  not kept.
* Damage: a file that is not a cache (corrupt, another schema) is discarded with a warning
  and started afresh; an entry whose bytes no longer match the SHA-256 stored beside them is
  dropped. None of this is ever an error for the command.
* No credentials: a store is named by the SHA-256 of its identity (kind, endpoint without
  userinfo, bucket, prefix); the rows hold manifest bytes and the metadata a read needs.

``[cache] enabled = false``, ``--no-cache`` (see :mod:`backupctl.commands.options`) or
``BACKUPCTL_NO_CACHE=1`` turn it off: :func:`open_cache` then returns None.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from backupctl.config import CacheConfig
from backupctl.log import get_logger

__all__ = [
    "NO_CACHE_ENV",
    "CachedManifest",
    "ManifestCache",
    "cache_dir",
    "open_cache",
    "store_identity",
]

log = get_logger("stores.cache")

NO_CACHE_ENV = "BACKUPCTL_NO_CACHE"  # set (not "", "0", "false"): no cache for any store
FILE_NAME = "manifests.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
ROW_OVERHEAD = 64  # bytes counted per entry besides its key, bytes and metadata
EVICT_TO = 0.9  # an eviction frees down to this share of the bound
_T = TypeVar("_T")
_IN_CHUNK = 500  # keys per "IN (…)" query (SQLite allows 32766 variables; small is enough)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    store TEXT NOT NULL,
    key TEXT NOT NULL,
    etag TEXT NOT NULL,
    data BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    meta TEXT NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL,
    PRIMARY KEY (store, key)
);
CREATE INDEX IF NOT EXISTS manifests_used ON manifests (used);
"""


@dataclass(frozen=True, slots=True)
class CachedManifest:
    """A manifest as a store returned it: its ETag, its bytes, and what else a read needs
    (``meta``: JSON values only, e.g. S3's Last-Modified and Object Lock headers)."""

    etag: str
    data: bytes
    meta: Mapping[str, Any]


def cache_dir(config: CacheConfig) -> Path:
    """Where the cache lives: ``[cache] dir``, else ``$XDG_CACHE_HOME/backupctl``, else
    ``~/.cache/backupctl``."""
    if config.dir:
        return Path(config.dir).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "backupctl"


def store_identity(kind: str, endpoint: str | None, bucket: str, prefix: str) -> str:
    """The cache's name for a store: the SHA-256 of its kind, endpoint (its userinfo, query and
    fragment removed: no credential ever reaches the cache), bucket and prefix."""
    where = ""
    if endpoint:
        parts = urlsplit(endpoint)
        host = parts.netloc.rpartition("@")[2]
        where = urlunsplit((parts.scheme.lower(), host.lower(), parts.path.rstrip("/"), "", ""))
    text = json.dumps([kind, where, bucket, prefix])
    return hashlib.sha256(text.encode()).hexdigest()


def _env_disabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def open_cache(config: CacheConfig, store: str) -> ManifestCache | None:
    """The cache for one store (``store``: its :func:`store_identity`), or None when the cache
    is off (``[cache] enabled = false``, ``--no-cache``, ``$BACKUPCTL_NO_CACHE``). Nothing is
    touched on disk until the first use."""
    if not config.enabled or _env_disabled() or config.max_size <= 0:
        return None
    return ManifestCache(cache_dir(config) / FILE_NAME, store, config.max_size)


_discard_lock = threading.Lock()  # one thread of this process discards a damaged file


class ManifestCache:
    """The manifests of one store in the shared cache file (see the module docstring).

    Every method is safe to call from any thread; none raises because of the cache (a
    problem is a warning, and the call behaves as an empty cache).
    """

    def __init__(self, path: Path, store: str, max_size: int) -> None:
        self.path = path
        self.store = store
        self.max_size = max_size
        self._warned: set[str] = set()

    # ----------------------------------------------------------------- the public calls

    def lookup(self, wanted: Mapping[str, str | None]) -> dict[str, CachedManifest]:
        """The cached entries of these keys: key -> entry, for the keys whose entry has the
        given ETag (None: any ETag; the caller confirms it, e.g. with a conditional GET).
        Entries found are marked used (for eviction); one whose bytes fail their SHA-256 is
        dropped."""
        if not wanted:
            return {}

        def run(db: sqlite3.Connection) -> dict[str, CachedManifest]:
            found: dict[str, CachedManifest] = {}
            damaged: list[str] = []
            keys = list(wanted)
            for i in range(0, len(keys), _IN_CHUNK):
                chunk = keys[i : i + _IN_CHUNK]
                rows = db.execute(
                    "SELECT key, etag, data, sha256, meta FROM manifests "
                    f"WHERE store = ? AND key IN ({','.join('?' * len(chunk))})",
                    [self.store, *chunk],
                ).fetchall()
                for key, etag, data, digest, meta in rows:
                    want = wanted.get(key)
                    if want is not None and etag != want:
                        continue  # replaced in the store since: the caller reads it again
                    entry = _entry(etag, data, digest, meta)
                    if entry is None:
                        damaged.append(key)
                    else:
                        found[key] = entry
            now = time.time()
            with db:
                db.executemany(
                    "UPDATE manifests SET used = ? WHERE store = ? AND key = ?",
                    [(now, self.store, k) for k in found],
                )
                db.executemany(
                    "DELETE FROM manifests WHERE store = ? AND key = ?",
                    [(self.store, k) for k in damaged],
                )
            if damaged:
                log.warning(
                    "manifest cache: damaged entries dropped", path=str(self.path), n=len(damaged)
                )
            return found

        return self._run(run, {})

    def put(self, entries: Sequence[tuple[str, CachedManifest]]) -> None:
        """Keep these (key, entry) pairs, replacing what the keys held; then evict the least
        recently used entries (of every store) while the cache is over its bound. An entry
        over a quarter of the bound is not kept."""
        limit = self.max_size // 4
        rows = []
        now = time.time()
        for key, e in entries:
            meta = json.dumps(dict(e.meta), sort_keys=True, separators=(",", ":"))
            size = len(key) + len(e.data) + len(meta) + len(e.etag) + ROW_OVERHEAD
            if size > limit:
                continue
            digest = hashlib.sha256(e.data).hexdigest()
            rows.append((self.store, key, e.etag, e.data, digest, meta, size, now))
        if not rows:
            return

        def run(db: sqlite3.Connection) -> None:
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO manifests "
                    "(store, key, etag, data, sha256, meta, size, used) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            self._evict(db)

        self._run(run, None)

    def forget_absent(self, present: Collection[str], under: Sequence[str] = ("",)) -> None:
        """Drop this store's entries under any of the prefixes ``under`` whose key is not in
        ``present`` (the manifest keys the listing just saw there): a manifest that left the
        store leaves the cache."""
        keep = set(present)
        prefixes = tuple(under)

        def run(db: sqlite3.Connection) -> None:
            rows = db.execute("SELECT key FROM manifests WHERE store = ?", (self.store,))
            gone = [k for (k,) in rows if k not in keep and k.startswith(prefixes)]
            if gone:
                with db:
                    db.executemany(
                        "DELETE FROM manifests WHERE store = ? AND key = ?",
                        [(self.store, k) for k in gone],
                    )

        self._run(run, None)

    def size(self) -> int:
        """Bytes the entries of every store hold (as counted against the bound); 0 when the
        cache cannot be read."""
        return self._run(_total, 0)

    def cached_keys(self) -> set[str]:
        """The keys this store has entries for (tests, diagnostics)."""

        def run(db: sqlite3.Connection) -> set[str]:
            rows = db.execute("SELECT key FROM manifests WHERE store = ?", (self.store,))
            return {k for (k,) in rows}

        return self._run(run, set())

    # ----------------------------------------------------------------- internals

    def _evict(self, db: sqlite3.Connection) -> None:
        total = _total(db)
        if total <= self.max_size:
            return
        goal = int(self.max_size * EVICT_TO)
        victims: list[int] = []
        for rowid, size in db.execute("SELECT rowid, size FROM manifests ORDER BY used, rowid"):
            if total <= goal:
                break
            victims.append(rowid)
            total -= int(size)
        with db:
            db.executemany("DELETE FROM manifests WHERE rowid = ?", [(r,) for r in victims])
        db.executescript("PRAGMA incremental_vacuum;")  # run to the end: one step frees one page

    def _run(self, fn: Callable[[sqlite3.Connection], _T], default: _T) -> _T:
        """``fn`` on a connection with the schema in place, or ``default`` when the cache
        cannot be used now (logged). A damaged file is discarded and made again, once; the
        retried ``fn`` starts from an empty cache (each of its writes is one transaction)."""
        for attempt in (1, 2):
            try:
                db = self._open()
                try:
                    return fn(db)
                finally:
                    db.close()
            except sqlite3.OperationalError as exc:  # locked, read-only, no space …: skip
                if not _is_damage(exc):
                    self._warn("manifest cache unavailable: skipped", exc)
                    return default
                damage: BaseException = exc
            except (sqlite3.DatabaseError, _NotACache) as exc:  # corrupt, another schema
                damage = exc
            except OSError as exc:
                self._warn("manifest cache unavailable: skipped", exc)
                return default
            if attempt == 2:
                self._warn("manifest cache unusable: skipped", damage)
                return default
            self._warn("manifest cache damaged: discarded", damage)
            self._discard()
        return default

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():  # created 0600: entries name a store's keys
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.isolation_level = None  # explicit transactions only (``with db`` is one)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise _NotACache(f"schema version {version}, expected {SCHEMA_VERSION}")
            if version == 0:
                db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before any table exists
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            else:
                columns = [r[1] for r in db.execute("PRAGMA table_info(manifests)")]
                if columns != ["store", "key", "etag", "data", "sha256", "meta", "size", "used"]:
                    raise _NotACache(f"unexpected columns {columns}")
            db.isolation_level = "DEFERRED"  # ``with db`` commits or rolls back one transaction
            return db
        except BaseException:
            db.close()
            raise

    def _discard(self) -> None:
        with _discard_lock:
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.unlink(f"{self.path}{suffix}")
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self._warn("manifest cache: cannot remove a damaged file", exc)

    def _warn(self, what: str, exc: BaseException) -> None:
        text = f"{what}: {exc}"
        if text not in self._warned:  # once per cache and problem, not once per call
            self._warned.add(text)
            log.warning(what, path=str(self.path), error=str(exc))


class _NotACache(Exception):
    """The file is a SQLite database, but not this cache."""


def _total(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(SUM(size), 0) FROM manifests").fetchone()[0])


def _is_damage(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _entry(etag: Any, data: Any, digest: Any, meta: Any) -> CachedManifest | None:
    """A row as an entry, or None when it is damaged (bytes not matching their SHA-256, or
    metadata that is not a JSON object)."""
    if not isinstance(data, bytes) or not isinstance(etag, str):
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        return None
    try:
        decoded = json.loads(meta)
    except (TypeError, ValueError):
        return None
    return CachedManifest(etag, data, decoded) if isinstance(decoded, dict) else None
