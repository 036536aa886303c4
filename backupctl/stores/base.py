"""The store protocol shared by S3, file and restic stores, and the blob protocol that
the lock and the audit log use."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backupctl.errors import StoreError
from restore.protocol import DrillStore, ManifestEntry, RestoreOutcome, StoredSnapshot

__all__ = [
    "BlobInfo",
    "BlobStore",
    "DeleteReport",
    "FolderFacts",
    "IntegrityProblem",
    "Listing",
    "ManifestEntry",
    "PreconditionFailed",
    "RestoreOutcome",
    "Store",
    "StoredSnapshot",
    "check_key",
    "key_digest",
]


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative blob key.

    Raises:
        StoreError: the key is empty, absolute, has empty, '.' or '..' segments or a NUL.
    """
    if not isinstance(key, str) or not key:
        raise StoreError(
            f"blob key {key!r}: expected a non-empty relative key such as '_backupctl/lock.json'"
        )
    if key.startswith("/") or "\\" in key or "\0" in key:
        raise StoreError(f"blob key {key!r}: absolute keys, backslashes and NUL are refused")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StoreError(f"blob key {key!r}: empty, '.' and '..' segments are refused")
    return key


class PreconditionFailed(Exception):
    """A conditional write (If-None-Match: *) found the key already there."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int


class BlobStore(Protocol):
    """Keyed bytes: S3 (a bucket + prefix) or a local directory. Keys are relative to
    the store's root prefix and use '/'."""

    def get(self, key: str) -> bytes:
        """The object's bytes. Raises KeyError when absent, StoreError on other failures."""
        ...

    def get_with_meta(self, key: str) -> tuple[bytes, float | None, float | None]:
        """Optional (callers fall back to ``get``): the bytes, when the service stored them and
        the service's clock now, as POSIX seconds (None where unknown). S3: Last-Modified and the
        response's Date; file: the mtime and the local clock. Raises like ``get``."""
        ...

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Write ``data``. With ``if_absent`` raise PreconditionFailed if the key exists
        (S3: a conditional PUT with ``If-None-Match: *``; file: O_EXCL)."""
        ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every key under ``prefix``, streamed page by page, in key order."""
        ...

    def delete(self, key: str) -> None:
        """Remove one key (all versions where the store deletes versions)."""
        ...


DIGEST_MASK = (1 << 64) - 1  # folder digests are sums of hashes, kept to 64 bits


def key_digest(names: Iterable[str]) -> int:
    """An order-free digest of a set of key names, valid in this process only (it sums
    Python's string hashes): two folders with equal digests and counts hold the same names."""
    return sum(hash(n) for n in names) & DIGEST_MASK


@dataclass(frozen=True, slots=True)
class FolderFacts:
    """What a listing saw in one complete snapshot's folder, for the delete that follows it:
    how many keys the folder held, their :func:`key_digest` (relative to the folder) and the
    size of its manifest.json."""

    objects: int
    digest: int
    manifest_size: int

    def holds_exactly(self, names: Sequence[str]) -> bool:
        """Whether the folder held these names (a manifest's keys) and manifest.json, no more."""
        return (self.objects, self.digest) == (
            len(names) + 1,
            key_digest([*names, "manifest.json"]),
        )


@dataclass
class Listing:
    """What a store holds: snapshots of configured groups, incomplete ones (no manifest),
    and keys that belong to no snapshot (left alone, reported).

    The rest is what a folder store's delete reuses from the listing it acts on:
    ``journals`` maps each readable deletion journal's key to the ids it names (None:
    unknown, read them again); ``folders`` holds per snapshot id the :class:`FolderFacts` of
    a complete snapshot's folder; ``keys_listed`` is the number of keys a whole-prefix
    listing saw (0: there was none to reuse). ``name_notes`` maps a snapshot id or an unknown
    key to what its ``{time:FORMAT}`` name needed saying (a DST fall-back name read as its first
    occurrence; a local time in a DST gap, so the key is unknown and never deleted).
    ``source`` is None for a live listing of the store, else what it was made from (an S3
    Inventory report: ``{"kind": "s3-inventory", "report", "report_time",
    "listed_live_since"}``), which plan shows and ``prune.intent`` records."""

    snapshots: list[StoredSnapshot] = field(default_factory=list)
    incomplete: list[StoredSnapshot] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    journals: dict[str, set[str]] | None = field(default_factory=dict)
    folders: dict[str, FolderFacts] = field(default_factory=dict)
    keys_listed: int = 0
    name_notes: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] | None = None

    def ids(self) -> set[str]:
        """Every snapshot id the listing saw, complete, held or incomplete."""
        return {s.snapshot.id for s in (*self.snapshots, *self.incomplete)}


@dataclass
class DeleteReport:
    """The outcome of deleting snapshots: ids fully deleted, ids held by Object Lock or
    legal hold (with why), ids that failed (with the error), bytes freed, requests by op."""

    deleted: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    bytes_freed: int = 0
    requests: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IntegrityProblem:
    snapshot_id: str
    key: str
    problem: str  # e.g. "sha256 mismatch: manifest abc…, object def…", "missing", "size 10 != 12"


class Store(DrillStore, Protocol):
    """A backup store backupctl can plan, prune, verify and drill against."""

    url: str

    def listing(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown key. Snapshot times are in
        the config's timezone for UTC-keyed stores, the recorded offset for restic."""
        ...

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        """Delete these snapshots (manifest first, then data). Never touches other keys.
        ``listing`` is the listing the snapshots came from (a store may reuse what it saw);
        without it the store reads again what it needs."""
        ...

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> list[IntegrityProblem]:
        """Re-read objects and compare with the manifest (restic: ``restic check``)."""
        ...

    def blobs(self) -> BlobStore:
        """The blob store for the lock and the audit log (``_backupctl/`` beside the backups)."""
        ...
