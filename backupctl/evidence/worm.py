"""WORM audit records on S3: Object Lock retention on each record, and the bucket's versions
read back (docs/audit-and-lock.md, "WORM records").

* ``[audit] object_lock = "governance" | "compliance"`` with ``object_lock_retain`` writes each
  record with ``ObjectLockMode`` and ``ObjectLockRetainUntilDate`` = now (this host's clock,
  never ``BACKUPCTL_NOW``) + the retention: under compliance nobody, under governance nobody
  without ``s3:BypassGovernanceRetention``, can overwrite or delete that version until then.
* On a versioned bucket (Object Lock implies versioning) ``audit verify`` lists the record
  keys' versions: a record with a second version was overwritten, one behind a delete marker
  was deleted, even when the latest versions form a consistent chain.
* :func:`protection_note` says when the log is not WORM-protected: a note, not a violation.

Only the audit log's S3 client calls live here; the stores' code is not involved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backupctl.errors import StoreError
from backupctl.stores.base import BlobStore, PreconditionFailed
from retention import Duration, add_duration

__all__ = [
    "MAX_VERSIONS",
    "VersionFinding",
    "Worm",
    "protection_note",
    "put_locked",
    "record_versions",
    "s3_location",
]

MAX_VERSIONS = 1_000_000  # versions listed per verification (a bound on a hostile bucket)
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


@dataclass(frozen=True)
class Worm:
    """How records are locked: ``mode`` ``"GOVERNANCE"`` or ``"COMPLIANCE"``, for ``retain``."""

    mode: str
    retain: Duration

    def until(self, now: float | None = None) -> datetime:
        """The retain-until date of a record written at ``now`` (default: this host's clock)."""
        start = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        return add_duration(start, self.retain)


def s3_location(blobs: BlobStore) -> tuple[Any, str, str] | None:
    """``(client, bucket, prefix)`` of an S3 blob store, None for any other kind."""
    from backupctl.stores.blobs import S3Blobs

    if isinstance(blobs, S3Blobs):
        return blobs.client, blobs.bucket, blobs.prefix
    return None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str((response or {}).get("Error", {}).get("Code", type(exc).__name__))


def put_locked(blobs: BlobStore, key: str, data: bytes, worm: Worm) -> None:
    """Create ``key`` (``If-None-Match: *``) under Object Lock retention.

    Raises:
        PreconditionFailed: the key exists.
        StoreError: not an S3 store, or S3 refused (e.g. the bucket has no Object Lock:
            ``InvalidRequest``), naming the bucket, the key and the code.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    where = s3_location(blobs)
    if where is None:
        raise StoreError("[audit] object_lock needs an S3 audit log location")
    client, bucket, prefix = where
    try:
        client.put_object(
            Bucket=bucket,
            Key=prefix + key,
            Body=data,
            IfNoneMatch="*",
            ObjectLockMode=worm.mode,
            ObjectLockRetainUntilDate=worm.until(),
            ChecksumAlgorithm="SHA256",  # Object Lock requires an integrity checksum
        )
    except ClientError as exc:
        if _code(exc) in _PRECONDITION:
            raise PreconditionFailed(f"s3://{bucket}/{prefix}{key} already exists") from None
        raise StoreError(
            f"PutObject s3://{bucket}/{prefix}{key} with Object Lock {worm.mode} failed: "
            f"{_code(exc)} (is the bucket created with Object Lock enabled?)"
        ) from None
    except BotoCoreError as exc:
        raise StoreError(f"PutObject s3://{bucket}/{prefix}{key} failed: {exc}") from None


@dataclass(frozen=True)
class VersionFinding:
    """A record key whose history is not one version: its data versions (newest first, as S3
    lists them), its delete markers, and whether the latest is a delete marker."""

    key: str
    versions: tuple[str, ...]
    markers: int
    deleted: bool

    def describe(self) -> str:
        """What happened to the record, in words."""
        original = self.versions[-1] if self.versions else "?"
        if self.deleted:
            return (
                f"deleted: a delete marker hides its {len(self.versions)} version(s) (the "
                f"original is version {original}): the record was removed"
            )
        what = f"{len(self.versions)} versions" + (
            f" and {self.markers} delete marker(s)" if self.markers else ""
        )
        return (
            f"overwritten: {what} (the original is version {original}, the latest is what was "
            "read): the record was replaced after it was written"
        )


def versioning(blobs: BlobStore) -> str | None:
    """The bucket's versioning status (``"Enabled"``, ``"Suspended"``) or None (never enabled,
    not S3, or not allowed to ask)."""
    where = s3_location(blobs)
    if where is None:
        return None
    client, bucket, _ = where
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception:  # AccessDenied, a service without the call: treated as unknown
        return None
    return str(status) if status else None


def record_versions(blobs: BlobStore, prefix: str) -> list[VersionFinding]:
    """The keys under ``prefix`` (relative to the store's root) with more than one version or
    a delete marker, listed with ListObjectVersions (at most :data:`MAX_VERSIONS`).

    Raises:
        StoreError: the listing failed, or the bucket holds more versions than the bound.
    """
    where = s3_location(blobs)
    if where is None:
        return []
    client, bucket, root = where
    versions: dict[str, list[str]] = {}
    markers: dict[str, int] = {}
    deleted: set[str] = set()
    seen = 0
    try:
        for page in client.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=root + prefix
        ):
            items = page.get("Versions", []) + page.get("DeleteMarkers", [])
            seen += len(items)
            if seen > MAX_VERSIONS:
                raise StoreError(
                    f"s3://{bucket}/{root}{prefix}: more than {MAX_VERSIONS} object versions"
                )
            for v in page.get("Versions", []):  # newest first within a key
                versions.setdefault(str(v.get("Key", ""))[len(root) :], []).append(
                    str(v.get("VersionId"))
                )
            for m in page.get("DeleteMarkers", []):
                key = str(m.get("Key", ""))[len(root) :]
                markers[key] = markers.get(key, 0) + 1
                if m.get("IsLatest"):
                    deleted.add(key)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"ListObjectVersions s3://{bucket}/{root}{prefix} failed: {_code(exc)}"
        ) from None
    return [
        VersionFinding(key, tuple(versions.get(key, [])), markers.get(key, 0), key in deleted)
        for key in sorted(set(versions) | set(markers))
        if len(versions.get(key, [])) > 1 or markers.get(key, 0)
    ]


def protection_note(blobs: BlobStore, newest_key: str | None) -> str | None:
    """Why the audit log is not WORM-protected, or None when its newest record is under an
    Object Lock retention that has not expired."""
    where = s3_location(blobs)
    if where is None:
        return (
            "the audit log is not WORM-protected (not on S3 with Object Lock): whoever can "
            "write its directory can rewrite or delete records; signatures and the remembered "
            "head still catch that"
        )
    client, bucket, prefix = where
    try:
        enabled = (
            client.get_object_lock_configuration(Bucket=bucket)
            .get("ObjectLockConfiguration", {})
            .get("ObjectLockEnabled")
        )
    except Exception:  # ObjectLockConfigurationNotFoundError, AccessDenied …
        enabled = None
    if enabled != "Enabled":
        versioned = versioning(blobs) == "Enabled"
        return (
            f"the audit log is not WORM-protected: bucket {bucket} has no Object Lock"
            + (
                " (it is versioned, so overwrites are seen, but versions can be deleted)"
                if versioned
                else " and no versioning: a record can be overwritten or deleted without a trace"
            )
            + "; see [audit] object_lock"
        )
    if newest_key is None:
        return None
    try:  # HeadObject carries the retention (x-amz-object-lock-retain-until-date)
        until = client.head_object(Bucket=bucket, Key=prefix + newest_key).get(
            "ObjectLockRetainUntilDate"
        )
    except Exception:
        until = None
    if not isinstance(until, datetime) or until.timestamp() <= time.time():
        return (
            f"the newest audit record ({newest_key}) is not under Object Lock retention: "
            "set [audit] object_lock and object_lock_retain so each record is"
        )
    return None
