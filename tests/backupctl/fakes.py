"""The one in-memory Store (and its BlobStore) for unit tests of the prune runner and verify.

Tests import it (``from tests.backupctl.fakes import FakeStore``); the shared fixtures, such as
``blobs`` (a real FileBlobs and a real S3Blobs on moto), are in tests/backupctl/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from backupctl.prune.runner import INTERRUPTED
from backupctl.stores.base import (
    BlobInfo,
    DeleteReport,
    IntegrityProblem,
    Listing,
    StoredSnapshot,
)


class FakeBlobs:
    """A dict of key -> bytes; ``writes`` counts puts and deletes."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.writes = 0

    def get(self, key: str) -> bytes:
        return self.data[key]

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        self.writes += 1
        self.data[key] = data

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return iter(
            [BlobInfo(k, len(v)) for k, v in sorted(self.data.items()) if k.startswith(prefix)]
        )

    def delete(self, key: str) -> None:
        self.writes += 1
        self.data.pop(key, None)


class FakeStore:
    """Holds snapshots; those with status ``incomplete`` are listed as incomplete, ``unknown``
    as unknown keys.

    ``fail`` names ids whose deletion fails after the manifest went. Like the S3 store, it
    journals what it deletes and finishes journalled ids on the next delete. ``corrupt`` names
    ids whose integrity check fails; ``checked`` records every id checked, ``calls`` every
    ``listing``/``delete``.
    """

    url = "fake://"

    def __init__(
        self,
        snapshots: Sequence[StoredSnapshot] = (),
        unknown: Sequence[str] = (),
        corrupt: Iterable[str] = (),
    ) -> None:
        self.snaps = {s.snapshot.id: s for s in snapshots}
        self.unknown = list(unknown)
        self.fail: set[str] = set()
        self.corrupt = set(corrupt)
        self.calls: list[str] = []
        self.checked: list[str] = []
        self.pending: set[str] = set()
        self._blobs = FakeBlobs()

    def listing(self) -> Listing:
        self.calls.append("list")
        return Listing(
            snapshots=[s for s in self.snaps.values() if s.status != "incomplete"],
            incomplete=[s for s in self.snaps.values() if s.status == "incomplete"],
            unknown=list(self.unknown),
            requests={"ListObjectsV2": 1},
        )

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        self.calls.append("delete")
        report = DeleteReport(requests={"DeleteObjects": 1})
        for s in snapshots:
            sid = s.snapshot.id
            if sid in self.fail:  # manifest deleted, data not: the snapshot is now incomplete
                self.snaps[sid] = StoredSnapshot(
                    s.snapshot,
                    status="incomplete",
                    keys=s.keys[1:],
                    problem=INTERRUPTED + ": finish me",
                )
                self.pending.add(sid)
                report.failed[sid] = "SlowDown"
            elif s.status == "held":
                report.held[sid] = "object lock"
            elif s.status == "incomplete" and sid not in self.pending:
                report.failed[sid] = "incomplete snapshot: never deleted"
            else:
                del self.snaps[sid]
                self.pending.discard(sid)
                report.deleted.append(sid)
                report.bytes_freed += 10
        return report

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> list[IntegrityProblem]:
        self.checked += [s.snapshot.id for s in snapshots]
        return [
            IntegrityProblem(s.snapshot.id, "db.sql.gz", "sha256 mismatch")
            for s in snapshots
            if s.snapshot.id in self.corrupt
        ]

    def blobs(self) -> FakeBlobs:
        return self._blobs
