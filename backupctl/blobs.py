"""Blob stores for backupctl's own objects (the prune lock, the audit log): S3 and local files.

Both implement :class:`backupctl.stores.base.BlobStore`. Keys are relative to the store's
root (an S3 prefix or a directory), use '/', and may not be empty, absolute or contain
'.'/'..' segments.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backupctl.errors import StoreError, UsageError
from backupctl.log import get_logger
from backupctl.s3client import make_s3_client, split_s3_url
from backupctl.stores.base import BlobInfo, BlobStore, PreconditionFailed

__all__ = ["FileBlobs", "S3Blobs", "check_key", "open_blobs"]



def _log() -> Any:
    """The logger, resolved per call so it follows the CLI's ``log.configure`` (a module-level
    bound logger would keep structlog's import-time default: plain text on stdout)."""
    return get_logger("blobs")


_TMP_PREFIX = ".backupctl-tmp-"
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative blob key.

    Raises:
        StoreError: the key is empty, absolute, has empty, '.' or '..' segments or a NUL.
    """
    if not isinstance(key, str) or not key:
        raise StoreError(f"blob key {key!r}: expected a non-empty relative key such as '_backupctl/lock.json'")
    if key.startswith("/") or "\\" in key or "\0" in key:
        raise StoreError(f"blob key {key!r}: absolute keys, backslashes and NUL are refused")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StoreError(f"blob key {key!r}: empty, '.' and '..' segments are refused")
    return key


class S3Blobs:
    """Blobs in ``bucket`` under ``prefix`` through a boto3 S3 client.

    ``put(if_absent=True)`` is a conditional PutObject (``If-None-Match: *``); S3 answers
    412 PreconditionFailed when the key exists, raised here as :class:`PreconditionFailed`.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        stripped = prefix.strip("/")
        self.prefix = stripped + "/" if stripped else ""
        self._versioned: bool | None = None

    @property
    def url(self) -> str:
        """``s3://bucket/prefix`` of the root."""
        return f"s3://{self.bucket}/{self.prefix}"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, op: str, key: str, exc: Exception) -> StoreError:
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = err.get("Code", "?")
            detail = err.get("Message", "")
            return StoreError(f"S3 {op} s3://{self.bucket}/{key} failed: {code} {detail}".rstrip())
        return StoreError(f"S3 {op} s3://{self.bucket}/{key} failed: {exc}")

    def get(self, key: str) -> bytes:
        """The object's bytes.

        Raises:
            KeyError: no such key.
            StoreError: any other S3 failure, naming bucket, key and the S3 error code.
        """
        full = self._full(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise KeyError(key) from None
            raise self._error("GetObject", full, exc) from None
        except BotoCoreError as exc:
            raise self._error("GetObject", full, exc) from None

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Write ``data`` at ``key``; with ``if_absent`` only when the key does not exist.

        Raises:
            PreconditionFailed: ``if_absent`` and the key exists (412 from S3).
            StoreError: any other S3 failure.
        """
        full = self._full(key)
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data, **extra)
        except ClientError as exc:
            if if_absent and exc.response.get("Error", {}).get("Code") in _PRECONDITION_CODES:
                raise PreconditionFailed(f"s3://{self.bucket}/{full} already exists") from None
            raise self._error("PutObject", full, exc) from None
        except BotoCoreError as exc:
            raise self._error("PutObject", full, exc) from None

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every key under ``prefix`` (relative to the root), page by page, in key order.

        Raises:
            StoreError: the listing failed (e.g. NoSuchBucket, AccessDenied).
        """
        full = self.prefix + prefix
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                for obj in page.get("Contents", []):
                    yield BlobInfo(key=obj["Key"][len(self.prefix):], size=int(obj.get("Size", 0)))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("ListObjectsV2", full, exc) from None

    def delete(self, key: str) -> None:
        """Remove ``key``; in a versioned bucket every version and delete marker of it.

        Deleting a missing key is not an error.

        Raises:
            StoreError: an S3 failure.
        """
        full = self._full(key)
        try:
            if self._is_versioned():
                self._delete_versions(full)
            else:
                self.client.delete_object(Bucket=self.bucket, Key=full)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("DeleteObject", full, exc) from None

    def _is_versioned(self) -> bool:
        if self._versioned is None:
            try:
                status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
            except ClientError as exc:
                # Without the permission to ask we cannot delete versions anyway: delete the key.
                _log().warning("versioning_unknown", bucket=self.bucket,
                             code=exc.response.get("Error", {}).get("Code"))
                status = None
            self._versioned = status in ("Enabled", "Suspended")
        return self._versioned

    def _delete_versions(self, full: str) -> None:
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=full)
        for page in pages:
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry["Key"] == full:  # the prefix also matches longer keys
                    self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=entry["VersionId"])


class FileBlobs:
    """Blobs as files under ``root``; a key's '/' segments are directories.

    Writes are atomic (temp file in the same directory, fsync, rename); ``if_absent``
    publishes with ``link()``, which fails when the name exists, so two writers never
    both succeed.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def url(self) -> str:
        """``file:///path`` of the root."""
        return self.root.absolute().as_uri()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

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
                    self._publish_exclusive(tmp, path, data)
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

    @staticmethod
    def _publish_exclusive(tmp: str, path: Path, data: bytes) -> None:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise PreconditionFailed(f"{path} already exists") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            # No hard links on this filesystem: O_EXCL still guarantees one winner.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise PreconditionFailed(f"{path} already exists") from None
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                os.fsync(fh.fileno())

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every key under ``prefix``, in key order (temp files of unfinished writes skipped).

        Raises:
            StoreError: a directory cannot be read.
        """
        dirs = prefix.split("/")[:-1]
        if any(part in ("", ".", "..") for part in dirs) or prefix.startswith("/"):
            raise StoreError(f"blob prefix {prefix!r}: absolute prefixes, empty, '.' and '..' segments are refused")
        start = self.root.joinpath(*dirs)
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
                    found.append(BlobInfo(key=key, size=os.stat(os.path.join(dirpath, name)).st_size))
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
    url: str, endpoint_url: str | None = None, region: str | None = None, profile: str | None = None,
) -> BlobStore:
    """The blob store at ``url``: ``s3://bucket/prefix`` or ``file:///absolute/path``.

    Raises:
        UsageError: any other URL form.
    """
    if url.startswith("s3://"):
        bucket, prefix = split_s3_url(url)
        if not bucket:
            raise UsageError(f"blob store URL {url!r}: expected a bucket name after s3://")
        return S3Blobs(make_s3_client(endpoint_url=endpoint_url, region=region, profile=profile), bucket, prefix)
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path.startswith("/"):
            raise UsageError(f"blob store URL {url!r}: expected file:///absolute/path (three slashes)")
        return FileBlobs(Path(path))
    raise UsageError(f"blob store URL {url!r}: expected s3://bucket/prefix or file:///absolute/path")
