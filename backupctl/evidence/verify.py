"""``backupctl verify``: are the promised backups there, nothing kept too long, the data intact?

Per configured policy (group) at time ``at``:

* ``missed``: scheduled backups without a snapshot, checked over the window in which the
  policy keeps *every* scheduled backup (older ones may rightly have been pruned), and never
  before the group's oldest snapshot (history began then) nor before ``--from``.
* ``coverage``: calendar buckets the policy promises (``keep_within_daily`` …, count rules)
  without a snapshot, unless every scheduled backup of the bucket was already reported missed.
* ``over_retention``: snapshots the plan forgets that lost their last reason more than
  ``verify.over_retention_grace`` ago (prune is not running, or failing).
* ``integrity``: a rotating sample of snapshots re-read and compared with their manifests.
* ``audit``: problems of the audit log's hash chain.
* ``no_snapshots``: a configured group holds no snapshot at all.

Incomplete snapshots, unknown keys, unconfigured groups and future-dated snapshots are
reported as notes: they need a look but are not broken promises. Each is a typed
:class:`~backupctl.evidence.checks.Violation` or :class:`~backupctl.evidence.checks.Note`; what
a kind means (its advice, its human line, how the proof counts it) is its entry in
:data:`backupctl.evidence.checks.CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from backupctl.config import Config, PolicyConfig
from backupctl.errors import BackupctlError, UsageError
from backupctl.evidence.checks import Finding, Note, Violation
from backupctl.prune.memory import Memory, memory_from_records, suspects
from backupctl.stores.base import BlobStore, Listing, Store, StoredSnapshot
from retention import Duration, Snapshot
from retention.buckets import CALENDARS, RULES
from retention.coverage import bucket_label, coverage, keep_all_since
from retention.overretention import over_retained
from retention.schedule import Schedule, SlotMatch, add_duration, match_snapshots

__all__ = [
    "AUDIT_GROUP",
    "GroupCheck",
    "VerifyReport",
    "check_group",
    "integrity_sample",
    "parse_day_or_time",
    "policy_horizon",
    "schedule_of",
    "verify_store",
]

AUDIT_GROUP = "_backupctl"


def parse_day_or_time(text: str, what: str, zone: tzinfo) -> datetime:
    """``2026-03-01`` (midnight in ``zone``) or an ISO time with offset.

    Raises:
        UsageError: naming ``what``, for anything else.
    """
    from backupctl.clock import parse_time

    value = text.strip()
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise UsageError(
                f"{what}: {text!r} is not a date (expected e.g. 2026-03-01 or an ISO time)"
            ) from None
        return datetime(day.year, day.month, day.day, tzinfo=zone)
    return parse_time(value, what)


def schedule_of(policy: PolicyConfig, zone: tzinfo) -> Schedule | None:
    """The policy's schedule in ``zone`` (with its tolerance), or None when it has none."""
    return Schedule(policy.schedule, zone, policy.tolerance) if policy.schedule else None


def policy_horizon(policy: PolicyConfig) -> Duration:
    """How far back the policy can keep anything: the longest within-duration, or for count
    rules their count of buckets (capped at 10 years; unlimited counts reach the cap)."""
    p = policy.policy
    days = 0.0
    for d in (p.keep_within, *(p.within(cal.name) for cal in CALENDARS)):
        days = max(days, d.years * 366 + d.months * 31 + d.weeks * 7 + d.days + d.hours / 24)
    for rule in RULES:
        n = p.count(rule.name)
        days = max(days, 3660 if n < 0 else n * (rule.length / _DAY))
    return Duration(days=min(3660, int(days) + 2))


_DAY = timedelta(days=1)


@dataclass
class GroupCheck:
    """The outcome for one policy's group: its violations and what was checked."""

    group: str
    violations: list[Violation] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)
    matches: list[SlotMatch] = field(default_factory=list)


def check_group(
    policy: PolicyConfig,
    snaps: Sequence[Snapshot],
    *,
    at: datetime,
    zone: tzinfo,
    grace: Duration,
    since: datetime | None = None,
) -> GroupCheck:
    """Missed, coverage and over-retention checks for one group (pure: no I/O).

    Args:
        policy: the group's policy config.
        snaps: the group's complete snapshots (any order); those after ``at`` are ignored.
        at: the time of the check.
        zone: the config's timezone (for the schedule).
        grace: how long past losing its last reason a snapshot may linger.
        since: report nothing before this instant (``--from``), or None.
    """
    g = GroupCheck(policy.group)
    present = [s for s in snaps if s.time <= at]
    if not present:
        g.violations.append(Violation("no_snapshots", policy.group, {"policy": policy.name}))
        g.checked = {"snapshots": 0}
        return g
    oldest = min(s.time for s in present)
    floor = max(oldest, since) if since is not None else oldest
    schedule = schedule_of(policy, zone)
    missed_at: set[float] = set()
    if schedule is not None:
        missed_at = _missed(g, policy, schedule, present, at, floor)
    _coverage(g, policy, schedule, present, at, floor, missed_at)
    for o in over_retained(present, policy.policy, now=at, grace=grace):
        g.violations.append(
            Violation(
                "over_retention",
                policy.group,
                {
                    "id": o.snapshot.id,
                    "time": o.snapshot.time.isoformat(),
                    "lost_reason_at": o.lost_at.isoformat(),
                    "policy": policy.name,
                },
            )
        )
    g.checked.update(
        {
            "snapshots": len(present),
            "oldest": oldest.isoformat(),
            "newest": max(s.time for s in present).isoformat(),
            "over_retention": sum(v.kind == "over_retention" for v in g.violations),
        }
    )
    return g


def _missed(
    g: GroupCheck,
    policy: PolicyConfig,
    schedule: Schedule,
    present: list[Snapshot],
    at: datetime,
    floor: datetime,
) -> set[float]:
    keep_all = keep_all_since(policy.policy, schedule, now=at, horizon=policy_horizon(policy))
    start = max(floor, keep_all) if keep_all is not None else floor
    g.matches = match_snapshots(schedule.slots(start, at), present, now=at)
    missed: set[float] = set()
    for m in g.matches:
        if m.status == "missed":
            missed.add(m.slot.expected.timestamp())
            g.violations.append(
                Violation(
                    "missed",
                    policy.group,
                    {
                        "policy": policy.name,
                        "expected": m.slot.expected.isoformat(),
                        "deadline": m.slot.deadline.isoformat(),
                    },
                )
            )
    g.checked["schedule"] = {
        "cron": schedule.cron,
        "from": start.isoformat(),
        "expected": len(g.matches),
        "filled": sum(m.status == "filled" for m in g.matches),
        "missed": len(missed),
        "pending": sum(m.status == "pending" for m in g.matches),
    }
    return missed


def _coverage(
    g: GroupCheck,
    policy: PolicyConfig,
    schedule: Schedule | None,
    present: list[Snapshot],
    at: datetime,
    floor: datetime,
    missed_at: set[float],
) -> None:
    slots = [
        s
        for s in coverage(policy.policy, present, now=at, schedule=schedule, since=floor)
        if s.rule not in ("within", "last")
    ]  # per-backup promises: reported as missed
    due = [m.expected for m in schedule.slots(floor, at) if m.deadline <= at] if schedule else []
    for slot in slots:
        if slot.filled:
            continue
        kind = slot.rule.removeprefix("within_")
        in_bucket = [t.timestamp() for t in due if bucket_label(kind, t) == slot.bucket]
        if in_bucket and all(t in missed_at for t in in_bucket):
            continue  # every backup of the bucket was missed: already reported, nothing was lost
        g.violations.append(
            Violation(
                "coverage",
                policy.group,
                {
                    "policy": policy.name,
                    "rule": slot.rule,
                    "bucket": slot.bucket,
                    "expected": slot.expected.isoformat() if slot.expected else None,
                },
            )
        )
    g.checked["coverage"] = {"slots": len(slots), "filled": sum(s.filled for s in slots)}


def integrity_sample(
    snapshots: Sequence[StoredSnapshot], sample: float, day: date
) -> list[StoredSnapshot]:
    """A rotating sample: ``sample`` snapshots (or ``-sample`` as a share when negative), a window
    over the id-sorted list that moves by its own size each day, so consecutive days cover all."""
    items = sorted(snapshots, key=lambda s: s.snapshot.id)
    if not items:
        return []
    k = max(1, round(-sample * len(items))) if sample < 0 else int(sample)
    k = min(k, len(items))
    start = (day.toordinal() * k) % len(items)
    return [items[(start + i) % len(items)] for i in range(k)]


@dataclass
class VerifyReport:
    """Everything ``verify`` found: violations (broken promises), notes, and what was checked."""

    at: datetime
    violations: list[Violation] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no violation (notes do not count)."""
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        """``{"ok", "violations", "checked", "notes"}`` (the verify JSON contract)."""
        return {
            "ok": self.ok,
            "violations": [_json(v) for v in self.violations],
            "checked": self.checked,
            "notes": [_json(n) for n in self.notes],
        }


def _json(item: Finding | dict[str, Any]) -> dict[str, Any]:
    """A finding's JSON.

    A dict is taken as already JSON (a report built by hand, e.g. in a test).
    """
    return item.to_json() if isinstance(item, Finding) else dict(item)


def verify_store(
    config: Config,
    store: Store,
    *,
    at: datetime,
    since: datetime | None = None,
    audit_blobs: Callable[[], BlobStore] | None = None,
    listing: Listing | None = None,
) -> VerifyReport:
    """Run every check against the configured store.

    Args:
        config: the loaded config.
        store: the store to verify (only read).
        at: the time of the check.
        since: report no missed backup or coverage gap before this instant.
        audit_blobs: opens the audit log's blob store (None: the audit log is not checked).
        listing: a listing already made (else the store is listed).

    Raises:
        StoreError: the store cannot be listed or read.
    """
    listing = listing if listing is not None else store.listing()
    report = VerifyReport(
        at=at, checked={"at": at.isoformat(), "config_sha256": config.sha256, "groups": {}}
    )
    by_group: dict[str, list[StoredSnapshot]] = {}
    for s in listing.snapshots:
        by_group.setdefault(s.snapshot.group, []).append(s)
    for policy in config.policies:
        stored = by_group.get(policy.group, [])
        g = check_group(
            policy,
            [s.snapshot for s in stored],
            at=at,
            zone=config.timezone,
            grace=config.verify.over_retention_grace,
            since=since,
        )
        report.violations += g.violations
        report.checked["groups"][policy.group] = g.checked
    _integrity(report, config, store, listing.snapshots, at)
    _notes(report, config, listing, at)
    if audit_blobs is not None:
        _audit(report, audit_blobs, config, listing)
    return report


def _integrity(
    report: VerifyReport,
    config: Config,
    store: Store,
    snaps: Sequence[StoredSnapshot],
    at: datetime,
) -> None:
    sample = integrity_sample(
        snaps, config.verify.integrity_sample, at.astimezone(config.timezone).date()
    )
    problems = store.check_integrity(sample) if sample else []
    groups = {s.snapshot.id: s.snapshot.group for s in sample}
    for sid in sorted(set(getattr(store, "unreferenced", ()))):  # single objects, size only
        report.notes.append(Note("no_integrity_reference", groups.get(sid, ""), {"id": sid}))
    for p in problems:
        report.violations.append(
            Violation(
                "integrity",
                groups.get(p.snapshot_id, ""),
                {"id": p.snapshot_id, "key": p.key, "problem": p.problem},
            )
        )
    report.checked["integrity"] = {
        "sampled": len(sample),
        "of": len(snaps),
        "ids": [s.snapshot.id for s in sample],
        "rotation": "a window over the id-sorted snapshots that moves each day",
    }


def _notes(report: VerifyReport, config: Config, listing: Listing, at: datetime) -> None:
    configured = {p.group for p in config.policies}
    skew = add_duration(at, config.safety.clock_skew)
    for s in listing.incomplete:
        report.notes.append(
            Note(
                "incomplete",
                s.snapshot.group,
                {"id": s.snapshot.id, "problem": getattr(s, "problem", None) or "no manifest"},
            )
        )
    for key in listing.unknown:
        why = listing.name_notes.get(key)  # e.g. a local-time name in a DST gap
        details = {"key": key, "problem": why} if why else {"key": key}
        report.notes.append(Note("unknown_key", "", details))
    for s in (*listing.snapshots, *listing.incomplete):  # a DST fall-back name: first occurrence
        if (why := listing.name_notes.get(s.snapshot.id)) is not None:
            sid = s.snapshot.id
            report.notes.append(Note("name_time", s.snapshot.group, {"id": sid, "problem": why}))
    for group in sorted({s.snapshot.group for s in listing.snapshots} - configured):
        report.notes.append(Note("unconfigured_group", group))
    for s in listing.snapshots:
        if s.snapshot.time > skew:
            report.notes.append(
                Note(
                    "future",
                    s.snapshot.group,
                    {"id": s.snapshot.id, "time": s.snapshot.time.isoformat()},
                )
            )


def _audit(
    report: VerifyReport,
    audit_blobs: Callable[[], BlobStore],
    config: Config,
    listing: Listing,
) -> None:
    from backupctl.evidence.audit import AuditLog
    from backupctl.evidence.signing import load_public_key

    keys = config.audit  # with [audit] public_key_file, unsigned or forged records are violations
    trust = (
        load_public_key(keys.public_key_file, "[audit] public_key_file")  # bad file: exit 2
        if keys.public_key_file
        else None
    )
    try:
        audit, records = AuditLog(
            audit_blobs(), verifier=trust, signed_from=keys.signed_from
        ).verified_records()
    except BackupctlError as exc:
        report.notes.append(Note("audit_unavailable", AUDIT_GROUP, {"problem": str(exc)}))
        return
    for p in audit.problems:
        report.violations.append(Violation("audit", AUDIT_GROUP, p.to_json()))
    report.checked["audit"] = {"ok": audit.ok, "records": audit.records, "head": audit.head}
    if audit.ok:
        _time_drift(report, config, listing, memory_from_records(records))


def _time_drift(report: VerifyReport, config: Config, listing: Listing, memory: Memory) -> None:
    """Trusted time: a ``time_drift`` violation per snapshot whose claimed time the last
    prune's memory (``seen``) contradicts; a ``trusted_time`` note when there is no memory."""
    if memory.seen is None:
        report.notes.append(Note("trusted_time", "", {"problem": memory.problem or ""}))
        return
    found = suspects(
        listing.snapshots,
        memory.seen,
        grace=config.safety.clock_skew,
        max_drift=config.safety.max_time_drift,
    )
    for x in found:
        report.violations.append(
            Violation(
                "time_drift",
                x.stored.snapshot.group,
                {**x.to_json(), "previous_run": memory.seen.at.isoformat()},
            )
        )
    report.checked["trusted_time"] = {
        "previous_run": memory.seen.at.isoformat(),
        "seen": len(memory.seen.ids),
        "suspects": len(found),
    }
