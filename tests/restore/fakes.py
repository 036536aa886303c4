"""A small DrillStore over a tmp dir: snapshot folders with a manifest, copied on restore."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from restore.protocol import ManifestEntry, RestoreOutcome, StoredSnapshot
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
            entries = tuple(ManifestEntry(o["key"], o["size"], o["sha256"]) for o in data["objects"])
            sid = f"{mf.parent.parent.name}/{mf.parent.name}"
            snap = Snapshot(id=sid, time=datetime.fromisoformat(data["time"]), group=data["group"])
            out.append(StoredSnapshot(snap, manifest=entries, size=sum(e.size for e in entries)))
        return out

    def restore(self, snapshot: StoredSnapshot, target: Path, *, workers: int = 4,
                progress: Callable[[int], None] | None = None) -> RestoreOutcome:
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
