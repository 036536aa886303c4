"""The producer behind ``backupctl backup``: upload files, trees or a stream as one snapshot.

A :class:`Producer` collects :class:`Source` items (files found by :func:`walk_paths`, or a
stream such as standard input), uploads them through a :class:`SnapshotWriter` (S3 or a
directory), hashing each object's sha256 while it streams, and writes ``manifest.json`` last.
Every write is conditional (``If-None-Match: *`` on PutObject and CompleteMultipartUpload on
S3, a temp file published with ``link()`` on a file store). So:

* an existing snapshot (a manifest, or any object already in the folder) is never touched: the
  folder is checked before any data is written, and each object's conditional write settles a
  race with another writer of the same group and time: the first object found already there
  stops the run before its manifest (:class:`SnapshotExists`, exit 4), no object is replaced;
* a failure before the manifest leaves an incomplete folder (no manifest), which plan shows as
  incomplete and prune never deletes; :class:`IncompleteSnapshot` says so (exit 1).

Memory stays bounded: an object is read in parts of ``part_size`` bytes, at most
``max_parts_in_flight`` parts are held at once across every upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from backupctl.errors import SafetyRefusal, StoreError, UsageError
from backupctl.files import publish_new
from backupctl.stores.base import PreconditionFailed
from backupctl.stores.layout import MANIFEST

__all__ = [
    "DEFAULT_MULTIPART_THRESHOLD",
    "DEFAULT_PART_SIZE",
    "BackupResult",
    "FileSnapshotWriter",
    "IncompleteSnapshot",
    "ObjectExists",
    "Producer",
    "S3SnapshotWriter",
    "SnapshotExists",
    "SnapshotWriter",
    "Source",
    "check_object_key",
    "walk_paths",
]

DEFAULT_PART_SIZE = 8 << 20  # S3's minimum part is 5 MiB; 8 MiB is what the aws CLI uses
DEFAULT_WORKERS = 8  # data requests in flight at once (the aws CLI: 10)
# a file smaller than this goes up in one PutObject, streamed from the file: AWS's guidance is
# to consider multipart uploads from 100 MB (rclone's upload_cutoff: 200 MiB). One request
# instead of a part per 8 MiB plus two, and S3 keeps a whole-object CRC32 that verify and drill
# compare, where a multipart upload leaves only a composite of the parts' checksums
DEFAULT_MULTIPART_THRESHOLD = 100 << 20
MAX_SINGLE_PUT = 5 << 30  # S3's limit for one PutObject
_PART_CHECKSUM = "CRC32"  # what each part of a multipart upload is checked with by S3
_MAX_PARTS = 10_000  # S3's limit per multipart upload


class SnapshotExists(SafetyRefusal):
    """The snapshot's folder already holds a manifest or objects: nothing was overwritten (4)."""


class IncompleteSnapshot(StoreError):
    """The upload failed before the manifest: the folder is incomplete (exit 1)."""


class ObjectExists(PreconditionFailed):
    """A data object's conditional write found its key already there (another writer of the
    same snapshot): nothing was written at that key. ``str()`` names the object."""


@dataclass(frozen=True)
class Source:
    """One object to upload: its key relative to the snapshot folder and how to open it.

    ``size`` is the expected size when known (files), None for a stream.
    """

    key: str
    open: Callable[[], AbstractContextManager[IO[bytes]]]
    size: int | None = None


@dataclass(frozen=True)
class Uploaded:
    """A written object: key relative to the folder, bytes and sha256 (hex)."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BackupResult:
    """What ``backup`` wrote: the snapshot id, its UTC time, its objects and how long it took."""

    id: str
    group: str
    time: datetime
    objects: tuple[Uploaded, ...]
    seconds: float
    folder: str = ""

    @property
    def bytes(self) -> int:
        """Total bytes of the data objects (the manifest not counted)."""
        return sum(o.size for o in self.objects)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document: id, group, time (ISO 8601 with offset), objects, bytes,
        seconds."""
        return {
            "id": self.id,
            "group": self.group,
            "time": self.time.astimezone(UTC).isoformat(),
            "objects": len(self.objects),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


class SnapshotWriter(Protocol):
    """Where a snapshot's objects go. Keys are relative to the store's root."""

    def occupied(self, folder: str) -> bool:
        """Whether any key exists under ``folder`` (ends in '/')."""
        ...

    def upload(self, key: str, stream: IO[bytes], progress: Callable[[int], None]) -> Uploaded:
        """Stream ``stream`` to ``key`` only when absent; return its size and sha256 (``key``
        as given); raises :class:`ObjectExists` when the key exists (nothing written)."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` only when absent; raises :class:`PreconditionFailed`."""
        ...


def check_object_key(key: str) -> str | None:
    """Why ``key`` cannot be a data object's key in a snapshot folder, or None.

    The rules are those :func:`backupctl.stores.layout.parse_manifest` applies when reading.
    """
    if not key or key.startswith("/") or "\\" in key or "\0" in key or not key.isprintable():
        return f"{key!r}: expected a relative name without backslash or control characters"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return f"{key!r}: expected no empty, '.' or '..' path segment"
    if key == MANIFEST:
        return f"{key!r}: the name of the snapshot's manifest; rename it"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return f"{key!r}: not valid UTF-8"
    return None


def walk_paths(paths: Sequence[str]) -> list[Source]:
    """The files under ``paths``, each keyed ``<basename of the path>/<path inside it>``.

    Symlinks are never followed: a symlink, FIFO, socket or device (given or found) is refused,
    so a backup never silently misses or leaves the tree. Empty directories hold no object
    and are not recorded. Keys are sorted.

    Raises:
        UsageError: a path that does not exist, a symlink or special file, a name that
            cannot be a key, or two paths with the same basename.
    """
    found: dict[str, Source] = {}
    tops: dict[str, str] = {}

    def add(path: str, key: str, info: os.stat_result) -> None:
        problem = check_object_key(key)
        if problem:
            raise UsageError(f"backup: {path}: cannot be stored as {problem}")

        def opener(p: str = path) -> IO[bytes]:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
            return os.fdopen(fd, "rb")

        found[key] = Source(key, opener, info.st_size)

    def refuse(path: str, info: os.stat_result) -> None:
        what = "a symlink (not followed)" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise UsageError(f"backup: {path} is {what}; expected regular files and directories only")

    for given in paths:
        try:
            info = os.lstat(given)
        except OSError as exc:
            raise UsageError(f"backup: {given}: {exc.strerror or exc}") from None
        top = os.path.basename(os.path.normpath(given))
        if top in ("", ".", "..", "/"):
            top = os.path.basename(os.path.abspath(given))
        if top in tops:
            raise UsageError(
                f"backup: {given} and {tops[top]} would both be stored as {top!r}; "
                "expected paths with different names"
            )
        tops[top] = given
        if stat.S_ISREG(info.st_mode):
            add(given, top, info)
            continue
        if not stat.S_ISDIR(info.st_mode):
            refuse(given, info)

        def on_error(exc: OSError) -> None:
            raise UsageError(f"backup: cannot read {exc.filename}: {exc.strerror or exc}")

        for dirpath, dirs, files in os.walk(given, onerror=on_error, followlinks=False):
            rel = os.path.relpath(dirpath, given)
            prefix = top if rel == "." else f"{top}/{Path(rel).as_posix()}"
            for name in sorted(dirs):
                full = os.path.join(dirpath, name)
                sub = os.lstat(full)
                if not stat.S_ISDIR(sub.st_mode):
                    refuse(full, sub)  # a symlink to a directory
            for name in sorted(files):
                full = os.path.join(dirpath, name)
                sub = os.lstat(full)
                if not stat.S_ISREG(sub.st_mode):
                    refuse(full, sub)
                add(full, f"{prefix}/{name}", sub)
    return [found[k] for k in sorted(found)]


@dataclass
class _Budget:
    """A count of part buffers that may be held at once (shared by every upload)."""

    limit: int
    _sem: threading.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._sem = threading.BoundedSemaphore(max(1, self.limit))

    def acquire(self) -> None:
        self._sem.acquire()

    def release(self) -> None:
        self._sem.release()


def _read_full(stream: IO[bytes], n: int) -> bytes:
    """Up to ``n`` bytes; shorter only at end of stream (pipes return short reads)."""
    chunks = []
    left = n
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class S3SnapshotWriter:
    """Objects in ``bucket`` under ``prefix`` via a boto3 client: one PutObject for a file
    smaller than ``multipart_threshold`` (streamed from the file) or a stream shorter than
    ``part_size`` (held in memory), else a multipart upload whose parts go up in parallel."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = DEFAULT_PART_SIZE,
        workers: int = DEFAULT_WORKERS,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    ) -> None:
        self.client, self.bucket = client, bucket
        stripped = prefix.strip("/")
        self.prefix = stripped + "/" if stripped else ""
        self.part_size = part_size
        self.multipart_threshold = min(multipart_threshold, MAX_SINGLE_PUT)
        self._parts = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="part")
        self._budget = _Budget(2 * max(1, workers))
        # the requests carrying data in flight at once, whether a small object's PutObject or
        # a part: one number, as the aws CLI's max_concurrent_requests (object threads and
        # part threads would otherwise add up, past the client's connection pool)
        self._inflight = threading.BoundedSemaphore(max(1, workers))

    def close(self) -> None:
        """Stop the part threads."""
        self._parts.shutdown(wait=True)

    def _error(self, op: str, key: str, exc: Exception) -> StoreError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            return StoreError(
                f"S3 {op} s3://{self.bucket}/{key} failed: {err.get('Code', '?')} "
                f"{err.get('Message', '')}".rstrip()
            )
        return StoreError(f"S3 {op} s3://{self.bucket}/{key} failed: {exc}")

    def occupied(self, folder: str) -> bool:
        """Whether any key exists under ``folder``.

        Raises:
            StoreError: the listing failed.
        """
        full = self.prefix + folder
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, MaxKeys=1)
        except Exception as exc:
            raise self._error("ListObjectsV2", full, exc) from None
        return bool(page.get("Contents"))

    def upload(self, key: str, stream: IO[bytes], progress: Callable[[int], None]) -> Uploaded:
        """Stream to ``key`` only when absent, hashing as it goes: a PutObject, or the
        CompleteMultipartUpload of a multipart upload, with ``If-None-Match: *``.

        Raises:
            ObjectExists: the key exists (412; a multipart upload is aborted, nothing written).
            StoreError: another S3 failure (a started multipart upload is aborted).
        """
        full = self.prefix + key
        size = _file_size(stream)
        if size is not None and self.part_size <= size < self.multipart_threshold:
            return self._put_file(key, full, stream, size, progress)
        digest = hashlib.sha256()
        self._budget.acquire()
        try:
            first = _read_full(stream, self.part_size)
        except BaseException:
            self._budget.release()
            raise
        digest.update(first)
        if len(first) < self.part_size:
            try:
                with self._inflight:
                    self.client.put_object(
                        Bucket=self.bucket, Key=full, Body=first, IfNoneMatch="*"
                    )
            except Exception as exc:
                raise self._conflict_or_error("PutObject", full, exc) from None
            finally:
                self._budget.release()
            progress(len(first))
            return Uploaded(key, len(first), digest.hexdigest())
        try:
            # CRC32 per part, as the aws CLI asks: S3 then keeps a composite checksum (of the
            # parts' checksums) instead of one over the whole object; moto, without it, copies
            # and checksums the whole object again on completion (1.8x the time, measured)
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, ChecksumAlgorithm=_PART_CHECKSUM
            )["UploadId"]
        except Exception as exc:
            self._budget.release()
            raise self._error("CreateMultipartUpload", full, exc) from None
        try:
            size = self._parts_of(full, upload_id, first, stream, digest, progress)
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        return Uploaded(key, size, digest.hexdigest())

    def _put_file(
        self, key: str, full: str, stream: IO[bytes], size: int, progress: Callable[[int], None]
    ) -> Uploaded:
        """One conditional PutObject of ``size`` bytes read from the file ``stream`` as the
        request goes (nothing held in memory), hashed on every pass botocore makes.

        Raises:
            ObjectExists, StoreError: as :meth:`upload`; StoreError too when the file changed
                while it was read (it may then be stored, but no manifest will name it).
        """
        body = _HashedView(stream, size)
        changed = StoreError(f"{key} changed while it was read (expected {size} stable bytes)")
        try:
            with self._inflight:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=body, IfNoneMatch="*")
        except FileChanged:
            raise changed from None
        except Exception as exc:
            raise self._conflict_or_error("PutObject", full, exc) from None
        sha256 = body.sha256()
        if sha256 is None or body.grew():
            raise changed
        progress(size)
        return Uploaded(key, size, sha256)

    def _parts_of(
        self,
        full: str,
        upload_id: str,
        first: bytes,
        stream: IO[bytes],
        digest: Any,
        progress: Callable[[int], None],
    ) -> int:
        futures: list[Future[dict[str, Any]]] = []

        def send(number: int, data: bytes) -> dict[str, Any]:
            try:
                with self._inflight:
                    resp = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumAlgorithm=_PART_CHECKSUM,  # botocore computes it, any config
                    )
            except Exception as exc:
                raise self._error("UploadPart", full, exc) from None
            finally:
                self._budget.release()
            progress(len(data))
            part = {"PartNumber": number, "ETag": resp["ETag"]}
            if resp.get("ChecksumCRC32"):  # S3 wants each part's checksum back on completion
                part["ChecksumCRC32"] = resp["ChecksumCRC32"]
            return part

        size, data, number = 0, first, 1
        try:
            while True:
                size += len(data)
                futures.append(self._parts.submit(send, number, data))
                if len(data) < self.part_size:
                    break
                if number >= _MAX_PARTS:
                    raise StoreError(
                        f"{full}: more than {_MAX_PARTS} parts of {self.part_size} bytes; "
                        "expected a smaller object or a larger part size"
                    )
                self._budget.acquire()
                try:
                    data = _read_full(stream, self.part_size)
                except BaseException:
                    self._budget.release()
                    raise
                if not data:
                    self._budget.release()
                    break
                digest.update(data)
                number += 1
            parts = [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",  # S3 refuses to complete onto an existing key (412)
            )
        except Exception as exc:
            raise self._conflict_or_error("CompleteMultipartUpload", full, exc) from None
        return size

    def _conflict_or_error(self, op: str, full: str, exc: Exception) -> Exception:
        """:class:`ObjectExists` for a conditional write's 412 (or 409
        ConditionalRequestConflict: another conditional write of the key is in progress), else
        :meth:`_error`."""
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return ObjectExists(f"s3://{self.bucket}/{full} already exists")
        return self._error(op, full, exc)

    def put_if_absent(self, key: str, data: bytes) -> None:
        """Conditional PutObject (``If-None-Match: *``).

        Raises:
            PreconditionFailed: the key exists (412).
            StoreError: another S3 failure.
        """
        full = self.prefix + key
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
        except Exception as exc:
            raise self._conflict_or_error("PutObject", full, exc) from None


class FileChanged(OSError):
    """A file read for a streamed upload changed size while it was read."""


def _file_size(stream: IO[bytes]) -> int | None:
    """The bytes left in ``stream`` when it is a regular file, else None (a pipe, a socket)."""
    try:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return max(0, info.st_size - stream.tell())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


class _HashedView:
    """A read-only, seekable view of the next ``size`` bytes of a file, which hashes every
    pass read from its start.

    botocore reads a body more than once (its checksum, the SigV4 payload hash over http, the
    send, a retry's send), each pass from the start. So the sha256 of what was sent is that of
    every whole pass, and passes that differ mean the file changed meanwhile: :meth:`sha256`
    then says None. A read that comes up short (the file shrank) raises :class:`FileChanged`,
    so the request stops at once instead of waiting for bytes that will never come.
    """

    def __init__(self, raw: IO[bytes], size: int) -> None:
        self._raw, self._start, self._size = raw, raw.tell(), size
        self._pos = 0
        self._hash = hashlib.sha256()
        self._hashed = 0  # bytes of this pass hashed, in order from the start
        self._digests: set[str] = set()

    def sha256(self) -> str | None:
        """The hex sha256 every whole pass gave, or None (none did, or two differed)."""
        return next(iter(self._digests)) if len(self._digests) == 1 else None

    def grew(self) -> bool:
        """Whether the file now holds bytes past the view (it grew while it was read)."""
        self._raw.seek(self._start + self._size)
        return bool(self._raw.read(1))

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = min(max(0, base + offset), self._size)
        self._raw.seek(self._start + self._pos)
        if self._pos == 0:  # a new pass
            self._hash, self._hashed = hashlib.sha256(), 0
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        left = self._size - self._pos
        want = left if n is None or n < 0 else min(n, left)
        data = self._raw.read(want) if want else b""
        if len(data) < want:  # a regular file reads short only at its end: it shrank
            raise FileChanged(f"the file ended {left - len(data)} bytes early")
        if self._hashed == self._pos:  # this pass has read every byte so far, in order
            self._hash.update(data)
            self._hashed += len(data)
            if self._hashed == self._size:
                self._digests.add(self._hash.hexdigest())
                self._hashed = self._size + 1  # recorded; later reads of this pass are not
        self._pos += len(data)
        return data


class FileSnapshotWriter:
    """Objects as files under ``root``: each written to a temp file in its directory, fsynced,
    then published with ``link()``, which fails when the name exists (a reader never sees half
    a file, and no file is ever replaced); the manifest likewise."""

    def __init__(self, root: str | Path, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        self.root = Path(root)
        self.part_size = part_size

    def _path(self, key: str) -> Path:
        path = self.root
        for part in key.split("/")[:-1]:
            path = path / part
            if path.is_symlink():
                raise StoreError(f"{path} is a symlink (backupctl never makes one): not followed")
        return path / key.split("/")[-1]

    def close(self) -> None:
        """Nothing to release."""

    def occupied(self, folder: str) -> bool:
        """Whether the folder exists with anything in it."""
        path = self._path(folder.rstrip("/"))
        try:
            return any(path.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return path.exists()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None

    def upload(self, key: str, stream: IO[bytes], progress: Callable[[int], None]) -> Uploaded:
        """Copy ``stream`` to ``key`` atomically and only when absent, hashing as it goes.

        Raises:
            ObjectExists: something exists at ``key`` (nothing replaced; the temp file goes).
            StoreError: the file cannot be written.
        """
        path = self._path(key)
        digest, size = hashlib.sha256(), 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".backupctl-tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := stream.read(self.part_size):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        progress(len(chunk))
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    publish_new(tmp, path)
                except FileExistsError:
                    raise ObjectExists(f"{path} already exists") from None
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
        return Uploaded(key, size, digest.hexdigest())

    def put_if_absent(self, key: str, data: bytes) -> None:
        """Publish ``data`` at ``key`` only when absent (see :class:`FileBlobs`).

        Raises:
            PreconditionFailed: the key exists. StoreError: it cannot be written.
        """
        from backupctl.stores.blobs import FileBlobs

        FileBlobs(self.root).put(key, data, if_absent=True)


class Producer:
    """Uploads sources as the snapshot ``group``/``time`` in ``folder`` through ``writer``.

    ``workers`` objects go up at once (each S3 object's parts in parallel besides).
    """

    def __init__(self, writer: SnapshotWriter, *, workers: int = DEFAULT_WORKERS) -> None:
        self.writer = writer
        self.workers = max(1, workers)

    def run(
        self,
        sources: Sequence[Source],
        *,
        group: str,
        time_utc: datetime,
        folder: str,
        snapshot_id: str,
        progress: Callable[[int], None] = lambda _n: None,
    ) -> BackupResult:
        """Check the folder is free, upload every source (each only where its key is absent),
        then write the manifest.

        Raises:
            SnapshotExists: the folder already holds objects or a manifest (nothing written),
                or an object's key was taken meanwhile (another run of the same snapshot):
                the run stops there, writes no manifest and replaces nothing.
            IncompleteSnapshot: an upload failed; the folder has no manifest.
            UsageError: a file changed size while it was read.
        """
        started = time.monotonic()
        where = f"{snapshot_id} ({folder})"
        if self.writer.occupied(folder):
            raise SnapshotExists(
                f"backup: snapshot {where} already exists; nothing was written "
                "(expected a new --time or group)"
            )
        lock = threading.Lock()
        stop = threading.Event()  # set by the first failure: the objects not started are not

        def advance(n: int) -> None:
            with lock:
                progress(n)

        def one(src: Source) -> Uploaded | None:
            if stop.is_set():
                return None
            try:
                return upload(src)
            except BaseException:
                stop.set()
                raise

        def upload(src: Source) -> Uploaded:
            with src.open() as stream:
                up = self.writer.upload(folder + src.key, stream, advance)
            if src.size is not None and up.size != src.size:
                raise StoreError(
                    f"{src.key} changed size while it was read ({src.size} -> {up.size})"
                )
            return Uploaded(src.key, up.size, up.sha256)

        done: list[Uploaded] = []
        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="obj") as pool:
                done = [up for up in pool.map(one, sources) if up is not None]
        except ObjectExists as exc:
            raise SnapshotExists(
                f"backup: {exc}: another run is writing snapshot {where}; stopped before "
                f"{MANIFEST}, nothing overwritten (expected a new --time or group)"
            ) from None
        except (StoreError, OSError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise IncompleteSnapshot(
                f"backup: {detail}; snapshot {where} is incomplete (no {MANIFEST}): plan shows "
                "it as incomplete and prune never deletes it"
            ) from None
        manifest = encode_manifest(group, time_utc, done)
        try:
            self.writer.put_if_absent(folder + MANIFEST, manifest)
        except PreconditionFailed:
            raise SnapshotExists(
                f"backup: snapshot {where} was written by another run at the same time; its "
                f"{MANIFEST} was kept, nothing overwritten"
            ) from None
        except StoreError as exc:
            raise IncompleteSnapshot(
                f"backup: {exc}; snapshot {where} is incomplete (no {MANIFEST})"
            ) from None
        return BackupResult(
            snapshot_id, group, time_utc, tuple(done), time.monotonic() - started, folder
        )


def encode_manifest(group: str, time_utc: datetime, objects: Iterable[Uploaded]) -> bytes:
    """``manifest.json`` bytes in the layout contract (version 1)."""
    doc = {
        "version": 1,
        "group": group,
        "time": time_utc.astimezone(UTC).isoformat(),
        "objects": [{"key": o.key, "size": o.size, "sha256": o.sha256} for o in objects],
    }
    return json.dumps(doc, indent=1).encode()


def stdin_source(name: str, stream: IO[bytes]) -> Source:
    """A source reading ``stream`` (standard input) as the object ``name``.

    Raises:
        UsageError: ``name`` cannot be a key.
    """
    problem = check_object_key(name)
    if problem:
        raise UsageError(f"backup: --name {problem}")

    @contextlib.contextmanager
    def _noclose() -> Iterator[IO[bytes]]:
        yield stream

    return Source(name, _noclose, None)
