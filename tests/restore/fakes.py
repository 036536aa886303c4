"""A small DrillStore over a tmp dir: snapshot folders with a manifest, copied on restore."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from restore.protocol import (
    ManifestEntry,
    ReferenceRefused,
    ReferenceRestore,
    RestoreOutcome,
    StoredSnapshot,
)
from retention import Snapshot


def write_snapshot(root: Path, group: str, when: datetime, objects: dict[str, bytes]) -> None:
    """Write ``<root>/<group>/<YYYYMMDDTHHMMSSZ>/`` objects, then manifest.json (last)."""
    folder = root / group / when.strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True)
    entries = []
    for key, data in objects.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
        entries.append({"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"version": 1, "group": group, "time": when.isoformat(), "objects": entries}
    (folder / "manifest.json").write_text(json.dumps(manifest))


class DirStore:
    """DrillStore over a directory tree; ``fail_restore`` makes restore raise."""

    def __init__(self, root: Path, fail_restore: Exception | None = None) -> None:
        self.root = root
        self.fail_restore = fail_restore
        self.restored_to: list[Path] = []

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        out = []
        for mf in sorted(self.root.glob("*/*/manifest.json")):
            data = json.loads(mf.read_text())
            entries = tuple(
                ManifestEntry(o["key"], o["size"], o["sha256"]) for o in data["objects"]
            )
            sid = f"{mf.parent.parent.name}/{mf.parent.name}"
            snap = Snapshot(id=sid, time=datetime.fromisoformat(data["time"]), group=data["group"])
            out.append(StoredSnapshot(snap, manifest=entries, size=sum(e.size for e in entries)))
        return out

    def restore(
        self,
        snapshot: StoredSnapshot,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreOutcome:
        self.restored_to.append(target)
        if self.fail_restore is not None:
            raise self.fail_restore
        src = self.root / snapshot.snapshot.id
        total = files = 0
        for entry in snapshot.manifest or ():
            dest = target / entry.key
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / entry.key, dest)
            total += entry.size
            files += 1
            if progress:
                progress(entry.size)
        return RestoreOutcome(bytes=total, files=files)


class RefDirStore(DirStore):
    """DirStore that also restores by reference (like restic), resolving ``latest`` and id
    prefixes itself, without a listing.

    With ``rendezvous`` set, the listing waits until a restore has started and the restore
    waits until the listing has started (each bounded by ``rendezvous`` seconds, then raises):
    a drill that does not run them concurrently fails. ``report`` overrides the id the store
    says it restored (None: says nothing); ``refuse`` makes it refuse every reference.
    """

    _UNSET = object()

    def __init__(
        self,
        root: Path,
        *,
        rendezvous: float | None = None,
        report: object = _UNSET,
        refuse: bool = False,
    ) -> None:
        super().__init__(root)
        self.rendezvous = rendezvous
        self.report = report
        self.refuse = refuse
        self.listing_started = threading.Event()
        self.restore_started = threading.Event()
        self.references: list[str] = []
        self.listings = 0

    def _meet(self, mine: threading.Event, theirs: threading.Event, what: str) -> None:
        mine.set()
        if self.rendezvous is not None and not theirs.wait(self.rendezvous):
            raise TimeoutError(
                f"{what} waited {self.rendezvous} s for the other to start: not concurrent"
            )

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        self.listings += 1
        self._meet(self.listing_started, self.restore_started, "listing")
        return super().list_snapshots()

    def restore_reference(
        self,
        reference: str,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> ReferenceRestore:
        if self.refuse:
            raise ReferenceRefused(f"refused {reference!r}")
        self.references.append(reference)
        self._meet(self.restore_started, self.listing_started, "restore")
        ids = sorted(
            f"{m.parent.parent.name}/{m.parent.name}" for m in self.root.glob("*/*/manifest.json")
        )
        if reference == "latest":
            matches = ids[-1:]
        else:
            matches = [i for i in ids if i == reference] or [
                i for i in ids if i.startswith(reference)
            ]
        if len(matches) != 1:
            raise LookupError(f"invalid id {reference!r}: {len(matches)} matches")
        snap = next(s for s in DirStore.list_snapshots(self) if s.snapshot.id == matches[0])
        outcome = self.restore(snap, target, workers=workers, progress=progress)
        named = matches[0] if self.report is RefDirStore._UNSET else self.report
        return ReferenceRestore(outcome, named if isinstance(named, str) else None)
