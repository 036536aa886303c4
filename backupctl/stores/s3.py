"""S3 snapshot store: any S3-compatible service (AWS, MinIO, Ceph, moto) via boto3.

Memory: the listing keeps one aggregate per snapshot folder (object count, bytes, whether
it has a manifest), never every key. Deletion re-lists each folder's keys (ListObjectsV2,
or ListObjectVersions in versioned buckets) right before deleting it: that costs one
request per snapshot, keeps the listing small, sees every version and delete marker, and
also catches objects written after the listing.

Deletion order per snapshot: a deletion journal (``_backupctl/deleting/<run>.json``)
naming the snapshots is written first; then manifest.json is deleted alone (DeleteObject,
per version), then the data in DeleteObjects batches of at most 1000 keys. An interrupted
run leaves folders without a manifest that the journal names; the listing reports them as
an interrupted deletion and the next ``delete`` call finishes them. Incomplete folders that
no journal names (an upload in progress) are never deleted.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backupctl import clock
from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.log import get_logger
from backupctl.s3client import make_s3_client, split_s3_url
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
    JOURNAL_PREFIX,
    MANIFEST,
    FolderScanner,
    KeyTemplate,
    LayoutError,
    ManifestError,
    ManifestRead,
    Outcome,
    apply_outcome,
    build_listing,
    chunks,
    decode_journal,
    encode_journal,
    parse_snapshot_id,
    select_deletions,
)

__all__ = ["S3Store"]

log = get_logger("stores.s3")
_CHUNK = 1 << 20


class RequestCounter:
    """Counts S3 API calls by operation (one per call; botocore retries are not counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def install(self, client: Any) -> None:
        """Hook ``before-call.s3`` of ``client``."""
        client.meta.events.register("before-call.s3", self._on_call)

    def _on_call(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.counts[model.name if model is not None else "?"] += 1

    def mark(self) -> Counter[str]:
        """A copy of the counts now, for :meth:`since`."""
        with self._lock:
            return Counter(self.counts)

    def since(self, mark: Counter[str]) -> dict[str, int]:
        """Calls by operation made after ``mark``."""
        with self._lock:
            return {op: n - mark[op] for op, n in sorted(self.counts.items()) if n - mark[op]}


def add_content_md5(request: Any, **_: Any) -> None:
    """botocore ``before-sign`` hook: set Content-MD5 (base64 MD5 of the XML body)."""
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes | bytearray):
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def s3_error(exc: Exception) -> str:
    """A one-line description of a boto3 error: ``S3 <Code>: <message>``."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"S3 {err.get('Code', '?')}: {err.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class _Obj:
    key: str
    version: str | None
    size: int
    latest: bool = True
    marker: bool = False


class S3Store:
    """The :class:`~backupctl.stores.base.Store` for ``s3://bucket/prefix``."""

    def __init__(self, config: Config, client: Any | None = None, workers: int = 8) -> None:
        """Build from a config; ``client`` overrides the boto3 client (tests).

        Raises:
            ConfigError: the key template is unusable.
        """
        self.config = config
        self.url = config.store.url
        self.bucket, self.prefix = split_s3_url(self.url)
        try:
            self.template = KeyTemplate.compile(config.store.key_template)
        except LayoutError as exc:
            raise ConfigError(config.path, [f"store.key_template: {exc}"]) from None
        sc = config.store
        self.client = client or make_s3_client(sc.endpoint_url, sc.region, sc.profile)
        self.counter = RequestCounter()
        self.counter.install(self.client)
        if sc.content_md5:
            self.client.meta.events.register("before-sign.s3.DeleteObjects", add_content_md5)
        self.groups = {p.group for p in config.policies}
        self.workers = workers

    # ----------------------------------------------------------------- listing

    @contextmanager
    def _store_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.url}: {what} failed: {s3_error(exc)}") from None

    def _iter_keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key relative to the store prefix, size)`` of every object under ``prefix``, page by page."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with self._store_errors(f"listing s3://{self.bucket}/{prefix}"):
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield obj["Key"][len(self.prefix):], int(obj["Size"])

    def list(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown key under the prefix.

        Raises:
            StoreError: the bucket cannot be listed.
        """
        mark = self.counter.mark()
        scanner = FolderScanner(self.template, self.groups).add_all(self._iter_keys(self.prefix))
        folders = [f for f, agg in scanner.folders.items() if agg.has_manifest]
        reads: builtins.list[ManifestRead] = self._parallel(self._read_manifest, folders)
        manifests = dict(zip(folders, reads, strict=True))
        interrupted = self._journal_ids(scanner.journals)
        listing = build_listing(scanner, manifests, self.config.timezone, interrupted)
        listing.requests = self.counter.since(mark)
        log.debug("listed", url=self.url, snapshots=len(listing.snapshots), incomplete=len(listing.incomplete),
                  unknown=len(listing.unknown), requests=listing.requests)
        return listing

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        """Complete and held snapshots of every configured group."""
        return self.list().snapshots

    def _parallel(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> builtins.list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(fn, items))

    def _read_manifest(self, folder: str) -> ManifestRead:
        key = self.prefix + folder + MANIFEST
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            data = resp["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            return ManifestRead(None, error=s3_error(exc))
        return ManifestRead(data, held=_held_reason(resp, clock.now()))

    def _journal_ids(self, journal_keys: Sequence[str]) -> set[str]:
        ids: set[str] = set()
        for key in journal_keys:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
                ids.update(decode_journal(body))
            except (ClientError, BotoCoreError, ManifestError) as exc:
                log.warning("unreadable deletion journal", key=key, error=str(exc))
        return ids

    # ----------------------------------------------------------------- delete

    def delete(
        self, snapshots: Sequence[StoredSnapshot], progress: Callable[[int], None] | None = None,
    ) -> DeleteReport:
        """Delete these snapshots, manifest first, and finish deletions a journal names.

        Held snapshots are reported, not touched; incomplete ones are deleted only when a
        deletion journal names them (an earlier interrupted prune). ``progress`` is called
        with 1 per snapshot done.

        Raises:
            StoreError: the journal cannot be read or written (nothing deleted then).
        """
        mark = self.counter.mark()
        report = DeleteReport()
        journals = [k for k, _ in self._iter_keys(self.prefix + JOURNAL_PREFIX) if k.endswith(".json")]
        pending = self._journal_ids(journals)
        todo = select_deletions(snapshots, pending, report)
        if todo:
            run_key = self._write_journal(todo, journals)
            versioned = self.config.store.delete_versions and self._versioned()
            unfinished = self._run_deletes(todo, versioned, report, progress)
            with self._store_errors("updating the deletion journal"):
                if unfinished:
                    self._put(run_key, encode_journal(unfinished, run_key, clock.now()))
                else:
                    self.client.delete_object(Bucket=self.bucket, Key=self.prefix + run_key)
        report.requests = self.counter.since(mark)
        return report

    def _write_journal(self, todo: dict[str, bool], old_journals: Sequence[str]) -> str:
        now = clock.now()
        run_key = f"{JOURNAL_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}.json"
        with self._store_errors("writing the deletion journal"):
            self._put(run_key, encode_journal(todo, run_key, now))
            for key in old_journals:  # their ids are in the new journal now
                self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        return run_key

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data,
                               ContentType="application/json")

    def _versioned(self) -> bool:
        with self._store_errors("reading the bucket's versioning"):
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        return status in ("Enabled", "Suspended")

    def _run_deletes(
        self, todo: dict[str, bool], versioned: bool, report: DeleteReport, progress: Callable[[int], None] | None,
    ) -> builtins.list[str]:
        unfinished: builtins.list[str] = []
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(self._delete_one, sid, asked, versioned): sid for sid, asked in todo.items()}
            for fut in as_completed(futures):
                sid = futures[fut]
                out = fut.result()
                apply_outcome(report, sid, out)
                if out.unfinished:
                    unfinished.append(sid)
                if progress is not None:
                    progress(1)
        report.deleted.sort()
        return unfinished

    def _delete_one(self, sid: str, asked: bool, versioned: bool) -> Outcome:
        group, t = parse_snapshot_id(sid)
        folder = self.prefix + self.template.folder(group, t)
        try:
            objs = self._folder_objects(folder, versioned)
        except (ClientError, BotoCoreError) as exc:
            return Outcome("failed", f"listing {folder} failed: {s3_error(exc)}", unfinished=not asked)
        manifest_key = folder + MANIFEST
        manifest = [o for o in objs if o.key == manifest_key]
        data = [o for o in objs if o.key != manifest_key]
        has_manifest = any(o.latest and not o.marker for o in manifest)
        if not objs:
            return Outcome("skipped")
        if not asked and has_manifest:
            return Outcome("skipped")  # the journal's entry is stale: a complete snapshot is not ours to finish
        if asked and not has_manifest:
            return Outcome("failed", "manifest.json disappeared since the listing; left alone")
        freed = 0
        for o in manifest:
            err = self._delete_single(o)
            if err is not None:
                # journalled either way: the outcome may be unknown (reset after the server applied it)
                return self._refused(o, err, freed, unfinished=True)
            freed += o.size
        for batch in chunks(data):
            try:
                errors = self._delete_batch(batch)
            except (ClientError, BotoCoreError) as exc:
                return Outcome("failed", f"DeleteObjects in {folder}: {s3_error(exc)}", freed, unfinished=True)
            failed = [o for o in batch if any(_is_error_for(o, e) for e in errors)]
            freed += sum(o.size for o in batch) - sum(o.size for o in failed)
            if errors:
                _, _, code, message = errors[0]
                obj = next((o for o in failed if _is_error_for(o, errors[0])), batch[0])
                return self._refused(obj, (code, message), freed, unfinished=True)
        return Outcome("deleted", bytes=freed)

    def _folder_objects(self, folder: str, versioned: bool) -> builtins.list[_Obj]:
        if not versioned:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder)
            return [_Obj(o["Key"], None, int(o["Size"])) for p in pages for o in p.get("Contents", ())]
        out: builtins.list[_Obj] = []
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=folder):
            out += [_Obj(v["Key"], v["VersionId"], int(v.get("Size", 0)), bool(v.get("IsLatest")))
                    for v in page.get("Versions", ())]
            out += [_Obj(m["Key"], m["VersionId"], 0, bool(m.get("IsLatest")), marker=True)
                    for m in page.get("DeleteMarkers", ())]
        # newest first per key, so the current version of the manifest goes first
        return sorted(out, key=lambda o: not o.latest)

    def _delete_single(self, o: _Obj) -> tuple[str, str] | None:
        kwargs = {"VersionId": o.version} if o.version else {}
        try:
            self.client.delete_object(Bucket=self.bucket, Key=o.key, **kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            return str(err.get("Code", "?")), str(err.get("Message", ""))
        except BotoCoreError as exc:
            return type(exc).__name__, str(exc)
        return None

    def _delete_batch(self, batch: Sequence[_Obj]) -> builtins.list[tuple[str, str | None, str, str]]:
        """One DeleteObjects; the per-key errors as (key, version or None, code, message)."""
        objects = [{"Key": o.key, **({"VersionId": o.version} if o.version else {})} for o in batch]
        resp = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        return [(e.get("Key", ""), e.get("VersionId") or None, e.get("Code", "?"), e.get("Message", ""))
                for e in resp.get("Errors", ())]

    def _refused(self, o: _Obj, err: tuple[str, str], freed: int, unfinished: bool) -> Outcome:
        code, message = err
        if code == "AccessDenied":
            held = self._hold_of(o)
            if held is not None or "object lock" in message.lower():
                return Outcome("held", held or f"{o.key}: Object Lock ({message})", freed, unfinished)
        return Outcome("failed", f"S3 {code} on {o.key}: {message}".rstrip(": "), freed, unfinished)

    def _hold_of(self, o: _Obj) -> str | None:
        """Why ``o`` is protected (HeadObject's Object Lock headers), or None."""
        kwargs = {"VersionId": o.version} if o.version else {}
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=o.key, **kwargs)
        except (ClientError, BotoCoreError):
            return None
        reason = _held_reason(resp, clock.now())
        return f"{o.key}: {reason}" if reason else None

    # ----------------------------------------------------------------- integrity, restore

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> builtins.list[IntegrityProblem]:
        """Re-read every manifest object (streaming sha256) and report size, hash and missing objects."""
        tasks: builtins.list[tuple[str, str, ManifestEntry]] = []
        problems: builtins.list[IntegrityProblem] = []
        for s in snapshots:
            folder = self._folder_of(s)
            if s.manifest is None:
                problems.append(IntegrityProblem(s.snapshot.id, folder + MANIFEST,
                                                 s.problem or "no manifest: nothing to check against"))
                continue
            tasks += [(s.snapshot.id, folder, e) for e in s.manifest]
        for sid, folder, e, problem in self._parallel(self._check_object, tasks):
            if problem:
                problems.append(IntegrityProblem(sid, folder + e.key, problem))
        return problems

    def _folder_of(self, s: StoredSnapshot) -> str:
        group, t = parse_snapshot_id(s.snapshot.id)
        return self.prefix + self.template.folder(group, t)

    def _check_object(self, task: tuple[str, str, ManifestEntry]) -> tuple[str, str, ManifestEntry, str | None]:
        sid, folder, e = task
        h = hashlib.sha256()
        n = 0
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=folder + e.key)["Body"]
            for chunk in body.iter_chunks(_CHUNK):
                h.update(chunk)
                n += len(chunk)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            return sid, folder, e, "missing" if code in ("NoSuchKey", "404") else s3_error(exc)
        except BotoCoreError as exc:
            return sid, folder, e, s3_error(exc)
        if n != e.size:
            return sid, folder, e, f"size {n} != manifest {e.size}"
        if h.hexdigest() != e.sha256:
            return sid, folder, e, f"sha256 mismatch: manifest {e.sha256[:12]}…, object {h.hexdigest()[:12]}…"
        return sid, folder, e, None

    def restore(
        self, snapshot: StoredSnapshot, target: Path, *, workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreOutcome:
        """Download the manifest's objects into ``target`` in parallel (no verification).

        Raises:
            StoreError: the snapshot has no manifest.
        """
        if snapshot.manifest is None:
            raise StoreError(f"{self.url}: snapshot {snapshot.snapshot.id} has no manifest to restore from")
        folder = self._folder_of(snapshot)
        lock = threading.Lock()

        def fetch(e: ManifestEntry) -> tuple[int, str | None]:
            def advance(n: int) -> None:
                if progress is not None:
                    with lock:
                        progress(n)
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=folder + e.key)["Body"]
                return _write_stream(target, e.key, body.iter_chunks(_CHUNK), advance), None
            except (ClientError, BotoCoreError, OSError) as exc:
                return 0, f"{folder}{e.key}: {s3_error(exc) if not isinstance(exc, OSError) else exc}"

        target.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(fetch, snapshot.manifest))
        problems = tuple(p for _, p in results if p)
        return RestoreOutcome(bytes=sum(n for n, _ in results), files=sum(1 for _, p in results if not p),
                              problems=problems)

    def blobs(self) -> BlobStore:
        """The blob store beside the backups (same bucket and prefix) for the lock and audit log."""
        from backupctl.blobs import S3Blobs

        blobs: BlobStore = S3Blobs(self.client, self.bucket, self.prefix)
        return blobs


def _is_error_for(o: _Obj, error: tuple[str, str | None, str, str]) -> bool:
    """Whether a DeleteObjects <Error> names ``o`` (some services omit the VersionId)."""
    key, version = error[0], error[1]
    return o.key == key and (version is None or version == o.version)


def _held_reason(resp: dict[str, Any], now: datetime) -> str | None:
    """'legal hold' / 'held until … (MODE)' from a GetObject/HeadObject response, or None."""
    parts = []
    if resp.get("ObjectLockLegalHoldStatus") == "ON":
        parts.append("legal hold")
    until = resp.get("ObjectLockRetainUntilDate")
    if isinstance(until, datetime) and until > now:
        parts.append(f"held until {until.isoformat()} ({resp.get('ObjectLockMode', 'retention')})")
    return "; ".join(parts) or None


def _write_stream(target: Path, key: str, chunks_: Iterator[bytes], advance: Callable[[int], None]) -> int:
    """Write chunks to ``target/key`` (refusing paths outside ``target``); the bytes written."""
    dest = (target / key).resolve()
    if not dest.is_relative_to(target.resolve()):
        raise OSError(f"refusing to write outside the restore target: {key}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(dest, "wb") as f:
        for chunk in chunks_:
            f.write(chunk)
            n += len(chunk)
            advance(len(chunk))
    return n
