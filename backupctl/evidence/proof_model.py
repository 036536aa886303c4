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
from backupctl.evidence.promise import GroupPromise, policy_words, promise_text, schedule_words
from backupctl.evidence.verify import VerifyReport, schedule_of
from backupctl.secrets import redact_data
from backupctl.stores.base import Listing
from retention import Snapshot
from retention.coverage import coverage
from retention.schedule import match_snapshots

__all__ = [
    "FAILED_DRILLS",
    "ProofInputs",
    "build_proof",
    "deletion_counts",
    "deletions",
    "drills",
    "forced_prunes",
    "parse_time",
    "proof_json",
    "proof_sha256",
    "protected",
]

FAILED_DRILLS = (
    "failed",
    "over_target",
    "error",
    "verify_failed",
    "live_check_timeout",
    "restore_failed",
)  # restore.drill's failing verdicts (and older names); only "passed" passes
NOT_RECORDED = "not kept by policy"  # what a deletion recorded before ``why`` existed shows


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
                        "why": _why(why),
                        "kept_reasons": why.get("kept_reasons", []),
                        "forced": why.get("forced"),
                    }
                )
    return out


def _why(intent: dict[str, Any]) -> list[str]:
    """The rules a deleted snapshot fell outside (``prune.intent``'s ``why``), as strings; a
    record written before ``why`` existed gives ``[NOT_RECORDED]``."""
    raw = intent.get("why")
    if isinstance(raw, list) and raw:
        return [str(x)[:500] for x in raw[:20]]
    return [NOT_RECORDED if intent else "not recorded in a prune.intent"]


def forced_prunes(
    records: Sequence[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every ``prune.forced`` record in ``[start, end)``: when, who, the reason, the refusals
    it overrode (group, rule, message) and its audit seq."""
    out = []
    for r in records:
        t = parse_time(str(r.get("time")))
        if r.get("action") != "prune.forced" or t is None or not _in(t, start, end):
            continue
        data = r.get("data") or {}
        refusals = [x for x in data.get("refusals") or [] if isinstance(x, dict)]
        out.append(
            {
                "time": r.get("time"),
                "actor": r.get("actor"),
                "seq": r.get("seq"),
                "reason": data.get("reason"),
                "refusals": [
                    {k: x.get(k) for k in ("group", "rule", "message", "overridable")}
                    for x in refusals
                ],
            }
        )
    return out


def protected(
    records: Sequence[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Snapshots a safety rule kept against the retention rules, per ``prune.intent`` in
    ``[start, end)``: the newest one per snapshot id (id, group, time, reasons, when)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        t = parse_time(str(r.get("time")))
        if r.get("action") != "prune.intent" or t is None or not _in(t, start, end):
            continue
        for p in (r.get("data") or {}).get("protected") or []:
            if isinstance(p, dict) and "id" in p:
                out[str(p["id"])] = {
                    "id": str(p["id"]),
                    "group": p.get("group"),
                    "time": p.get("time"),
                    "reasons": [str(x) for x in p.get("reasons") or []],
                    "at": r.get("time"),
                    "seq": r.get("seq"),
                }
    return list(out.values())


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
                "working_time_seconds": data.get("working_time_seconds"),
                "target": data.get("target"),
                "target_seconds": data.get("target_seconds"),
                "live_check": _live_configured(data),
                "message": data.get("message"),
            }
        )
    return out


def _live_configured(data: dict[str, Any]) -> bool | None:
    for phase in data.get("phases") or []:
        if isinstance(phase, dict) and phase.get("name") == "live":
            configured = phase.get("configured")  # the phase's details sit beside its name
            return bool(configured) if configured is not None else None
    return None


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
            "promise": {
                "schedule": schedule_words(policy.schedule),
                "retention": policy_words(policy.policy),
            },
            "history_began": began.isoformat() if began else None,
            "uncovered": _uncovered(inputs, sched, began),
            "counts": counts,
            "slots": slots,
            "tiers": _tiers(inputs, policy, mine, deleted),
        }
    return out


def _uncovered(inputs: ProofInputs, sched: Any, began: datetime | None) -> dict[str, Any] | None:
    """The part of the period before the group's history began, when backups were due in it
    (or the whole period, when there is no history): ``{from, to, days, scheduled}``; None when
    the history covers the period. The proof's slots start at ``began``, so without this the
    days before it would pass silently."""
    end = min(inputs.end, inputs.now, key=lambda t: t.timestamp())
    stop = end if began is None else min(began, end, key=lambda t: t.timestamp())
    if stop.timestamp() <= inputs.start.timestamp():
        return None
    due = [m for m in sched.slots(inputs.start, stop) if m.expected < stop] if sched else []
    if sched is not None and not due:
        return None  # nothing was scheduled before the first backup
    if sched is None and began is not None:
        return None  # nothing promised per time: nothing uncovered
    tz = inputs.config.timezone
    first = inputs.start.astimezone(tz).date()
    last_t = due[-1].expected if due else stop
    last = last_t.astimezone(tz).date()
    return {
        "from": inputs.start.isoformat(),
        "to": stop.isoformat(),
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "days": (last - first).days + 1,
        "scheduled": len(due),
    }


def _tiers(
    inputs: ProofInputs, policy: Any, mine: list[Snapshot], deleted: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per retention tier (``within``, ``within_daily``, ``monthly`` …) at verify's time: how
    many slots the promise needed then and how many a snapshot filled, with the empty ones.

    The store is taken as it stood then: present snapshots plus those deleted later (as verify's
    own run is), and no slot before the group's history began."""
    at = inputs.verify.at
    later = [
        Snapshot(d["id"], t, policy.group)
        for d in deleted
        if d["group"] == policy.group
        and (t := parse_time(str(d["time"]))) is not None
        and (gone := parse_time(str(d["deleted_at"]))) is not None
        and gone.timestamp() > at.timestamp()
    ]
    snaps = [x for x in mine + later if x.time.timestamp() <= at.timestamp()]
    if not snaps:
        return []
    since = min((x.time for x in snaps), key=lambda t: t.timestamp())
    try:
        slots = coverage(
            policy.policy,
            snaps,
            now=at,
            schedule=schedule_of(policy, inputs.config.timezone),
            since=since,
        )
    except ValueError:
        return []
    tiers: dict[str, dict[str, Any]] = {}
    for slot in slots:
        tier = tiers.setdefault(slot.rule, {"rule": slot.rule, "needed": 0, "had": 0, "empty": []})
        tier["needed"] += 1
        if slot.filled:
            tier["had"] += 1
        elif len(tier["empty"]) < 50:
            tier["empty"].append(slot.bucket)
    return list(tiers.values())


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
    for d in in_period:
        t = parse_time(str(d["time"]))
        d["before_period"] = t is not None and t.timestamp() < start.timestamp()
    drill_list = drills(inputs.records, start, end)
    verdict = _verdict(groups, inputs.audit, drill_list, inputs.verify)
    cfg = inputs.config
    promise = promise_text(
        [GroupPromise(p.group, p.policy, p.schedule) for p in cfg.policies], cfg.drill.target
    )
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
            "promise": {"text": promise, "drill_target": cfg.drill.target},
            "deletion_counts": deletion_counts(in_period, list(groups)),
            "forced": forced_prunes(inputs.records, start, end),
            "protected": protected(inputs.records, start, end),
            "evidence": _evidence(inputs.verify, drill_list),
            "groups": groups,
            "snapshots": snaps,
            "deletions": in_period,
            "drills": drill_list,
            "audit": inputs.audit,
            "verify": inputs.verify.to_json(),
        }
    )
    return doc


def deletion_counts(items: Sequence[dict[str, Any]], groups: Sequence[str]) -> dict[str, Any]:
    """The deletions of the period counted once, per group and in total: ``{"total",
    "before_period", "in_period", "groups": {g: {"total", "before_period", "in_period"}}}``.
    ``before_period``: the snapshot was taken before the period began (it is no slot of it)."""
    per: dict[str, dict[str, int]] = {
        g: {"total": 0, "before_period": 0, "in_period": 0} for g in groups
    }
    for d in items:
        c = per.setdefault(str(d.get("group")), {"total": 0, "before_period": 0, "in_period": 0})
        c["total"] += 1
        c["before_period" if d.get("before_period") else "in_period"] += 1
    return {
        "total": len(items),
        "before_period": sum(c["before_period"] for c in per.values()),
        "in_period": sum(c["in_period"] for c in per.values()),
        "groups": per,
    }


def _evidence(verify: VerifyReport, drill_list: list[dict[str, Any]]) -> dict[str, Any]:
    """The positive statements the page makes, as counts: over-retention, integrity, drills."""
    kinds = [v.kind for v in verify.violations]
    integrity = verify.checked.get("integrity") or {}
    passed = [d for d in drill_list if d["verdict"] == "passed"]
    rtos = [
        float(d["working_time_seconds"])
        for d in drill_list
        if isinstance(d.get("working_time_seconds"), (int, float))
    ]
    targets = [
        float(d["target_seconds"])
        for d in drill_list
        if isinstance(d.get("target_seconds"), (int, float))
    ]
    return {
        "over_retention": kinds.count("over_retention"),
        "integrity": {
            "sampled": int(integrity.get("sampled") or 0),
            "of": int(integrity.get("of") or 0),
            "failed": kinds.count("integrity"),
        },
        "drills": {
            "count": len(drill_list),
            "passed": len(passed),
            "longest_working_seconds": max(rtos) if rtos else None,
            "target_seconds": min(targets) if targets else None,
            "without_live_check": sum(d.get("live_check") is False for d in drill_list),
        },
    }


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
    for name, g in groups.items():
        gap = g.get("uncovered")
        if gap:
            findings.append(
                f"{name}: {gap['days']} day(s) of the period ({gap['first_day']} to "
                f"{gap['last_day']}) are not covered: the history began "
                f"{g['history_began'] or 'never (no snapshot)'}"
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
