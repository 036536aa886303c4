"""What the S3 and file stores share: snapshots as folders named by the key template, each
with a ``manifest.json``, for the configured groups only; the listing; the deletion journal
protocol and the delete checks; the integrity loop and the restore, both driven by the
manifest.

A store of this shape subclasses :class:`ManifestStore` and is an adapter over its storage:

* listing: :meth:`~ManifestStore._keys` (every key and size), :meth:`~ManifestStore._read_manifest`,
  :meth:`~ManifestStore._journal_keys` and :meth:`~ManifestStore._read_journal`; a store with
  ETags also sets ``cache`` (:mod:`backupctl.stores.cache`) and overrides
  :meth:`~ManifestStore._keys_tagged`, :meth:`~ManifestStore._fetch_manifest` and
  :meth:`~ManifestStore._from_cache`, and :meth:`~ManifestStore._read_manifests` reads only
  the manifests the cache cannot stand in for;
* the journal: :meth:`~ManifestStore._put_journal`, :meth:`~ManifestStore._remove_journal` and
  :meth:`~ManifestStore._journal_errors` (its errors as one-line StoreErrors);
* deleting: :meth:`~ManifestStore._delete_folder` (one folder, after
  :func:`folder_refusal`), or :meth:`~ManifestStore._delete_many` for a batched service;
* reading: :meth:`~ManifestStore._open` and :meth:`~ManifestStore._where` (and a faster
  :meth:`~ManifestStore._hash` if it has one).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from backupctl import clock
from backupctl.config import Config
from backupctl.errors import ConfigError, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import (
    DeleteReport,
    IntegrityProblem,
    Listing,
    ManifestEntry,
    RestoreOutcome,
    StoredSnapshot,
)
from backupctl.stores.cache import CachedManifest, ManifestCache
from backupctl.stores.layout import (
    JOURNAL_PREFIX,
    MANIFEST,
    DigestScanner,
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

__all__ = ["UNREFERENCED", "ManifestStore", "ReadProblem", "folder_refusal", "write_under"]

log = get_logger("stores.manifest")
CHUNK = 1 << 20
HIDDEN_MANIFEST = (
    "manifest.json is hidden (a delete marker or older versions remain), not deleted by "
    "backupctl: left alone; restore it, or delete the folder by hand"
)


# What :meth:`ManifestStore._check_unrecorded` returns for an object that is present, readable
# and of its listed size but has nothing to compare its bytes with: no sha256 (no manifest, no
# digest record of ``adopt``: backupctl.stores.digests) and no checksum kept by the service.
UNREFERENCED = "no integrity reference (no recorded sha256, no stored checksum): size checked only"


class ReadProblem(Exception):
    """One object could not be read; the message says why in one line (``missing`` is
    :class:`FileNotFoundError` instead)."""


class ManifestStore:
    """The skeleton of a store whose snapshots are folders with a ``manifest.json``.

    Subclasses set ``workers`` (parallel reads) and ``delete_workers`` (folders deleted at
    once by :meth:`_delete_many`) and implement the adapter methods below.
    """

    workers: int
    delete_workers: int = 1
    cache: ManifestCache | None = None  # the local manifest cache (a store with ETags sets it)

    def __init__(self, config: Config) -> None:
        """Build from a config: the URL, the configured groups and the compiled key template.

        Raises:
            ConfigError: an unusable key template.
        """
        self.config = config
        self.url = config.store.url
        self.groups = {p.group for p in config.policies}
        try:
            self.template = KeyTemplate.compile(
                config.store.key_template,
                groups=self.groups,
                tz=config.store.name_timezone or config.timezone,
            )
        except LayoutError as exc:
            raise ConfigError(config.path, [f"store.key_template: {exc}"]) from None
        if self.template.single and not self.single_objects:
            # the layout reads them (backupctl.stores.layout); this store cannot yet delete,
            # check and restore one object per snapshot
            raise ConfigError(
                config.path,
                [
                    f"store.key_template {self.template.text!r}: single-object snapshots "
                    "(a template not ending in '/') are not supported by this store yet; "
                    "expected a folder template such as '{group}/{time}/'"
                ],
            )

    single_objects = False  # a store that deletes, checks and restores single-object snapshots

    def folder(self, sid: str) -> str:
        """The folder of snapshot ``sid`` relative to the store's root (ending in '/'); with a
        single-object template, the object's key."""
        group, t = parse_snapshot_id(sid)
        return self.template.folder(group, t)

    def base(self, sid: str) -> str:
        """What the keys of ``sid``'s manifest entries are relative to: its folder, or for a
        single-object snapshot the folder holding the object ('' at the root)."""
        folder = self.folder(sid)
        if not self.template.single:
            return folder
        head, sep, _ = folder.rpartition("/")
        return head + sep

    @staticmethod
    def journal_key(now: datetime) -> str:
        """A new deletion journal's key: ``_backupctl/deleting/<UTC time>-<random>.json``."""
        return f"{JOURNAL_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}.json"

    # ----------------------------------------------------------------- the adapter: listing

    def _keys(self) -> Iterator[tuple[str, int]]:
        """``(key relative to the root, size)`` of every object (a folder's keys together is
        fastest).

        Raises:
            StoreError: the listing failed (one line).
        """
        raise NotImplementedError

    def _read_manifest(self, folder: str) -> ManifestRead:
        """The bytes of ``folder``'s manifest.json (at most MAX_MANIFEST_BYTES + 1), or why
        they cannot be read; never raises."""
        raise NotImplementedError

    def _journal_keys(self) -> list[str]:
        """The keys of the deletion journals (``_backupctl/deleting/*.json``).

        Raises:
            StoreError: they cannot be listed.
        """
        raise NotImplementedError

    def _read_journal(self, key: str) -> bytes:
        """A journal's bytes (at most MAX_JOURNAL_BYTES + 1).

        Raises:
            ReadProblem: it cannot be read.
        """
        raise NotImplementedError

    # ----------------------------------------------------------------- the adapter: journal

    def _put_journal(self, key: str, data: bytes) -> None:
        """Write (or replace) a journal; errors are the store's own (see _journal_errors)."""
        raise NotImplementedError

    def _remove_journal(self, key: str) -> None:
        """Remove a journal (gone already is fine); errors are the store's own."""
        raise NotImplementedError

    def _journal_errors(self, what: str) -> AbstractContextManager[None]:
        """A context that turns the store's errors into ``StoreError('<url>: <what> failed:
        <why>')``."""
        raise NotImplementedError

    def _check_journal_folder(self) -> None:
        """Raise StoreError if journals cannot be written safely (the file store: a planted
        symlink); nothing is deleted then."""

    # ----------------------------------------------------------------- the adapter: delete

    def _delete_folder(self, sid: str, asked: bool) -> Outcome:
        """Delete one snapshot's folder, manifest.json first, after :func:`folder_refusal`
        (``asked``: the runner handed over a complete snapshot; else an interrupted deletion
        to finish). Never raises: a failure is an Outcome."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the adapter: reads

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

    def _check_unrecorded(self, folder: str, e: ManifestEntry) -> str | None:
        """The problem of an object nothing records a sha256 for (a single-object snapshot
        without a digest record), None, or :data:`UNREFERENCED`: read in full, it must have
        its listed size; a store whose service keeps checksums also compares those.

        Raises:
            FileNotFoundError, ReadProblem: as :meth:`_hash`.
        """
        size, _ = self._hash(folder, e.key)
        return UNREFERENCED if size == e.size else f"size {size} != listed {e.size}"

    # ----------------------------------------------------------------- shared: listing

    def listing(self) -> Listing:
        """Every snapshot, incomplete snapshot and unknown key, with what a delete reuses
        (journals, per-folder facts, the number of keys listed).

        Raises:
            StoreError: the store cannot be listed.
        """
        scanner = DigestScanner(self.template, self.groups)
        times: dict[str, datetime] = {}
        etags: dict[str, str] = {}
        scanner.add_all(self._keys_tagged(times, etags))
        folders = [f for f, agg in scanner.folders.items() if agg.has_manifest]
        confirmed = {f: etags[f + MANIFEST] for f in folders if f + MANIFEST in etags}
        reads = self._read_manifests(folders, confirmed)
        manifests = dict(zip(folders, reads, strict=True))
        self._forget_vanished(etags)  # the whole prefix was listed: every manifest key is here
        journals = self._read_journals(scanner.journals)
        listing = build_listing(scanner, manifests, self.config.timezone, journals)
        listing.folders = scanner.facts()
        listing.keys_listed = scanner.total
        newest = newest_by_folder(times)
        if self.template.single:
            newest.update(times)  # a single-object snapshot was written when its object was
        self._stamp_written(listing, newest)
        return listing

    def _keys_timed(self, times: dict[str, datetime]) -> Iterator[tuple[str, int]]:
        """As :meth:`_keys`, noting in ``times`` when the service wrote each key (a store that
        cannot tell leaves it empty: snapshots then have ``written`` None)."""
        return self._keys()

    def _keys_tagged(
        self, times: dict[str, datetime], etags: dict[str, str]
    ) -> Iterator[tuple[str, int]]:
        """As :meth:`_keys_timed`, also noting in ``etags`` the ETag the listing gave each
        ``manifest.json`` key (a store without ETags leaves it empty: no cached reads)."""
        return self._keys_timed(times)

    # ----------------------------------------------------------------- shared: manifest reads

    def _read_manifests(
        self, folders: Sequence[str], etags: Mapping[str, str] | None = None
    ) -> list[ManifestRead]:
        """The manifest.json of each of ``folders``, in order: from the manifest cache when
        the listing just confirmed its key and ETag (``etags``: folder -> the ETag the
        listing saw for ``folder + manifest.json``) and :meth:`_from_cache` accepts the copy;
        else read (in parallel, ``workers`` at once) and kept in the cache. Cached bytes are
        parsed and validated later exactly as fresh ones (they are what the store said under
        that ETag). Never raises: a read that fails is a ManifestRead with the error.

        The listing's own strategy and a subclass with another listing (e.g. one read from an
        S3 Inventory report) call this with the ETags their listing gave."""
        cache = self.cache
        reads: dict[str, ManifestRead] = {}
        if cache is not None and etags:
            found = cache.lookup({f + MANIFEST: etags[f] for f in folders if f in etags})
            for f in folders:
                entry = found.get(f + MANIFEST)
                if entry is not None and entry.etag == etags.get(f):
                    read = self._from_cache(f, entry)
                    if read is not None:
                        reads[f] = read
        misses = [f for f in folders if f not in reads]
        fetched: list[tuple[ManifestRead, CachedManifest | None]] = self._parallel(
            self._fetch_manifest, misses
        )
        for f, (read, _) in zip(misses, fetched, strict=True):
            reads[f] = read
        if cache is not None:
            cache.put(
                [
                    (f + MANIFEST, e)
                    for f, (_, e) in zip(misses, fetched, strict=True)
                    if e is not None
                ]
            )
        return [reads[f] for f in folders]

    def _fetch_manifest(self, folder: str) -> tuple[ManifestRead, CachedManifest | None]:
        """Read ``folder``'s manifest.json from the store: the read, and the cache entry to
        keep for it (None: nothing to keep, e.g. the read failed or the store has no ETags).
        Never raises."""
        return self._read_manifest(folder), None

    def _from_cache(self, folder: str, entry: CachedManifest) -> ManifestRead | None:
        """The read a cached copy stands for, or None when it may not stand in for a fresh
        read (the store then reads it again). A store whose reads carry more than the bytes
        (S3: Object Lock) rebuilds that from ``entry.meta``."""
        return ManifestRead(entry.data)

    def _forget_vanished(self, present: Collection[str], under: Sequence[str] = ("",)) -> None:
        """Drop the cached manifests under the prefixes ``under`` whose key is not in
        ``present`` (the manifest.json keys the listing saw there)."""
        if self.cache is not None:
            self.cache.forget_absent(present, under)

    def _stamp_written(self, listing: Listing, newest: dict[str, datetime]) -> None:
        """Set each snapshot's ``written`` to the newest write time under its folder."""
        if not newest:
            return
        listing.snapshots[:] = [
            replace(s, written=newest.get(self.folder(s.snapshot.id))) for s in listing.snapshots
        ]

    def list_snapshots(self) -> Sequence[StoredSnapshot]:
        """Complete and held snapshots of every configured group."""
        return self.listing().snapshots

    def _parallel(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            return list(pool.map(fn, items))

    def _read_journals(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """Journal key -> the ids it names, for the journals that could be read; the others
        are logged and left in place (never folded into a new journal and removed)."""
        journals: dict[str, set[str]] = {}
        for key in keys:
            try:
                journals[key] = set(decode_journal(self._read_journal(key)))
            except (ReadProblem, ManifestError) as exc:
                log.warning("unreadable deletion journal", key=key, error=str(exc))
        return journals

    # ----------------------------------------------------------------- shared: delete

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        """Delete these snapshots, each manifest.json before its data, and finish the
        interrupted deletions a journal names.

        Only ids handed over are touched (:func:`~backupctl.stores.layout.select_deletions`):
        held snapshots are reported, incomplete ones deleted only when a journal names them
        too; a journal alone never adds an id. A journal naming the run is written first;
        the journals it supersedes go; at the end it names the ids left unfinished, or goes.
        ``progress`` gets 1 per snapshot done.

        ``listing`` (the one the snapshots came from, made under the prune's lock) supplies
        the journals and what each folder held, and is updated to the journals this run
        leaves (None while unknown). Without it the journals are read again and every
        folder to resume is listed.

        Raises:
            StoreError: a journal cannot be listed, written or updated (nothing deleted when
                the first write fails).
        """
        report = DeleteReport()
        journals = self._pending_journals(listing)
        todo = select_deletions(snapshots, set().union(*journals.values()), report)
        present = self._present(listing, journals)
        left = journals
        if not todo and (spent := spent_journals(journals, todo, present)):
            with self._journal_errors("removing finished deletion journals"):
                for key in spent:  # every id they name is gone: an earlier run finished them
                    self._remove_journal(key)
            left = {k: v for k, v in journals.items() if k not in spent}
        if todo:
            self._check_journal_folder()
            if listing is not None:
                listing.journals = None  # unknown until the final journal write succeeds
            now = clock.now()
            run_key = self.journal_key(now)
            with self._journal_errors("writing the deletion journal"):
                self._put_journal(run_key, encode_journal(todo, run_key, now))
                for key in spent_journals(journals, todo, present):  # now in the new journal
                    self._remove_journal(key)
            unfinished = self._delete_many(todo, snapshots, listing, report, progress)
            report.deleted.sort()
            with self._journal_errors("updating the deletion journal"):
                if unfinished:
                    self._put_journal(run_key, encode_journal(unfinished, run_key, clock.now()))
                else:
                    self._remove_journal(run_key)
            left = {run_key: set(unfinished)} if unfinished else {}
        if listing is not None:
            listing.journals = left
        return report

    def _pending_journals(self, listing: Listing | None) -> dict[str, set[str]]:
        """The readable deletion journals and the ids each names: the listing's (the prune
        lists under its lock, so they are current), else read again.

        Raises:
            StoreError: the journal folder cannot be listed.
        """
        if listing is not None and listing.journals is not None:
            return dict(listing.journals)
        return self._read_journals(self._journal_keys())

    def _present(
        self, listing: Listing | None, journals: dict[str, set[str]]
    ) -> Collection[str] | None:
        """The journalled ids still in the store (for :func:`spent_journals`): those the
        listing saw; None (keep every journal naming an id outside the run) without one."""
        return listing.ids() if listing is not None else None

    def _delete_many(
        self,
        todo: dict[str, bool],
        snapshots: Sequence[StoredSnapshot],
        listing: Listing | None,
        report: DeleteReport,
        progress: Callable[[int], None] | None,
    ) -> list[str]:
        """Delete the folders of ``todo`` (id -> asked), ``delete_workers`` at a time, into
        ``report``; the ids to keep journalled (manifest gone, data left). A store that deletes
        in batches overrides this."""
        unfinished: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, self.delete_workers)) as pool:
            futures = {
                pool.submit(self._delete_folder, sid, asked): sid for sid, asked in todo.items()
            }
            for fut in as_completed(futures):
                sid = futures[fut]
                out = fut.result()
                apply_outcome(report, sid, out)
                if out.unfinished:
                    unfinished.append(sid)
                if progress is not None:
                    progress(1)
        return unfinished

    # ----------------------------------------------------------------- shared: integrity, restore

    def check_integrity(self, snapshots: Sequence[StoredSnapshot]) -> list[IntegrityProblem]:
        """Re-read every object a manifest names (sha256, in parallel) and report size, hash
        and missing objects; a snapshot without a manifest is one problem.

        A single-object snapshot is compared with the sha256 and size its digest record holds
        (``_backupctl/digests/<id>.json``, written by ``adopt``; see
        :mod:`backupctl.stores.digests`); a record that cannot be read or trusted is a problem
        naming the record, and the object is then checked as one without
        (:meth:`_check_unrecorded`). The ids whose object had nothing to compare its bytes with
        are left in ``unreferenced`` (a note, not a problem)."""
        from backupctl.stores.digests import DigestError, digest_key, read_digest

        self.unreferenced: list[str] = []
        problems: list[IntegrityProblem] = []
        tasks: list[tuple[str, str, ManifestEntry]] = []
        for s in snapshots:
            folder = self.base(s.snapshot.id)
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

        def check(task: tuple[str, str, ManifestEntry]) -> list[tuple[str | None, str]]:
            """(where, problem) pairs: where None is the object itself."""
            sid, folder, e = task
            found: list[tuple[str | None, str]] = []
            try:
                if not e.sha256:  # a single object: its digest record, if adopt wrote one
                    record = self._where("", digest_key(sid))
                    try:
                        recorded = read_digest(self, sid)
                    except DigestError as exc:
                        found.append((record, f"bad digest record: {exc}; not used"))
                        recorded = None
                    if recorded is None:
                        problem = self._check_unrecorded(folder, e)
                    else:
                        size, digest = self._hash(folder, e.key)
                        problem = (
                            f"size {size} != listed {e.size}"
                            if size != e.size
                            else recorded.mismatch(size, digest, record)
                        )
                else:
                    size, digest = self._hash(folder, e.key)
                    problem = e.mismatch(size, digest)
            except FileNotFoundError:
                problem = "missing"
            except ReadProblem as exc:
                problem = str(exc)
            return [*found, (None, problem)] if problem else found

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for (sid, folder, e), found in zip(tasks, pool.map(check, tasks), strict=True):
                for where, problem in found:
                    if problem == UNREFERENCED:
                        self.unreferenced.append(sid)
                    else:
                        key = where if where is not None else self._where(folder, e.key)
                        problems.append(IntegrityProblem(sid, key, problem))
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
        folder = self.base(snapshot.snapshot.id)
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
        reference = None
        if any(not e.sha256 for e in snapshot.manifest):  # a single object: what to check it by
            sid = snapshot.snapshot.id
            reference = tuple(
                e if e.sha256 else self._reference(sid, folder, e) for e in snapshot.manifest
            )
        return RestoreOutcome(
            bytes=sum(n for n, _ in results),
            files=sum(1 for _, p in results if not p),
            problems=tuple(p for _, p in results if p),
            reference=reference,
        )

    def _reference(self, sid: str, folder: str, e: ManifestEntry) -> ManifestEntry:
        """What a restored single object ``e`` of snapshot ``sid`` is verified against: the
        size and sha256 its digest record holds (``adopt``), else the whole-object SHA256 or
        CRC32 the service stored (:meth:`_stored_checksums`), else ``e`` itself (size only). A
        record that cannot be trusted is logged and not used (verify reports it)."""
        from backupctl.stores.digests import DigestError, read_digest

        try:
            record = read_digest(self, sid)
        except DigestError as exc:
            log.warning("bad digest record, not used", id=sid, error=str(exc))
            record = None
        if record is not None:
            return replace(e, size=record.size, sha256=record.sha256)
        try:
            sums = self._stored_checksums(folder, e.key)
        except ReadProblem as exc:
            log.warning("stored checksum unreadable", id=sid, error=str(exc))
            sums = {}
        if "SHA256" in sums:
            return replace(e, sha256=base64.b64decode(sums["SHA256"]).hex())
        if "CRC32" in sums:
            return replace(e, crc32=sums["CRC32"])
        return e

    def _stored_checksums(self, folder: str, key: str) -> dict[str, str]:
        """The whole-object checksums the service keeps for ``key`` (``{"SHA256": base64,
        "CRC32": base64}``, either or none); a store that keeps none returns ``{}``.

        Raises:
            ReadProblem: the service could not be asked.
        """
        return {}


def newest_by_folder(times: dict[str, datetime]) -> dict[str, datetime]:
    """Each folder (every '/'-ending prefix of a key) -> the newest time of a key under it."""
    out: dict[str, datetime] = {}
    for key, t in times.items():
        end = key.find("/")
        while end != -1:
            folder = key[: end + 1]
            if folder not in out or out[folder] < t:
                out[folder] = t
            end = key.find("/", end + 1)
    return out


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


def folder_refusal(
    asked: bool, exists: bool, live_manifest: bool, hidden_manifest: bool = False
) -> Outcome | None:
    """The checks before one folder is deleted; None: go ahead.

    Args:
        asked: the runner handed over a complete snapshot (else: finish a journalled one).
        exists: the folder holds anything.
        live_manifest: it has a current manifest.json.
        hidden_manifest: a versioned store still has a version or delete marker of the
            manifest (backupctl deletes every version first and never writes a marker, so
            someone hid it: the snapshot can be brought back, not an interrupted deletion).
    """
    if not exists:
        return Outcome("skipped")
    if not asked and hidden_manifest:
        return Outcome("failed", HIDDEN_MANIFEST)
    if not asked and live_manifest:
        return Outcome("skipped")  # a stale journal entry: a complete snapshot is not ours
    if asked and not live_manifest:
        return Outcome("failed", "manifest.json disappeared since the listing; left alone")
    return None
