"""S3 snapshot store: any S3-compatible service (AWS, MinIO, Ceph, moto) via boto3.

Memory: the listing keeps one aggregate per snapshot folder (object count, bytes, whether
it has a manifest, an order-free digest of its key names), never every key, plus the
validated manifests (so it grows with the objects of complete snapshots).

Deletion (unversioned buckets): a deletion journal (``_backupctl/deleting/<run>.json``)
naming the snapshots is written first; then each snapshot's manifest.json goes before any of
its data, in DeleteObjects batches of at most 1000 keys: the manifests in full batches first,
the last manifest batch topped up with data of snapshots whose manifest is already gone, then
the rest of the data packed across snapshots. The data keys come from the manifests when the
listing saw exactly the manifest's objects in the folder (count and digest), else from a
listing of that folder: no ListObjectsV2 at delete time in the common case, and
ceil(N/1000) DeleteObjects for N keys when at least 1000 snapshots go (else one batch of
manifests plus ceil(data/1000)). Versioned buckets (``delete_versions``) go folder by folder:
list every version, the manifest's versions alone, then the data. The packing is
:mod:`backupctl.stores.batches` (pure); the journal protocol and the delete checks are
:class:`~backupctl.stores.manifest.ManifestStore`'s.

An interrupted run leaves folders without a manifest that the journal names; the listing
reports them as an interrupted deletion and the next ``delete`` call lists and finishes
them. Incomplete folders that no journal names (an upload in progress) are never deleted.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backupctl import clock
from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import (
    BlobStore,
    DeleteReport,
    FolderFacts,
    Listing,
    ManifestEntry,
    StoredSnapshot,
    key_digest,
)
from backupctl.stores.batches import (
    MALFORMED,
    MAX_DELETE_BATCH,
    Refusal,
    manifest_rounds,
    pack,
    send_splitting,
    split_sendable,
    take,
)
from backupctl.stores.cache import CachedManifest, open_cache, store_identity
from backupctl.stores.layout import (
    INTERNAL_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    MAX_JOURNAL_BYTES,
    MAX_MANIFEST_BYTES,
    FolderAgg,
    FolderScanner,
    LayoutError,
    ManifestRead,
    Outcome,
    apply_outcome,
    build_listing,
)
from backupctl.stores.manifest import UNREFERENCED, ManifestStore, ReadProblem, folder_refusal
from backupctl.stores.s3client import make_s3_client, split_s3_url

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


def whole_object_checksums(resp: Mapping[str, Any]) -> dict[str, str]:
    """The SHA256 and CRC32 (base64) of an object's whole bytes from a HeadObject or
    GetObject response with ``ChecksumMode=ENABLED``, either or none.

    Left out: a multipart upload's composite checksum, the checksum of the parts' checksums,
    which is none of the bytes'. AWS marks it ``…-N`` and ``ChecksumType = COMPOSITE``; moto
    marks it neither, so a multipart ETag (``…-N``) without ``FULL_OBJECT`` counts as one.
    """
    kind = resp.get("ChecksumType")
    if kind == "COMPOSITE" or ("-" in str(resp.get("ETag", "")) and kind != "FULL_OBJECT"):
        return {}
    found = {algo: resp.get(f"Checksum{algo}") for algo in ("SHA256", "CRC32")}
    return {k: v for k, v in found.items() if isinstance(v, str) and v and "-" not in v}


class S3Store(ManifestStore):
    """The :class:`~backupctl.stores.base.Store` for ``s3://bucket/prefix``."""

    single_objects = True

    def __init__(self, config: Config, client: Any | None = None, workers: int = 8) -> None:
        """Build from a config; ``client`` overrides the boto3 client (tests).

        Raises:
            ConfigError: the key template is unusable.
        """
        super().__init__(config)
        self.bucket, self.prefix = split_s3_url(self.url)
        sc = config.store
        self.client = client or make_s3_client(sc.endpoint_url, sc.region, sc.profile)
        self.counter = RequestCounter()
        self.counter.install(self.client)
        self.cache = open_cache(
            config.cache, store_identity("s3", sc.endpoint_url, self.bucket, self.prefix)
        )
        if sc.content_md5:
            self.client.meta.events.register("before-sign.s3.DeleteObjects", add_content_md5)
        self.listing_prefixes: list[str] | None = None  # None: list every key
        if sc.listing == "folders":
            try:
                self.listing_prefixes = sorted(
                    {self.template.listing_prefix(g) for g in self.groups}
                )
            except LayoutError as exc:
                raise ConfigError(config.path, [f"store.listing = 'folders': {exc}"]) from None
        self.workers = workers
        self.delete_workers = workers  # versioned buckets: folders deleted at once
        self.batch_size = MAX_DELETE_BATCH  # keys per DeleteObjects (smaller only in tests)

    # ----------------------------------------------------------------- listing

    @contextmanager
    def _store_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.url}: {what} failed: {s3_error(exc)}") from None

    def _iter_keys(
        self,
        prefix: str,
        times: dict[str, datetime] | None = None,
        etags: dict[str, str] | None = None,
    ) -> Iterator[tuple[str, int]]:
        """``(key relative to the store prefix, size)`` of every object under ``prefix``, page
        by page; each key's LastModified goes into ``times`` and each manifest.json's ETag
        into ``etags`` (when given: the same requests)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        with self._store_errors(f"listing s3://{self.bucket}/{prefix}"):
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(self.prefix) :]
                    if times is not None and isinstance(obj.get("LastModified"), datetime):
                        times[key] = obj["LastModified"]
                    if etags is not None and _is_manifest_key(key):
                        etag = obj.get("ETag")
                        if isinstance(etag, str) and etag:
                            etags[key] = etag
                    yield key, int(obj["Size"])

    def listing(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown key under the prefix.

        Raises:
            StoreError: the bucket cannot be listed.
        """
        mark = self.counter.mark()
        if self.listing_prefixes is not None:
            listing = self._list_folders_mode(self.listing_prefixes)
        else:  # one listing of every key under the prefix, the manifests read
            listing = super().listing()
        listing.requests = self.counter.since(mark)
        log.debug(
            "listed",
            url=self.url,
            snapshots=len(listing.snapshots),
            incomplete=len(listing.incomplete),
            unknown=len(listing.unknown),
            requests=listing.requests,
        )
        return listing

    def _keys(self) -> Iterator[tuple[str, int]]:
        return self._iter_keys(self.prefix)

    def _keys_timed(self, times: dict[str, datetime]) -> Iterator[tuple[str, int]]:
        """As :meth:`_keys`, noting each key's LastModified (same requests)."""
        return self._iter_keys(self.prefix, times)

    def _keys_tagged(
        self, times: dict[str, datetime], etags: dict[str, str]
    ) -> Iterator[tuple[str, int]]:
        """As :meth:`_keys_timed`, noting each manifest.json's ETag (same requests)."""
        return self._iter_keys(self.prefix, times, etags)

    def _list_folders_mode(self, prefixes: Sequence[str]) -> Listing:
        """Delimiter listings of the folders that hold snapshot folders (and of the store's top
        level): every snapshot folder's manifest.json is read, and its contents are what the
        manifest names. Keys beside those folders, and unexpected folders, are reported unknown;
        keys inside a snapshot folder are not seen (see docs/stores.md)."""
        scanner = FolderScanner(self.template, self.groups)
        has_internal = False
        for where in ["", *(p for p in prefixes if p)]:  # the top level first, always
            for rel, is_folder in self._iter_entries(self.prefix + where):
                m = self.template.match(rel) if is_folder and where in prefixes else None
                if rel == INTERNAL_PREFIX:
                    has_internal = True
                elif (
                    m is not None
                    and not m.rest
                    and m.group in self.groups
                    and self.template.listing_prefix(m.group) == where
                ):
                    scanner.folders[rel] = FolderAgg(
                        rel, m.group, m.time, has_manifest=True, note=m.note
                    )
                elif not (is_folder and any(p.startswith(rel) for p in prefixes)):
                    scanner.unknown.append(rel)
                    why = self.template.name_problem(rel) if m is None else None
                    if why is not None:
                        scanner.name_notes[rel] = why
        folders = list(scanner.folders)
        times: dict[str, datetime] = {}  # manifest.json's LastModified, from the same GetObject
        reads = self._read_manifests_conditional(folders, times)
        for folder, read in zip(folders, reads, strict=True):
            scanner.folders[folder].has_manifest = read is not None
        manifests = {f: r for f, r in zip(folders, reads, strict=True) if r is not None}
        self._forget_vanished([f + MANIFEST for f in manifests], prefixes)
        journals = self._read_journals(self._journal_keys() if has_internal else [])
        listing = build_listing(
            scanner, manifests, self.config.timezone, journals, sizes_from_manifests=True
        )
        for s in listing.snapshots:  # the folder holds what its manifest names (by definition)
            names = [e.key for e in s.manifest or ()]
            data = manifests[self.folder(s.snapshot.id)].data or b""
            listing.folders[s.snapshot.id] = FolderFacts(
                len(names) + 1, key_digest([*names, MANIFEST]), len(data)
            )
        # keys_listed stays 0: no whole-prefix listing to reuse, resumed folders are listed
        self._stamp_written(listing, times)
        return listing

    def _journal_keys(self) -> list[str]:
        """The keys of the deletion journals (a listing of ``_backupctl/deleting/``).

        Raises:
            StoreError: the folder cannot be listed.
        """
        return [k for k, _ in self._iter_keys(self.prefix + JOURNAL_PREFIX) if k.endswith(".json")]

    def _iter_entries(self, prefix: str) -> Iterator[tuple[str, bool]]:
        """``(name relative to the store prefix, is a folder)`` of a ``Delimiter='/'`` listing
        of ``prefix``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        with self._store_errors(f"listing s3://{self.bucket}/{prefix}"):
            for page in pages:
                for cp in page.get("CommonPrefixes", ()):
                    yield cp["Prefix"][len(self.prefix) :], True
                for obj in page.get("Contents", ()):
                    yield obj["Key"][len(self.prefix) :], False

    def _read_manifest(self, folder: str, times: dict[str, datetime] | None = None) -> ManifestRead:
        read, _, modified = self._get_manifest(folder)
        if times is not None and modified is not None:
            times[folder] = modified  # one key per folder: safe across threads
        return read

    def _fetch_manifest(self, folder: str) -> tuple[ManifestRead, CachedManifest | None]:
        read, entry, _ = self._get_manifest(folder)
        return read, entry

    def _get_manifest(
        self, folder: str, cached: CachedManifest | None = None
    ) -> tuple[ManifestRead, CachedManifest | None, datetime | None]:
        """GET ``folder``'s manifest.json: the read, the cache entry for it (None when the read
        failed, has no ETag or was cut short) and its LastModified.

        With ``cached``, the GET is conditional (``If-None-Match: <its ETag>``): a 304 means
        the key still exists with that ETag, so the cached bytes are the object's; the Object
        Lock headers and Last-Modified of the 304 are used where it has them, the cached ones
        otherwise. Never raises."""
        key = self.prefix + folder + MANIFEST
        extra = {"IfNoneMatch": cached.etag} if cached is not None else {}
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
            # a larger one is reported, not read whole
            data = resp["Body"].read(MAX_MANIFEST_BYTES + 1)
        except ClientError as exc:
            if cached is not None and _not_modified(exc):
                return self._not_modified(cached, exc)
            return ManifestRead(None, error=s3_error(exc)), None, None
        except BotoCoreError as exc:
            return ManifestRead(None, error=s3_error(exc)), None, None
        modified = resp.get("LastModified")
        modified = modified if isinstance(modified, datetime) else None
        read = ManifestRead(data, held=_held_reason(resp, clock.now()))
        etag = resp.get("ETag")
        if not isinstance(etag, str) or not etag or len(data) > MAX_MANIFEST_BYTES:
            return read, None, modified
        return read, CachedManifest(etag, data, _lock_meta(resp, modified)), modified

    def _not_modified(
        self, cached: CachedManifest, exc: ClientError
    ) -> tuple[ManifestRead, CachedManifest | None, datetime | None]:
        """The read a 304 to a conditional GET of ``cached`` stands for (see _get_manifest)."""
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
        meta = dict(cached.meta)
        fresh = _lock_from_headers(headers)
        if fresh is not None:
            meta.update(fresh)
        modified = _http_date(headers.get("last-modified")) or _iso(meta.get("last_modified"))
        if modified is not None:
            meta["last_modified"] = modified.isoformat()
        entry = CachedManifest(cached.etag, cached.data, meta)
        held = _held_reason(_lock_response(meta), clock.now())
        return ManifestRead(cached.data, held=held), entry, modified

    def _from_cache(self, folder: str, entry: CachedManifest) -> ManifestRead | None:
        """A cached manifest the listing confirmed (key and ETag), with its Object Lock state
        from the cache: a retention date is compared with the clock now; a legal hold (which
        can be lifted at any time without a new ETag) is never taken from the cache: None,
        read again. A lock set after the cached read is not seen here; S3 refuses the delete
        and prune reports the snapshot held (as for a lock set after any listing)."""
        if not _cache_usable(entry):
            return None
        return ManifestRead(entry.data, held=_held_reason(_lock_response(entry.meta), clock.now()))

    def _read_manifests_conditional(
        self, folders: Sequence[str], times: dict[str, datetime]
    ) -> list[ManifestRead | None]:
        """The manifest.json of each of ``folders`` (None: the folder has none) for
        ``listing = "folders"``, whose delimiter listing confirms neither a manifest's key nor
        its ETag: every manifest is requested, a cached one with a conditional GET (a 304
        carries no body: the cached bytes are used), and the cache is updated. LastModified
        goes into ``times``."""
        cache = self.cache
        found = cache.lookup({f + MANIFEST: None for f in folders}) if cache is not None else {}

        def one(folder: str) -> tuple[ManifestRead | None, CachedManifest | None]:
            cached = found.get(folder + MANIFEST)
            read, entry, modified = self._get_manifest(
                folder, cached if cached is not None and _cache_usable(cached) else None
            )
            if modified is not None:
                times[folder] = modified  # one key per folder: safe across threads
            if read.error is not None and read.error.startswith(("S3 NoSuchKey", "S3 404")):
                return None, None
            return read, entry

        results: list[tuple[ManifestRead | None, CachedManifest | None]] = self._parallel(
            one, folders
        )
        if cache is not None:
            cache.put(
                [
                    (f + MANIFEST, e)
                    for f, (_, e) in zip(folders, results, strict=True)
                    if e is not None and found.get(f + MANIFEST) != e
                ]
            )
        return [read for read, _ in results]

    def _read_journal(self, key: str) -> bytes:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            data: bytes = resp["Body"].read(MAX_JOURNAL_BYTES + 1)  # a larger one: refused
        except (ClientError, BotoCoreError) as exc:
            raise ReadProblem(s3_error(exc)) from None
        return data

    # ----------------------------------------------------------------- delete

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        """:meth:`ManifestStore.delete`, with the S3 requests it made in the report.

        Unversioned buckets: every manifest.json of the run goes first (DeleteObjects
        batches), then the data of the snapshots whose manifest is gone, packed across
        snapshots into batches of at most 1000 keys (:meth:`_delete_many`). Versioned buckets
        (with ``delete_versions``) are deleted folder by folder, every version.

        Raises:
            StoreError: the journal cannot be read or written (nothing deleted then).
        """
        mark = self.counter.mark()
        report = super().delete(snapshots, progress, listing)
        report.requests = self.counter.since(mark)
        return report

    def _put_journal(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType="application/json"
        )

    def _remove_journal(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def _journal_errors(self, what: str) -> AbstractContextManager[None]:
        return self._store_errors(what)

    def _versioned(self) -> bool:
        with self._store_errors("reading the bucket's versioning"):
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        return status in ("Enabled", "Suspended")

    # ----------------------------------------------------------------- delete: unversioned, batched

    def _delete_many(
        self,
        todo: dict[str, bool],
        snapshots: Sequence[StoredSnapshot],
        listing: Listing | None,
        report: DeleteReport,
        progress: Callable[[int], None] | None,
    ) -> list[str]:
        """Versioned buckets with ``delete_versions``: folder by folder
        (:meth:`_delete_folder`). Else every snapshot's manifest before any of its data, in as
        few DeleteObjects as that order allows: the rounds of
        :func:`backupctl.stores.batches.schedule`, with the listings a few folders need before
        the last round. Returns the ids to keep journalled (manifest gone or its outcome
        unknown, data left)."""
        if self.template.single:
            return self._delete_single_objects(todo, snapshots, report, progress)
        if self.config.store.delete_versions and self._versioned():
            return super()._delete_many(todo, snapshots, listing, report, progress)
        given = {s.snapshot.id: s for s in snapshots}
        facts = listing.folders if listing is not None else {}
        jobs = [
            self._job(sid, asked, given.get(sid), facts.get(sid)) for sid, asked in todo.items()
        ]
        size = self.batch_size
        head, last = manifest_rounds([j for j in jobs if j.asked], size)
        tally = _Tally(report, progress)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            # The batch order. S3 applies a DeleteObjects in no particular order, so a request
            # never holds a manifest with its own snapshot's data, and a snapshot's data is sent
            # only once the request that deleted its manifest is answered. Round 1: the
            # manifests in full batches. Round 2 (after round 1 is answered): the last, partial
            # manifest batch, topped up with data of round 1's snapshots whose manifest is gone
            # (a refused manifest keeps all its data). Round 3: the rest of the data, packed
            # across snapshots, after listing the folders whose data keys are not known.
            self._run_batches(pool, [_manifest_items(b) for b in head], tally)
            if last:
                pools = [(j, j.data) for b in head for j in b if j.outcome is None and j.data]
                topup, left = take(pools, size - len(last))
                for job, keys in left:
                    job.data = keys
                self._run_batches(pool, [[*_manifest_items(last), *topup]], tally)
            self._list_folders(
                pool,
                [j for j in jobs if j.outcome is None and j.data is None],
                tally,
                listing.keys_listed if listing is not None else 0,
            )
            alive = [j for j in jobs if j.outcome is None]
            rest = [(j, o) for j in alive for o in j.data or ()]
            self._run_batches(pool, pack(rest, size), tally, finish=alive)
        report.deleted.sort()
        for j in jobs:
            if j.outcome is not None and j.outcome.kind == "deleted":
                facts.pop(j.sid, None)
        return [j.sid for j in jobs if j.outcome is None or j.outcome.unfinished]

    def _delete_single_objects(
        self,
        todo: dict[str, bool],
        snapshots: Sequence[StoredSnapshot],
        report: DeleteReport,
        progress: Callable[[int], None] | None,
    ) -> list[str]:
        """Single-object snapshots: each is one key (in a versioned bucket with
        ``delete_versions``, every version of exactly that key), packed across snapshots into
        DeleteObjects of at most ``batch_size`` keys. An id only a journal names is skipped (its
        one key is gone or was never handed over). Then, once those are answered, the digest
        records (``_backupctl/digests/<id>.json``) of the snapshots deleted, by exact key
        (:meth:`_delete_records`). Returns the ids to keep journalled."""
        given = {s.snapshot.id: s for s in snapshots}
        tally = _Tally(report, progress)
        versioned = self.config.store.delete_versions and self._versioned()
        jobs: list[_Job] = []
        for sid, asked in todo.items():
            job = _Job(sid, asked, self.prefix + self.folder(sid))
            snap = given.get(sid)
            if not asked or snap is None:
                tally.finish(job, Outcome("skipped"))
                continue
            if not versioned:
                job.data = [_Obj(job.folder, None, snap.size)]
            else:
                try:  # the listing is by prefix: keep only the key itself, not 'key.part'
                    objs = self._folder_objects(job.folder, True)
                except (ClientError, BotoCoreError) as exc:
                    why = f"listing {job.folder} failed: {s3_error(exc)}"
                    tally.finish(job, Outcome("failed", why))
                    continue
                job.data = [o for o in objs if o.key == job.folder]
            jobs.append(job)
        items = [(j, o) for j in jobs for o in j.data or ()]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for fut in as_completed(
                [pool.submit(self._batch, b) for b in pack(items, self.batch_size)]
            ):
                for job, _, freed, refusal in fut.result():
                    job.freed += freed
                    job.problem = job.problem or refusal
        for job in jobs:
            tally.finish(job, job.result())
        self._delete_records([j.sid for j in jobs if j.outcome and j.outcome.kind == "deleted"])
        report.deleted.sort()
        return [j.sid for j in jobs if j.outcome is None or j.outcome.unfinished]

    def _delete_records(self, sids: Sequence[str]) -> None:
        """Delete the digest records of these deleted single-object snapshots: exactly
        ``<prefix>_backupctl/digests/<id>.json`` each (every version of exactly that key in a
        versioned bucket with ``delete_versions``), in DeleteObjects of at most ``batch_size``
        keys. Only after the objects are gone: a crash in between leaves a record without an
        object, which nothing reads (a missing record is no error either). A record that cannot
        be deleted is logged and left; the snapshot stays deleted."""
        from backupctl.stores.digests import digest_key

        keys = [self.prefix + digest_key(sid) for sid in sids]
        if not keys:
            return
        objs: list[_Obj] = []
        try:
            if self.config.store.delete_versions and self._versioned():
                for key in keys:  # the listing is by prefix: keep only the key itself
                    objs += [o for o in self._folder_objects(key, True) if o.key == key]
            else:
                objs = [_Obj(key, None, 0) for key in keys]
            for batch in pack(objs, self.batch_size):
                for key, _, code, message in self._delete_batch(batch):
                    log.warning("digest record left behind", key=key, code=code, error=message)
        except (ClientError, BotoCoreError, StoreError) as exc:
            log.warning("digest records left behind", error=str(exc), records=len(keys))

    def _job(
        self, sid: str, asked: bool, snap: StoredSnapshot | None, facts: FolderFacts | None
    ) -> _Job:
        """A snapshot to delete; its data keys come from the manifest when the listing saw
        exactly the manifest's objects plus manifest.json in the folder, else from a listing."""
        job = _Job(sid, asked, self.prefix + self.folder(sid))
        if facts is not None:
            job.manifest_size = facts.manifest_size
        manifest = snap.manifest if snap is not None and asked else None
        if manifest is not None and facts and facts.holds_exactly([e.key for e in manifest]):
            job.data = [_Obj(job.folder + e.key, None, e.size) for e in manifest]
        return job

    def _run_batches(
        self,
        pool: ThreadPoolExecutor,
        batches: Sequence[Sequence[_Item]],
        tally: _Tally,
        finish: Sequence[_Job] = (),
    ) -> None:
        """Send these DeleteObjects batches in parallel and fold each answer into its jobs: a
        manifest that stays, or whose outcome is unknown, finishes its job as refused
        (journalled, data untouched); data answers add bytes freed and the first refusal.
        The jobs in ``finish`` are finished as their last batch here is answered."""
        for batch in batches:
            for job in {j for j, o in batch if not _is_manifest(j, o)}:
                job.batches += 1
        for job in finish:
            if job.batches == 0:
                tally.finish(job, job.result())
        for fut in as_completed([pool.submit(self._batch, b) for b in batches]):
            for job, is_manifest, freed, refusal in fut.result():
                job.freed += freed
                if is_manifest:
                    if refusal is not None:
                        tally.finish(job, refusal)
                    continue
                job.problem = job.problem or refusal
                job.batches -= 1
                if job.batches == 0 and job.outcome is None and finish:
                    tally.finish(job, job.result())

    def _batch(self, items: Sequence[_Item]) -> list[tuple[_Job, bool, int, Outcome | None]]:
        """One DeleteObjects over manifests and data keys of one or more snapshots; per
        snapshot and kind (manifest or data) in it: bytes freed and the first refusal or None."""
        groups: dict[tuple[_Job, bool], list[_Obj]] = {}
        for job, o in items:
            groups.setdefault((job, _is_manifest(job, o)), []).append(o)
        try:
            errors = _errors_by_key(self._delete_batch([o for _, o in items]))
        except (ClientError, BotoCoreError) as exc:
            # the server may have applied it (a reset after the answer): journalled, data untouched
            return [
                (
                    j,
                    m,
                    0,
                    Outcome(
                        "failed", f"DeleteObjects in {j.folder}: {s3_error(exc)}", unfinished=True
                    ),
                )
                for j, m in groups
            ]
        out: list[tuple[_Job, bool, int, Outcome | None]] = []
        for (job, is_manifest), objs in groups.items():
            failed = [o for o in objs if o.key in errors]
            freed = sum(o.size for o in objs if o.key not in errors)
            refusal = (
                self._refused(failed[0], errors[failed[0].key], 0, unfinished=True)
                if failed
                else None
            )
            out.append((job, is_manifest, freed, refusal))
        return out

    def _list_folders(
        self, pool: ThreadPoolExecutor, jobs: Sequence[_Job], tally: _Tally, keys_listed: int
    ) -> None:
        """Read from listings the data keys of jobs that have no usable manifest: resumed
        deletions and folders holding more than their manifest names. One ListObjectsV2 per
        folder, or one listing of the whole prefix (``keys_listed`` keys when last listed)
        when that takes fewer requests."""
        if not jobs:
            return
        whole_prefix_pages = -(-keys_listed // 1000) if keys_listed else None
        if whole_prefix_pages is not None and len(jobs) > whole_prefix_pages:
            try:
                found = self._objects_in({j.folder for j in jobs})
                listings: Any = [(j, found.get(j.folder, []), None) for j in jobs]
            except StoreError as exc:
                listings = [(j, [], str(exc)) for j in jobs]
        else:
            listings = pool.map(self._try_folder_objects, jobs)
        for job, objs, error in listings:
            if error is not None:
                tally.finish(job, Outcome("failed", error, job.freed, unfinished=True))
            elif any(o.key == job.folder + MANIFEST for o in objs):
                why = "manifest.json reappeared after its deletion; left alone"
                tally.finish(
                    job, Outcome("failed", why, job.freed) if job.asked else Outcome("skipped")
                )
            elif not objs and not job.asked:
                tally.finish(job, Outcome("skipped"))  # nothing left: an earlier run finished it
            else:
                job.data = objs

    def _try_folder_objects(self, job: _Job) -> tuple[_Job, list[_Obj], str | None]:
        try:
            return job, self._folder_objects(job.folder, False), None
        except (ClientError, BotoCoreError) as exc:
            return job, [], f"listing {job.folder} failed: {s3_error(exc)}"

    def _objects_in(self, folders: set[str]) -> dict[str, list[_Obj]]:
        """One listing of the whole prefix: the objects of ``folders`` (full key prefixes).

        Raises:
            StoreError: the listing failed.
        """
        out: dict[str, list[_Obj]] = {}
        for rel, size in self._iter_keys(self.prefix):
            m = self.template.match(rel)
            if m is not None and self.prefix + m.folder in folders:
                out.setdefault(self.prefix + m.folder, []).append(
                    _Obj(self.prefix + rel, None, size)
                )
        return out

    # ----------------------------------------------------------------- delete: versioned

    def _delete_folder(self, sid: str, asked: bool) -> Outcome:
        """One folder of a versioned bucket, every version: list it, delete manifest.json's
        versions one by one, then the data."""
        folder = self.prefix + self.folder(sid)
        try:
            objs = self._folder_objects(folder, True)
        except (ClientError, BotoCoreError) as exc:
            return Outcome(
                "failed", f"listing {folder} failed: {s3_error(exc)}", unfinished=not asked
            )
        manifest_key = folder + MANIFEST
        manifest = [o for o in objs if o.key == manifest_key]
        data = [o for o in objs if o.key != manifest_key]
        has_manifest = any(o.latest and not o.marker for o in manifest)
        refusal = folder_refusal(asked, bool(objs), has_manifest, hidden_manifest=bool(manifest))
        if refusal is not None:
            return refusal
        freed = 0
        for o in manifest:
            err = self._delete_single(o)
            if err is not None:
                # journalled either way: the outcome may be unknown (a reset after the server
                # applied it)
                return self._refused(o, err, freed, unfinished=True)
            freed += o.size
        for batch in pack(data, self.batch_size):
            try:
                errors = self._delete_batch(batch)
            except (ClientError, BotoCoreError) as exc:
                return Outcome(
                    "failed", f"DeleteObjects in {folder}: {s3_error(exc)}", freed, unfinished=True
                )
            failed = [o for o in batch if any(_is_error_for(o, e) for e in errors)]
            freed += sum(o.size for o in batch) - sum(o.size for o in failed)
            if errors:
                _, _, code, message = errors[0]
                obj = next((o for o in failed if _is_error_for(o, errors[0])), batch[0])
                return self._refused(obj, (code, message), freed, unfinished=True)
        return Outcome("deleted", bytes=freed)

    def _folder_objects(self, folder: str, versioned: bool) -> list[_Obj]:
        if not versioned:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            return [
                _Obj(o["Key"], None, int(o["Size"])) for p in pages for o in p.get("Contents", ())
            ]
        out: list[_Obj] = []
        for page in self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=folder
        ):
            out += [
                _Obj(v["Key"], v["VersionId"], int(v.get("Size", 0)), bool(v.get("IsLatest")))
                for v in page.get("Versions", ())
            ]
            out += [
                _Obj(m["Key"], m["VersionId"], 0, bool(m.get("IsLatest")), marker=True)
                for m in page.get("DeleteMarkers", ())
            ]
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

    def _delete_batch(self, batch: Sequence[_Obj]) -> list[_Error]:
        """One DeleteObjects; the per-key errors as (key, version or None, code, message).

        One bad key must not fail the whole request (and so every snapshot sharing it): a key
        XML 1.0 cannot carry goes by a single DeleteObject (its name travels in the URL), and
        a request the service refuses as malformed is split in halves down to single keys,
        so the keys it can delete are deleted and the one it cannot is reported as its error.

        Raises:
            ClientError, BotoCoreError: the request failed for another reason (the outcome may
                be unknown: the caller keeps the snapshots journalled).
        """
        safe, singles = split_sendable(batch, key=lambda o: o.key)
        errors = [
            (o.key, o.version, *err) for o in singles if (err := self._delete_single(o)) is not None
        ]
        return errors + send_splitting(safe, self._delete_objects, _refused_whole)

    def _delete_objects(self, batch: Sequence[_Obj]) -> list[_Error] | Refusal:
        """One DeleteObjects: the per-key errors, or the Refusal of a request the service
        refuses as a whole as malformed.

        Raises:
            ClientError, BotoCoreError: any other failure.
        """
        objects = [{"Key": o.key, **({"VersionId": o.version} if o.version else {})} for o in batch]
        try:
            resp = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in MALFORMED:
                raise
            return Refusal(code, str(exc.response.get("Error", {}).get("Message", "")))
        return [
            (e.get("Key", ""), e.get("VersionId") or None, e.get("Code", "?"), e.get("Message", ""))
            for e in resp.get("Errors", ())
        ]

    def _refused(self, o: _Obj, err: tuple[str, str], freed: int, unfinished: bool) -> Outcome:
        code, message = err
        if code == "AccessDenied":
            held = self._hold_of(o)
            if held is not None or "object lock" in message.lower():
                return Outcome(
                    "held", held or f"{o.key}: Object Lock ({message})", freed, unfinished
                )
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

    def _where(self, folder: str, key: str) -> str:
        return self.prefix + folder + key

    def _check_unrecorded(self, folder: str, e: ManifestEntry) -> str | None:
        """Read the object with ``ChecksumMode=ENABLED`` and compare its size with the listing's
        and its bytes with the checksum S3 stored for it: SHA256 or CRC32 of the whole object
        (:func:`whole_object_checksums`; a multipart upload's composite checksum and other
        algorithms are not comparable here: size only).

        Raises:
            FileNotFoundError: no such object. ReadProblem: unreadable.
        """
        try:
            resp = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + folder + e.key, ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(e.key) from None
            raise ReadProblem(s3_error(exc)) from None
        except BotoCoreError as exc:
            raise ReadProblem(s3_error(exc)) from None
        sha, crc, size = hashlib.sha256(), 0, 0
        try:
            for chunk in resp["Body"].iter_chunks(_CHUNK):
                sha.update(chunk)
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
        except (ClientError, BotoCoreError) as exc:  # botocore's own check fails here too
            raise ReadProblem(s3_error(exc)) from None
        if size != e.size:
            return f"size {size} != listed {e.size}"
        stored = whole_object_checksums(resp)
        mine = {
            "SHA256": base64.b64encode(sha.digest()).decode(),
            "CRC32": base64.b64encode(crc.to_bytes(4, "big")).decode(),
        }
        for algo, value in stored.items():
            if value != mine[algo]:
                return f"S3 checksum {algo} mismatch: stored {value}, object {mine[algo]}"
        return None if stored else UNREFERENCED

    def _stored_checksums(self, folder: str, key: str) -> dict[str, str]:
        """The object's whole-object SHA256 and CRC32 as S3 stored them (a HeadObject with
        ``ChecksumMode=ENABLED``, :func:`whole_object_checksums`).

        Raises:
            ReadProblem: the HeadObject failed.
        """
        try:
            resp = self.client.head_object(
                Bucket=self.bucket, Key=self.prefix + folder + key, ChecksumMode="ENABLED"
            )
        except (ClientError, BotoCoreError) as exc:
            raise ReadProblem(s3_error(exc)) from None
        return whole_object_checksums(resp)

    def _open(self, folder: str, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + folder + key)[
                "Body"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from None
            raise ReadProblem(s3_error(exc)) from None
        except BotoCoreError as exc:
            raise ReadProblem(s3_error(exc)) from None

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(_CHUNK)
            except (ClientError, BotoCoreError) as exc:  # the connection broke mid-object
                raise ReadProblem(s3_error(exc)) from None

        return chunks()

    def blobs(self) -> BlobStore:
        """The blob store beside the backups (same bucket and prefix) for the lock and audit log."""
        from backupctl.stores.blobs import S3Blobs

        blobs: BlobStore = S3Blobs(self.client, self.bucket, self.prefix)
        return blobs


@dataclass(eq=False)
class _Job:
    """One snapshot of a batched deletion."""

    sid: str
    asked: bool  # False: only resumed from a journal
    folder: str  # the folder's key prefix, store prefix included
    data: list[_Obj] | None = (
        None  # data keys (from the manifest or a listing); None: not known yet
    )
    manifest_size: int = 0
    freed: int = 0
    batches: int = 0  # data batches not answered yet
    problem: Outcome | None = None  # the first refusal of a data batch
    outcome: Outcome | None = None

    def result(self) -> Outcome:
        """The outcome once every data batch is answered: the first refusal, else deleted."""
        p = self.problem
        return (
            Outcome(p.kind, p.reason, self.freed, p.unfinished)
            if p is not None
            else Outcome("deleted", bytes=self.freed)
        )


_Item = tuple[_Job, _Obj]  # one key of a batched deletion and the snapshot it belongs to
_Error = tuple[str, str | None, str, str]  # a per-key error: key, version or None, code, message


def _refused_whole(o: _Obj, refusal: Refusal) -> _Error:
    """The error of a single key whose DeleteObjects the service refused as malformed."""
    return o.key, o.version, refusal.code, refusal.message


def _is_manifest(job: _Job, o: _Obj) -> bool:
    return o.key == job.folder + MANIFEST


def _manifest_items(jobs: Sequence[_Job]) -> list[_Item]:
    return [(j, _Obj(j.folder + MANIFEST, None, j.manifest_size)) for j in jobs]


@dataclass
class _Tally:
    """Records finished jobs in the report and ticks the progress callback."""

    report: DeleteReport
    progress: Callable[[int], None] | None

    def finish(self, job: _Job, out: Outcome) -> None:
        job.outcome = out
        apply_outcome(self.report, job.sid, out)
        if self.progress is not None:
            self.progress(1)


def _errors_by_key(
    errors: Sequence[tuple[str, str | None, str, str]],
) -> dict[str, tuple[str, str]]:
    """DeleteObjects errors (unversioned) as key -> (code, message); the first per key wins."""
    out: dict[str, tuple[str, str]] = {}
    for key, _, code, message in errors:
        out.setdefault(key, (code, message))
    return out


def _is_error_for(o: _Obj, error: tuple[str, str | None, str, str]) -> bool:
    """Whether a DeleteObjects <Error> names ``o`` (some services omit the VersionId)."""
    key, version = error[0], error[1]
    return o.key == key and (version is None or version == o.version)


def _is_manifest_key(key: str) -> bool:
    return key == MANIFEST or key.endswith("/" + MANIFEST)


def _not_modified(exc: ClientError) -> bool:
    """Whether a GetObject error is the 304 answer to its If-None-Match."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("304", "NotModified") or status == 304


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _http_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return t if t.tzinfo is not None else None


def _lock_meta(resp: Mapping[str, Any], modified: datetime | None) -> dict[str, Any]:
    """What a cached read keeps besides the bytes: LastModified and the Object Lock headers of
    a GetObject response (JSON values)."""
    until = resp.get("ObjectLockRetainUntilDate")
    return {
        "last_modified": modified.isoformat() if modified is not None else None,
        "legal_hold": resp.get("ObjectLockLegalHoldStatus")
        if isinstance(resp.get("ObjectLockLegalHoldStatus"), str)
        else None,
        "retain_until": until.isoformat() if isinstance(until, datetime) else None,
        "mode": resp.get("ObjectLockMode") if isinstance(resp.get("ObjectLockMode"), str) else None,
    }


def _lock_from_headers(headers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Object Lock state of a response's raw headers (a 304 has no parsed fields), or
    None when it carries none (a service may leave them out of a 304: the cached state is
    kept then)."""
    names = ("x-amz-object-lock-legal-hold", "x-amz-object-lock-retain-until-date")
    if not any(n in headers for n in (*names, "x-amz-object-lock-mode")):
        return None
    until = _iso(str(headers.get(names[1], "")).replace("Z", "+00:00"))
    hold, mode = headers.get(names[0]), headers.get("x-amz-object-lock-mode")
    return {
        "legal_hold": hold if isinstance(hold, str) else None,
        "retain_until": until.isoformat() if until is not None else None,
        "mode": mode if isinstance(mode, str) else None,
    }


def _lock_response(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Cached lock metadata as the GetObject fields :func:`_held_reason` reads."""
    out: dict[str, Any] = {}
    if meta.get("legal_hold") is not None:
        out["ObjectLockLegalHoldStatus"] = meta["legal_hold"]
    if (until := _iso(meta.get("retain_until"))) is not None:
        out["ObjectLockRetainUntilDate"] = until
    if isinstance(meta.get("mode"), str):
        out["ObjectLockMode"] = meta["mode"]
    return out


def _cache_usable(entry: CachedManifest) -> bool:
    """Whether a cached read may stand in for a GET: not under a legal hold (one can be lifted
    at any time without a new ETag), and with metadata that reads back (a retention date that
    does not parse means the entry is not trusted)."""
    meta = entry.meta
    if meta.get("legal_hold") not in (None, "OFF"):
        return False
    until = meta.get("retain_until")
    return until is None or _iso(until) is not None


def _held_reason(resp: dict[str, Any], now: datetime) -> str | None:
    """'legal hold' / 'held until … (MODE)' from a GetObject/HeadObject response, or None."""
    parts = []
    if resp.get("ObjectLockLegalHoldStatus") == "ON":
        parts.append("legal hold")
    until = resp.get("ObjectLockRetainUntilDate")
    if isinstance(until, datetime) and until > now:
        parts.append(f"held until {until.isoformat()} ({resp.get('ObjectLockMode', 'retention')})")
    return "; ".join(parts) or None
