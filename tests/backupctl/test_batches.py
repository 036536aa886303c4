"""The S3 batch packing (backupctl/stores/batches.py): its invariants, by hypothesis."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from backupctl.stores.batches import (
    MAX_DELETE_BATCH,
    Refusal,
    fewest_delete_requests,
    manifest_rounds,
    pack,
    schedule,
    send_splitting,
    split_sendable,
    take,
    xml_safe,
)

Job = tuple[int, str | None, list[str]]  # snapshot, its manifest key (None: gone), data keys


@st.composite
def deletions(draw: st.DrawFn) -> tuple[list[Job], int]:
    """Snapshots to delete (some only resumed: no manifest left) and a batch size."""
    size = draw(st.integers(1, 12))
    data = draw(st.lists(st.integers(0, 15), max_size=40))
    resumed = draw(st.lists(st.booleans(), min_size=len(data), max_size=len(data)))
    jobs: list[Job] = [
        (i, None if gone else f"{i}/manifest.json", [f"{i}/d{j}" for j in range(n)])
        for i, (n, gone) in enumerate(zip(data, resumed, strict=True))
    ]
    return jobs, size


@given(deletions())
def test_every_key_goes_once_no_batch_is_over_the_limit_and_manifests_go_a_round_first(
    case: tuple[list[Job], int],
) -> None:
    jobs, size = case
    rounds = schedule(jobs, size)
    sent = [item for r in rounds for batch in r for item in batch]
    expected = [(i, m) for i, m, _ in jobs if m is not None] + [
        (i, k) for i, _, data in jobs for k in data
    ]
    assert sorted(sent) == sorted(expected)  # every key exactly once
    assert all(1 <= len(batch) <= size for r in rounds for batch in r)
    round_of = {(i, k): n for n, r in enumerate(rounds) for batch in r for i, k in batch}
    for i, manifest, data in jobs:
        if manifest is not None:  # its data only in a later round: sent after it is answered
            assert all(round_of[(i, k)] > round_of[(i, manifest)] for k in data)
    # a batch may mix snapshots, never a snapshot's manifest with its own data
    for batch in (batch for r in rounds for batch in r):
        owners_of_manifests = {i for i, k in batch if k.endswith("/manifest.json")}
        assert not any(
            i in owners_of_manifests for i, k in batch if not k.endswith("/manifest.json")
        )


@given(deletions())
def test_the_request_count_is_the_fewest_where_fewest_delete_requests_claims_it(
    case: tuple[list[Job], int],
) -> None:
    jobs, size = case
    rounds = schedule(jobs, size)
    requests = sum(len(r) for r in rounds)
    manifests = [(i, data) for i, m, data in jobs if m is not None]
    m = len(manifests)
    d = sum(len(data) for _, _, data in jobs)
    fewest = fewest_delete_requests(m, d, size)
    head_data = sum(len(data) for _, data in manifests[: m - m % size])
    if m < size or m % size == 0 or head_data >= size - m % size:
        assert requests == fewest
    else:  # round 1's snapshots hold too little data to fill round 2: one batch more at most
        assert fewest <= requests <= fewest + 1
    if m >= size:
        assert fewest == math.ceil((m + d) / size)


@given(st.lists(st.integers(), max_size=30), st.integers(1, 7))
def test_manifest_rounds_are_full_batches_and_a_short_rest(items: list[int], size: int) -> None:
    head, last = manifest_rounds(items, size)
    assert all(len(b) == size for b in head) and len(last) < size
    assert [x for b in head for x in b] + last == items
    assert pack(items, size) == head + ([last] if last else [])


@given(st.lists(st.lists(st.integers(), max_size=6), max_size=8), st.integers(0, 20))
def test_take_takes_in_order_and_leaves_the_rest(pools: list[list[int]], n: int) -> None:
    owned = list(enumerate(pools))
    taken, left = take(owned, n)
    assert len(taken) == min(n, sum(map(len, pools)))
    assert [o for o, _ in left] == list(range(len(pools)))
    for owner, items in owned:  # each pool: a prefix taken, the rest left, nothing lost
        mine = [x for o, x in taken if o == owner]
        assert mine + dict(left)[owner] == items
    flat = [(o, x) for o, items in owned for x in items]
    assert taken == flat[: len(taken)]


keys = st.text(st.characters(codec="utf-16", exclude_categories=()), max_size=6)


@given(st.lists(keys, max_size=20))
def test_split_sendable_partitions_by_xml_safety_in_order(batch: list[str]) -> None:
    safe, singles = split_sendable(batch, key=str)
    assert all(xml_safe(k) for k in safe) and not any(xml_safe(k) for k in singles)
    assert sorted(safe + singles) == sorted(batch)
    assert safe == [k for k in batch if k in set(safe)]
    assert not xml_safe("a\x00b") and not xml_safe("\ud800") and xml_safe("a\tb/é")


@given(st.lists(st.booleans(), max_size=64))
def test_a_refused_request_is_split_until_each_bad_key_fails_alone(poison: list[bool]) -> None:
    """A service that refuses, as malformed, any request holding a key it dislikes."""
    batch = [(i, bad) for i, bad in enumerate(poison)]
    requests: list[Sequence[tuple[int, bool]]] = []
    deleted: list[int] = []

    def send(part: Sequence[tuple[int, bool]]) -> list[str] | Refusal:
        requests.append(part)
        if any(bad for _, bad in part):
            return Refusal("MalformedXML", "not well-formed")
        deleted.extend(i for i, _ in part)
        return []

    errors = send_splitting(batch, send, lambda item, r: f"{item[0]}: {r.code}")
    assert sorted(deleted) == [i for i, bad in batch if not bad]  # every good key, once
    assert sorted(errors, key=lambda e: int(e.split(":")[0])) == [
        f"{i}: MalformedXML" for i, bad in batch if bad
    ]
    if not any(poison):
        assert len(requests) == (1 if poison else 0)
    assert len(requests) <= max(0, 2 * len(batch) - 1)  # at most one request per tree node
    n_bad = sum(poison)
    if n_bad:  # each bad key costs at most two requests per halving
        assert len(requests) <= 1 + 2 * n_bad * math.ceil(math.log2(len(batch)) + 1)


def test_pack_respects_the_s3_limit() -> None:
    assert [len(c) for c in pack(list(range(2500)))] == [
        1000,
        1000,
        500,
    ] and MAX_DELETE_BATCH == 1000
    assert pack([]) == []
