"""Invariants of the planner, checked with hypothesis over DST-rich, multi-zone histories.

Proofs sketched in the docstrings are what these tests pin down; see docs/retention.md.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention import COUNT_RULES, WITHIN_RULES, Duration, Policy, Snapshot, plan
from tests.retention.reference import reference_plan

ZONES = [
    UTC,
    ZoneInfo("Europe/Amsterdam"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Pacific/Chatham"),
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-9, minutes=-30)),
]
# around the 2026 DST changes in Europe and the US, and the ISO week-53 year end 2026/27
ANCHORS = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
]
MAX_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)


@st.composite
def times(draw: st.DrawFn) -> datetime:
    """An aware time near a DST change or a year end, in a zone (ZoneInfo) or as a fixed offset."""
    anchor = draw(st.sampled_from(ANCHORS))
    minutes = draw(st.one_of(st.integers(-180, 180), st.integers(-60 * 24 * 120, 60 * 24 * 30)))
    t = (anchor + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from(ZONES)))
    if draw(st.booleans()):
        t = t.replace(tzinfo=timezone(t.utcoffset() or timedelta(0)))  # how restic's JSON arrives
    return t


@st.composite
def histories(draw: st.DrawFn) -> list[Snapshot]:
    pool = draw(st.lists(times(), min_size=1, max_size=12))
    n = draw(st.integers(1, 30))
    out = []
    for i in range(n):
        t = (
            draw(st.sampled_from(pool)) if draw(st.integers(0, 4)) == 0 else draw(times())
        )  # some exact ties
        out.append(
            Snapshot(
                id=f"s{i:03d}",
                time=t,
                group=draw(st.sampled_from(["a", "b"])),
                tags=tuple(draw(st.lists(st.sampled_from(["x", "y"]), max_size=2, unique=True))),
            )
        )
    return out


counts = st.one_of(st.just(0), st.just(0), st.integers(1, 6), st.just(-1))
durations = st.builds(
    Duration,
    years=st.integers(0, 1),
    months=st.integers(0, 3),
    weeks=st.integers(0, 2),
    days=st.integers(0, 10),
    hours=st.integers(0, 30),
)
maybe_duration = st.one_of(st.just(Duration()), st.just(Duration()), durations)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    p = Policy(
        **{name: draw(counts) for name in COUNT_RULES},  # every rule of the table, in its order
        **{name: draw(maybe_duration) for name in WITHIN_RULES},
        keep_tags=tuple(draw(st.lists(st.sampled_from([("x",), ("x", "y"), ("",)]), max_size=2))),
        keep_oldest=draw(st.integers(0, 3)) == 0,
    )
    return dataclasses.replace(p, keep_last=1) if p.is_empty() else p


nows = st.builds(
    lambda a, m: a + timedelta(minutes=m),
    st.sampled_from(ANCHORS),
    st.integers(-60 * 24 * 30, 60 * 24 * 60),
)


def _kept(snaps: list[Snapshot], policy: Policy, now: datetime) -> set[str]:
    return {d.snapshot.id for d in plan(snaps, policy, now=now).kept()}


def _walk_first(snaps: list[Snapshot]) -> dict[str, str]:
    """Per group: the first snapshot of restic's walk (newest; on a tie the first given)."""
    first: dict[str, Snapshot] = {}
    for s in snaps:
        if s.group not in first or s.time.timestamp() > first[s.group].time.timestamp():
            first[s.group] = s
    return {g: s.id for g, s in first.items()}


@MAX_SETTINGS
@given(histories(), policies(), nows)
def test_matches_reference_transcription(
    snaps: list[Snapshot], policy: Policy, now: datetime
) -> None:
    """The planner equals a line-by-line transcription of restic's ApplyPolicy (oracle)."""
    result = plan(snaps, policy, now=now)
    assert [
        (d.action == "keep", [r.rule for r in d.reasons]) for d in result.decisions
    ] == reference_plan(snaps, policy, now)


@MAX_SETTINGS
@given(histories(), policies(), nows)
def test_partition_and_reasons(snaps: list[Snapshot], policy: Policy, now: datetime) -> None:
    """One decision per snapshot, in input order; reasons are non-empty exactly for kept ones."""
    result = plan(snaps, policy, now=now)
    assert [d.snapshot for d in result.decisions] == snaps
    assert len(result.kept()) + len(result.forgotten()) == len(snaps)
    for d in result.decisions:
        assert (d.action == "keep") == bool(d.reasons)
        assert all(r.text for r in d.reasons)


@MAX_SETTINGS
@given(histories(), policies(), nows)
def test_newest_is_kept(snaps: list[Snapshot], policy: Policy, now: datetime) -> None:
    """The exact invariant: unless the policy is tags only, each group's walk-first snapshot
    (its newest, future ones included; on an exact tie the first given) is kept: it opens a new
    bucket for every count rule and is after every within cut-off.

    The newest *non-future* snapshot is only guaranteed with ``keep_within``: a future snapshot
    can take its bucket (``keep_daily``/``keep_within_daily``) or its ``keep_last`` slot. When
    no snapshot is in the future, the two are the same snapshot. Even ``keep_within`` has one
    exception, Go's: a newest in the first pass of an autumn overlap hour is moved an hour
    later by AddDate's re-resolution, so ``keep_within = "1h"`` (no calendar part, hours <= the
    DST shift) does not keep it (see test_planner); with a calendar part or 3h+ it is kept.
    """
    kept = _kept(snaps, policy, now)
    tags_only = dataclasses.replace(policy, keep_tags=(), keep_oldest=False).is_empty()
    if not tags_only:
        assert set(_walk_first(snaps).values()) <= kept
    within = policy.keep_within
    if not within.is_zero() and (
        within.years or within.months or within.weeks or within.days or within.hours > 2
    ):
        past = [s for s in snaps if s.time < now]
        assert set(_walk_first(past).values()) <= kept


@MAX_SETTINGS
@given(histories(), policies(), nows)
def test_replanning_the_kept_set_forgets_nothing(
    snaps: list[Snapshot], policy: Policy, now: datetime
) -> None:
    """Idempotence holds exactly, even with counts: a forgotten snapshot never opened a bucket of a
    rule with count left (it would have been kept), so removing it changes no rule's walk; ``last``
    keeps the first n of the walk, which all survive; and if the newest non-future snapshot was
    forgotten (a future one took its place) the within reference moves back, which only widens
    every within range at its old end. So the kept set keeps everything, and when no snapshot is
    in the future and keep_oldest is off even the reasons are identical.
    """
    first = plan(snaps, policy, now=now)
    kept = [d.snapshot for d in first.kept()]
    again = plan(kept, policy, now=now)
    assert again.forgotten() == []
    if not policy.keep_oldest and all(s.time < now for s in snaps):
        assert [d.reasons for d in again.decisions] == [d.reasons for d in first.kept()]


_COUNT_FIELDS = COUNT_RULES
_WITHIN_FIELDS = WITHIN_RULES


@MAX_SETTINGS
@given(
    histories(), policies(), nows, st.sampled_from(_COUNT_FIELDS), st.integers(1, 5), st.booleans()
)
def test_raising_a_count_never_keeps_less(
    snaps: list[Snapshot],
    policy: Policy,
    now: datetime,
    field: str,
    extra: int,
    unlimited: bool,
) -> None:
    """Monotone in every count: rules keep independently (the kept set is the union over rules) and
    a higher count only lets a rule's walk go on further; -1 (unlimited) is above every n."""
    old = getattr(policy, field)
    new = -1 if unlimited or old == -1 else old + extra
    assert _kept(snaps, policy, now) <= _kept(
        snaps, dataclasses.replace(policy, **{field: new}), now
    )


@MAX_SETTINGS
@given(histories(), policies(), nows, st.sampled_from(_WITHIN_FIELDS), durations)
def test_raising_a_duration_never_keeps_less(
    snaps: list[Snapshot],
    policy: Policy,
    now: datetime,
    field: str,
    more: Duration,
) -> None:
    """Monotone in every duration component: a longer duration gives an earlier or equal cut-off
    (Go's AddDate moves the month start back by whole months and adds the same day offset), the
    within range is a prefix of the newest-first walk, and extending it at its end leaves every
    earlier bucket decision unchanged."""
    old: Duration = getattr(policy, field)
    raised = Duration(
        *(a + b for a, b in zip(dataclasses.astuple(old), dataclasses.astuple(more), strict=True))
    )
    assert _kept(snaps, policy, now) <= _kept(
        snaps, dataclasses.replace(policy, **{field: raised}), now
    )


@MAX_SETTINGS
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2040, 1, 1),
        timezones=st.sampled_from(ZONES),
    ),
    durations,
    durations,
)
def test_cutoff_is_monotone(newest: datetime, a: Duration, b: Duration) -> None:
    """The lemma behind duration monotonicity, including DST zones."""
    bigger = Duration(
        *(x + y for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True))
    )
    assert bigger.cutoff(newest) <= a.cutoff(newest) <= newest
