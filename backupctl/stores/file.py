"""File snapshot store: the S3 layout on a local directory (``file:///path``).

Same contract as the S3 store (the shared protocol is :class:`ManifestStore`'s): one folder
per snapshot, ``manifest.json`` written last and deleted first, a deletion journal under
``_backupctl/deleting/`` so an interrupted prune is finished by the next one, unknown files
and incomplete folders never touched. The listing walks the tree with ``os.scandir``; nothing
is read, written or deleted through a symlink.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import BlobStore, Listing
from backupctl.stores.layout import (
    INTERNAL_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    MAX_JOURNAL_BYTES,
    ManifestRead,
    Outcome,
)
from backupctl.stores.manifest import ManifestStore, ReadProblem, folder_refusal
from restore.verify import hash_fd

__all__ = ["FileStore"]

log = get_logger("stores.file")
_CHUNK = 1 << 20


class FileStore(ManifestStore):
    """The :class:`~backupctl.stores.base.Store` for ``file:///path``."""

    single_objects = True

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

    def listing(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown file under the root.

        Raises:
            StoreError: the root is missing or unreadable.
        """
        if not self.root.is_dir():
            raise StoreError(
                f"{self.url}: {self.root} is not a directory (create it, or fix store.url)"
            )
        return super().listing()

    def _keys(self) -> Iterator[tuple[str, int]]:
        try:
            yield from self._walk()
        except OSError as exc:
            raise StoreError(f"{self.url}: listing failed: {exc}") from None

    def _keys_timed(self, times: dict[str, datetime]) -> Iterator[tuple[str, int]]:
        """As :meth:`_keys`, noting each file's mtime (lstat: a symlink's own, not followed)."""
        try:
            yield from self._walk("", times)
        except OSError as exc:
            raise StoreError(f"{self.url}: listing failed: {exc}") from None

    def _walk(
        self, rel: str = "", times: dict[str, datetime] | None = None
    ) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every file under ``root/rel``; a symlink counts as size 0 and
        is not followed."""
        with os.scandir(self.root / rel if rel else self.root) as it:
            entries = list(it)
        for e in entries:
            key = rel + e.name
            if e.is_dir(follow_symlinks=False):
                yield from self._walk(key + "/", times)
                continue
            st = e.stat(follow_symlinks=False)
            if times is not None:
                times[key] = datetime.fromtimestamp(st.st_mtime, UTC)
            yield key, st.st_size if stat.S_ISREG(st.st_mode) else 0

    def _read_manifest(self, folder: str) -> ManifestRead:
        try:
            return ManifestRead((self.root / folder / MANIFEST).read_bytes())
        except OSError as exc:
            return ManifestRead(None, error=str(exc))

    def _read_journals(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """As :meth:`ManifestStore._read_journals`, but none when backupctl's folders are a
        symlink (nothing is read through one)."""
        return {} if self._internal_symlink() else super()._read_journals(keys)

    def _read_journal(self, key: str) -> bytes:
        try:
            fd = os.open(self.root / key, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                return f.read(MAX_JOURNAL_BYTES + 1)
        except OSError as exc:
            raise ReadProblem(str(exc)) from None

    def _journal_keys(self) -> list[str]:
        d = self.root / JOURNAL_PREFIX
        if self._internal_symlink() or not d.is_dir():
            return []
        return sorted(JOURNAL_PREFIX + p.name for p in d.iterdir() if p.name.endswith(".json"))

    def _internal_symlink(self) -> Path | None:
        """``_backupctl/`` or ``_backupctl/deleting/`` when it is a symlink (someone planted it:
        backupctl never creates one), else None. Journals are then neither read nor written."""
        for d in (self.root / INTERNAL_PREFIX, self.root / JOURNAL_PREFIX):
            if d.is_symlink():
                log.warning("symlinked backupctl folder: deletion journals ignored", path=str(d))
                return d
        return None

    # ----------------------------------------------------------------- journal

    def _check_journal_folder(self) -> None:
        if (link := self._internal_symlink()) is not None:
            raise StoreError(
                f"{self.url}: {link} is a symlink (backupctl never makes one): remove it; "
                "nothing was deleted"
            )

    def _put_journal(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _remove_journal(self, key: str) -> None:
        path = self.root / key
        path.unlink(missing_ok=True)
        with suppress(OSError):  # not empty (another journal), or gone; a symlink is not rmdir'ed
            path.parent.rmdir()  # no empty _backupctl/deleting/ left behind

    def _journal_errors(self, what: str) -> AbstractContextManager[None]:
        return _os_errors(f"{self.url}: {what} failed")

    # ----------------------------------------------------------------- delete

    def _present(
        self, listing: Listing | None, journals: dict[str, set[str]]
    ) -> Collection[str] | None:
        """The journalled ids whose folder is still on disk (looked at now, not listed)."""
        return {
            i
            for ids in journals.values()
            for i in ids
            if (f := self._folder(i)) is not None and f.exists()
        }

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

    def _delete_folder(self, sid: str, asked: bool) -> Outcome:
        folder = self._folder(sid)
        if folder is None:
            return Outcome(
                "failed", "its folder is reached through a symlink: never followed; left alone"
            )
        if self.template.single:
            return self._delete_object(folder, sid)
        manifest = folder / MANIFEST
        has_manifest = folder.is_dir() and manifest.is_file()
        refusal = folder_refusal(asked, folder.is_dir(), has_manifest)
        if refusal is not None:
            return refusal
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

    def _delete_object(self, path: Path, sid: str) -> Outcome:
        """Delete a single-object snapshot: unlink its file, never a link or a directory (the
        path was reached without a symlink), then the directories it leaves empty; then its
        digest record (``_backupctl/digests/<sid>.json``, exactly that name, no symlinked
        folder followed). The record goes after the object, so a crash leaves a record without
        an object (never read, blocks nothing), not an object without its record; a record
        that cannot be removed is logged and left, the snapshot still deleted."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Outcome("skipped")
        except OSError as exc:
            return Outcome("failed", f"{path}: {exc.strerror or exc}")
        if not stat.S_ISREG(st.st_mode):
            return Outcome("failed", f"{path}: not a regular file; left alone")
        try:
            os.unlink(path)
            _prune_empty_parents(path.parent, self.root)
        except OSError as exc:
            return Outcome("failed", f"{path}: {exc.strerror or exc}")
        from backupctl.stores.blobs import FileBlobs
        from backupctl.stores.digests import digest_key

        record = digest_key(sid)
        try:  # unlinks the name itself (a planted link, not its target); absent is fine
            FileBlobs(self.root).delete(record)
        except StoreError as exc:
            log.warning("digest record left behind", key=record, error=str(exc))
        return Outcome("deleted", bytes=st.st_size)

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


@contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """OSError as ``StoreError('<what>: <error>')``."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"{what}: {exc}") from None


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
