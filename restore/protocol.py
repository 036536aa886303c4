"""What a drill needs from a store. backupctl's stores implement this; restore/ never
imports backupctl."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from retention import Snapshot

__all__ = [
    "DrillStore",
    "ManifestEntry",
    "ReferenceRefused",
    "ReferenceRestore",
    "RestoreOutcome",
    "RestoresByReference",
    "StoredSnapshot",
]

Status = Literal["complete", "incomplete", "held"]


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One object of a snapshot: key relative to the snapshot folder, size, sha256 hex.

    A manifest always gives a sha256. A single-object snapshot's entry (the object is the
    snapshot, no manifest) has ``sha256`` "" unless a recorded digest filled it in; ``crc32``
    (S3's stored whole-object CRC32, base64) is then the reference if the service has one, and
    with neither the bytes are checked by size only (:attr:`reference`)."""

    key: str
    size: int
    sha256: str
    crc32: str = ""

    @property
    def reference(self) -> Literal["sha256", "crc32", "size"]:
        """What a read of this object is compared with besides its size."""
        return "sha256" if self.sha256 else "crc32" if self.crc32 else "size"

    def mismatch(self, size: int, sha256: str, crc32: str = "") -> str | None:
        """How an object read with ``size`` bytes and digest ``sha256`` (and, for an entry whose
        reference is a CRC32, ``crc32`` in S3's base64 form) differs from this entry
        (``"size 5 != manifest 10"``, ``"sha256 mismatch: …"``), or None when it matches."""
        if size != self.size:
            return f"size {size} != manifest {self.size}"
        if self.reference == "crc32":
            return (
                None if crc32 == self.crc32 else f"CRC32 mismatch: S3 {self.crc32}, object {crc32}"
            )
        if self.reference == "size":
            return None
        if sha256.lower() != self.sha256.lower():
            return f"sha256 mismatch: manifest {self.sha256[:12]}…, object {sha256[:12]}…"
        return None


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A snapshot as a store holds it.

    ``snapshot`` is what retention plans with (``snapshot.id`` is the store's id: for
    S3/file ``"<group>/<YYYYMMDDTHHMMSSZ>"``, for restic the full snapshot id).
    ``manifest`` is None for restic (restic verifies its own data) and for incomplete
    snapshots. ``size`` is the total bytes (0 when unknown). ``manifest_sha256`` is the
    hash of the manifest file's bytes, for proofs.
    """

    snapshot: Snapshot
    status: Status = "complete"
    manifest: tuple[ManifestEntry, ...] | None = None
    size: int = 0
    manifest_sha256: str | None = None
    keys: tuple[str, ...] = field(default=())  # every object key under the snapshot (S3/file)
    problem: str | None = (
        None  # why an incomplete snapshot is incomplete (no manifest, bad manifest …)
    )
    written: datetime | None = None
    """When the service wrote the snapshot's objects (S3: the newest LastModified of its keys,
    or of manifest.json in folders mode; file: the newest mtime), None when unknown (restic).
    The service's clock, not the producer's claim: trusted time compares the two."""


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore wrote; ``problems`` names every object that failed verification."""

    bytes: int
    files: int
    problems: tuple[str, ...] = ()
    verified_by_store: bool = False
    reference: tuple[ManifestEntry, ...] | None = None  # what to verify against, if the store
    # knows more than the listing did (a single object's recorded sha256 or S3 checksum)


class DrillStore(Protocol):
    """The store operations a restore drill uses."""

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        """Complete and held snapshots of every group, any order."""
        ...

    def restore(
        self,
        snapshot: StoredSnapshot,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreOutcome:
        """Write the snapshot's objects under ``target`` (keys as relative paths).

        ``progress`` is called with bytes written since the last call. Stores that verify
        while restoring (restic ``--verify``) set ``verified_by_store`` and report problems;
        manifest stores leave verification to the drill.
        """
        ...


class ReferenceRefused(ValueError):
    """The store cannot restore by this reference (nothing was started); list first instead."""


@dataclass(frozen=True)
class ReferenceRestore:
    """What :meth:`RestoresByReference.restore_reference` did: the outcome, and the id of the
    snapshot the store says it restored (possibly a short id prefix such as restic's 8 hex
    digits), or None when the store did not say."""

    outcome: RestoreOutcome
    restored_id: str | None = None


@runtime_checkable
class RestoresByReference(Protocol):
    """Optional drill-store capability: restore a snapshot named by a reference without a
    listing first (restic: ``restic restore <id|prefix|latest>``). A drill with an explicit
    id or ``latest`` then restores while it lists, and checks the choice against the listing
    afterwards. Stores that need the listing to restore (manifests) do not implement it."""

    def restore_reference(
        self,
        reference: str,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> ReferenceRestore:
        """Restore the snapshot ``reference`` names (an id, a unique id prefix or ``"latest"``)
        under ``target``, like :meth:`DrillStore.restore`.

        Raises:
            ReferenceRefused: the store does not take this reference form (nothing started).
            Exception: as :meth:`DrillStore.restore` (an unknown id is the store's error).
        """
        ...
