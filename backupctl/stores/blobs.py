"""Blob stores for backupctl's own objects (the prune lock, the audit log): S3 and local files.

Both implement :class:`backupctl.stores.base.BlobStore`. ``S3Blobs`` lives in
:mod:`backupctl.stores.blobs_s3` and is loaded (with boto3) only when used;
``backupctl.stores.blobs.S3Blobs`` still works. Keys are relative to the store's
root (an S3 prefix or a directory), use '/', and may not be empty, absolute or contain
'.'/'..' segments.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupctl.errors import StoreError
from backupctl.files import publish_new
from backupctl.stores.base import BlobInfo, BlobStore, PreconditionFailed, check_key

if TYPE_CHECKING:
    from backupctl.stores.blobs_s3 import S3Blobs

__all__ = ["FileBlobs", "S3Blobs", "check_key", "open_blobs"]


_TMP_PREFIX = ".backupctl-tmp-"


class FileBlobs:
    """Blobs as files under ``root``; a key's '/' segments are directories.

    Writes are atomic (temp file in the same directory, fsync, rename); ``if_absent``
    publishes with ``link()``, which fails when the name exists, so two writers never
    both succeed.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def from_url(cls, url: str, **_s3_settings: Any) -> FileBlobs:
        """The blob store at ``file:///absolute/path`` (the store registry checked the form)."""
        return cls(Path(url.removeprefix("file://")))

    @property
    def url(self) -> str:
        """``file:///path`` of the root."""
        return self.root.absolute().as_uri()

    def _path(self, key: str) -> Path:
        return self._no_link(*check_key(key).split("/"))

    def _no_link(self, *parts: str) -> Path:
        """``root/parts…``, refusing a symlinked folder on the way (backupctl never makes one:
        someone planted it, and following it would read, write or delete outside the store)."""
        folder = self.root
        for part in parts[:-1]:
            folder = folder / part
            if folder.is_symlink():
                raise StoreError(
                    f"{folder} is a symlink (backupctl never makes one): not followed; remove it"
                )
        return folder / parts[-1] if parts else folder

    def get(self, key: str) -> bytes:
        """The file's bytes.

        Raises:
            KeyError: no such key (or it is a directory).
            StoreError: the file exists but cannot be read.
        """
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None

    def get_with_meta(self, key: str) -> tuple[bytes, float | None, float | None]:
        """The file's bytes, its mtime and the local clock now (POSIX seconds).

        On a file store the file's mtime against this host's clock is all there is: both come
        from the kernel (on NFS, the mtime from the server's), so a lock's age does not
        depend on the clock of the host that wrote it, but a reader whose own clock is off
        (or an NFS server whose is) still misjudges it. A symlink, FIFO or device is refused.

        Raises:
            KeyError: no such key (or it is a directory).
            StoreError: not a regular file, or it cannot be read.
        """
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(
                    f"{path} is a symlink; refused (expected a regular file)"
                ) from None
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise KeyError(key)
            if not stat.S_ISREG(info.st_mode):
                raise StoreError(f"{path} is not a regular file; refused")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        return data, info.st_mtime, time.time()

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Write ``data`` atomically at ``key``.

        Raises:
            PreconditionFailed: ``if_absent`` and the key exists.
            StoreError: the file cannot be written.
        """
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._write_temp(path, data)
            try:
                if if_absent:
                    try:
                        publish_new(tmp, path)
                    except FileExistsError:
                        raise PreconditionFailed(f"{path} already exists") from None
                else:
                    os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None

    @staticmethod
    def _write_temp(path: Path, data: bytes) -> str:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every key under ``prefix``, in key order (temp files of unfinished writes skipped).

        Raises:
            StoreError: a directory cannot be read.
        """
        dirs = prefix.split("/")[:-1]
        if any(part in ("", ".", "..") for part in dirs) or prefix.startswith("/"):
            raise StoreError(
                f"blob prefix {prefix!r}: absolute prefixes, empty, '.' and '..' segments "
                "are refused"
            )
        start = self._no_link(
            *dirs, ""
        )  # every folder of the prefix checked; '' names the last one
        found = []

        def on_error(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):
                raise StoreError(f"cannot list {exc.filename}: {exc.strerror or exc}")

        for dirpath, _dirs, files in os.walk(start, onerror=on_error):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    found.append(
                        BlobInfo(key=key, size=os.stat(os.path.join(dirpath, name)).st_size)
                    )
        found.sort(key=lambda b: b.key.encode())
        yield from found

    def delete(self, key: str) -> None:
        """Remove ``key`` and the directories it leaves empty (up to the root).

        Deleting a missing key is not an error.

        Raises:
            StoreError: the file cannot be removed.
        """
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot delete {path}: {exc.strerror or exc}") from None
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def open_blobs(
    url: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
) -> BlobStore:
    """See :func:`backupctl.stores.registry.open_blobs` (kept here for callers of the old name)."""
    from backupctl.stores.registry import open_blobs as _open

    return _open(url, endpoint_url, region, profile)


def __getattr__(name: str) -> Any:
    """``S3Blobs`` is loaded on first use (with boto3), so file-only runs never import botocore."""
    if name == "S3Blobs":
        from backupctl.stores.blobs_s3 import S3Blobs

        return S3Blobs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
