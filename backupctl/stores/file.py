"""File snapshot store: the S3 layout on a local directory (``file:///path``).

Same contract as the S3 store: one folder per snapshot, ``manifest.json`` written last and
deleted first, a deletion journal under ``_backupctl/deleting/`` so an interrupted prune is
finished by the next one, unknown files and incomplete folders never touched. The listing
walks the tree with ``os.scandir`` and keeps one aggregate per snapshot folder.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from backupctl import clock
from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import (
    BlobStore,
    DeleteReport,
    Listing,
    StoredSnapshot,
)
from backupctl.stores.folders import FolderStore, ReadProblem
from backupctl.stores.layout import (
    INTERNAL_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    MAX_JOURNAL_BYTES,
    FolderScanner,
    ManifestError,
    ManifestRead,
    Outcome,
    apply_outcome,
    build_listing,
    decode_journal,
    encode_journal,
    select_deletions,
    spent_journals,
)
from restore.verify import hash_fd

__all__ = ["FileStore"]

log = get_logger("stores.file")
_CHUNK = 1 << 20


class FileStore(FolderStore):
    """The :class:`~backupctl.stores.base.Store` for ``file:///path``."""

    def __init__(self, config: Config, workers: int = 4) -> None:
        """Build from a config.

        Raises:
            ConfigError: no path after ``file://`` or an unusable key template.
        """
        super().__init__(config)
        path = self.url.removeprefix("file://")
        if not path:
            raise ConfigError(
                config.path, [f"store.url: expected file:///absolute/path, got {self.url!r}"]
            )
        self.root = Path(path)
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

    def listing(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown file under the root.

        Raises:
            StoreError: the root is missing or unreadable.
        """
        if not self.root.is_dir():
            raise StoreError(
                f"{self.url}: {self.root} is not a directory (create it, or fix store.url)"
            )
        try:
            scanner = FolderScanner(self.template, self.groups).add_all(self._walk())
        except OSError as exc:
            raise StoreError(f"{self.url}: listing failed: {exc}") from None
        manifests = {
            f: self._read_manifest(f) for f, agg in scanner.folders.items() if agg.has_manifest
        }
        return build_listing(
            scanner, manifests, self.config.timezone, self._read_journals(scanner.journals)
        )

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        """Complete snapshots of every configured group."""
        return self.listing().snapshots

    def _read_manifest(self, folder: str) -> ManifestRead:
        try:
            return ManifestRead((self.root / folder / MANIFEST).read_bytes())
        except OSError as exc:
            return ManifestRead(None, error=str(exc))

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

    def _journals(self) -> list[str]:
        d = self.root / JOURNAL_PREFIX
        if self._internal_symlink() or not d.is_dir():
            return []
        return sorted(JOURNAL_PREFIX + p.name for p in d.iterdir() if p.name.endswith(".json"))

    def _folder(self, sid: str) -> Path | None:
        """The snapshot's folder, or None when it cannot be reached without following a symlink
        (or lies outside the root): a prune never deletes through a link."""
        rel = self.folder(sid).rstrip("/")
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
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        """Delete these snapshots, manifest first, and finish deletions a journal names
        (see :meth:`backupctl.stores.s3.S3Store.delete`). ``progress`` gets 1 per snapshot.

        Raises:
            StoreError: the journal cannot be written (nothing deleted then).
        """
        report = DeleteReport()
        journals = self._read_journals(self._journals())
        todo = select_deletions(snapshots, set().union(*journals.values()), report)
        present = {
            i
            for ids in journals.values()
            for i in ids
            if (f := self._folder(i)) is not None and f.exists()
        }
        if not todo:
            for key in spent_journals(journals, todo, present):  # an earlier run finished every id
                (self.root / key).unlink(missing_ok=True)
            return report
        if (link := self._internal_symlink()) is not None:
            raise StoreError(
                f"{self.url}: {link} is a symlink (backupctl never makes one): remove it; "
                "nothing was deleted"
            )
        now = clock.now()
        run_key = self.journal_key(now)
        try:
            self._write_atomic(run_key, encode_journal(todo, run_key, now))
            for key in spent_journals(journals, todo, present):  # their ids are in the new journal
                (self.root / key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.url}: writing the deletion journal failed: {exc}") from None
        unfinished: list[str] = []
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
            return Outcome(
                "failed", "its folder is reached through a symlink: never followed; left alone"
            )
        manifest = folder / MANIFEST
        if not folder.is_dir():
            return Outcome("skipped")
        has_manifest = manifest.is_file()
        if not asked and has_manifest:
            return Outcome(
                "skipped"
            )  # a stale journal entry: a complete snapshot is not ours to finish
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
            return Outcome(
                "failed", f"{exc.filename or folder}: {exc.strerror or exc}", freed, unfinished=True
            )
        return Outcome("deleted", bytes=freed)

    # ----------------------------------------------------------------- integrity, restore

    def _where(self, folder: str, key: str) -> str:
        return str(self.root / folder / key)

    def _fd(self, folder: str, key: str) -> int:
        """An open descriptor of ``folder + key`` under the root, reached without following any
        symlink (every step opens relative to the last directory) and only if it is a regular
        file (a FIFO would block a drill).

        Raises:
            FileNotFoundError: no such file. ReadProblem: a link, not a regular file, unreadable.
        """
        *dirs, name = (folder + key).split("/")
        try:
            dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for part in dirs:
                    nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                    os.close(dir_fd)
                    dir_fd = nxt
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        except FileNotFoundError:
            raise
        except OSError as exc:
            why = (
                "a symlink, not followed"
                if exc.errno in (errno.ELOOP, errno.ENOTDIR)
                else exc.strerror
            )
            raise ReadProblem(f"unreadable: {why or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ReadProblem("unreadable: not a regular file")
        return fd

    def _hash(self, folder: str, key: str) -> tuple[int, str]:
        fd = self._fd(folder, key)
        try:
            return hash_fd(fd)
        except OSError as exc:
            raise ReadProblem(f"unreadable: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def _open(self, folder: str, key: str) -> Iterator[bytes]:
        fd = self._fd(folder, key)

        def chunks() -> Iterator[bytes]:
            with os.fdopen(fd, "rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk

        return chunks()

    def blobs(self) -> BlobStore:
        """The blob store beside the backups (the root directory) for the lock and audit log."""
        from backupctl.stores.blobs import FileBlobs

        blobs: BlobStore = FileBlobs(self.root)
        return blobs


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
