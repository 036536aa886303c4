"""Trusted time: what each prune saw, kept in its ``prune.result`` audit record, and the
snapshots that claim a time the previous run's memory contradicts.

A snapshot's time is what its producer claims (folder name, manifest, restic's record):
anyone who can write to the store can claim any past time, and a snapshot that claims an old
time can take a real one's retention bucket. backupctl's own memory is the judge: every real
prune records the ids it listed and when (:func:`encode_seen`, the ``seen`` field), hash-chained
and, when configured, signed with the rest of the audit log. A later run (or verify) calls a
snapshot *backdated* when it was not in that listing yet claims a time before that run (less
``safety.clock_skew``), and *drifted* when its objects were written after that run but its
claimed time is further than ``safety.max_time_drift`` from when they were written.

The first run on a store has no memory: nothing is judged (a note says so). A ``seen`` field
that does not decode is reported and treated as no memory (see docs/safety.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from restore.protocol import StoredSnapshot
from retention import Duration, add_duration

__all__ = [
    "FIRST_RUN",
    "MAX_IDS",
    "Memory",
    "Seen",
    "SeenError",
    "Suspect",
    "decode_seen",
    "encode_seen",
    "memory_from_records",
    "suspects",
]

MAX_IDS = 5_000_000  # far beyond any store backupctl lists in one run
MAX_ID_CHARS = 1024
MAX_ENCODED = 64 * 1024 * 1024  # base64 characters
MAX_DECODED = MAX_IDS * 64  # bytes of the decompressed, newline-joined ids
FIRST_RUN = (
    "no earlier prune recorded what it saw (a first run on this store): "
    "snapshot times cannot be judged against backupctl's memory yet"
)


class SeenError(ValueError):
    """A ``seen`` field that is not what :func:`encode_seen` writes (named, bounded)."""


@dataclass(frozen=True)
class Seen:
    """What one run listed: its time and every snapshot id (complete, held and incomplete)."""

    at: datetime
    ids: frozenset[str]


@dataclass(frozen=True)
class Memory:
    """The newest ``seen`` of the verified audit log, or why there is none to judge with
    (``problem``; ``first_run`` when no run ever recorded one)."""

    seen: Seen | None = None
    problem: str | None = None
    first_run: bool = False


@dataclass(frozen=True)
class Suspect:
    """A snapshot whose claimed time the memory contradicts."""

    stored: StoredSnapshot
    why: str  # "backdated" or "drift"

    def to_json(self) -> dict[str, Any]:
        """The fields a ``time_drift`` finding names."""
        s = self.stored
        return {
            "id": s.snapshot.id,
            "time": s.snapshot.time.isoformat(),
            "written": s.written.isoformat() if s.written is not None else None,
            "why": self.why,
        }


def _digest(joined: bytes) -> str:
    return hashlib.sha256(joined).hexdigest()


def encode_seen(at: datetime, ids: Iterable[str]) -> dict[str, Any]:
    """The ``seen`` field: ``{"v": 1, "at", "count", "sha256", "ids"}``, where ``ids`` is the
    sorted ids joined by newlines, zlib-compressed, base64; ``sha256`` is of the joined bytes."""
    joined = "\n".join(sorted(set(ids))).encode()
    count = 0 if not joined else joined.count(b"\n") + 1
    return {
        "v": 1,
        "at": at.isoformat(),
        "count": count,
        "sha256": _digest(joined),
        "ids": base64.b64encode(zlib.compress(joined, 9)).decode("ascii"),
    }


def decode_seen(value: Any) -> Seen:
    """Parse a ``seen`` field read from the audit log (hostile input: every size bounded).

    Raises:
        SeenError: naming what is wrong (shape, time, size, count or digest mismatch).
    """
    if not isinstance(value, dict) or value.get("v") != 1:
        raise SeenError("seen: expected an object with v = 1")
    at_text, count, digest, blob = (value.get(k) for k in ("at", "count", "sha256", "ids"))
    if not isinstance(at_text, str) or len(at_text) > 40:
        raise SeenError("seen.at: expected an ISO 8601 time")
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        raise SeenError(f"seen.at: {at_text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise SeenError(f"seen.at: {at_text!r} has no UTC offset")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_IDS:
        raise SeenError(f"seen.count: expected an integer from 0 to {MAX_IDS}")
    if not isinstance(digest, str) or len(digest) != 64:
        raise SeenError("seen.sha256: expected 64 hex digits")
    if not isinstance(blob, str) or len(blob) > MAX_ENCODED:
        raise SeenError(f"seen.ids: expected base64 text of at most {MAX_ENCODED} characters")
    try:
        packed = base64.b64decode(blob.encode("ascii"), validate=True)
        inflate = zlib.decompressobj()
        joined = inflate.decompress(packed, MAX_DECODED)
        if inflate.unconsumed_tail or not inflate.eof:
            raise SeenError(f"seen.ids: more than {MAX_DECODED} bytes, or truncated")
    except (binascii.Error, UnicodeEncodeError, zlib.error) as exc:
        raise SeenError(f"seen.ids: not zlib in base64 ({exc})") from None
    if _digest(joined) != digest.lower():
        raise SeenError("seen.sha256: does not match the ids")
    try:
        ids = joined.decode("utf-8").split("\n") if joined else []
    except UnicodeDecodeError:
        raise SeenError("seen.ids: not UTF-8") from None
    if len(ids) != count:
        raise SeenError(f"seen.count: {count}, but the ids hold {len(ids)}")
    if any(not i or len(i) > MAX_ID_CHARS for i in ids):
        raise SeenError(f"seen.ids: an empty id or one longer than {MAX_ID_CHARS} characters")
    return Seen(at, frozenset(ids))


def memory_from_records(records: Sequence[dict[str, Any]]) -> Memory:
    """The newest ``prune.result`` record's ``seen`` (records of a verified log, in seq order).

    A newest ``seen`` that does not decode is reported in ``problem`` and gives no memory:
    nothing is judged, which is what a run without this check would do (never a wider
    deletion). Records older than the newest ``seen`` are not consulted.
    """
    for record in reversed(records):
        data = record.get("data") if record.get("action") == "prune.result" else None
        if not isinstance(data, dict) or "seen" not in data:
            continue
        seq = record.get("seq")
        try:
            return Memory(decode_seen(data["seen"]))
        except SeenError as exc:
            return Memory(problem=f"audit record seq {seq}: {exc}; no memory to judge times with")
    return Memory(problem=FIRST_RUN, first_run=True)


def suspects(
    snapshots: Iterable[StoredSnapshot],
    seen: Seen,
    *,
    grace: Duration,
    max_drift: Duration,
) -> list[Suspect]:
    """The snapshots the memory contradicts, in the given order.

    Backdated: not in ``seen.ids`` yet claiming a time before ``seen.at`` less ``grace``.
    Drift: not in ``seen.ids``, written after ``seen.at`` and claiming a time further than
    ``max_drift`` from when its objects were written (only where the store knows it).
    """
    before = grace.cutoff(seen.at)
    out: list[Suspect] = []
    for s in snapshots:
        if s.snapshot.id in seen.ids:
            continue
        t, w = s.snapshot.time, s.written
        if t < before:
            out.append(Suspect(s, "backdated"))
        elif (
            w is not None
            and w > seen.at
            and (t < max_drift.cutoff(w) or t > add_duration(w, max_drift))
        ):
            out.append(Suspect(s, "drift"))
    return out
