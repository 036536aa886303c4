"""``backupctl adopt``: write ``manifest.json`` for manifest-less snapshot folders already in an
S3 or file store, so that plan, prune, verify and drill can manage them.

Three steps, the middle one pure:

1. :func:`gather` (I/O): the store's listing names the folders of configured groups that have no
   manifest (``Listing.incomplete``); one more walk of the keys gives each folder's objects,
   sizes and times (and, on a file store, whether any entry is a symlink).
2. :func:`plan_adoption` (pure): which folders are adopted and why the others are skipped (an
   object written less than ``min_age`` ago: an upload may still be running; a key that cannot
   go in a manifest; a symlink).
3. :func:`apply_adoption` (I/O): stream and sha256 every object of each adopted folder in
   parallel (a bounded pool, 1 MiB chunks), then write ``manifest.json`` with a conditional PUT
   (``If-None-Match: *`` on S3, ``link()`` on a file store): a manifest that appeared meanwhile
   is never overwritten, the folder is reported instead.

The folder's time comes from its name through the key template (the listing's snapshot id).

With a single-object key template (not ending in '/'), each object is a complete snapshot and
there is no manifest to write: adopt records, for each one that has neither a checksum kept by
S3 (``ChecksumMode``: a whole-object SHA256 or CRC32, which verify compares itself) nor a digest
record yet, the object's size and sha256 in a digest record,
``_backupctl/digests/<id>.json`` (:mod:`backupctl.stores.digests`), written with the same
conditional PUT; the same sha256 goes in the adopt audit record, so a rewrite of both the object
and its record is still caught against the signed log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backupctl.errors import StoreError, UsageError
from backupctl.stores.base import PreconditionFailed
from backupctl.stores.digests import DIGEST_PREFIX, Digest, digest_key
from backupctl.stores.layout import MANIFEST, ManifestError, parse_manifest

__all__ = [
    "AdoptResult",
    "Candidate",
    "Decision",
    "apply_adoption",
    "encode_manifest",
    "gather",
    "parse_min_age",
    "plan_adoption",
]

DEFAULT_MIN_AGE = timedelta(hours=1)
NO_MANIFEST = "no manifest.json"  # how the listing's problem of a manifest-less folder begins
_PLACEHOLDER_SHA = "0" * 64
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_min_age(text: str) -> timedelta:
    """``"1h"``, ``"30m"``, ``"2d"``, ``"0s"`` -> a timedelta.

    Raises:
        UsageError: not a number followed by one of s, m, h, d, w.
    """
    m = re.fullmatch(r"\s*(\d{1,9})\s*([smhdw])\s*", text)
    if m is None:
        raise UsageError(
            f"--min-age {text!r}: expected a number and a unit (s, m, h, d, w), e.g. '1h'"
        )
    return timedelta(seconds=int(m[1]) * _UNITS[m[2]])


@dataclass(frozen=True)
class Candidate:
    """A manifest-less folder as the store shows it: its id, group, time (UTC, from the folder
    name), folder (relative to the store root, ending in '/'), objects ``(key in the folder,
    size)``, the newest object's time, and a problem found while looking (e.g. a symlink)."""

    sid: str
    group: str
    time: datetime
    folder: str
    objects: tuple[tuple[str, int], ...]
    newest: datetime | None
    problem: str | None = None
    # a single-object snapshot: ``folder`` is what its key is relative to ('' or 'db/'),
    # ``objects`` the one object; ``checksum`` the algorithm of a whole-object checksum S3
    # keeps for it (nothing to record then), ``etag`` its S3 ETag when looked at
    single: bool = False
    checksum: str | None = None
    etag: str | None = None

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.objects)

    @property
    def writes(self) -> str:
        """The key adopt writes for it: the folder's manifest.json or the object's digest
        record (relative to the store's root)."""
        return digest_key(self.sid) if self.single else self.folder + MANIFEST


@dataclass(frozen=True)
class Decision:
    """A candidate and, when it is not adopted, why (``skip``)."""

    candidate: Candidate
    skip: str | None = None


def key_problem(candidate: Candidate) -> str | None:
    """Why some key of the folder cannot be listed in a manifest (the manifest checks of
    :func:`~backupctl.stores.layout.parse_manifest`, run on the manifest that would be
    written, with placeholder hashes), or None."""
    for key, _ in candidate.objects:
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            return f"object name {key!r} is not valid UTF-8"
    draft = encode_manifest(candidate, [(k, s, _PLACEHOLDER_SHA) for k, s in candidate.objects])
    try:
        parse_manifest(draft, candidate.group, candidate.time)
    except ManifestError as exc:
        return f"cannot be adopted: {exc}"
    return None


def plan_adoption(
    candidates: Sequence[Candidate], now: datetime, min_age: timedelta
) -> list[Decision]:
    """Decide, without I/O, which folders to adopt.

    A folder is skipped when looking at it found a problem (a symlink), when it is empty, when
    its newest object is younger than ``min_age`` (it may still be uploading: adopting it half
    way would make a snapshot of part of a backup) or when a key cannot go in a manifest. A
    single object is skipped when S3 keeps a whole-object checksum of it (verify compares that),
    a problem was found, or it is younger than ``min_age``.

    Returns:
        One decision per candidate, in the candidates' order.
    """
    out = []
    for c in candidates:
        if c.problem:
            skip: str | None = c.problem
        elif c.checksum:
            skip = (
                f"S3 keeps a {c.checksum} checksum of the object: verify compares it; "
                "nothing to record"
            )
        elif not c.objects:
            skip = "the folder holds no object"
        elif c.newest is None:
            skip = "the objects' times are unknown: cannot tell whether an upload is running"
        elif c.newest > now:
            skip = (
                f"its newest object is dated {_age(c.newest - now)} after this machine's clock "
                f"({c.newest.isoformat()}): an upload may still be running; adopt it later"
            )
        elif now - c.newest < min_age:
            skip = (
                f"its newest object was written {_age(now - c.newest)} ago, less than "
                f"--min-age {_age(min_age)}: an upload may still be running; adopt it later"
            )
        else:
            skip = None if c.single else key_problem(c)
        out.append(Decision(c, skip))
    return out


def _age(d: timedelta) -> str:
    from backupctl import humanize

    return humanize.duration(max(d, timedelta(0)))


def encode_manifest(candidate: Candidate, entries: Sequence[tuple[str, int, str]]) -> bytes:
    """The ``manifest.json`` bytes for ``candidate`` with ``(key, size, sha256)`` entries."""
    doc = {
        "version": 1,
        "group": candidate.group,
        "time": candidate.time.astimezone(UTC).isoformat(),
        "objects": [
            {"key": k, "size": s, "sha256": h} for k, s, h in sorted(entries, key=lambda e: e[0])
        ],
    }
    return json.dumps(doc, indent=1).encode()


def gather(store: Any, wanted: set[str]) -> list[Candidate]:
    """The manifest-less folders of the ``wanted`` groups (all configured when empty) of an
    S3 or file store, with their objects.

    Raises:
        StoreError: the store cannot be listed, or is not an S3 or file store.
    """
    if not hasattr(store, "_keys_timed") or not hasattr(store, "folder"):
        raise StoreError(
            f"{store.url}: adopt works on S3 and file stores (snapshot folders with a "
            "manifest.json), not on this store"
        )
    if store.template.single:
        return _gather_single(store, wanted)
    listing = store.listing()
    found: dict[str, tuple[str, str, datetime]] = {}
    for s in listing.incomplete:
        snap = s.snapshot
        if (s.problem or "").startswith(NO_MANIFEST) and (not wanted or snap.group in wanted):
            found[store.folder(snap.id)] = (snap.id, snap.group, snap.time.astimezone(UTC))
    if not found:
        return []
    lengths = sorted({len(f) for f in found})
    objects: dict[str, list[tuple[str, int]]] = {f: [] for f in found}
    times: dict[str, datetime] = {}
    for key, size in store._keys_timed(times):
        for n in lengths:
            if key[:n] in objects:
                objects[key[:n]].append((key[n:], size))
                break
    root: Path | None = getattr(store, "root", None) if store.url.startswith("file:") else None
    out = []
    for folder, (sid, group, t) in sorted(found.items(), key=lambda kv: kv[1][0]):
        objs = tuple(sorted(objects[folder]))
        stamps = [times[folder + k] for k, _ in objs if folder + k in times]
        problem = _links(root, folder, objs) if root is not None else None
        out.append(Candidate(sid, group, t, folder, objs, max(stamps) if stamps else None, problem))
    return out


def _gather_single(store: Any, wanted: set[str]) -> list[Candidate]:
    """The single-object snapshots of the ``wanted`` groups that have no digest record yet,
    each with its write time and (S3) the checksum S3 keeps for it and its ETag, looked up
    with HeadObject ``ChecksumMode=ENABLED`` (``store.workers`` at once).

    Raises:
        StoreError: the store or its digest records cannot be listed.
    """
    listing = store.listing()
    recorded = {b.key for b in store.blobs().list(DIGEST_PREFIX)}
    root: Path | None = getattr(store, "root", None) if store.url.startswith("file:") else None
    todo = [
        s
        for s in listing.snapshots
        if (not wanted or s.snapshot.group in wanted) and digest_key(s.snapshot.id) not in recorded
    ]

    def look(s: Any) -> Candidate:
        sid = s.snapshot.id
        base = store.base(sid)
        objs = ((store.folder(sid)[len(base) :], s.size),)
        problem = _links(root, base, objs) if root is not None else None
        checksum = etag = None
        if root is None and problem is None:
            checksum, etag, problem = _s3_checksum(store, store.folder(sid))
        return Candidate(
            sid,
            s.snapshot.group,
            s.snapshot.time.astimezone(UTC),
            base,
            objs,
            s.written,
            problem,
            single=True,
            checksum=checksum,
            etag=etag,
        )

    if len(todo) <= 1:
        return [look(s) for s in todo]
    with ThreadPoolExecutor(max_workers=max(1, getattr(store, "workers", 4))) as pool:
        return list(pool.map(look, todo))


def _s3_checksum(store: Any, key: str) -> tuple[str | None, str | None, str | None]:
    """(the algorithm of a whole-object checksum S3 keeps for ``key`` or None, its ETag, a
    problem) from HeadObject with ``ChecksumMode=ENABLED``. A multipart upload's composite
    checksum is not one verify can compare: None (:func:`whole_object_checksums`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from backupctl.stores.s3 import s3_error, whole_object_checksums

    try:
        head = store.client.head_object(
            Bucket=store.bucket, Key=store.prefix + key, ChecksumMode="ENABLED"
        )
    except (ClientError, BotoCoreError) as exc:
        return None, None, f"HeadObject {store.prefix + key} failed: {s3_error(exc)}"
    etag = head.get("ETag")
    sums = whole_object_checksums(head)
    algo = next((a for a in ("SHA256", "CRC32") if a in sums), None)
    return algo, etag if isinstance(etag, str) else None, None


def _links(root: Path, folder: str, objects: Sequence[tuple[str, int]]) -> str | None:
    """On a file store, why the folder holds something other than regular files reached
    without a symlink (a symlink is never followed: the folder is skipped), or None."""
    for key, _ in objects:
        path = root
        for part in (folder + key).split("/"):
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except OSError as exc:
                return f"{path}: {exc.strerror or exc}"
            if stat.S_ISLNK(mode):
                return f"{path} is a symlink (never followed): remove it, then adopt"
        if not stat.S_ISREG(mode):
            return f"{path} is not a regular file"
    return None


@dataclass
class AdoptResult:
    """What an apply did: ``adopted`` (id, objects, bytes, manifest_sha256) and ``failed``
    (id -> why: the folder changed, an object could not be read, a manifest appeared)."""

    adopted: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class _Changed(Exception):
    pass


def _hash_object(store: Any, folder: str, key: str, size: int) -> str:
    """The sha256 of one object, streamed by the store's integrity read (the file store opens it
    without following links; S3 streams the body in 1 MiB chunks).

    Raises:
        _Changed: its length is not the listed one. FileNotFoundError, ReadProblem: as the
            store's read.
    """
    n, digest = store._hash(folder, key)
    if n != size:
        raise _Changed(f"{key}: {n} bytes read, {size} listed: it changed meanwhile; adopt later")
    return str(digest)


def _hash_all(pool: ThreadPoolExecutor, store: Any, c: Candidate, window: int) -> list[str]:
    """The sha256 of each of ``c``'s objects, in order, at most ``window`` queued at once (so
    memory stays bounded for a folder of a million objects: each worker streams 1 MiB chunks)."""
    out: list[str] = []
    for i in range(0, len(c.objects), window):
        batch = c.objects[i : i + window]
        out += pool.map(lambda o: _hash_object(store, c.folder, o[0], o[1]), batch)
    return out


def apply_adoption(
    store: Any,
    decisions: Sequence[Decision],
    workers: int = 8,
    progress: Callable[[str], None] | None = None,
) -> AdoptResult:
    """Hash every object of each adopted folder (``workers`` at once) and write its manifest
    with a conditional PUT; a folder that failed is reported and nothing is written to it.

    Raises:
        StoreError: the blob store cannot be opened.
    """
    from backupctl.stores.manifest import ReadProblem

    blobs = store.blobs()
    result = AdoptResult()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        singles = [d.candidate for d in decisions if d.skip is None and d.candidate.single]
        _record_all(pool, store, blobs, singles, result, max(1, workers) * 16, progress)
        for d in decisions:
            if d.skip is not None or d.candidate.single:
                continue
            c = d.candidate
            try:
                hashes = _hash_all(pool, store, c, max(1, workers) * 16)
            except FileNotFoundError as exc:
                result.failed[c.sid] = f"{exc.args[0] if exc.args else exc} vanished; adopt later"
                continue
            except (ReadProblem, _Changed, StoreError, OSError) as exc:
                result.failed[c.sid] = str(exc)
                continue
            data = encode_manifest(
                c, [(k, s, h) for (k, s), h in zip(c.objects, hashes, strict=True)]
            )
            parse_manifest(data, c.group, c.time)  # what we write, the listing will accept
            try:
                blobs.put(c.folder + MANIFEST, data, if_absent=True)
            except PreconditionFailed:
                result.failed[c.sid] = (
                    "a manifest.json appeared meanwhile (another writer): not overwritten"
                )
                continue
            except StoreError as exc:
                result.failed[c.sid] = str(exc)
                continue
            result.adopted.append(
                {
                    "id": c.sid,
                    "objects": len(c.objects),
                    "bytes": c.bytes,
                    "manifest_sha256": hashlib.sha256(data).hexdigest(),
                }
            )
            if progress is not None:
                progress(c.sid)
    return result


def _record_all(
    pool: ThreadPoolExecutor,
    store: Any,
    blobs: Any,
    singles: Sequence[Candidate],
    result: AdoptResult,
    window: int,
    progress: Callable[[str], None] | None,
) -> None:
    """Hash each single object and write its digest record, in parallel on ``pool``, at most
    ``window`` queued at once; into ``result`` in the candidates' order."""
    for i in range(0, len(singles), window):
        batch = singles[i : i + window]
        for c, out in zip(batch, pool.map(lambda c: _record(store, blobs, c), batch), strict=True):
            if isinstance(out, str):
                result.failed[c.sid] = out
                continue
            result.adopted.append(out)
            if progress is not None:
                progress(c.sid)


def _record(store: Any, blobs: Any, c: Candidate) -> dict[str, Any] | str:
    """Hash one single object and write its digest record with a conditional PUT; the adopted
    entry (id, objects, bytes, sha256, record, record_sha256), or why it failed."""
    from backupctl import clock
    from backupctl.stores.manifest import ReadProblem

    ((name, size),) = c.objects
    try:
        digest = _hash_object(store, c.folder, name, size)
    except FileNotFoundError:
        return f"{c.folder + name} vanished; adopt later"
    except (ReadProblem, _Changed, StoreError, OSError) as exc:
        return str(exc)
    record = Digest(
        c.sid,
        c.folder + name,
        size,
        digest,
        clock.now().astimezone(UTC).isoformat(timespec="seconds"),
        etag=c.etag,
        mtime=c.newest.astimezone(UTC).isoformat() if c.etag is None and c.newest else None,
    )
    data = record.encode()
    try:
        blobs.put(c.writes, data, if_absent=True)
    except PreconditionFailed:
        return f"a digest record {c.writes} appeared meanwhile (another adopt): not overwritten"
    except StoreError as exc:
        return str(exc)
    return {
        "id": c.sid,
        "objects": 1,
        "bytes": size,
        "sha256": digest,
        "record": c.writes,
        "record_sha256": hashlib.sha256(data).hexdigest(),
    }
