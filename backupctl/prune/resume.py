"""What a prune takes from the audit log: which interrupted deletions it may finish (only what
an earlier backupctl prune recorded as being deleted) and which snapshots passed a drill (the
newest of each group is kept by the ``last_verified`` safety rule).

A deletion journal (``_backupctl/deleting/*.json``) is only a hint: anyone who can write to
the store can plant one. A folder without a manifest that a journal names is resumed only
when a ``prune.intent`` record of a verified audit log names it too, and the runner then also
checks it against today's listing (never the newest of its group; see
:func:`backupctl.prune.runner.compute_run_plan`). Everything else stays "incomplete, never deleted".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backupctl.errors import BackupctlError
from backupctl.prune.memory import Memory, memory_from_records

__all__ = [
    "Intents",
    "intents_from_records",
    "intents_of",
    "read_intents",
    "verified_from_records",
]


@dataclass(frozen=True)
class Intents:
    """Snapshot ids earlier prunes recorded in ``prune.intent``; ``problem`` says why none can
    be trusted (the audit log does not verify, or cannot be read)."""

    ids: frozenset[str] = frozenset()
    problem: str | None = None
    verified: dict[str, str] = field(default_factory=dict)
    """Snapshot id -> when a drill of it passed (the newest such drill), from ``drill`` records."""
    unreadable: bool = False
    """The log could not be read at all (``problem`` says why), rather than read and refuted."""
    memory: Memory = field(default_factory=lambda: Memory(problem="no audit log was consulted"))
    """What the previous prune saw (trusted time, :mod:`backupctl.prune.memory`)."""


def intents_from_records(records: list[dict[str, Any]]) -> frozenset[str]:
    """The ids named by ``delete[].id`` of every ``prune.intent`` record (other shapes ignored)."""
    ids: set[str] = set()
    for record in records:
        data = record.get("data") if record.get("action") == "prune.intent" else None
        delete = data.get("delete") if isinstance(data, dict) else None
        for item in delete if isinstance(delete, list) else ():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                ids.add(item["id"])
    return frozenset(ids)


def verified_from_records(records: list[dict[str, Any]]) -> dict[str, str]:
    """Snapshot id -> the ``time`` of the newest ``drill`` record whose verdict is ``passed``
    (other shapes ignored). Callers give only a verified log's records; until records are
    signed (``[audit] public_key_file``) a forged drill record looks like a real one, but it
    can only make a prune keep more."""
    out: dict[str, str] = {}
    for record in records:
        data = record.get("data") if record.get("action") == "drill" else None
        if not isinstance(data, dict) or data.get("verdict") != "passed":
            continue
        snap = data.get("snapshot")
        sid = snap.get("id") if isinstance(snap, dict) else None
        if isinstance(sid, str) and sid:
            out[sid] = str(record.get("time", ""))
    return out


def read_intents(config: Any) -> Intents:
    """:func:`intents_of` the config's audit log."""
    from backupctl.evidence.audit import audit_log_for

    try:  # with [audit] public_key_file, a forged (unsigned) prune.intent fails verification
        log = audit_log_for(config, sign=False)
    except BackupctlError as exc:
        return Intents(problem=f"the audit log cannot be read: {exc}", unreadable=True)
    return intents_of(log)


def intents_of(log: Any) -> Intents:
    """Verify an audit log; the ids its ``prune.intent`` records name.

    ``log`` is a :class:`backupctl.evidence.audit.AuditLog`.

    Returns:
        :class:`Intents`; with ``problem`` set (and no ids) when the log does not verify or
        cannot be read. Never raises for a bad log: not resuming is always safe.
    """
    try:
        report, records = log.verified_records()  # one read of the log
        if not report.ok:
            return Intents(
                problem=f"the audit log does not verify ({len(report.problems)} problem(s); "
                "run `backupctl audit verify`)"
            )
        return Intents(
            intents_from_records(records),
            verified=verified_from_records(records),
            memory=memory_from_records(records),
        )
    except BackupctlError as exc:
        return Intents(problem=f"the audit log cannot be read: {exc}", unreadable=True)
