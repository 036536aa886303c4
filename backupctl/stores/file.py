"""File snapshot store: the S3 layout on a local directory (``file:///path``).

Same contract as the S3 store: one folder per snapshot, ``manifest.json`` written last and
deleted first, a deletion journal under ``_backupctl/deleting/`` so an interrupted prune is
finished by the next one, unknown files and incomplete folders never touched. The listing
walks the tree with ``os.scandir`` and keeps one aggregate per snapshot folder.
"""

from __future__ import annotations

import builtins
import os
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backupctl import clock
from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import (
    BlobStore,
    DeleteReport,
    IntegrityProblem,
    Listing,
    ManifestEntry,
    RestoreOutcome,
    StoredSnapshot,
)
from backupctl.stores.layout import (
    INTERNAL_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    MAX_JOURNAL_BYTES,
    FolderScanner,
    KeyTemplate,
    LayoutError,
    ManifestError,
    ManifestRead,
    Outcome,
    apply_outcome,
    build_listing,
    decode_journal,
    encode_journal,
    parse_snapshot_id,
    select_deletions,
    spent_journals,
)
from restore.verify import hash_file

__all__ = ["FileStore"]

log = get_logger("stores.file")
_CHUNK = 1 << 20


class FileStore:
    """The :class:`~backupctl.stores.base.Store` for ``file:///path``."""

    def __init__(self, config: Config, workers: int = 4) -> None:
        """Build from a config.

        Raises:
            ConfigError: no path after ``file://`` or an unusable key template.
        """
        self.config = config
        self.url = config.store.url
        path = self.url.removeprefix("file://")
        if not path:
            raise ConfigError(config.path, [f"store.url: expected file:///absolute/path, got {self.url!r}"])
        self.root = Path(path)
        self.groups = {p.group for p in config.policies}
        try:
            self.template = KeyTemplate.compile(config.store.key_template, groups=self.groups)
        except LayoutError as exc:
            raise ConfigError(config.path, [f"store.key_template: {exc}"]) from None
        self.workers = workers

    # ----------------------------------------------------------------- listing

    def _walk(self, rel: str = "") -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every file under ``root/rel``; symlinks count as size 0 and are not followed."""
        with os.scandir(self.root / rel if rel else self.root) as it:
            entries = list(it)
        for e in entries:
            key = rel + e.name
            if e.is_dir(follow_symlinks=False):
                yield from self._walk(key + "/")
            elif e.is_file(follow_symlinks=False):
                yield key, e.stat(follow_symlinks=False).st_size
            else:
                yield key, 0

    def list(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown file under the root.

        Raises:
            StoreError: the root is missing or unreadable.
        """
        if not self.root.is_dir():
            raise StoreError(f"{self.url}: {self.root} is not a directory (create it, or fix store.url)")
        try:
            scanner = FolderScanner(self.template, self.groups).add_all(self._walk())
        except OSError as exc:
            raise StoreError(f"{self.url}: listing failed: {exc}") from None
        manifests = {f: self._read_manifest(f) for f, agg in scanner.folders.items() if agg.has_manifest}
        return build_listing(scanner, manifests, self.config.timezone, self._journal_ids(scanner.journals))

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        """Complete snapshots of every configured group."""
        return self.list().snapshots

    def _read_manifest(self, folder: str) -> ManifestRead:
        try:
            return ManifestRead((self.root / folder / MANIFEST).read_bytes())
        except OSError as exc:
            return ManifestRead(None, error=str(exc))

    def _journal_ids(self, keys: Sequence[str]) -> set[str]:
        return set().union(*self._read_journals(keys).values())

    def _read_journals(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """Journal key -> the ids it names, for the readable journals (others are logged and
        left in place). Nothing is read through a symlink."""
        journals: dict[str, set[str]] = {}
        if self._internal_symlink():
            return journals
        for key in keys:
            try:
                fd = os.open(self.root / key, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as f:
                    journals[key] = set(decode_journal(f.read(MAX_JOURNAL_BYTES + 1)))
            except (OSError, ManifestError) as exc:
                log.warning("unreadable deletion journal", key=key, error=str(exc))
        return journals

    def _internal_symlink(self) -> Path | None:
        """``_backupctl/`` or ``_backupctl/deleting/`` when it is a symlink (someone planted it:
        backupctl never creates one), else None. Journals are then neither read nor written."""
        for d in (self.root / INTERNAL_PREFIX, self.root / JOURNAL_PREFIX):
            if d.is_symlink():
                log.warning("symlinked backupctl folder: deletion journals ignored", path=str(d))
                return d
        return None

    def _journals(self) -> builtins.list[str]:
        d = self.root / JOURNAL_PREFIX
        if self._internal_symlink() or not d.is_dir():
            return []
        return sorted(JOURNAL_PREFIX + p.name for p in d.iterdir() if p.name.endswith(".json"))

    def _folder(self, sid: str) -> Path | None:
        """The snapshot's folder, or None when it cannot be reached without following a symlink
        (or lies outside the root): a prune never deletes through a link."""
        group, t = parse_snapshot_id(sid)
        rel = self.template.folder(group, t).rstrip("/")
        path = self.root
        for part in rel.split("/"):
            if part in ("", ".", ".."):
                return None
            path = path / part
            if path.is_symlink():
                return None
        return path

    # ----------------------------------------------------------------- delete

    def delete(
        self, snapshots: Sequence[StoredSnapshot], progress: Callable[[int], None] | None = None,
    ) -> DeleteReport:
        """Delete these snapshots, manifest first, and finish deletions a journal names
        (see :meth:`backupctl.stores.s3.S3Store.delete`). ``progress`` gets 1 per snapshot.

        Raises:
            StoreError: the journal cannot be written (nothing deleted then).
        """
        report = DeleteReport()
        journals = self._read_journals(self._journals())
        todo = select_deletions(snapshots, set().union(*journals.values()), report)
        present = {i for ids in journals.values() for i in ids if (f := self._folder(i)) is not None and f.exists()}
        if not todo:
            for key in spent_journals(journals, todo, present):  # an earlier run finished every id
                (self.root / key).unlink(missing_ok=True)
            return report
        if (link := self._internal_symlink()) is not None:
            raise StoreError(f"{self.url}: {link} is a symlink (backupctl never makes one): remove it; "
                             "nothing was deleted")
        now = clock.now()
        run_key = f"{JOURNAL_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}.json"
        try:
            self._write_atomic(run_key, encode_journal(todo, run_key, now))
            for key in spent_journals(journals, todo, present):  # their ids are in the new journal
                (self.root / key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.url}: writing the deletion journal failed: {exc}") from None
        unfinished: builtins.list[str] = []
        for sid, asked in todo.items():
            out = self._delete_one(sid, asked)
            apply_outcome(report, sid, out)
            if out.unfinished:
                unfinished.append(sid)
            if progress is not None:
                progress(1)
        report.deleted.sort()
        try:
            if unfinished:
                self._write_atomic(run_key, encode_journal(unfinished, run_key, clock.now()))
            else:
                (self.root / run_key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.url}: updating the deletion journal failed: {exc}") from None
        return report

    def _write_atomic(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _delete_one(self, sid: str, asked: bool) -> Outcome:
        folder = self._folder(sid)
        if folder is None:
            return Outcome("failed", "its folder is reached through a symlink: never followed; left alone")
        manifest = folder / MANIFEST
        if not folder.is_dir():
            return Outcome("skipped")
        has_manifest = manifest.is_file()
        if not asked and has_manifest:
            return Outcome("skipped")  # a stale journal entry: a complete snapshot is not ours to finish
        if asked and not has_manifest:
            return Outcome("failed", "manifest.json disappeared since the listing; left alone")
        freed = 0
        try:
            if has_manifest:
                freed += manifest.stat().st_size
                manifest.unlink()
        except OSError as exc:
            return Outcome("failed", f"{manifest}: {exc.strerror or exc}", unfinished=not asked)
        try:
            freed += _remove_tree(folder)
            _prune_empty_parents(folder.parent, self.root)
        except OSError as exc:
            return Outcome("failed", f"{exc.filename or folder}: {exc.strerror or exc}", freed, unfinished=True)
        return Outcome("deleted", bytes=freed)

    # ----------------------------------------------------------------- integrity, restore

    def _folder_of(self, s: StoredSnapshot) -> Path:
        group, t = parse_snapshot_id(s.snapshot.id)
        return self.root / self.template.folder(group, t)  # reading only: a link is reported by hashing

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> builtins.list[IntegrityProblem]:
        """Re-read every manifest file (streaming sha256) and report size, hash and missing files."""
        problems: builtins.list[IntegrityProblem] = []
        tasks: builtins.list[tuple[str, Path, ManifestEntry]] = []
        for s in snapshots:
            folder = self._folder_of(s)
            if s.manifest is None:
                problems.append(IntegrityProblem(s.snapshot.id, str(folder / MANIFEST),
                                                 s.problem or "no manifest: nothing to check against"))
                continue
            tasks += [(s.snapshot.id, folder, e) for e in s.manifest]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for (sid, folder, e), problem in zip(tasks, pool.map(_check_file, tasks), strict=True):
                if problem:
                    problems.append(IntegrityProblem(sid, str(folder / e.key), problem))
        return problems

    def restore(
        self, snapshot: StoredSnapshot, target: Path, *, workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreOutcome:
        """Copy the manifest's files into ``target`` in parallel (no verification).

        Raises:
            StoreError: the snapshot has no manifest.
        """
        if snapshot.manifest is None:
            raise StoreError(f"{self.url}: snapshot {snapshot.snapshot.id} has no manifest to restore from")
        folder = self._folder_of(snapshot)
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()

        def copy(e: ManifestEntry) -> tuple[int, str | None]:
            dest = (target / e.key).resolve()
            if not dest.is_relative_to(root):
                return 0, f"{e.key}: outside the restore target"
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                n = 0
                with open(folder / e.key, "rb") as src, open(dest, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                        n += len(chunk)
                if progress is not None:
                    progress(n)
                return n, None
            except OSError as exc:
                return 0, f"{folder / e.key}: {exc.strerror or exc}"

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = builtins.list(pool.map(copy, snapshot.manifest))
        return RestoreOutcome(bytes=sum(n for n, _ in results), files=sum(1 for _, p in results if not p),
                              problems=tuple(p for _, p in results if p))

    def blobs(self) -> BlobStore:
        """The blob store beside the backups (the root directory) for the lock and audit log."""
        from backupctl.blobs import FileBlobs

        blobs: BlobStore = FileBlobs(self.root)
        return blobs


def _check_file(task: tuple[str, Path, ManifestEntry]) -> str | None:
    _, folder, e = task
    try:
        size, digest = hash_file(folder / e.key)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return e.mismatch(size, digest)


def _remove_tree(folder: Path) -> int:
    """Delete every file under ``folder``, then the empty dirs; bytes freed. No symlink is
    followed, ``folder`` itself included: every step works relative to an open directory
    (``os.fwalk``), so a link swapped in after the checks cannot redirect it."""
    freed = 0
    for _, dirnames, filenames, dirfd in os.fwalk(folder, topdown=False, follow_symlinks=False):
        for name in filenames:
            freed += os.lstat(name, dir_fd=dirfd).st_size
            os.unlink(name, dir_fd=dirfd)
        for name in dirnames:
            if stat.S_ISLNK(os.lstat(name, dir_fd=dirfd).st_mode):
                os.unlink(name, dir_fd=dirfd)
            else:
                os.rmdir(name, dir_fd=dirfd)
    os.rmdir(folder)
    return freed


def _prune_empty_parents(d: Path, root: Path) -> None:
    """Remove empty directories from ``d`` up to (not including) ``root``."""
    while d != root and root in d.parents:
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent
