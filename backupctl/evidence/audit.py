"""The append-only, hash-chained audit log stored beside the backups.

One object per record, ``_backupctl/audit/<seq:010d>.json``, written with a conditional
PUT so two writers never both take a seq. A record is a JSON object::

    {"seq": 7, "time": "2026-11-23T10:00:00+00:00", "actor": "ops@db1", "action": "prune.intent",
     "data": {...}, "prev": "<sha256 of record 6>", "sha256": "<digest of this record>"}

* ``prev`` is the SHA-256 (hex) of the previous record's canonical bytes (the whole record,
  ``sha256`` included); the first record's ``prev`` is 64 zeros.
* ``sha256`` is the SHA-256 of this record's canonical bytes *without* the ``sha256`` key,
  so an edit of the newest record (which no ``prev`` covers yet) is caught too.
* canonical bytes = ``json.dumps(record, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False).encode()``; records are stored as exactly those bytes.
* ``_backupctl/audit-head.json`` remembers the newest seq and its hash, so records removed
  from the end are caught; it may lag (a crash, or two writers) and never runs ahead.
* signed logs (``[audit] signing_key_file``): each record also carries ``key_id`` and ``sig``,
  the Ed25519 signature of its canonical bytes without ``sig`` and ``sha256``
  (:func:`signed_bytes`); ``sha256`` covers the signature. Checked against a public key
  (:class:`~backupctl.evidence.signing.Verifier`), a record that is unsigned, signed by another
  key or badly signed is a problem; a signed ``key.rotate`` record hands the trust on to the
  key it names (:data:`ROTATE_ACTION`, docs/audit-and-lock.md "Signing").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backupctl import clock
from backupctl.errors import StoreError
from backupctl.log import get_logger
from backupctl.prune.lock import ConditionIgnored, confirm_condition, default_actor
from backupctl.stores.base import BlobStore, PreconditionFailed
from backupctl.untrusted import loads

if TYPE_CHECKING:
    from backupctl.config import Config
    from backupctl.evidence.signing import Signer, Verifier
    from backupctl.evidence.worm import Worm

__all__ = [
    "AUDIT_PREFIX",
    "HEAD_KEY",
    "ROTATE_ACTION",
    "ZERO_HASH",
    "AuditLog",
    "AuditProblem",
    "AuditReport",
    "Since",
    "audit_log_for",
    "canonical",
    "key_after_rotations",
    "record_digest",
    "record_hash",
    "signed_bytes",
    "verify_jsonl",
    "verify_jsonl_report",
]

AUDIT_PREFIX = "_backupctl/audit/"
HEAD_KEY = "_backupctl/audit-head.json"
ZERO_HASH = "0" * 64
_KEY_RE = re.compile(r"^_backupctl/audit/([0-9]{10})\.json$")  # [0-9]: \d is any Unicode digit
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
ROTATE_ACTION = "key.rotate"  # data: {"old_key_id", "new_key_id", "new_public_key": 64 hex}
_WALK_LIMIT = 100_000


log = get_logger("audit")


def canonical(record: dict[str, Any]) -> bytes:
    """The canonical bytes of a record (sorted keys, no spaces, UTF-8)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 hex of the whole record's canonical bytes: the next record's ``prev``."""
    return hashlib.sha256(canonical(record)).hexdigest()


def record_digest(record: dict[str, Any]) -> str:
    """SHA-256 hex of the record without its ``sha256`` key: the record's own ``sha256``."""
    return record_hash({k: v for k, v in record.items() if k != "sha256"})


def signed_bytes(record: dict[str, Any]) -> bytes:
    """What a record's ``sig`` signs: its canonical bytes without ``sig`` and ``sha256``."""
    return canonical({k: v for k, v in record.items() if k not in ("sig", "sha256")})


def record_key(seq: int) -> str:
    """The blob key of record ``seq``."""
    return f"{AUDIT_PREFIX}{seq:010d}.json"


@dataclass(frozen=True)
class AuditProblem:
    """One thing wrong with the log: which record (seq and/or key or line) and what."""

    seq: int | None
    key: str | None
    problem: str

    def __str__(self) -> str:
        where = " ".join(
            p
            for p in (
                f"record {self.seq}" if self.seq is not None else "",
                f"({self.key})" if self.key else "",
            )
            if p
        )
        return f"{where}: {self.problem}" if where else self.problem

    def to_json(self) -> dict[str, Any]:
        """``{"seq", "key", "problem"}``."""
        return {"seq": self.seq, "key": self.key, "problem": self.problem}


def _record_problems(record: Any) -> list[str]:
    """What is malformed in a parsed record (empty when well-formed)."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    problems = []
    seq = record.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        problems.append(f"seq: expected a positive integer, got {seq!r}")
    for name in ("actor", "action"):
        if not isinstance(record.get(name), str) or not record.get(name):
            problems.append(f"{name}: expected a non-empty string, got {record.get(name)!r}")
    if not isinstance(record.get("data"), dict):
        problems.append(f"data: expected a JSON object, got {record.get('data')!r}")
    for name in ("prev", "sha256"):
        if not isinstance(record.get(name), str) or not _HEX64.match(record[name]):
            problems.append(f"{name}: expected 64 lowercase hex digits, got {record.get(name)!r}")
    if "sig" in record or "key_id" in record:
        if not isinstance(record.get("key_id"), str) or not _HEX64.match(record["key_id"]):
            problems.append(
                f"key_id: expected 64 lowercase hex digits, got {record.get('key_id')!r:.80}"
            )
        if not isinstance(record.get("sig"), str) or not _HEX128.match(record["sig"]):
            problems.append(
                f"sig: expected 128 lowercase hex digits, got {record.get('sig')!r:.80}"
            )
    try:
        stamp = datetime.fromisoformat(record.get("time", ""))
        if stamp.tzinfo is None:
            problems.append(f"time: {record['time']!r} has no UTC offset")
    except (TypeError, ValueError):
        problems.append(f"time: expected an ISO 8601 time with offset, got {record.get('time')!r}")
    return problems


@dataclass
class _Entry:
    """A stored record: where it is, the seq its place implies (None in JSONL), the parse."""

    where: str
    slot: int | None
    record: dict[str, Any] | None


def _load(raw: bytes | str, what: str) -> Any:
    """A record or head read from the store: bounded JSON (depth, digits, size, no NaN).

    Raises:
        UntrustedInput (a ValueError): anything else, naming ``what``.
    """
    return loads(raw, what)


def _parse(where: str, slot: int | None, raw: bytes | str, problems: list[AuditProblem]) -> _Entry:
    try:
        record = _load(raw, "record")
    except ValueError as exc:
        problems.append(
            AuditProblem(
                slot,
                where,
                f"not valid JSON or out of bounds ({exc}): the record was damaged or replaced",
            )
        )
        return _Entry(where, slot, None)
    bad = _record_problems(record)
    if bad:
        seq = (
            record.get("seq")
            if isinstance(record, dict) and isinstance(record.get("seq"), int)
            else slot
        )
        problems.append(AuditProblem(seq, where, "malformed record: " + "; ".join(bad)))
        return _Entry(where, slot, None)
    if slot is not None and record["seq"] != slot:
        problems.append(
            AuditProblem(
                slot,
                where,
                f"stored as record {slot} but says seq {record['seq']}: "
                "records were moved, swapped or renumbered",
            )
        )
    if record_digest(record) != record["sha256"]:
        problems.append(
            AuditProblem(
                record["seq"], where, "content does not match its sha256: the record was edited"
            )
        )
    return _Entry(where, slot, record)


def _check_sequence(entries: list[_Entry], problems: list[AuditProblem]) -> dict[int, _Entry]:
    """Gaps, duplicates and (JSONL) order; returns the entries by seq."""
    by_seq: dict[int, _Entry] = {}
    last = 0
    for entry in entries:
        seq = entry.slot if entry.slot is not None else (entry.record or {}).get("seq")
        if not isinstance(seq, int):
            continue
        if seq in by_seq:
            problems.append(
                AuditProblem(
                    seq,
                    entry.where,
                    f"seq {seq} appears again (also at {by_seq[seq].where}): "
                    "a record was inserted or copied",
                )
            )
            continue
        if seq < last:
            problems.append(
                AuditProblem(
                    seq, entry.where, f"seq {seq} comes after seq {last}: records were reordered"
                )
            )
        elif seq > last + 1:
            missing = f"{last + 1}" if seq == last + 2 else f"{last + 1}..{seq - 1}"
            problems.append(
                AuditProblem(
                    last + 1,
                    entry.where,
                    f"record(s) {missing} missing before seq {seq}: records were removed",
                )
            )
        by_seq[seq] = entry
        last = max(last, seq)
    return by_seq


def _check_chain(by_seq: dict[int, _Entry], problems: list[AuditProblem]) -> None:
    for seq in sorted(by_seq):
        record = by_seq[seq].record
        if record is None:
            continue
        if seq == 1:
            expected = ZERO_HASH
        elif seq - 1 in by_seq and by_seq[seq - 1].record is not None:
            expected = record_hash(by_seq[seq - 1].record or {})
        else:
            continue  # the gap or the unreadable predecessor is already reported
        if record["prev"] != expected:
            problems.append(
                AuditProblem(
                    seq,
                    by_seq[seq].where,
                    (
                        f"prev {record['prev'][:12]}… does not match the hash of record "
                        f"{seq - 1} ({expected[:12]}…)"
                        if seq > 1
                        else f"prev {record['prev'][:12]}… of the first record is not 64 zeros"
                    )
                    + ": the record before it was changed, "
                    "or records were removed, inserted or reordered",
                )
            )


def _check_anchor(
    by_seq: dict[int, _Entry], expect_head: str, problems: list[AuditProblem]
) -> None:
    """An anchored head (e.g. from a proof) must be the hash of some record.

    The log may grow, not change.
    """
    for seq in sorted(by_seq, reverse=True):
        record = by_seq[seq].record
        if record is not None and record_hash(record) == expect_head:
            return
    problems.append(
        AuditProblem(
            None,
            None,
            f"the expected head {expect_head} is the hash of no record in the log: "
            "records were removed from the end or the log was rewritten",
        )
    )


@dataclass(frozen=True)
class Since:
    """A head the log must still extend: record ``seq`` must be there with hash ``head``.
    ``what`` says where the head comes from (``"the verification of <time>"``, ``"proof …"``)."""

    seq: int
    head: str
    what: str


def _check_extends(by_seq: dict[int, _Entry], since: Since, problems: list[AuditProblem]) -> None:
    """The log must still hold record ``since.seq`` with hash ``since.head``: it may have
    grown since, never shrunk, been emptied or rewritten."""
    if since.seq == 0:
        return  # an empty log was remembered: every log extends it
    newest = max(by_seq, default=0)
    if newest < since.seq:
        now = "is empty" if newest == 0 else f"ends at seq {newest}"
        problems.append(
            AuditProblem(
                None,
                None,
                f"the log {now}, but {since.what} saw it reach seq {since.seq} (head "
                f"{since.head[:16]}…): records were removed from the end or the log was emptied",
            )
        )
        return
    entry = by_seq.get(since.seq)
    if entry is None or entry.record is None:
        return  # the gap or the unreadable record is already reported
    if record_hash(entry.record) != since.head:
        problems.append(
            AuditProblem(
                since.seq,
                entry.where,
                f"is not the record {since.what} saw (head {since.head[:16]}…): "
                "the log was rewritten from here or earlier",
            )
        )


def _rotation_target(record: dict[str, Any], current: Verifier) -> tuple[Verifier | None, str]:
    """The key a (validly signed) ``key.rotate`` record hands on to, or None and why not."""
    from backupctl.evidence.signing import Verifier, public_key_from_hex

    data = record["data"]
    public = public_key_from_hex(data.get("new_public_key"))
    if public is None:
        return None, "new_public_key: expected 64 hex digits of an Ed25519 public key"
    new = Verifier.of(public)
    if data.get("new_key_id") != new.key_id:
        return None, f"new_key_id {str(data.get('new_key_id'))[:16]!r} is not new_public_key's id"
    if data.get("old_key_id") != current.key_id:
        return None, "old_key_id is not the key that signed it"
    return new, ""


def _check_signatures(
    by_seq: dict[int, _Entry], trust: Verifier, signed_from: int, problems: list[AuditProblem]
) -> Verifier:
    """Every readable record from ``signed_from`` on must be signed by the key trusted at its
    place: ``trust`` at first, then the key each valid ``key.rotate`` names. Returns the key
    trusted at the end of the log."""
    current = trust
    for seq in sorted(by_seq):
        entry = by_seq[seq]
        record = entry.record
        if record is None or seq < signed_from:
            continue  # an unreadable record is already reported
        where = entry.where
        short = current.key_id[:16]
        if "sig" not in record:
            problems.append(
                AuditProblem(
                    seq,
                    where,
                    f"unsigned, but the log is checked against key {short}…: the record was "
                    "written without the private key (forged, inserted or rewritten)",
                )
            )
            continue
        if record["key_id"] != current.key_id:
            problems.append(
                AuditProblem(
                    seq,
                    where,
                    f"signed by key {record['key_id'][:16]}…, not by the trusted key {short}…: "
                    "forged with another key (no signed key.rotate hands the trust to it)",
                )
            )
            continue
        if not current.verify(record["sig"], signed_bytes(record)):
            problems.append(
                AuditProblem(
                    seq,
                    where,
                    f"bad signature for key {short}…: the record was changed or forged "
                    "without the private key",
                )
            )
            continue
        if record["action"] == ROTATE_ACTION:
            new, why = _rotation_target(record, current)
            if new is None:
                problems.append(
                    AuditProblem(
                        seq, where, f"malformed key.rotate ({why}): the key was not rotated"
                    )
                )
            else:
                current = new
    return current


def key_after_rotations(
    trust: Verifier, rotations: Iterable[Any]
) -> tuple[Verifier, list[AuditProblem]]:
    """The key trusted after the given ``key.rotate`` records (untrusted, e.g. copied into a
    proof), starting from ``trust``: each must be well-formed, signed by the key trusted
    before it and name the next. Returns that key and the problems (empty when all hold)."""
    problems: list[AuditProblem] = []
    by_seq: dict[int, _Entry] = {}
    for n, record in enumerate(rotations, start=1):
        bad = _record_problems(record)
        if not bad and record["action"] != ROTATE_ACTION:
            bad = [f"action: expected {ROTATE_ACTION!r}, got {record['action']!r:.40}"]
        if not bad and record["seq"] in by_seq:
            bad = [f"seq {record['seq']} appears twice"]
        if bad:
            problems.append(AuditProblem(None, f"rotation {n}", "; ".join(bad)))
            continue
        by_seq[record["seq"]] = _Entry(f"rotation {n}", None, record)
    if problems:
        return trust, problems
    return _check_signatures(by_seq, trust, 1, problems), problems


def _verify(
    entries: list[_Entry],
    problems: list[AuditProblem],
    expect_head: str | None,
    trust: Verifier | None = None,
    signed_from: int = 1,
    since: Iterable[Since] = (),
) -> tuple[dict[int, _Entry], str | None]:
    """Sequence, chain, anchors and (with ``trust``) signatures; returns the entries by seq and
    the id of the key trusted at the end of the log (None: signatures not checked)."""
    by_seq = _check_sequence(entries, problems)
    _check_chain(by_seq, problems)
    if expect_head:
        _check_anchor(by_seq, expect_head, problems)
    for earlier in since:
        _check_extends(by_seq, earlier, problems)
    key_id = None
    if trust is not None:
        key_id = _check_signatures(by_seq, trust, signed_from, problems).key_id
    return by_seq, key_id


@dataclass(frozen=True)
class AuditReport:
    """The outcome of a verification: how many records, the newest one's hash, the problems."""

    records: int
    head: str | None
    problems: tuple[AuditProblem, ...]
    head_seq: int = 0  # the newest record's seq (0: an empty log)
    key_id: str | None = None  # signatures checked: the key trusted at the end; None: not checked
    notes: tuple[str, ...] = ()  # not violations: e.g. the log is not WORM-protected

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """``{"ok", "records", "head", "head_seq", "key_id", "problems": [{"seq", "key",
        "problem"}]}`` (``key_id`` null: signatures were not checked)."""
        return {
            "ok": self.ok,
            "records": self.records,
            "head": self.head,
            "head_seq": self.head_seq,
            "key_id": self.key_id,
            "problems": [p.to_json() for p in self.problems],
            "notes": list(self.notes),
        }


def _report(
    entries: list[_Entry],
    by_seq: dict[int, _Entry],
    problems: list[AuditProblem],
    key_id: str | None = None,
) -> AuditReport:
    newest = by_seq[max(by_seq)].record if by_seq else None
    head = record_hash(newest) if newest is not None else (ZERO_HASH if not entries else None)
    return AuditReport(
        records=len(entries),
        head=head,
        problems=tuple(problems),
        head_seq=max(by_seq, default=0),
        key_id=key_id,
    )


def verify_jsonl_report(
    text: str,
    expect_head: str | None = None,
    *,
    trust: Verifier | None = None,
    signed_from: int = 1,
    since: Iterable[Since] = (),
) -> AuditReport:
    """Verify an exported log (JSON Lines, one record per line, in seq order).

    Args:
        text: the export.
        expect_head: optionally a head hash recorded earlier (a proof's); it must be the
            hash of one of the records, which catches records removed from the end.
        trust: the public key the log began with: every record from ``signed_from`` on must
            carry its valid signature (or that of a key a signed ``key.rotate`` handed on to).
        signed_from: the first seq that must be signed.
        since: heads seen earlier (a proof's, this host's last verification): the log must
            still extend each.

    Returns:
        The report: record count, head hash and every problem (none when intact).
    """
    problems: list[AuditProblem] = []
    entries = [
        _parse(f"line {n}", None, line, problems)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    by_seq, key_id = _verify(entries, problems, expect_head, trust, signed_from, since)
    return _report(entries, by_seq, problems, key_id)


def verify_jsonl(text: str, expect_head: str | None = None) -> list[AuditProblem]:
    """The problems of an exported log (see :func:`verify_jsonl_report`); empty when intact."""
    return list(verify_jsonl_report(text, expect_head).problems)


class AuditLog:
    """The audit log in a blob store (``_backupctl/audit/`` under its root)."""

    def __init__(
        self,
        blobs: BlobStore,
        *,
        max_attempts: int = 50,
        workers: int = 8,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
        signed_from: int = 1,
        worm: Worm | None = None,
    ) -> None:
        """``signer`` signs every appended record; ``verifier`` (the key the log began with)
        makes verification check signatures from seq ``signed_from`` on; ``worm`` writes each
        record under S3 Object Lock retention."""
        self.worm = worm
        self.blobs = blobs
        self.signer = signer
        self.verifier = verifier
        self.signed_from = signed_from
        self.last_appended: dict[str, Any] | None = None  # the record this object wrote last
        self.max_attempts = max_attempts
        self.workers = workers
        self._condition_checked = False  # whether this store was seen to honour If-None-Match
        self._last_read: tuple[int, bytes] | None = (
            None  # (seq, bytes) of the record _hash_of read last
        )

    # reading ---------------------------------------------------------------------------

    def _keys(self) -> list[str]:
        return [b.key for b in self.blobs.list(AUDIT_PREFIX)]

    def _fetch(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        keys = list(keys)
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(keys)))) as pool:
            yield from zip(keys, pool.map(self.blobs.get, keys), strict=True)

    def records(self) -> list[dict[str, Any]]:
        """Every record in seq order.

        Raises:
            StoreError: a record object is not a readable record (run ``audit verify``).
        """
        out = []
        for key, raw in self._fetch(k for k in self._keys() if _KEY_RE.match(k)):
            try:
                record = _load(raw, f"audit record {key}")
            except ValueError:
                record = None
            if _record_problems(record):
                raise StoreError(
                    f"audit record {key} is unreadable; run `backupctl audit verify` for details"
                )
            out.append(record)
        return out

    def head(self) -> str:
        """The hash of the newest record (64 zeros for an empty log).

        That is what the next ``prev`` will be.
        """
        keys = [k for k in self._keys() if _KEY_RE.match(k)]
        if not keys:
            return ZERO_HASH
        try:
            return record_hash(_load(self.blobs.get(keys[-1]), f"audit record {keys[-1]}"))
        except ValueError:
            raise StoreError(
                f"audit record {keys[-1]} is unreadable; run `backupctl audit verify`"
            ) from None

    def export_jsonl(self) -> str:
        """The log as JSON Lines (one canonical record per line, seq order), for offline reading."""
        lines = []
        for key, raw in self._fetch(k for k in self._keys() if _KEY_RE.match(k)):
            try:
                lines.append(canonical(_load(raw, f"audit record {key}")).decode())
            except ValueError:
                lines.append(
                    json.dumps({"unreadable_object": key, "raw": raw.decode("utf-8", "replace")})
                )
        return "".join(line + "\n" for line in lines)

    def verify(self, expect_head: str | None = None) -> list[AuditProblem]:
        """Every problem of the stored log (see :meth:`verify_report`); empty when intact."""
        return list(self.verify_report(expect_head).problems)

    def verify_report(
        self, expect_head: str | None = None, *, since: Iterable[Since] = (), history: bool = False
    ) -> AuditReport:
        """Check the stored log: every record well-formed and stored under its own seq, its
        ``sha256`` right, no gaps, every ``prev`` the hash of its predecessor, the head
        pointer consistent, (optionally) ``expect_head`` the hash of some record, every
        head in ``since`` still extended, and (with a verifier) every record signed. With
        ``history`` also each record's versions on a versioned S3 bucket (an overwritten or
        deleted record is a problem) and whether the log is WORM-protected (a note).

        Returns:
            The report: record count, head hash and every problem (each naming seq and key).

        Raises:
            StoreError: the store cannot be read.
        """
        return self.verified_records(expect_head, since=since, history=history)[0]

    def verified_records(
        self, expect_head: str | None = None, *, since: Iterable[Since] = (), history: bool = False
    ) -> tuple[AuditReport, list[dict[str, Any]]]:
        """:meth:`verify_report` and, from the same single read of the log, its records in seq
        order (empty unless the log verifies), for callers that trust only a verified log.

        Raises:
            StoreError: the store cannot be read.
        """
        problems: list[AuditProblem] = []
        keys = self._keys()
        for key in keys:
            if not _KEY_RE.match(key):
                problems.append(
                    AuditProblem(
                        None,
                        key,
                        "unexpected object in the audit log (expected "
                        "<10-digit seq>.json): something was inserted",
                    )
                )
        entries = [
            _parse(key, int(_KEY_RE.match(key).group(1)), raw, problems)  # type: ignore[union-attr]
            for key, raw in self._fetch(k for k in keys if _KEY_RE.match(k))
        ]
        by_seq, key_id = _verify(
            entries, problems, expect_head, self.verifier, self.signed_from, since
        )
        self._check_head_pointer(by_seq, problems)
        notes: tuple[str, ...] = ()
        if history:
            notes = self._check_history(problems, record_key(max(by_seq)) if by_seq else None)
        report = _report(entries, by_seq, problems, key_id)
        if notes:
            report = dataclasses.replace(report, notes=notes)
        records = (
            [e.record for _, e in sorted(by_seq.items()) if e.record is not None]
            if report.ok
            else []
        )
        return report, records

    def _check_history(self, problems: list[AuditProblem], newest: str | None) -> tuple[str, ...]:
        """The records' versions (a versioned S3 bucket) and the WORM note; see
        :mod:`backupctl.evidence.worm`."""
        from backupctl.evidence import worm

        if worm.versioning(self.blobs) is not None:
            for finding in worm.record_versions(self.blobs, AUDIT_PREFIX):
                match = _KEY_RE.match(finding.key)
                problems.append(
                    AuditProblem(
                        int(match.group(1)) if match else None, finding.key, finding.describe()
                    )
                )
        note = worm.protection_note(self.blobs, newest)
        return (note,) if note else ()

    def _read_head(self) -> tuple[int, str] | None:
        try:
            raw = self.blobs.get(HEAD_KEY)
        except KeyError:
            return None
        try:
            data = _load(raw, "the audit head pointer")
        except ValueError as exc:
            raise StoreError(
                f"the audit head pointer {HEAD_KEY} is unreadable ({exc}); run "
                "`backupctl audit verify`"
            ) from None
        seq = data.get("seq") if isinstance(data, dict) else None
        digest = data.get("sha256") if isinstance(data, dict) else None
        if (
            isinstance(seq, bool)
            or not isinstance(seq, int)
            or seq < 1
            or not isinstance(digest, str)
        ):
            raise StoreError(
                f'the audit head pointer {HEAD_KEY} is malformed (expected {{"seq": a positive '
                'integer, "sha256": a string}); run `backupctl audit verify`'
            )
        return seq, digest

    def _check_head_pointer(self, by_seq: dict[int, _Entry], problems: list[AuditProblem]) -> None:
        try:
            pointer = self._read_head()
        except StoreError as exc:
            problems.append(AuditProblem(None, HEAD_KEY, str(exc)))
            return
        newest = max(by_seq, default=0)
        if pointer is None:
            if len(by_seq) >= 2:
                problems.append(
                    AuditProblem(None, HEAD_KEY, "the head pointer is missing: it was deleted")
                )
            return
        seq, digest = pointer
        if seq > newest:
            problems.append(
                AuditProblem(
                    newest + 1,
                    HEAD_KEY,
                    f"the head pointer says the log reached seq {seq}, "
                    f"but it ends at {newest}: records were removed from the end",
                )
            )
        elif (
            seq in by_seq
            and (record := by_seq[seq].record) is not None
            and record_hash(record) != digest
        ):
            problems.append(
                AuditProblem(
                    seq,
                    by_seq[seq].where,
                    "differs from the hash the head pointer recorded: the record was edited",
                )
            )

    # appending -------------------------------------------------------------------------

    def append(
        self,
        action: str,
        data: dict[str, Any],
        *,
        actor: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Append one record and return it.

        Args:
            action: e.g. ``"prune.intent"``, ``"prune.result"``, ``"prune.forced"``, ``"drill"``.
            data: the plan or result; a JSON-serialisable dict. It is recorded (and hashed)
                redacted: a password in a URL, ``password=…``
                (:func:`backupctl.secrets.redact_data`).
            actor: who acts (default ``user@host``).
            now: the record's time, aware (default :func:`backupctl.clock.now`).

        Raises:
            TypeError/ValueError: ``data`` is not a JSON-serialisable dict, ``now`` is naive.
            StoreError: the store failed, the log's tail is damaged (append refuses to
                continue a damaged log), or other writers kept winning the next seq.
        """
        now = now or clock.now()
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not isinstance(data, dict) or not action:
            raise TypeError("append needs an action and a dict of data")
        json.dumps(data, allow_nan=False)  # TypeError/ValueError for what JSON cannot carry
        from backupctl.secrets import (
            redact_data,
        )  # credentials never reach the log (docs/safety.md)

        body = {
            "time": now.isoformat(),
            "actor": actor or default_actor(),
            "action": action,
            "data": json.loads(canonical(redact_data(data))),
        }
        if self.signer is not None:
            body["key_id"] = self.signer.key_id
        seq, prev = self._tail()
        self._check_signing_key(seq)
        if seq > 0:
            self._check_condition(
                seq
            )  # before writing: a store that ignores it would let us overwrite
        for attempt in range(self.max_attempts):
            record = {**body, "seq": seq + 1, "prev": prev}
            if self.signer is not None:
                record["sig"] = self.signer.sign(signed_bytes(record))
            record["sha256"] = record_digest(record)
            raw = canonical(record)
            try:
                self._put_record(record_key(seq + 1), raw)
            except PreconditionFailed:
                if self._get_or_none(record_key(seq + 1)) == raw:
                    break  # our own write: the first response was lost and the PUT retried
                seq, prev = self._walk(seq, prev)
                time.sleep(random.uniform(0, 0.01 * min(attempt + 1, 10)))
                continue
            self._confirm_written(seq + 1, raw)
            break
        else:
            raise StoreError(
                f"could not append to the audit log after {self.max_attempts} attempts: "
                "other writers kept taking the next seq"
            )
        self._advance_head(record["seq"], record_hash(record))
        self.last_appended = record
        log.info("audit_appended", seq=record["seq"], action=action, signed=self.signer is not None)
        return record

    def _put_record(self, key: str, raw: bytes) -> None:
        """Create a record: a conditional PUT, under Object Lock retention with ``worm``."""
        if self.worm is None:
            self.blobs.put(key, raw, if_absent=True)
            return
        from backupctl.evidence.worm import put_locked

        put_locked(self.blobs, key, raw, self.worm)

    def _check_signing_key(self, seq: int) -> None:
        """Before signing record ``seq + 1``: the newest record must leave the log to this key.

        A record after a ``key.rotate`` that names another key, or after a record signed by
        another key, would not verify (a host still configured with the old key, say).

        Raises:
            StoreError: naming the key the log expects; nothing was appended.
        """
        cached = self._last_read
        if self.signer is None or seq == 0 or cached is None or cached[0] != seq:
            return
        try:
            tail = _load(cached[1], f"audit record {record_key(seq)}")
        except ValueError:
            return  # appending refuses a damaged tail elsewhere
        if not isinstance(tail, dict) or not isinstance(tail.get("key_id"), str):
            return  # an unsigned log: signing starts here ([audit] signed_from)
        mine, data = self.signer.key_id, tail.get("data")
        if tail.get("action") == ROTATE_ACTION and isinstance(data, dict):
            expected = str(data.get("new_key_id"))
            why = f"record {seq} (key.rotate) handed the log to key {expected[:16]}…"
        else:
            expected = tail["key_id"]
            why = f"the newest record ({seq}) is signed by key {expected[:16]}…"
        if expected != mine:
            raise StoreError(
                f"audit log: {why}, but [audit] signing_key_file is key {mine[:16]}…, whose "
                "records would not verify; set signing_key_file to the log's current key (or "
                "rotate to this one with `backupctl audit rotate-key`). Nothing was appended"
            )

    def _check_condition(self, seq: int, raw: bytes | None = None, *, ours: bool = False) -> None:
        """Once per log object: a conditional PUT of record ``seq``'s own bytes must be refused.

        Raises:
            ConditionIgnored: the store ignores If-None-Match (nothing new was appended).
        """
        if self._condition_checked:
            return
        cached = self._last_read
        if raw is None:
            raw = (
                cached[1]
                if cached is not None and cached[0] == seq
                else self._get_or_none(record_key(seq))
            )
        if raw is None:
            return
        try:
            confirm_condition(self.blobs, record_key(seq), raw, f"audit record {record_key(seq)}")
        except ConditionIgnored as exc:
            left = (
                f"record {seq} was written by this run, nothing more will be appended"
                if ours
                else "the audit log was left as it was: nothing was appended"
            )
            raise ConditionIgnored(f"{exc}. {left}") from None
        self._condition_checked = True

    def _confirm_written(self, seq: int, raw: bytes) -> None:
        """After a conditional PUT of record ``seq``: it must read back as exactly ``raw``.

        Raises:
            ConditionIgnored: another writer replaced it (the store ignored If-None-Match).
        """
        if self._get_or_none(record_key(seq)) != raw:
            log.error("audit_record_overwritten", seq=seq)
            raise ConditionIgnored(
                f"audit record {seq} ({record_key(seq)}) was overwritten by another writer "
                "right after this run wrote it: the store did not honour If-None-Match: *. "
                "This run's record is lost and nothing more was appended; "
                "run `backupctl audit verify` and use a service that honours conditional writes"
            )
        self._check_condition(seq, raw, ours=True)

    def _get_or_none(self, key: str) -> bytes | None:
        try:
            return self.blobs.get(key)
        except KeyError:
            return None

    def _hash_of(self, seq: int) -> str | None:
        raw = self._get_or_none(record_key(seq))
        if raw is None:
            return None
        self._last_read = (seq, raw)
        try:
            return record_hash(_load(raw, f"audit record {record_key(seq)}"))
        except ValueError as exc:
            raise StoreError(
                f"audit record {record_key(seq)} is unreadable ({exc}); the log is damaged, "
                "nothing was appended. Run `backupctl audit verify`"
            ) from None

    def _walk(self, seq: int, prev: str) -> tuple[int, str]:
        """From record ``seq`` (hash ``prev``), follow existing records to the newest."""
        for _ in range(_WALK_LIMIT):
            nxt = self._hash_of(seq + 1)
            if nxt is None:
                return seq, prev
            seq, prev = seq + 1, nxt
        raise StoreError(f"audit log: more than {_WALK_LIMIT} records past the head pointer")

    def _tail(self) -> tuple[int, str]:
        """(seq, hash) of the newest record: from the head pointer, checked, then walked forward."""
        pointer = self._read_head()
        if pointer is None:
            keys = [k for k in self._keys() if _KEY_RE.match(k)]
            if not keys:
                return 0, ZERO_HASH
            seq = int(_KEY_RE.match(keys[-1]).group(1))  # type: ignore[union-attr]
            return seq, self._hash_of(seq) or ZERO_HASH
        seq, digest = pointer
        actual = self._hash_of(seq)
        if actual != digest:
            raise StoreError(
                f"the audit log is damaged: record {seq} is "
                f"{'missing' if actual is None else 'changed'} but the head pointer recorded it; "
                "nothing was appended. Run `backupctl audit verify`"
            )
        return self._walk(seq, digest)

    def _advance_head(self, seq: int, digest: str) -> None:
        pointer = self._read_head()
        if pointer is None or pointer[0] < seq:
            self.blobs.put(HEAD_KEY, json.dumps({"seq": seq, "sha256": digest}).encode())


def audit_log_for(config: Config, *, sign: bool = True) -> AuditLog:
    """The audit log of ``config``: where ``[audit] url`` (or the store) puts it, signing with
    ``[audit] signing_key_file`` (unless ``sign`` is False) and checking signatures against
    ``[audit] public_key_file`` from ``[audit] signed_from`` on.

    The keys are read first, so a bad key file stops a command before it changes anything.

    Raises:
        KeyFileError (exit 2): a key file is missing, unreadable, too open or not a key.
        ConfigError: no audit log location (a local restic repository without ``[audit] url``).
    """
    from backupctl.evidence.signing import load_public_key, load_signer
    from backupctl.stores.locations import audit_blobs_for

    settings = config.audit
    signer = load_signer(settings.signing_key_file) if sign and settings.signing_key_file else None
    verifier = (
        load_public_key(settings.public_key_file, "[audit] public_key_file")
        if settings.public_key_file
        else None
    )
    blobs = audit_blobs_for(config)
    worm = None
    if settings.object_lock and settings.object_lock_retain:
        from backupctl.errors import ConfigError
        from backupctl.evidence.worm import Worm, s3_location

        if s3_location(blobs) is None:
            raise ConfigError(
                config.path,
                [
                    "audit.object_lock: needs an S3 audit log (the store or [audit] url on "
                    f"s3://), not {getattr(blobs, 'url', 'this location')}"
                ],
            )
        worm = Worm(settings.object_lock.upper(), settings.object_lock_retain)
    return AuditLog(
        blobs,
        signer=signer,
        verifier=verifier,
        signed_from=settings.signed_from,
        worm=worm,
    )
