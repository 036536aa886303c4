"""S3 blobs for backupctl's own objects (the prune lock, the audit log), through boto3.

Kept apart from :mod:`backupctl.stores.blobs` so that boto3/botocore (~90 ms of imports) load only
when an S3 blob store is actually used.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from backupctl.errors import StoreError
from backupctl.log import get_logger
from backupctl.stores.base import BlobInfo, PreconditionFailed, check_key

__all__ = ["S3Blobs"]

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


log = get_logger("blobs")


def _http_date(value: Any) -> float | None:
    """POSIX seconds of an HTTP ``Date`` header; None when absent or unparsable."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.timestamp() if parsed.tzinfo else None


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

    @classmethod
    def from_url(
        cls,
        url: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
    ) -> S3Blobs:
        """The blob store at ``s3://bucket/prefix`` with a new client for these S3 settings."""
        from backupctl.stores.s3client import make_s3_client, split_s3_url

        bucket, prefix = split_s3_url(url)
        return cls(
            make_s3_client(endpoint_url=endpoint_url, region=region, profile=profile),
            bucket,
            prefix,
        )

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
        return self.get_with_meta(key)[0]

    def get_with_meta(self, key: str) -> tuple[bytes, float | None, float | None]:
        """The object's bytes, its Last-Modified and the service's clock (the response's
        ``Date`` header), as POSIX seconds; None for a value the service did not send.

        Both times come from the service, so their difference (an object's age) does not
        depend on the clock of this host or of the host that wrote the object.

        Raises:
            KeyError: no such key.
            StoreError: any other S3 failure.
        """
        full = self._full(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full)
            body = response["Body"]
            try:
                data = bytes(body.read())
            finally:
                body.close()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise KeyError(key) from None
            raise self._error("GetObject", full, exc) from None
        except BotoCoreError as exc:
            raise self._error("GetObject", full, exc) from None
        modified = response.get("LastModified")
        written = (
            modified.timestamp() if isinstance(modified, datetime) and modified.tzinfo else None
        )
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return data, written, _http_date(headers.get("date"))

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
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    yield BlobInfo(key=obj["Key"][len(self.prefix) :], size=int(obj.get("Size", 0)))
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
                log.warning(
                    "versioning_unknown",
                    bucket=self.bucket,
                    code=exc.response.get("Error", {}).get("Code"),
                )
                status = None
            self._versioned = status in ("Enabled", "Suspended")
        return self._versioned

    def _delete_versions(self, full: str) -> None:
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=full
        )
        for page in pages:
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry["Key"] == full:  # the prefix also matches longer keys
                    self.client.delete_object(
                        Bucket=self.bucket, Key=full, VersionId=entry["VersionId"]
                    )
