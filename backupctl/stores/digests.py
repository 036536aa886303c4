"""Digest records: the sha256 that ``backupctl adopt`` recorded for a single-object snapshot
(a key template not ending in '/') whose object carries no checksum of its own.

One small JSON object per snapshot, in the store's internal area, keyed by the snapshot id::

    _backupctl/digests/<group>/<YYYYMMDDTHHMMSSZ>.json
    {"version": 1, "id": "db/20261123T010000Z", "key": "db/2026-11-23T0200.sql.gz",
     "size": 1234, "sha256": "<64 lowercase hex>", "adopted": "2026-12-02T16:00:00+00:00",
     "etag": "\\"…\\""}            (S3: the object's ETag when it was hashed; file: "mtime")

It is written once, with a conditional PUT (``If-None-Match: *`` on S3, ``link()`` on a file
store), and read back as hostile input: at most :data:`MAX_DIGEST_BYTES`, strict JSON, every
field checked, its ``id`` and ``key`` those of the snapshot it is read for. A bad record is an
integrity problem naming it (:class:`DigestError`), never a crash. The layout lists every key
under ``_backupctl/`` as backupctl's own, so a record is never a snapshot or an unknown key; a
prune deletes a snapshot's record by its exact key, after the object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backupctl import untrusted
from backupctl.stores.layout import INTERNAL_PREFIX, MAX_OBJECT_SIZE, parse_snapshot_id

__all__ = [
    "DIGEST_PREFIX",
    "MAX_DIGEST_BYTES",
    "Digest",
    "DigestError",
    "digest_key",
    "parse_digest",
    "read_digest",
]

DIGEST_PREFIX = INTERNAL_PREFIX + "digests/"
MAX_DIGEST_BYTES = 16 << 10  # a record is ~300 bytes (a 1024-byte S3 key at most): far below
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"version", "id", "key", "size", "sha256", "adopted", "etag", "mtime"}
_MAX_TEXT = 1024


class DigestError(ValueError):
    """A digest record that cannot be trusted; the message says what is wrong (one line)."""


@dataclass(frozen=True)
class Digest:
    """What ``adopt`` recorded for one single-object snapshot: its id, the object's key
    (relative to the store's root), size and sha256, when it was recorded, and the object's
    ETag (S3) or mtime (file store, ISO) at that time."""

    id: str
    key: str
    size: int
    sha256: str
    adopted: str
    etag: str | None = None
    mtime: str | None = None

    def encode(self) -> bytes:
        """The record's bytes (compact JSON, one line)."""
        import json

        doc: dict[str, Any] = {
            "version": 1,
            "id": self.id,
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "adopted": self.adopted,
        }
        if self.etag is not None:
            doc["etag"] = self.etag
        if self.mtime is not None:
            doc["mtime"] = self.mtime
        return json.dumps(doc, separators=(",", ":")).encode()

    def mismatch(self, size: int, sha256: str, where: str) -> str | None:
        """How an object read as ``size`` bytes with digest ``sha256`` differs from this record
        (``where``: how the record is shown), or None when it matches."""
        if size != self.size:
            return f"size {size} != recorded {self.size} ({where})"
        if sha256 != self.sha256:
            return (
                f"sha256 mismatch: recorded {self.sha256[:12]}… ({where}, by adopt at "
                f"{self.adopted}), object {sha256[:12]}…"
            )
        return None


def digest_key(sid: str) -> str:
    """The record's key (relative to the store's root) for snapshot id ``sid``:
    ``_backupctl/digests/<sid>.json``; ids are unique, so keys are.

    Raises:
        ValueError: ``sid`` is not a ``<group>/<YYYYMMDDTHHMMSSZ>`` id.
    """
    parse_snapshot_id(sid)
    return f"{DIGEST_PREFIX}{sid}.json"


def parse_digest(data: bytes, sid: str, key: str) -> Digest:
    """Validate a record's bytes read for snapshot ``sid`` whose object is ``key``.

    Raises:
        DigestError: too large, not JSON, an unknown or missing field, a bad value, or the
            ``id``/``key`` of another snapshot.
    """
    try:
        doc = untrusted.loads(data, "digest record", max_bytes=MAX_DIGEST_BYTES)
    except untrusted.UntrustedInput as exc:
        raise DigestError(str(exc)) from None
    if not isinstance(doc, dict):
        raise DigestError("expected a JSON object")
    extra = sorted(str(k) for k in doc if k not in _FIELDS)
    if extra:
        raise DigestError(f"unknown field(s) {', '.join(repr(k[:40]) for k in extra[:3])}")
    if type(doc.get("version")) is not int or doc["version"] != 1:
        raise DigestError(f"unsupported version {_short(doc.get('version'))} (expected 1)")
    if doc.get("id") != sid:
        raise DigestError(f"id {_short(doc.get('id'))} is not this snapshot's ({sid})")
    if doc.get("key") != key:
        raise DigestError(f"key {_short(doc.get('key'))} is not this snapshot's object ({key})")
    size = doc.get("size")
    if type(size) is not int or not 0 <= size <= MAX_OBJECT_SIZE:
        raise DigestError(f"size {_short(size)}: expected an integer from 0 to {MAX_OBJECT_SIZE}")
    sha = doc.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise DigestError(f"sha256 {_short(sha)}: expected 64 lowercase hex digits")
    adopted = _time(doc, "adopted", required=True)
    mtime = _time(doc, "mtime", required=False)
    etag = doc.get("etag")
    if etag is not None and (
        not isinstance(etag, str) or len(etag) > _MAX_TEXT or not etag.isprintable()
    ):
        raise DigestError(f"etag {_short(etag)}: expected printable text")
    assert adopted is not None
    return Digest(sid, key, size, sha, adopted, etag, mtime)


def _time(doc: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            if datetime.fromisoformat(value).tzinfo is not None:
                return value
        except ValueError:
            pass
    raise DigestError(f"{name} {_short(value)}: expected an ISO 8601 time with an offset")


def _short(value: Any) -> str:
    """A value as shown in a one-line message: repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_digest(store: Any, sid: str) -> Digest | None:
    """The record of ``sid`` in a folder store (S3 or file: read through its ``_open``, which
    follows no symlink on a file store), or None when there is none. At most
    :data:`MAX_DIGEST_BYTES` + 1 bytes are kept, whatever the object's size.

    Raises:
        DigestError: it exists but cannot be read or trusted (the message says why).
    """
    from backupctl.stores.manifest import ReadProblem

    key = digest_key(sid)
    buf = bytearray()
    try:
        chunks = store._open("", key)
        try:
            for chunk in chunks:
                buf += chunk[: MAX_DIGEST_BYTES + 1 - len(buf)]
                if len(buf) > MAX_DIGEST_BYTES:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except FileNotFoundError:
        return None
    except ReadProblem as exc:
        raise DigestError(str(exc)) from None
    return parse_digest(bytes(buf), sid, store.folder(sid))
