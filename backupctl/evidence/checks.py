"""What verify finds, typed, and the one table of its kinds.

A :class:`Violation` is a broken promise (verify exits 3); a :class:`Note` needs a look but is
not one. Both are a :class:`Finding`: a kind, a group and the kind's own JSON-ready fields, so
one ``to_json()`` gives the verify JSON contract's dict, key for key. Internal code passes the
typed objects; ``to_json()`` is called only at the edge (``verify --json``, proof.json).

:data:`CHECKS` is the one home of what a kind means: the advice the verify command prints,
how it describes one finding, and whether the proof's verdict counts it among the violations
of its closing verify run. backupctl/evidence/verify.py, backupctl/commands/verify.py and
backupctl/evidence/proof_model.py look kinds up here and nowhere else. Adding a check is one
entry here plus the function in backupctl/evidence/verify.py that produces its violations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHECKS", "Check", "Finding", "Note", "Violation", "describe_fields", "lookup"]


@dataclass(frozen=True)
class Finding:
    """One thing verify found: ``kind``, ``group`` and the kind's own fields.

    The fields are JSON values, in output order.
    """

    kind: str
    group: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "group", **details}``: the verify JSON contract's violation or note."""
        return {"kind": self.kind, "group": self.group, **self.details}


@dataclass(frozen=True)
class Violation(Finding):
    """A broken promise.

    A missed backup, a coverage gap, over-retention, damaged data or audit log …
    """


@dataclass(frozen=True)
class Note(Finding):
    """Needs a look, but is not a broken promise: an incomplete snapshot, an unknown key …"""


def describe_fields(f: Finding) -> str:
    """The generic human line: ``kind: field=value, …``."""
    return f"{f.kind}: " + ", ".join(f"{k}={x}" for k, x in f.details.items())


@dataclass(frozen=True)
class Check:
    """What one kind means to the verify command and to the proof.

    Attributes:
        kind: the ``kind`` string of the JSON contract.
        advice: what to do, printed once above the kind's violations ("" for a note).
        describe: the human line for one finding of this kind.
        note: True for a note (not a violation).
        in_proof_verdict: the proof's verdict counts it among "verify at the period's end"
            violations; False when the proof has its own finding for it (missed backups from
            the period's slots, the audit log from its own verification).
    """

    kind: str
    advice: str = ""
    describe: Callable[[Finding], str] = describe_fields
    note: bool = False
    in_proof_verdict: bool = True


def _d(f: Finding, key: str) -> Any:
    return f.details.get(key)


def _t(f: Finding, key: str) -> str:
    """The ISO time field ``key`` as human output shows times (:mod:`backupctl.humanize`);
    a value that is not an ISO time is shown as it is."""
    from datetime import datetime

    from backupctl.humanize import when

    value = f.details.get(key)
    try:
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


_ENTRIES = (
    Check(
        "missed",
        "the backup job did not run or did not finish: check the job's logs and scheduler, "
        "then make a fresh backup",
        lambda f: f"expected {_t(f, 'expected')} (no snapshot before {_t(f, 'deadline')})",
        in_proof_verdict=False,
    ),
    Check(
        "coverage",
        "a backup the policy promises to hold is gone: "
        "check the audit log (backupctl audit verify) "
        "for who deleted it; restore it from a secondary copy if one exists",
        lambda f: f"{_d(f, 'rule')} {_d(f, 'bucket')}: no snapshot kept for this bucket",
    ),
    Check(
        "over_retention",
        "prune has not removed what the policy no longer keeps: run backupctl prune "
        "(or check why the scheduled prune fails or refuses)",
        lambda f: (
            f"{_d(f, 'id')} ({_t(f, 'time')}): not kept by any rule since {_t(f, 'lost_reason_at')}"
        ),
    ),
    Check(
        "integrity",
        "stored data does not match its manifest: treat the snapshot as damaged, make a fresh "
        "backup and investigate the storage",
        lambda f: f"{_d(f, 'id')} {_d(f, 'key')}: {_d(f, 'problem')}",
    ),
    Check(
        "audit",
        "the audit log was changed, reordered or truncated: keep the evidence, "
        "compare with the last proof's head hash and investigate access to the bucket",
        lambda f: f"seq {_d(f, 'seq')} {_d(f, 'key')}: {_d(f, 'problem')}",
        in_proof_verdict=False,
    ),
    Check(
        "no_snapshots",
        "a configured group has no backups at all: check the backup job and the group name",
        lambda f: f"no snapshot at all (policy {_d(f, 'policy')})",
    ),
    Check("incomplete", describe=lambda f: f"{_d(f, 'id')}: {_d(f, 'problem')}", note=True),
    Check(
        "unknown_key",
        describe=lambda f: (
            str(_d(f, "key")) + (f": {_d(f, 'problem')}" if _d(f, "problem") else "")
        ),
        note=True,
    ),
    Check(
        "no_integrity_reference",
        describe=lambda f: f"{_d(f, 'id')}: no recorded sha256 and no stored checksum; size only",
        note=True,
    ),
    Check("name_time", describe=lambda f: f"{_d(f, 'id')}: {_d(f, 'problem')}", note=True),
    Check("unconfigured_group", describe=lambda f: f"{f.group}: no policy", note=True),
    Check(
        "future",
        describe=lambda f: f"{_d(f, 'id')} dated {_t(f, 'time')}, after the check's time",
        note=True,
    ),
    Check("audit_unavailable", describe=lambda f: str(_d(f, "problem")), note=True),
    Check(
        "time_drift",
        "a snapshot claims a time backupctl's memory of the previous prune contradicts "
        "(backdated, or far from when its objects were written): find who wrote it; prune "
        "refuses to let it displace others (see docs/safety.md, Trusted time)",
        lambda f: (
            f"{_d(f, 'id')} claims {_t(f, 'time')}, written {_t(f, 'written')} "
            f"({_d(f, 'why')}; previous run {_t(f, 'previous_run')})"
        ),
    ),
    Check("trusted_time", describe=lambda f: str(_d(f, "problem")), note=True),
)
CHECKS: dict[str, Check] = {c.kind: c for c in _ENTRIES}


def lookup(kind: str) -> Check:
    """The entry for ``kind``.

    An unknown kind is a violation to investigate, described field by field.
    """
    return CHECKS.get(kind) or Check(kind, advice="investigate")
