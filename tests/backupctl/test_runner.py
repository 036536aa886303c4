"""The prune runner against an in-memory store: planning, each safety rule, force, dry run,
resuming an interrupted prune and the newest-snapshot rule (also as a property)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backupctl.config import Config, PolicyConfig, parse_config
from backupctl.errors import LockHeld
from backupctl.prune.resume import Intents, intents_from_records
from backupctl.prune.runner import (
    NEWEST_REASON,
    GroupPlan,
    RunPlan,
    check_safety,
    compute_run_plan,
    run_prune,
)
from backupctl.stores.base import Listing, StoredSnapshot
from retention import Decision, Policy, Snapshot, plan
from tests.backupctl.fakes import FakeStore

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def snap(
    group: str, t: datetime, status: str = "complete", tags: tuple[str, ...] = ()
) -> StoredSnapshot:
    sid = f"{group}/{t.strftime('%Y%m%dT%H%M%SZ')}"
    return StoredSnapshot(
        Snapshot(sid, t, group=group, tags=tags),
        status=status,  # type: ignore[arg-type]
        keys=(f"{sid}/manifest.json", f"{sid}/data"),
    )


def daily(group: str, days: int, end: datetime = NOW - timedelta(hours=1)) -> list[StoredSnapshot]:
    return [snap(group, end - timedelta(days=i)) for i in range(days)]


def make_config(
    safety: dict[str, Any] | None = None, policies: list[dict[str, Any]] | None = None
) -> Config:
    return parse_config(
        {
            "store": {"url": "s3://b/p"},
            "safety": {"max_delete_fraction": 1.0, "stale_after": "2d", **(safety or {})},
            "policy": policies or [{"name": "app", "keep_last": 3}],
        },
        sha256="c0ffee",
    )


class FakeAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def append(self, action: str, data: dict[str, Any], *, now: datetime) -> None:
        self.records.append((action, data))


class FakeLock:
    def __init__(self) -> None:
        self.held = False
        self.entered = 0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self.held:
            raise LockHeld("held by someone else")
        self.held, self.entered = True, self.entered + 1
        try:
            yield
        finally:
            self.held = False


def prune(config: Config, store: FakeStore, **kw: Any) -> tuple[Any, FakeAudit, FakeLock]:
    audit, lock = FakeAudit(), FakeLock()
    kw.setdefault("intents", Intents)  # an empty verified log (FakeAudit cannot be verified)
    result = run_prune(config, store, audit, lock, now=NOW, **kw)  # type: ignore[arg-type]
    return result, audit, lock


# ---------------------------------------------------------------------------- planning


def test_plan_matches_retention_and_leaves_everything_else_alone() -> None:
    config = make_config(policies=[{"name": "app", "keep_last": 3}])
    app = daily("app", 6)
    other = daily("other", 2)
    partial = snap("app", NOW - timedelta(days=10), status="incomplete")
    listing = Listing(snapshots=app + other, incomplete=[partial], unknown=["stray.txt"])
    run = compute_run_plan(config, listing, NOW)
    expected = plan([s.snapshot for s in app], Policy(keep_last=3), now=NOW)
    assert {d.snapshot.id for d in expected.kept()} == run.kept_ids()
    assert {s.snapshot.id for s in run.to_forget()} == {d.snapshot.id for d in expected.forgotten()}
    assert run.unknown == ["stray.txt"]
    assert run.incomplete == [partial]
    assert run.unmanaged == other
    doc = run.to_json()
    assert {d["action"] for d in doc["decisions"]} == {"keep", "forget"}
    assert doc["decisions"][0]["reasons"] == ["last 1"]
    assert doc["incomplete"] == [partial.snapshot.id]


def test_newest_is_kept_even_when_the_policy_would_forget_it() -> None:
    config = make_config(policies=[{"name": "app", "keep_tag": ["monthly"]}])
    snaps = [
        snap("app", NOW - timedelta(days=i), tags=("monthly",) if i == 3 else ()) for i in range(5)
    ]
    run = compute_run_plan(config, Listing(snapshots=snaps), NOW)
    newest = snaps[0].snapshot.id
    assert newest in run.kept_ids()
    assert run.groups["app"].decisions[0].reasons == (NEWEST_REASON,)
    assert newest not in {s.snapshot.id for s in run.to_forget()}


# ---------------------------------------------------------------------------- safety rules


def _rules(refusals: Sequence[Any]) -> set[tuple[str, str]]:
    return {(r.group, r.rule) for r in refusals}


def test_max_delete_fraction_refuses_only_the_group_over_the_limit() -> None:
    config = make_config(
        safety={"max_delete_fraction": 0.5},
        policies=[{"name": "app", "keep_last": 2}, {"name": "db", "keep_last": 4}],
    )
    run = compute_run_plan(config, Listing(snapshots=daily("app", 6) + daily("db", 6)), NOW)
    refusals = check_safety(run, config, NOW)
    assert _rules(refusals) == {("app", "max_delete_fraction")}  # 4/6 > 0.5; db loses 2/6
    assert "4 of 6" in refusals[0].message and refusals[0].overridable


def test_stale_group_is_refused() -> None:
    config = make_config(safety={"stale_after": "2d"})
    stale = daily("app", 5, end=NOW - timedelta(days=3))
    refusals = check_safety(compute_run_plan(config, Listing(snapshots=stale), NOW), config, NOW)
    assert _rules(refusals) == {("app", "stale")}
    fresh = daily("app", 5, end=NOW - timedelta(days=1))
    assert check_safety(compute_run_plan(config, Listing(snapshots=fresh), NOW), config, NOW) == []


def test_future_snapshots_beyond_clock_skew_are_refused() -> None:
    config = make_config(safety={"clock_skew": "1h"})
    snaps = [*daily("app", 5), snap("app", NOW + timedelta(hours=2))]
    refusals = check_safety(compute_run_plan(config, Listing(snapshots=snaps), NOW), config, NOW)
    assert _rules(refusals) == {("app", "future")}
    near = [*daily("app", 5), snap("app", NOW + timedelta(minutes=30))]
    assert check_safety(compute_run_plan(config, Listing(snapshots=near), NOW), config, NOW) == []


def test_nothing_to_delete_means_no_refusal() -> None:
    config = make_config(safety={"stale_after": "1d"}, policies=[{"name": "app", "keep_last": 10}])
    old = daily("app", 3, end=NOW - timedelta(days=30))
    assert check_safety(compute_run_plan(config, Listing(snapshots=old), NOW), config, NOW) == []


def _forced_plan(config: Config, snaps: list[StoredSnapshot], forget_all: bool) -> RunPlan:
    """A plan whose decisions were tampered with.

    The guard must catch what planning never produces.
    """
    pc = config.policies[0]
    decisions = [
        Decision(s.snapshot, pc.group, "forget" if forget_all or i == 0 else "keep", ())
        for i, s in enumerate(snaps)
    ]
    group = GroupPlan(pc, decisions, {s.snapshot.id: s for s in snaps})
    return RunPlan(now=NOW, config_sha256="x", groups={pc.group: group})


def test_newest_and_empty_group_guards_are_absolute() -> None:
    config = make_config()
    snaps = daily("app", 4)
    refusals = check_safety(_forced_plan(config, snaps, forget_all=False), config, NOW)
    assert _rules(refusals) == {("app", "newest")}
    assert not refusals[0].overridable
    refusals = check_safety(_forced_plan(config, snaps, forget_all=True), config, NOW)
    assert {"newest", "empties_group"} <= {r.rule for r in refusals}
    assert not any(r.overridable for r in refusals if r.rule in ("newest", "empties_group"))


def test_empty_policy_is_refused_and_keeps_everything() -> None:
    config = make_config()
    empty = PolicyConfig(name="app", group="app", policy=Policy())
    config = Config(**{**config.__dict__, "policies": (empty,)})
    run = compute_run_plan(config, Listing(snapshots=daily("app", 3)), NOW)
    assert run.to_forget() == []
    refusals = check_safety(run, config, NOW)
    assert _rules(refusals) == {("app", "empty_policy")} and not refusals[0].overridable


# ---------------------------------------------------------------------------- running


def test_prune_deletes_the_plan_and_audits_intent_then_result() -> None:
    store = FakeStore(
        [*daily("app", 6), snap("app", NOW - timedelta(days=20), "incomplete")], unknown=["x"]
    )
    before = compute_run_plan(make_config(), store.listing(), NOW)
    result, audit, lock = prune(make_config(), store)
    assert result.ok and lock.entered == 1 and not lock.held
    assert set(result.deleted) == {s.snapshot.id for s in before.to_forget()}
    assert set(store.snaps) == before.kept_ids() | {s.snapshot.id for s in before.incomplete}
    assert [a for a, _ in audit.records] == ["prune.intent", "prune.result"]
    intent = audit.records[0][1]
    assert intent["config_sha256"] == "c0ffee" and len(intent["delete"]) == 3
    assert intent["counts"] == {"app": {"keep": 3, "forget": 3}}
    assert audit.records[1][1]["deleted"] == result.deleted
    doc = result.to_json()
    assert doc["kept"] == 3 and doc["incomplete"] == [s.snapshot.id for s in before.incomplete]
    assert doc["unknown"] == ["x"] and doc["bytes_freed"] == 30 and doc["dry_run"] is False


def test_dry_run_touches_nothing() -> None:
    store = FakeStore(daily("app", 6))
    result, audit, lock = prune(make_config(), store, dry_run=True)
    assert store.calls == ["list"] and audit.records == [] and lock.entered == 0
    assert store.blobs().writes == 0 and len(store.snaps) == 6
    assert result.dry_run and len(result.would_delete) == 3 and result.deleted == []


def test_refusal_deletes_nothing_and_force_with_reason_overrides_and_is_audited() -> None:
    config = make_config(safety={"max_delete_fraction": 0.25})
    store = FakeStore(daily("app", 6))
    result, audit, _ = prune(config, store)
    assert not result.ok and _rules(result.refusals) == {("app", "max_delete_fraction")}
    assert "delete" not in store.calls and audit.records == [] and len(store.snaps) == 6
    result, audit, _ = prune(config, store, force_reason="first prune after migration")
    assert (
        result.ok
        and len(result.deleted) == 3
        and result.to_json()["forced"] == "first prune after migration"
    )
    assert [a for a, _ in audit.records] == ["prune.forced", "prune.intent", "prune.result"]
    assert audit.records[0][1]["reason"] == "first prune after migration"


def test_force_does_not_lift_absolute_rules() -> None:
    config = make_config()
    empty = PolicyConfig(name="app", group="app", policy=Policy())
    config = Config(**{**config.__dict__, "policies": (empty,)})
    store = FakeStore(daily("app", 3))
    result, audit, _ = prune(config, store, force_reason="because")
    assert not result.ok and "delete" not in store.calls and audit.records == []


def test_lock_held_propagates_and_nothing_is_deleted() -> None:
    store = FakeStore(daily("app", 6))
    lock = FakeLock()
    lock.held = True
    with pytest.raises(LockHeld):
        run_prune(make_config(), store, FakeAudit(), lock, now=NOW)  # type: ignore[arg-type]
    assert store.calls == [] and len(store.snaps) == 6


def test_held_snapshots_are_reported_not_failures() -> None:
    snaps = daily("app", 4)
    snaps[-1] = StoredSnapshot(snaps[-1].snapshot, status="held", keys=snaps[-1].keys)
    store = FakeStore(snaps)
    result, _, _ = prune(make_config(), store)
    assert result.ok and result.held == {snaps[-1].snapshot.id: "object lock"}


def test_partial_failure_is_journalled_and_a_rerun_finishes_the_job() -> None:
    store = FakeStore([*daily("app", 6), snap("app", NOW - timedelta(days=30), "incomplete")])
    kept = compute_run_plan(make_config(), store.listing(), NOW).kept_ids()
    victim = sorted(store.snaps)[1]
    store.fail = {victim}
    result, first, _ = prune(make_config(), store)
    assert not result.ok and set(result.failed) == {victim}
    assert store.snaps[victim].status == "incomplete"  # manifest gone: no longer looks whole
    assert (
        compute_run_plan(make_config(), store.listing(), NOW).resume == []
    )  # no audit log: no trust
    intents = Intents(intents_from_records([{"action": a, "data": d} for a, d in first.records]))
    assert [
        s.snapshot.id
        for s in compute_run_plan(make_config(), store.listing(), NOW, lambda: intents).resume
    ] == [victim]
    store.fail = set()
    result, audit, _ = prune(make_config(), store, intents=lambda: intents)
    assert result.ok and result.deleted == [victim]
    assert audit.records[0][1]["delete"][0]["reason"] == "resume interrupted prune"
    assert {i for i, s in store.snaps.items() if s.status != "incomplete"} == kept
    assert (
        len([s for s in store.snaps.values() if s.status == "incomplete"]) == 1
    )  # the producer's, untouched


# ---------------------------------------------------------------------------- property


@settings(max_examples=150, deadline=None)
@given(
    hours=st.lists(
        st.integers(min_value=-24 * 200, max_value=48), min_size=1, max_size=40, unique=True
    ),
    keep_last=st.integers(min_value=0, max_value=5),
    within_days=st.integers(min_value=0, max_value=30),
    tagged=st.sets(st.integers(min_value=0, max_value=39), max_size=5),
)
def test_newest_never_forgotten_and_only_known_snapshots_deleted(
    hours: list[int],
    keep_last: int,
    within_days: int,
    tagged: set[int],
) -> None:
    snaps = [
        snap("app", NOW + timedelta(hours=h), tags=("keep",) if i in tagged else ())
        for i, h in enumerate(hours)
    ]
    policy: dict[str, Any] = {"name": "app", "keep_tag": ["keep"]}
    if keep_last:
        policy["keep_last"] = keep_last
    if within_days:
        policy["keep_within"] = f"{within_days}d"
    config = make_config(policies=[policy])
    partial = snap("app", NOW - timedelta(days=500), status="incomplete")
    run = compute_run_plan(
        config, Listing(snapshots=snaps, incomplete=[partial], unknown=["u"]), NOW
    )
    forget = {s.snapshot.id for s in run.to_forget()}
    newest = max(snaps, key=lambda s: s.snapshot.time).snapshot.id
    assert newest not in forget
    assert forget.isdisjoint(run.kept_ids())
    assert forget | run.kept_ids() == {s.snapshot.id for s in snaps}
    assert partial.snapshot.id not in forget
    assert not any(r.rule in ("newest", "empties_group") for r in check_safety(run, config, NOW))


def _same_second_pair(order: int) -> list[StoredSnapshot]:
    """restic can hold two snapshots of a group at the same second, listed in either order."""
    t = NOW - timedelta(hours=1)
    twins = [
        StoredSnapshot(Snapshot(sid, t, "app"), "complete") for sid in ("aaaa1111", "ffff2222")
    ]
    older = [snap("app", NOW - timedelta(days=d)) for d in range(1, 4)]
    return [*(twins if order == 0 else twins[::-1]), *older]


def test_two_snapshots_at_the_newest_second_are_planned_the_same_in_either_order_and_prunable() -> (
    None
):
    """Issue 11 part 8: a "newest" refusal on every run, --force included, naming a different
    id each time. Now the newest is the one with the greatest (time, id), whatever the order."""
    config = make_config(policies=[{"name": "app", "keep_last": 1}])
    plans = [compute_run_plan(config, Listing(snapshots=_same_second_pair(o)), NOW) for o in (0, 1)]
    assert plans[0].kept_ids() == plans[1].kept_ids() == {"ffff2222"}
    assert [r for r in check_safety(plans[0], config, NOW) if r.rule == "newest"] == []
    store = FakeStore(_same_second_pair(1))
    result, _, _ = prune(config, store)
    assert result.ok and "aaaa1111" in result.deleted and set(store.snaps) == {"ffff2222"}
