"""The proof document: what ``backupctl proof`` reconstructs for a period, and its hash.

Pure, no I/O.

The proof reconstructs the period from what the store holds now and what the audit log says
was deleted: every scheduled slot is ``filled`` (a snapshot present now), ``deleted`` (its
snapshot was removed by a recorded prune, with the reasons), ``missed`` (no snapshot ever
filled it) or ``pending`` (its deadline is after the period or after now). It lists every
snapshot present with its manifest's SHA-256, every deletion and every drill in the period,
the audit log's head hash and verification, a verify run at the period's end, and a verdict.

The document's bytes (:func:`proof_json`) are proof.json; every other format is rendered from
the document and that hash (:mod:`backupctl.evidence.proof_files`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backupctl.config import Config
from backupctl.evidence.checks import lookup
from backupctl.evidence.verify import VerifyReport, schedule_of
from backupctl.secrets import redact_data
from backupctl.stores.base import Listing
from retention import Snapshot
from retention.schedule import match_snapshots

__all__ = [
    "FAILED_DRILLS",
    "ProofInputs",
    "build_proof",
    "deletions",
    "drills",
    "parse_time",
    "proof_json",
    "proof_sha256",
]

FAILED_DRILLS = ("failed", "over_target", "error")


@dataclass(frozen=True)
class ProofInputs:
    """What a proof is built from (all read before building; building does no I/O)."""

    config: Config
    listing: Listing
    records: Sequence[dict[str, Any]]
    audit: dict[str, Any]  # {"ok", "records", "head", "problems"}
    verify: VerifyReport
    start: datetime
    end: datetime
    now: datetime


def _in(t: datetime, start: datetime, end: datetime) -> bool:
    return start.timestamp() <= t.timestamp() < end.timestamp()


def parse_time(t: str) -> datetime | None:
    """``t`` as an aware datetime, or None (not ISO 8601, or naive)."""
    try:
        parsed = datetime.fromisoformat(t)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


def deletions(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every snapshot a recorded prune deleted: id, group, snapshot time, when, by whom, why.

    A deletion is an id in a ``prune.result``'s ``deleted`` list; its time and reasons come
    from the ``prune.intent`` before it.
    """
    intent: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in records:
        data = r.get("data") or {}
        if r.get("action") == "prune.intent":
            for d in data.get("delete", []):
                if isinstance(d, dict) and "id" in d:
                    intent[str(d["id"])] = {**d, "forced": data.get("forced")}
        elif r.get("action") == "prune.result":
            for sid in data.get("deleted", []):
                why = intent.get(str(sid), {})
                out.append(
                    {
                        "id": str(sid),
                        "group": why.get("group", str(sid).split("/")[0]),
                        "time": why.get("time"),
                        "deleted_at": r.get("time"),
                        "actor": r.get("actor"),
                        "seq": r.get("seq"),
                        "reason": why.get("reason", "not recorded in a prune.intent"),
                        "kept_reasons": why.get("kept_reasons", []),
                        "forced": why.get("forced"),
                    }
                )
    return out


def drills(
    records: Sequence[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every drill record in ``[start, end)``: when, snapshot, verdict, working time, message."""
    out = []
    for r in records:
        t = parse_time(str(r.get("time")))
        if r.get("action") != "drill" or t is None or not _in(t, start, end):
            continue
        data = r.get("data") or {}
        raw = data.get("snapshot")
        snap: dict[str, Any] = raw if isinstance(raw, dict) else {}
        out.append(
            {
                "time": r.get("time"),
                "seq": r.get("seq"),
                "snapshot": snap.get("id"),
                "group": snap.get("group"),
                "verdict": data.get("verdict"),
                "working_time": data.get("working_time"),
                "message": data.get("message"),
            }
        )
    return out


def _group_slots(inputs: ProofInputs, deleted: list[dict[str, Any]]) -> dict[str, Any]:
    cfg = inputs.config
    out: dict[str, Any] = {}
    present = [s for s in inputs.listing.snapshots]
    held_ids = {
        str(k)
        for r in inputs.records
        if r.get("action") == "prune.result"
        for k in (r.get("data") or {}).get("held", {}) or {}
    }
    for policy in cfg.policies:
        mine = [s.snapshot for s in present if s.snapshot.group == policy.group]
        gone = [
            Snapshot(d["id"], t, policy.group)
            for d in deleted
            if d["group"] == policy.group and (t := parse_time(str(d["time"]))) is not None
        ]
        known = mine + gone
        began = min((s.time for s in known), key=lambda t: t.timestamp(), default=None)
        sched = schedule_of(policy, cfg.timezone)
        slots: list[dict[str, Any]] = []
        if sched is not None and began is not None:
            start = max(inputs.start, began, key=lambda t: t.timestamp())
            gone_ids = {s.id for s in gone}
            horizon = min(inputs.end, inputs.now, key=lambda t: t.timestamp())
            for m in match_snapshots(sched.slots(start, inputs.end), known, now=horizon):
                status: str = m.status
                if m.snapshot is not None and m.snapshot.id in gone_ids:
                    status = "deleted"
                elif m.snapshot is not None and m.snapshot.id in held_ids:
                    status = "held"
                slots.append(
                    {
                        "expected": m.slot.expected.isoformat(),
                        "deadline": m.slot.deadline.isoformat(),
                        "status": status,
                        "snapshot": m.snapshot.id if m.snapshot else None,
                    }
                )
        counts = {
            k: sum(s["status"] == k for s in slots)
            for k in ("filled", "deleted", "held", "missed", "pending")
        }
        out[policy.group] = {
            "policy": policy.name,
            "schedule": policy.schedule,
            "rules": policy.policy.describe(),
            "history_began": began.isoformat() if began else None,
            "counts": counts,
            "slots": slots,
        }
    return out


def build_proof(inputs: ProofInputs) -> dict[str, Any]:
    """The proof document (proof.json's content) for ``inputs``; pure.

    Every string in it is redacted (:func:`backupctl.secrets.redact_data`): a password in the
    store URL shows as ``***``.
    """
    start, end = inputs.start, inputs.end
    deleted = deletions(inputs.records)
    groups = _group_slots(inputs, deleted)
    snaps = [
        {
            "id": s.snapshot.id,
            "group": s.snapshot.group,
            "time": s.snapshot.time.isoformat(),
            "status": s.status,
            "size": s.size,
            "manifest_sha256": s.manifest_sha256,
        }
        for s in sorted(
            inputs.listing.snapshots, key=lambda s: (s.snapshot.group, s.snapshot.time.timestamp())
        )
        if _in(s.snapshot.time, start, end)
    ]
    in_period = [
        d
        for d in deleted
        if (t := parse_time(str(d["deleted_at"]))) is not None and _in(t, start, end)
    ]
    drill_list = drills(inputs.records, start, end)
    verdict = _verdict(groups, inputs.audit, drill_list, inputs.verify)
    doc: dict[str, Any] = redact_data(
        {  # the store URL, error texts …: none reaches proof.json or proof.html
            "version": 1,
            "period": {"from": start.isoformat(), "to": end.isoformat()},
            "generated_at": inputs.now.isoformat(),
            "config": {
                "path": inputs.config.path,
                "sha256": inputs.config.sha256,
                "timezone": str(inputs.config.timezone),
                "store": inputs.config.store.url,
            },
            "verdict": verdict,
            "groups": groups,
            "snapshots": snaps,
            "deletions": in_period,
            "drills": drill_list,
            "audit": inputs.audit,
            "verify": inputs.verify.to_json(),
        }
    )
    return doc


def _verdict(
    groups: dict[str, Any],
    audit: dict[str, Any],
    drill_list: list[dict[str, Any]],
    verify: VerifyReport,
) -> dict[str, Any]:
    findings: list[str] = []
    for name, g in groups.items():
        if g["counts"]["missed"]:
            findings.append(
                f"{name}: {g['counts']['missed']} scheduled backup(s) missed in the period"
            )
    if not audit.get("ok"):
        findings.append(
            f"audit log: {len(audit.get('problems', []))} problem(s): "
            "the log was tampered with or damaged"
        )
    failed = [d for d in drill_list if d["verdict"] in FAILED_DRILLS]
    if failed:
        findings.append(f"drills: {len(failed)} of {len(drill_list)} failed or over target")
    other = [
        v for v in verify.violations if lookup(v.kind).in_proof_verdict
    ]  # missed, audit: found above
    kinds = sorted({v.kind for v in other})
    if other:
        findings.append(
            f"verify at the period's end: {len(other)} violation(s) ({', '.join(kinds)})"
        )
    return {"ok": not findings, "summary": "PASS" if not findings else "FAIL", "findings": findings}


def proof_json(proof: dict[str, Any]) -> bytes:
    """proof.json's bytes: ``proof`` as sorted, indented UTF-8 JSON with a final newline."""
    return (json.dumps(proof, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def proof_sha256(data: bytes) -> str:
    """SHA-256 hex of proof.json's bytes."""
    return hashlib.sha256(data).hexdigest()
