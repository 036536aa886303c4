"""The prune runner: plan first (pure), check safety, then apply under a lock.

``plan`` and ``prune`` share :func:`compute_run_plan` and :func:`check_safety`; ``prune``
only adds :func:`execute` (lock -> audit intent -> delete -> audit result -> unlock).

Interrupted prunes: the store deletes a snapshot's manifest first, so a run killed mid-way
leaves snapshots without a manifest. Incomplete snapshots are normally left alone (a
producer may still be uploading); the store's deletion journal tells the two apart: it
reports journalled ones with a ``problem`` starting "deletion interrupted", the plan lists
them under ``resume`` and the next prune hands them back to ``store.delete`` to finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from backupctl.config import Config, PolicyConfig
from backupctl.errors import StoreError
from backupctl.explain import GroupContext, why_forgotten
from backupctl.log import get_logger
from backupctl.prune.memory import Suspect, encode_seen, suspects
from backupctl.prune.resume import Intents, intents_of, read_intents
from backupctl.stores.base import DeleteReport, Listing, Store, StoredSnapshot
from retention import Decision, EmptyPolicyError, Reason, add_duration
from retention import plan as retention_plan

__all__ = [
    "INTERRUPTED",
    "LAST_VERIFIED",
    "NEWEST_REASON",
    "AuditSink",
    "GroupPlan",
    "PruneResult",
    "Refusal",
    "RunPlan",
    "check_safety",
    "compute_run_plan",
    "execute",
]

INTERRUPTED = "deletion interrupted"  # how stores mark an incomplete snapshot a prune was deleting
NEWEST_REASON = Reason("newest", "newest of group (safety)")
LAST_VERIFIED = "last_verified"  # the rule kind of the reason and of the refusal
_SAFETY_KEEPS = frozenset({NEWEST_REASON.rule, LAST_VERIFIED})  # keeps the policy did not make
log = get_logger("runner")
ProgressFactory = Callable[[int], AbstractContextManager[Callable[[int], None]]]
"""Given the number of snapshots to delete, a context yielding ``advance(n)``."""


class AuditSink(Protocol):
    """What the runner needs from the audit log (``backupctl.evidence.audit.AuditLog``)."""

    def append(self, action: str, data: dict[str, Any], *, now: datetime) -> Any:
        """Append one record."""
        ...


@dataclass(frozen=True)
class Refusal:
    """A safety rule that stops a group from being pruned.

    ``rule`` is one of ``newest``, ``max_delete_fraction``, ``stale``, ``future``,
    ``empty_policy``, ``empties_group``, ``last_verified``; ``overridable`` is False for rules
    ``--force`` cannot lift (never delete the newest snapshot, never empty a group, no empty
    policy).
    """

    group: str
    rule: str
    message: str
    overridable: bool = True

    def to_json(self) -> dict[str, Any]:
        """The refusal as a JSON object."""
        return {
            "group": self.group,
            "rule": self.rule,
            "message": self.message,
            "overridable": self.overridable,
        }


@dataclass
class GroupPlan:
    """One policy's decisions over its group's complete and held snapshots."""

    policy: PolicyConfig
    decisions: list[Decision]
    stored: dict[str, StoredSnapshot]
    error: str | None = None  # the policy could not be planned (empty policy)

    def forgotten(self) -> list[Decision]:
        """Decisions to forget, newest first."""
        return [d for d in self.decisions if d.action == "forget"]

    def kept(self) -> list[Decision]:
        """Decisions to keep, newest first."""
        return [d for d in self.decisions if d.action == "keep"]


@dataclass
class RunPlan:
    """Everything a prune would do, and everything it leaves alone (and why)."""

    now: datetime
    config_sha256: str
    groups: dict[str, GroupPlan] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    incomplete: list[StoredSnapshot] = field(default_factory=list)
    unmanaged: list[StoredSnapshot] = field(default_factory=list)
    resume: list[StoredSnapshot] = field(default_factory=list)
    list_requests: dict[str, int] = field(default_factory=dict)
    listing: Listing | None = field(default=None, repr=False, compare=False)  # for Store.delete
    verified_problem: str | None = None  # why the last verified snapshots are unknown
    suspects: list[Suspect] = field(default_factory=list)  # claimed times memory contradicts
    displaced: dict[str, list[str]] = field(default_factory=dict)  # group -> forgotten by them
    memory_note: str | None = None  # why times were not judged (first run, bad `seen` …)

    def decisions(self) -> list[Decision]:
        """Every decision of every policy group."""
        return [d for g in self.groups.values() for d in g.decisions]

    def to_forget(self, groups: set[str] | None = None) -> list[StoredSnapshot]:
        """Snapshots to delete (of ``groups`` only, when given), then interrupted ones to finish."""
        out = [
            g.stored[d.snapshot.id]
            for name, g in self.groups.items()
            if groups is None or name in groups
            for d in g.forgotten()
        ]
        return out + [s for s in self.resume if groups is None or s.snapshot.group in groups]

    def kept_ids(self) -> set[str]:
        """Ids of every snapshot the plan keeps."""
        return {d.snapshot.id for d in self.decisions() if d.action == "keep"}

    def to_json(self, refusals: Sequence[Refusal] = ()) -> dict[str, Any]:
        """The ``plan --json`` document (the CLI contract, docs/design.md, plus extra keys)."""
        return {
            "decisions": [d.to_json() for d in self.decisions()],
            "unknown": list(self.unknown),
            "incomplete": [s.snapshot.id for s in self.incomplete],
            "unmanaged": [s.snapshot.id for s in self.unmanaged],
            "resume": [s.snapshot.id for s in self.resume],
            "refusals": [r.to_json() for r in refusals],
            "now": self.now.isoformat(),
            "time_drift": [x.to_json() for x in self.suspects],
            "memory": self.memory_note,
            "listed_from": self.listing.source if self.listing is not None else None,
        }


# ---------------------------------------------------------------------------- planning


def compute_run_plan(
    config: Config,
    listing: Listing,
    now: datetime,
    intents: Callable[[], Intents] | None = None,
) -> RunPlan:
    """Plan every configured policy over its group's complete and held snapshots.

    Args:
        config: the validated config (policies, sha256).
        listing: what the store holds.
        now: the reference clock (aware).
        intents: called (once, and only when a deletion journal names an incomplete folder
            or, with ``safety.keep_last_verified``, when the plan forgets something) for what
            the verified audit log says: the ids earlier prunes recorded in ``prune.intent``
            and the snapshots that passed a drill; None trusts no journal and knows no drill.

    Returns:
        A :class:`RunPlan`. A group's newest snapshot is always kept (reason ``newest``), and
        so is the newest snapshot that passed a drill (reason ``last_verified``; when the log
        cannot tell, ``verified_problem`` says why and :func:`check_safety` refuses).
        An interrupted deletion is resumed only when a verified intent names it and it is
        older than its group's newest complete snapshot; else it stays incomplete, with why.
    """
    run = RunPlan(
        now=now,
        config_sha256=config.sha256,
        unknown=list(listing.unknown),
        list_requests=dict(listing.requests),
        listing=listing,
    )
    by_group: dict[str, list[StoredSnapshot]] = {}
    for stored in listing.snapshots:
        by_group.setdefault(stored.snapshot.group, []).append(stored)
    by_policy = {p.group: by_group.get(p.group, []) for p in config.policies}
    for policy in config.policies:
        run.groups[policy.group] = _plan_group(policy, by_group.pop(policy.group, []), now)
    run.unmanaged = [s for group in by_group.values() for s in group]
    managed = {p.group for p in config.policies}
    journalled = {
        s.snapshot.id for s in listing.incomplete if (s.problem or "").startswith(INTERRUPTED)
    }
    forgets = intents is not None and any(g.forgotten() for g in run.groups.values())
    wants_verified = config.safety.keep_last_verified and forgets
    known = (intents or _no_intents)() if journalled or forgets else Intents()
    if wants_verified:
        run.verified_problem = _keep_last_verified(run.groups, known)
    if forgets:
        _judge_times(run, config, by_policy, known, now)
    newest: dict[str, datetime] = {}
    for stored in listing.snapshots:
        g, t = stored.snapshot.group, stored.snapshot.time
        newest[g] = max(newest.get(g, t), t)
    for stored in listing.incomplete:
        is_journalled = stored.snapshot.id in journalled
        why = _not_resumable(stored, managed, known, newest) if is_journalled else None
        if is_journalled and why is None:
            run.resume.append(stored)
        elif why is not None:
            run.incomplete.append(
                replace(stored, problem=f"a deletion journal names it, but {why}; never deleted")
            )
        else:
            run.incomplete.append(stored)
    return run


def _keep_last_verified(groups: dict[str, GroupPlan], known: Intents) -> str | None:
    """Keep each group's newest snapshot that passed a drill (``known.verified``), turning its
    forget into a keep with the reason ``last verified``. Returns ``known.problem`` (the log
    does not verify, so nothing is known to be verified), else None.

    Raises:
        StoreError: the audit log cannot be read at all (as the prune's own records would fail).
    """
    if known.unreadable:
        raise StoreError(f"{known.problem} (needed for safety.keep_last_verified)")
    if known.problem is not None:
        return known.problem
    for group in groups.values():
        tried = [i for i, d in enumerate(group.decisions) if d.snapshot.id in known.verified]
        if not tried:
            continue
        i = max(tried, key=lambda i: _newest_first(group.decisions[i].snapshot))
        d = group.decisions[i]
        if d.action == "forget":
            when = known.verified[d.snapshot.id]
            reason = Reason(LAST_VERIFIED, f"last verified (a drill passed at {when})")
            group.decisions[i] = Decision(d.snapshot, d.group, "keep", (reason,))
    return None


def _judge_times(
    run: RunPlan,
    config: Config,
    by_policy: dict[str, list[StoredSnapshot]],
    known: Intents,
    now: datetime,
) -> None:
    """Trusted time: find the snapshots whose claimed time the previous run's memory
    contradicts (``run.suspects``), and per group the snapshots the plan forgets only because
    of them (``run.displaced``: the group planned again without the suspects keeps them).
    Without memory (first run, bad ``seen``, unverified log) ``run.memory_note`` says why."""
    memory = known.memory
    if memory.seen is None:
        run.memory_note = known.problem or memory.problem
        return
    found = suspects(
        [s for group in by_policy.values() for s in group],
        memory.seen,
        grace=config.safety.clock_skew,
        max_drift=config.safety.max_time_drift,
    )
    run.suspects = found
    bad = {x.stored.snapshot.id for x in found}
    for policy in config.policies:
        name, group = policy.group, run.groups[policy.group]
        if not bad & set(group.stored) or not group.forgotten():
            continue
        alt = {
            name: _plan_group(policy, [s for s in by_policy[name] if s.snapshot.id not in bad], now)
        }
        if config.safety.keep_last_verified and known.problem is None:
            _keep_last_verified(alt, known)
        kept_without = {d.snapshot.id for d in alt[name].kept()}
        displaced = [d.snapshot.id for d in group.forgotten() if d.snapshot.id in kept_without]
        if displaced:
            run.displaced[name] = displaced


def _no_intents() -> Intents:
    return Intents(problem="no audit log was consulted")


def _not_resumable(
    stored: StoredSnapshot,
    managed: set[str],
    known: Intents,
    newest: dict[str, datetime],
) -> str | None:
    """Why a journalled incomplete folder must not be finished, or None: its group has a policy,
    a verified ``prune.intent`` names it, and its group has a newer complete snapshot."""
    s = stored.snapshot
    if s.group not in managed:
        return f"group {s.group!r} has no policy"
    if known.problem is not None:
        return known.problem
    if s.id not in known.ids:
        return (
            "no prune.intent record of the audit log names it (a journal backupctl did not write)"
        )
    if s.group not in newest or s.time >= newest[s.group]:
        return f"it would be the newest of group {s.group!r}"
    return None


def _newest_first(snapshot: Any) -> tuple[datetime, str]:
    """The order that makes "the newest snapshot" one snapshot even when two share a second
    (restic can list such a pair in either order): time, then id."""
    return snapshot.time, snapshot.id


def _plan_group(policy: PolicyConfig, stored: list[StoredSnapshot], now: datetime) -> GroupPlan:
    by_id = {s.snapshot.id: s for s in stored}
    # newest first, ties by id: the engine's stable order then picks the same "newest" as the
    # safety rules
    ordered = sorted((s.snapshot for s in stored), key=_newest_first, reverse=True)
    try:
        decided = retention_plan(ordered, policy.policy, now=now, group_by=("group",))
    except EmptyPolicyError as exc:
        keep_all = [
            Decision(s.snapshot, policy.group, "keep", (Reason("empty_policy", "empty policy"),))
            for s in stored
        ]
        return GroupPlan(policy, keep_all, by_id, error=str(exc))
    decisions = sorted(decided.decisions, key=lambda d: _newest_first(d.snapshot), reverse=True)
    if decisions and decisions[0].action == "forget":
        d = decisions[0]
        decisions[0] = Decision(d.snapshot, d.group, "keep", (NEWEST_REASON,))
    return GroupPlan(policy, decisions, by_id)


# ---------------------------------------------------------------------------- safety


def check_safety(run: RunPlan, config: Config, now: datetime) -> list[Refusal]:
    """Apply the safety rules (docs/safety.md, docs/prune.md) to a plan.

    One refusal per broken rule and group.

    Rules (only groups that would lose something are checked): never delete the group's
    newest snapshot and never empty a group (absolute); no empty policy (absolute); lose at
    most ``safety.max_delete_fraction``; the newest snapshot is not older than
    ``safety.stale_after``; no snapshot dated beyond ``now + safety.clock_skew``; the audit
    log tells which snapshot last passed a drill (``safety.keep_last_verified``).
    """
    refusals: list[Refusal] = []
    for name, group in run.groups.items():
        if run.verified_problem is not None and group.forgotten():
            refusals.append(
                Refusal(
                    name,
                    LAST_VERIFIED,
                    f"group {name!r}: which snapshot last passed a drill is unknown "
                    f"({run.verified_problem}), so safety.keep_last_verified cannot protect it",
                )
            )
        if group.error is not None:
            refusals.append(
                Refusal(name, "empty_policy", f"group {name!r}: {group.error}", overridable=False)
            )
        forget = group.forgotten()
        if forget or any(s.snapshot.group == name for s in run.resume):
            refusals += _group_refusals(name, group, forget, config, now)
        if name in run.displaced:
            refusals.append(_time_drift_refusal(run, name))
    return refusals


def _time_drift_refusal(run: RunPlan, name: str) -> Refusal:
    """Rule ``time_drift``: suspects (claimed times the memory contradicts) would displace
    snapshots the group keeps without them."""
    shown = 5
    displaced = run.displaced[name]
    bad = [x for x in run.suspects if x.stored.snapshot.group == name]
    names = ", ".join(
        f"{x.stored.snapshot.id} (claims {x.stored.snapshot.time.isoformat()}, written "
        f"{x.stored.written.isoformat() if x.stored.written else 'unknown'}, {x.why})"
        for x in bad[:shown]
    )
    return Refusal(
        name,
        "time_drift",
        f"group {name!r}: {len(bad)} snapshot(s) claim a time backupctl's memory contradicts "
        f"({names}{', …' if len(bad) > shown else ''}) and would displace {len(displaced)} "
        f"snapshot(s) kept without them ({', '.join(displaced[:shown])}"
        f"{', …' if len(displaced) > shown else ''}): see docs/safety.md, Trusted time",
    )


def _group_refusals(
    name: str,
    group: GroupPlan,
    forget: list[Decision],
    config: Config,
    now: datetime,
) -> list[Refusal]:
    out: list[Refusal] = []
    total = len(group.decisions)
    if not forget:
        return out
    newest = max(group.decisions, key=lambda d: _newest_first(d.snapshot))
    if any(d.snapshot.id == newest.snapshot.id for d in forget):
        out.append(
            Refusal(
                name,
                "newest",
                f"group {name!r}: the plan would delete the newest snapshot "
                f"{newest.snapshot.id}; the newest snapshot of a group is never deleted",
                overridable=False,
            )
        )
    if len(forget) >= total:
        out.append(
            Refusal(
                name,
                "empties_group",
                f"group {name!r}: the plan would delete all {total} "
                "snapshots; emptying a group is refused",
                overridable=False,
            )
        )
    limit = config.safety.max_delete_fraction
    if len(forget) > limit * total:
        out.append(
            Refusal(
                name,
                "max_delete_fraction",
                f"group {name!r}: would delete {len(forget)} of {total} "
                f"snapshots ({len(forget) / total:.0%}), "
                f"more than safety.max_delete_fraction = {limit}",
            )
        )
    stale = config.safety.stale_after
    if newest.snapshot.time < stale.cutoff(now):
        out.append(
            Refusal(
                name,
                "stale",
                f"group {name!r}: newest snapshot {newest.snapshot.id} "
                f"({newest.snapshot.time.isoformat()}) is older than safety.stale_after = {stale}: "
                "backups seem to have stopped, pruning would only erode history",
            )
        )
    limit_t = add_duration(now, config.safety.clock_skew)
    future = [d.snapshot for d in group.decisions if d.snapshot.time > limit_t]
    if future:
        out.append(
            Refusal(
                name,
                "future",
                f"group {name!r}: {len(future)} snapshot(s) dated in the future "
                f"beyond safety.clock_skew = {config.safety.clock_skew} (e.g. {future[0].id} at "
                f"{future[0].time.isoformat()}, now {now.isoformat()}): check the clocks",
            )
        )
    return out


def blocking(refusals: Sequence[Refusal], force: bool) -> list[Refusal]:
    """The refusals that stop the run: all of them, or only the absolute ones with ``force``."""
    return [r for r in refusals if not force or not r.overridable]


# ---------------------------------------------------------------------------- execution


@dataclass
class PruneResult:
    """The outcome of a prune (or a dry run), shaped as ``prune --json``."""

    deleted: list[str] = field(default_factory=list)
    kept: int = 0
    held: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    refusals: list[Refusal] = field(default_factory=list)
    dry_run: bool = False
    forced: str | None = None
    would_delete: list[str] = field(default_factory=list)
    kept_by_group: dict[str, int] = field(default_factory=dict)
    forgotten_by_group: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed and no refusal stopped the run."""
        return not self.failed and not blocking(self.refusals, self.forced is not None)

    def to_json(self) -> dict[str, Any]:
        """The ``prune --json`` document."""
        doc: dict[str, Any] = {
            "ok": self.ok,
            "deleted": self.deleted,
            "kept": self.kept,
            "held": self.held,
            "failed": self.failed,
            "unknown": self.unknown,
            "incomplete": self.incomplete,
            "bytes_freed": self.bytes_freed,
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "refusals": [r.to_json() for r in self.refusals],
            "dry_run": self.dry_run,
        }
        if self.dry_run:
            doc["would_delete"] = self.would_delete
        if self.forced is not None:
            doc["forced"] = self.forced
        return doc


def summarize(run: RunPlan, refusals: Sequence[Refusal]) -> PruneResult:
    """A result that only describes the plan (dry run, refused run)."""
    return PruneResult(
        kept=len(run.kept_ids()),
        unknown=list(run.unknown),
        incomplete=[s.snapshot.id for s in run.incomplete],
        requests=dict(run.list_requests),
        refusals=list(refusals),
        would_delete=[s.snapshot.id for s in run.to_forget()],
        kept_by_group={n: len(g.kept()) for n, g in run.groups.items()},
        forgotten_by_group={n: 0 for n in run.groups},
    )


def intent_record(
    run: RunPlan, to_forget: Sequence[StoredSnapshot], force_reason: str | None
) -> dict[str, Any]:
    """The ``prune.intent`` audit payload: what will be deleted and why, counts per group."""
    reasons = {d.snapshot.id: [r.text for r in d.reasons] for d in run.decisions()}
    resumed = {s.snapshot.id for s in run.resume}
    why: dict[str, list[str]] = {}  # the rules each fell outside, with their cut-offs (the proof)
    for g in run.groups.values():
        ctx = GroupContext(g.policy.policy, g.decisions, run.now)
        for d in g.forgotten():
            why[d.snapshot.id] = why_forgotten(d, ctx)
    source = run.listing.source if run.listing is not None else None
    return {
        "config_sha256": run.config_sha256,
        "now": run.now.isoformat(),
        **({"listed_from": source} if source else {}),  # planned from an inventory report
        "delete": [
            {
                "id": s.snapshot.id,
                "group": s.snapshot.group,
                "time": s.snapshot.time.isoformat(),
                "reason": "resume interrupted prune"
                if s.snapshot.id in resumed
                else "not kept by policy",
                "kept_reasons": reasons.get(s.snapshot.id, []),
                "why": ["resume interrupted prune"]
                if s.snapshot.id in resumed
                else why.get(s.snapshot.id) or ["not kept by policy"],
            }
            for s in to_forget
        ],
        "counts": {
            n: {"keep": len(g.kept()), "forget": len(g.forgotten())} for n, g in run.groups.items()
        },
        "protected": [  # kept by a safety rule against the retention rules (the proof shows them)
            {
                "id": d.snapshot.id,
                "group": d.group,
                "time": d.snapshot.time.isoformat(),
                "reasons": [r.text for r in d.reasons],
                "rules": [r.rule for r in d.reasons],
            }
            for d in run.decisions()
            if d.action == "keep" and {r.rule for r in d.reasons} & _SAFETY_KEEPS
        ],
        "unknown": len(run.unknown),
        "incomplete": len(run.incomplete),
        "forced": force_reason,
    }


def execute(
    run: RunPlan,
    store: Store,
    audit: AuditSink,
    *,
    now: datetime,
    refusals: Sequence[Refusal] = (),
    force_reason: str | None = None,
    progress: ProgressFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PruneResult:
    """Apply a checked plan. The caller holds the store's lock.

    Groups with a blocking refusal are skipped entirely (the caller normally refuses the
    run before). Writes ``prune.forced`` (when forced), ``prune.intent``, then deletes, then
    ``prune.result``.

    Returns:
        The :class:`PruneResult` (``failed`` non-empty on a partial deletion).

    Raises:
        StoreError: the store failed outright (its deletion journal lets a rerun finish).
    """
    started = clock()
    stopped = {r.group for r in blocking(refusals, force_reason is not None)}
    to_forget = run.to_forget(set(run.groups) - stopped)
    result = summarize(run, refusals)
    result.forced = force_reason
    if force_reason is not None and refusals:
        audit.append(
            "prune.forced",
            {
                "reason": force_reason,
                "refusals": [r.to_json() for r in refusals],
                "config_sha256": run.config_sha256,
            },
            now=now,
        )
        log.warning("prune.forced", reason=force_reason, refusals=len(refusals))
    audit.append("prune.intent", intent_record(run, to_forget, force_reason), now=now)
    log.info("prune.intent", delete=len(to_forget), kept=result.kept)
    try:
        report = _delete(store, to_forget, progress, run.listing)
    except StoreError as exc:  # record what is known, then let the command exit 1
        partial = getattr(exc, "report", None)
        if isinstance(partial, DeleteReport):
            _merge_report(result, partial, to_forget)
        result.duration_s = clock() - started
        record = {**_result_record(result), "error": str(exc), "seen": _seen(run, force_reason)}
        audit.append("prune.result", record, now=now)
        raise
    _merge_report(result, report, to_forget)
    result.duration_s = clock() - started
    audit.append(
        "prune.result", {**_result_record(result), "seen": _seen(run, force_reason)}, now=now
    )
    log.info(
        "prune.result",
        deleted=len(result.deleted),
        held=len(result.held),
        failed=len(result.failed),
        bytes_freed=result.bytes_freed,
        duration_s=round(result.duration_s, 3),
    )
    return result


def _delete(
    store: Store,
    to_forget: list[StoredSnapshot],
    progress: ProgressFactory | None,
    listing: Listing | None,
) -> DeleteReport:
    """Hand the snapshots (and the listing they came from) to the store, even none: a store
    with a deletion journal finishes an interrupted run's leftovers on every delete call."""
    log.info("prune.delete", snapshots=len(to_forget))
    if progress is None:
        report = store.delete(to_forget, None, listing)
    else:
        with progress(len(to_forget)) as advance:
            report = store.delete(to_forget, advance, listing)
    return report


def _merge_report(
    result: PruneResult, report: DeleteReport, to_forget: list[StoredSnapshot]
) -> None:
    result.deleted = list(report.deleted)
    result.held = dict(report.held)
    result.failed = dict(report.failed)
    missing = (
        {s.snapshot.id for s in to_forget}
        - set(report.deleted)
        - set(report.held)
        - set(report.failed)
    )
    if missing:  # the store found nothing left to delete (gone since the listing): not a failure
        log.warning("prune.already_gone", snapshots=sorted(missing))
    result.bytes_freed = report.bytes_freed
    for op, n in report.requests.items():
        result.requests[op] = result.requests.get(op, 0) + n
    deleted = set(report.deleted)
    for s in to_forget:
        g = s.snapshot.group
        if s.snapshot.id in deleted:
            result.forgotten_by_group[g] = result.forgotten_by_group.get(g, 0) + 1


def _seen(run: RunPlan, force_reason: str | None) -> dict[str, Any] | None:
    """The run's memory for trusted time: its time and every id it listed (complete, held,
    incomplete, of any group). Every real prune writes it, deleting something or not.

    Suspects (``run.suspects``) are left out unless the run was forced with a reason: a prune
    that only reports them must not launder them into the memory, so they stay suspects
    (verify keeps naming them) until someone accepts them with ``--force --reason``."""
    if run.listing is None:
        return None
    ids = run.listing.ids()
    if force_reason is None:
        ids -= {x.stored.snapshot.id for x in run.suspects}
    return encode_seen(run.now, ids)


def _result_record(result: PruneResult) -> dict[str, Any]:
    return {
        "deleted": result.deleted,
        "held": result.held,
        "failed": result.failed,
        "bytes_freed": result.bytes_freed,
        "requests": result.requests,
        "duration_s": round(result.duration_s, 3),
        "kept": result.kept,
        "forced": result.forced,
    }


# ---------------------------------------------------------------------------- prune


def run_prune(
    config: Config,
    store: Store,
    audit: AuditSink,
    lock: Callable[[], AbstractContextManager[Any]],
    *,
    now: datetime,
    dry_run: bool = False,
    force_reason: str | None = None,
    progress: ProgressFactory | None = None,
    intents: Callable[[], Intents] | None = None,
) -> PruneResult:
    """The whole prune: (lock ->) list -> plan -> safety -> (execute) -> (unlock).
    ``intents``: see :func:`plan_store`; by default read from ``audit`` when it is an audit
    log that can be verified (``verified_records``), else from the config's audit log.

    The listing and plan are made while holding the lock, so two prunes never act on the
    same listing. A dry run takes no lock and writes nothing.

    Raises:
        LockHeld: another prune holds the lock. StoreError: the store failed.
        SafetyRefusal is NOT raised here: blocking refusals come back in ``result.refusals``
        with nothing deleted; the command turns them into exit 4.
    """
    if intents is None and hasattr(audit, "verified_records"):
        intents = lambda: intents_of(audit)
    if dry_run:
        run, refusals = plan_store(config, store, now, intents)
        result = summarize(run, refusals)
        result.dry_run = True
        return result
    with lock():
        log.info("prune.locked")
        run, refusals = plan_store(config, store, now, intents)
        if blocking(refusals, force_reason is not None):
            log.warning("prune.refused", refusals=[f"{r.group}:{r.rule}" for r in refusals])
            return summarize(run, refusals)
        return execute(
            run,
            store,
            audit,
            now=now,
            refusals=refusals,
            force_reason=force_reason,
            progress=progress,
        )


def plan_store(
    config: Config,
    store: Store,
    now: datetime,
    intents: Callable[[], Intents] | None = None,
) -> tuple[RunPlan, list[Refusal]]:
    """List the store, plan it and check safety. ``intents`` (default: the config's audit log,
    read only when a journal names an incomplete folder) says what earlier prunes intended.

    Raises:
        StoreError: the store cannot be listed.
    """
    run = compute_run_plan(config, store.listing(), now, intents or (lambda: read_intents(config)))
    refusals = check_safety(run, config, now)
    log.info(
        "prune.planned",
        keep=len(run.kept_ids()),
        forget=len(run.to_forget()),
        unknown=len(run.unknown),
        incomplete=len(run.incomplete),
        refusals=len(refusals),
    )
    return run, refusals
