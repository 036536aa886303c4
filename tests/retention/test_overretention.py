"""Over-retention: forgotten by the plan at T and forgettable for longer than the grace."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from retention import SLA_APP, SLA_SERVER, Duration, Policy, Snapshot, plan
from retention.overretention import lost_reason_at, over_retained
from tests.retention.helpers_history import ams, history, pruned_daily

GRACE = Duration(days=1)


def test_freshly_pruned_store_has_no_over_retention() -> None:
    for cron, policy in (("0 2 * * *", SLA_SERVER), ("0 0,6,12,18 * * *", SLA_APP)):
        now = ams(2026, 11, 30, 3, 30)
        store = pruned_daily(history(cron, ams(2026, 1, 1), now), policy)
        assert over_retained(store, policy, now=now, grace=GRACE) == []


def test_prune_stopped_three_months_ago_flags_exactly_the_stale_ones() -> None:
    now = ams(2026, 11, 30, 10)
    stopped = ams(2026, 8, 30, 3, 30)
    full = history("0 2 * * *", ams(2026, 1, 1), now)
    store = pruned_daily([s for s in full if s.time <= stopped], SLA_SERVER) + [
        s for s in full if s.time > stopped
    ]
    flagged = {o.snapshot.id for o in over_retained(store, SLA_SERVER, now=now, grace=GRACE)}
    forgotten = {d.snapshot.id for d in plan(store, SLA_SERVER, now=now).forgotten()}
    # every snapshot the plan forgets lost its reason long ago, except yesterday's that only just
    # lost it
    assert forgotten - flagged == {
        "g/2026-11-23T02:00:00+01:00"
    }  # lost its daily at 11-30 02:00: < 1 day
    assert "g/2026-08-31T02:00:00+02:00" not in flagged  # a monthly still kept
    assert len(flagged) > 60


def test_app_snapshot_is_flagged_one_grace_after_leaving_the_two_month_window() -> None:
    snaps = history("0 0,6,12,18 * * *", ams(2026, 1, 1), ams(2026, 4, 1))
    old = snaps[0]  # 2026-01-01 00:00, out of "2m" once a snapshot after 2026-03-01 00:00 arrives
    assert lost_reason_at(old, snaps, SLA_APP) == ams(2026, 3, 1, 0)
    assert old.id not in {
        o.snapshot.id for o in over_retained(snaps, SLA_APP, now=ams(2026, 3, 1, 23), grace=GRACE)
    }
    late = over_retained(snaps, SLA_APP, now=ams(2026, 3, 2, 1), grace=GRACE)
    assert late[0].snapshot == old and late[0].as_violation()["kind"] == "over_retention"


def test_tagged_snapshots_never_lose_their_reason() -> None:
    tagged = Snapshot("t", ams(2026, 1, 1), "g", tags=("keep",))
    snaps = [tagged, *history("0 2 * * *", ams(2026, 1, 2), ams(2026, 3, 1))]
    assert lost_reason_at(tagged, snaps, Policy(keep_last=1, keep_tags=(("keep",),))) is None


def _brute_force_lost_at(target: Snapshot, snaps: list[Snapshot], policy: Policy):  # type: ignore[no-untyped-def]
    """The first arrival after which planning the history so far forgets ``target``."""
    for s in sorted(snaps, key=lambda x: x.time):
        if s.time <= target.time:
            continue
        prefix = [x for x in snaps if x.time <= s.time]
        after = s.time + timedelta(
            microseconds=1
        )  # the planner counts snapshots strictly before now
        decision = next(
            d for d in plan(prefix, policy, now=after).decisions if d.snapshot == target
        )
        if decision.action == "forget":
            return s.time
    return None


POLICIES = [
    SLA_SERVER,
    SLA_APP,
    Policy(keep_last=3),
    Policy(keep_daily=3, keep_weekly=2),
    Policy(keep_within=Duration(days=2), keep_monthly=2),
    Policy(keep_hourly=5, keep_within_daily=Duration(days=3)),
    Policy(keep_yearly=-1, keep_daily=2),
]


@settings(max_examples=80, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=60 * 60 * 24 * 9), min_size=1, max_size=25),
    policy=st.sampled_from(POLICIES),
)
def test_lost_reason_at_equals_replaying_the_planner(gaps: list[int], policy: Policy) -> None:
    t = ams(2026, 10, 1)
    snaps = []
    for i, gap in enumerate(gaps):
        t = t + timedelta(seconds=gap)
        snaps.append(Snapshot(str(i), t.astimezone(ams(2026, 1, 1).tzinfo), "g"))
    for s in snaps:
        assert lost_reason_at(s, snaps, policy) == _brute_force_lost_at(s, snaps, policy)
