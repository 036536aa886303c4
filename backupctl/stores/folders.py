"""What the S3 and file stores share: snapshots as folders named by the key template, for the
configured groups only; the deletion journal's naming; the integrity loop and the restore,
both driven by the manifest. A store of this shape subclasses :class:`FolderStore` and says
how to read one object (:meth:`FolderStore._open`), how to show a key, and how it lists and
deletes; everything else here is the same for every such store.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.stores.base import IntegrityProblem, ManifestEntry, RestoreOutcome, StoredSnapshot
from backupctl.stores.layout import (
    JOURNAL_PREFIX,
    MANIFEST,
    KeyTemplate,
    LayoutError,
    parse_snapshot_id,
)

__all__ = ["FolderStore", "ReadProblem", "write_under"]

CHUNK = 1 << 20


class ReadProblem(Exception):
    """One object could not be read; the message says why in one line (``missing`` is
    :class:`FileNotFoundError` instead)."""


class FolderStore:
    """The skeleton of a store whose snapshots are folders with a ``manifest.json``.

    Subclasses set ``workers`` and implement :meth:`_open` and :meth:`_where` (and their own
    listing and deletion).
    """

    workers: int

    def __init__(self, config: Config) -> None:
        """Build from a config: the URL, the configured groups and the compiled key template.

        Raises:
            ConfigError: an unusable key template.
        """
        self.config = config
        self.url = config.store.url
        self.groups = {p.group for p in config.policies}
        try:
            self.template = KeyTemplate.compile(config.store.key_template, groups=self.groups)
        except LayoutError as exc:
            raise ConfigError(config.path, [f"store.key_template: {exc}"]) from None

    def folder(self, sid: str) -> str:
        """The folder of snapshot ``sid`` relative to the store's root (ending in '/')."""
        group, t = parse_snapshot_id(sid)
        return self.template.folder(group, t)

    @staticmethod
    def journal_key(now: datetime) -> str:
        """A new deletion journal's key: ``_backupctl/deleting/<UTC time>-<random>.json``."""
        return f"{JOURNAL_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}.json"

    # ----------------------------------------------------------------- per store

    def _open(self, folder: str, key: str) -> Iterator[bytes]:
        """The bytes of ``folder + key`` in chunks.

        Raises:
            FileNotFoundError: no such object. ReadProblem: any other failure, one line.
        """
        raise NotImplementedError

    def _where(self, folder: str, key: str) -> str:
        """How ``folder + key`` is shown to a person (a path, or the full S3 key)."""
        raise NotImplementedError

    def _hash(self, folder: str, key: str) -> tuple[int, str]:
        """(size, sha256 hex) of one object; a store may override it with a faster read.

        Raises:
            FileNotFoundError, ReadProblem: as :meth:`_open`.
        """
        h = hashlib.sha256()
        n = 0
        for chunk in self._open(folder, key):
            h.update(chunk)
            n += len(chunk)
        return n, h.hexdigest()

    # ----------------------------------------------------------------- shared

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> list[IntegrityProblem]:
        """Re-read every object a manifest names (sha256, in parallel) and report size, hash
        and missing objects; a snapshot without a manifest is one problem."""
        problems: list[IntegrityProblem] = []
        tasks: list[tuple[str, str, ManifestEntry]] = []
        for s in snapshots:
            folder = self.folder(s.snapshot.id)
            if s.manifest is None:
                problems.append(
                    IntegrityProblem(
                        s.snapshot.id,
                        self._where(folder, MANIFEST),
                        s.problem or "no manifest: nothing to check against",
                    )
                )
                continue
            tasks += [(s.snapshot.id, folder, e) for e in s.manifest]

        def check(task: tuple[str, str, ManifestEntry]) -> str | None:
            _, folder, e = task
            try:
                size, digest = self._hash(folder, e.key)
            except FileNotFoundError:
                return "missing"
            except ReadProblem as exc:
                return str(exc)
            return e.mismatch(size, digest)

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for (sid, folder, e), problem in zip(tasks, pool.map(check, tasks), strict=True):
                if problem:
                    problems.append(IntegrityProblem(sid, self._where(folder, e.key), problem))
        return problems

    def restore(
        self,
        snapshot: StoredSnapshot,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreOutcome:
        """Copy the manifest's objects into ``target`` in parallel (no verification); a key
        that would land outside ``target`` is a problem, never written.

        Raises:
            StoreError: the snapshot has no manifest.
        """
        if snapshot.manifest is None:
            raise StoreError(
                f"{self.url}: snapshot {snapshot.snapshot.id} has no manifest to restore from"
            )
        folder = self.folder(snapshot.snapshot.id)
        lock = threading.Lock()

        def advance(n: int) -> None:
            if progress is not None:
                with lock:
                    progress(n)

        def fetch(e: ManifestEntry) -> tuple[int, str | None]:
            try:
                return write_under(target, e.key, self._open(folder, e.key), advance), None
            except FileNotFoundError:
                return 0, f"{self._where(folder, e.key)}: missing"
            except (ReadProblem, OSError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                return 0, f"{self._where(folder, e.key)}: {why}"

        target.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(fetch, snapshot.manifest))
        return RestoreOutcome(
            bytes=sum(n for n, _ in results),
            files=sum(1 for _, p in results if not p),
            problems=tuple(p for _, p in results if p),
        )


def write_under(
    target: Path, key: str, chunks: Iterator[bytes], advance: Callable[[int], None]
) -> int:
    """Write ``chunks`` to ``target/key``; the bytes written.

    Raises:
        OSError: ``key`` would land outside ``target`` (nothing written), or the write failed.
    """
    dest = (target / key).resolve()
    if not dest.is_relative_to(target.resolve()):
        raise OSError(f"refusing to write outside the restore target: {key}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(dest, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
            n += len(chunk)
            advance(len(chunk))
    return n
