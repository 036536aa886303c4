"""The planner's shortcuts against the reference transcription, and the lazy decisions sequence.

The general property tests draw every rule at random, so policies made of within-rules alone
(the SLA presets: the planner then walks only past the earliest cut-off and skips same-day
snapshots) are rare there; here they are the whole point, over dense multi-zone histories.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention import CALENDARS, SLA_APP, SLA_SERVER, Duration, Policy, Snapshot, plan
from tests.retention.reference import reference_plan

ZONES = [
    UTC,
    ZoneInfo("Europe/Amsterdam"),
    ZoneInfo("America/New_York"),
    timezone(timedelta(hours=5, minutes=30)),
]
ANCHORS = [
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 12, 31, 23, tzinfo=UTC),
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dense_histories(draw: st.DrawFn) -> list[Snapshot]:
    """Up to 60 snapshots a few hours apart around a DST change or a year end, some tied, in zones
    and fixed offsets, in two groups: many walk neighbours share a wall-clock day."""
    anchor = draw(st.sampled_from(ANCHORS))
    out: list[Snapshot] = []
    for i in range(draw(st.integers(1, 60))):
        t = anchor + timedelta(minutes=draw(st.integers(-60 * 24 * 40, 60 * 24 * 3)))
        if out and draw(st.integers(0, 5)) == 0:
            t = out[-1].time  # an exact tie
        t = t.astimezone(draw(st.sampled_from(ZONES)))
        if draw(st.booleans()):
            t = t.replace(tzinfo=timezone(t.utcoffset() or timedelta(0)))
        out.append(Snapshot(f"s{i:03d}", t, group=draw(st.sampled_from(["a", "b"]))))
    return out


short_durations = st.builds(
    Duration,
    months=st.integers(0, 1),
    weeks=st.integers(0, 3),
    days=st.integers(0, 10),
    hours=st.integers(0, 30),
)
maybe = st.one_of(st.just(Duration()), short_durations)
rarely = st.one_of(st.just(Duration()), st.just(Duration()), short_durations)


@st.composite
def within_policies(draw: st.DrawFn) -> Policy:
    """Policies of within-rules only (at least one), sometimes with keep_within and keep_oldest."""
    p = Policy(
        keep_within=draw(rarely),
        # rules finer than a day (hourly) turn the same-day shortcut off: drawn less often
        **{cal.within_key: draw(maybe if cal.coarse else rarely) for cal in CALENDARS},
        keep_oldest=draw(st.booleans()),
    )
    return Policy(keep_within_daily=Duration(days=7)) if p.is_empty() else p


nows = st.builds(
    lambda a, m: a + timedelta(minutes=m),
    st.sampled_from(ANCHORS),
    st.integers(-60 * 24 * 10, 60 * 24 * 5),
)


@SETTINGS
@given(dense_histories(), within_policies(), nows)
def test_within_only_policies_match_reference(
    snaps: list[Snapshot], policy: Policy, now: datetime
) -> None:
    """Walking only past the earliest cut-off and skipping same-day snapshots.

    Both shortcuts keep what restic keeps.
    """
    result = plan(snaps, policy, now=now)
    assert [
        (d.action == "keep", [r.rule for r in d.reasons]) for d in result.decisions
    ] == reference_plan(snaps, policy, now)


def _history(n: int) -> list[Snapshot]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Snapshot(f"{i:04d}", start + timedelta(hours=7 * i), group="ab"[i % 2]) for i in range(n)
    ]


@pytest.mark.parametrize("policy", [SLA_SERVER, SLA_APP, Policy(keep_last=3, keep_daily=-1)])
def test_decisions_behave_as_the_tuple_of_decisions(policy: Policy) -> None:
    """``Plan.decisions`` is built lazily but reads, compares and hashes as an immutable tuple."""
    snaps = _history(400)
    result = plan(snaps, policy, now=datetime(2026, 6, 1, tzinfo=UTC))
    decisions = result.decisions
    eager = tuple(decisions)
    assert len(decisions) == len(eager) == 400
    assert [decisions[i] for i in range(-400, 400)] == list(eager + eager)
    assert (
        decisions[10:20] == eager[10:20] and decisions[::-7] == eager[::-7] and decisions[5:5] == ()
    )
    assert decisions == eager and eager == decisions and hash(decisions) == hash(eager)
    assert decisions != list(eager) and decisions != eager[:-1]
    assert result == plan(snaps, policy, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert list(reversed(decisions)) == list(reversed(eager)) and decisions.index(eager[-1]) == 399
    assert result.kept() == [d for d in eager if d.action == "keep"] != []
    assert result.forgotten() == [d for d in eager if d.action == "forget"] != []
    assert all(d.group == s.group for d, s in zip(decisions, snaps, strict=True))
    for bad in (400, -401):
        with pytest.raises(IndexError):
            decisions[bad]
    snaps.clear()  # the plan does not depend on the caller's list
    assert tuple(decisions) == eager
