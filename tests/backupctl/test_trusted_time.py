"""Trusted time (issue 12 part 4): snapshots that claim past times must not displace real ones.

On a file store through the CLI with the real audit log: a prune records what it saw; planted
snapshots that claim past times (their files written after that prune) are refused by plan and
prune (exit 4, rule ``time_drift``) and reported by verify (exit 3, claimed time and the
write time the store reports); ``--force --reason`` lifts the refusal; honest new snapshots
and a first run raise nothing; a garbage ``seen`` field is reported and never widens deletion.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.config import load_config
from backupctl.evidence.audit import audit_log_for
from backupctl.prune.memory import (
    FIRST_RUN,
    Memory,
    Seen,
    SeenError,
    decode_seen,
    encode_seen,
    memory_from_records,
)
from backupctl.prune.resume import Intents
from backupctl.prune.runner import check_safety, compute_run_plan
from backupctl.seed import DirWriter, write_snapshot
from backupctl.stores.base import Listing, StoredSnapshot
from retention import Snapshot

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the first prune
T1 = T0 + timedelta(days=1)  # the second run


def config_file(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "backupctl.toml"
    path.write_text(f"""timezone = "UTC"
[store]
url = "file://{root}"
[safety]
max_delete_fraction = 1.0
stale_after = "10d"
[[policy]]
name = "app"
keep_daily = 7
""")
    return path


def cli(config: Path, now: datetime, *args: str) -> Result:
    return CliRunner().invoke(
        main, [*args, "--config", str(config)], env={"BACKUPCTL_NOW": now.isoformat()}
    )


def put(root: Path, when: datetime, written: datetime) -> str:
    """A snapshot claiming ``when`` whose files the store says were written at ``written``."""
    sid = write_snapshot(DirWriter(root), "app", when, {"db.sql": when.isoformat().encode()})
    for f in (root / sid).iterdir():
        os.utime(f, (written.timestamp(), written.timestamp()))
    return sid


def honest_history(root: Path) -> list[str]:
    """Ten dailies at 02:00, each written when it claims."""
    days = [(T0 - timedelta(days=d)).replace(hour=2) for d in range(10, 0, -1)]
    return [put(root, t, t) for t in days]


def first_prune(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    root = tmp_path / "store"
    real = honest_history(root)
    config = config_file(tmp_path, root)
    out = cli(config, T0, "prune", "--json")
    assert out.exit_code == 0, out.output
    return root, config, [i for i in real if (root / i).exists()]


def plant(root: Path, real: list[str]) -> list[str]:
    """For five of the kept days, a snapshot at 23:00 of that day (later than the real 02:00,
    so it takes the day's bucket), written after the first prune."""
    days = [datetime.strptime(i[4:], "%Y%m%dT%H%M%S%z") for i in real[1:6]]
    return [put(root, d.replace(hour=23), T0 + timedelta(hours=6)) for d in days]


def records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("_backupctl/audit/*.json"))]


def test_a_prune_records_what_it_saw(tmp_path: Path) -> None:
    root, _, real = first_prune(tmp_path)
    [result] = [r["data"] for r in records(root) if r["action"] == "prune.result"]
    seen = decode_seen(result["seen"])
    assert seen.at == T0  # the ids it listed, before deleting three of them
    assert set(real) < seen.ids and result["seen"]["count"] == len(seen.ids) == 10


def test_a_prune_that_deletes_nothing_still_leaves_its_memory(tmp_path: Path) -> None:
    root, config, _ = first_prune(tmp_path)
    out = cli(config, T0 + timedelta(hours=1), "prune", "--json")
    assert out.exit_code == 0, out.output
    results = [r["data"] for r in records(root) if r["action"] == "prune.result"]
    assert len(results) == 2 and results[-1]["deleted"] == []
    assert decode_seen(results[-1]["seen"]).at == T0 + timedelta(hours=1)


def test_backdated_snapshots_that_displace_real_ones_are_refused(tmp_path: Path) -> None:
    root, config, real = first_prune(tmp_path)
    planted = plant(root, real)
    plan = cli(config, T1, "plan", "--json")
    assert plan.exit_code == 0, plan.output  # plan shows refusals; prune acts on them
    doc = json.loads(plan.stdout)
    [refusal] = doc["refusals"]
    assert refusal["rule"] == "time_drift"
    assert refusal["overridable"] is True
    for sid in [*planted, *real[1:6]]:
        assert sid in refusal["message"]
    assert {x["id"] for x in doc["time_drift"]} == set(planted)
    human = cli(config, T1, "plan").output
    assert f"claimed times the last prune's listing contradicts: {len(planted)}" in human
    assert f"{planted[0]} (backdated)" in human
    pruned = cli(config, T1, "prune", "--json")
    assert pruned.exit_code == 4, pruned.output
    assert [r["rule"] for r in json.loads(pruned.stdout)["refusals"]] == ["time_drift"]
    assert all((root / i).exists() for i in real)  # nothing deleted


def test_verify_names_the_backdated_snapshot_its_claim_and_its_write_time(tmp_path: Path) -> None:
    root, config, real = first_prune(tmp_path)
    planted = plant(root, real)
    out = cli(config, T1, "verify", "--json")
    assert out.exit_code == 3, out.output
    found = [v for v in json.loads(out.stdout)["violations"] if v["kind"] == "time_drift"]
    assert {v["id"] for v in found} == set(planted)
    v = next(v for v in found if v["id"] == planted[0])
    assert v["time"] == datetime.strptime(planted[0][4:], "%Y%m%dT%H%M%S%z").isoformat()
    assert datetime.fromisoformat(v["written"]) == T0 + timedelta(hours=6)
    assert v["why"] == "backdated" and datetime.fromisoformat(v["previous_run"]) == T0
    human = cli(config, T1, "verify")
    assert human.exit_code == 3 and planted[0] in human.output


def test_force_with_a_reason_lifts_the_refusal(tmp_path: Path) -> None:
    root, config, real = first_prune(tmp_path)
    plant(root, real)
    out = cli(config, T1, "prune", "--json", "--force", "--reason", "migrated history")
    assert out.exit_code == 0, out.output
    assert not all((root / i).exists() for i in real[1:6])
    [forced] = [r["data"] for r in records(root) if r["action"] == "prune.forced"]
    assert "time_drift" in {r["rule"] for r in forced["refusals"]}


def test_suspects_that_displace_nothing_stay_suspects_until_accepted(tmp_path: Path) -> None:
    root, config, _ = first_prune(tmp_path)
    old = put(root, (T0 - timedelta(days=30)).replace(hour=5), T0 + timedelta(hours=3))
    for n, now in enumerate((T1, T1 + timedelta(hours=1))):
        out = cli(config, now, "prune", "--json")  # forgets the old one: displaces nothing
        assert out.exit_code == 0, out.output
        seen = decode_seen(
            [r["data"] for r in records(root) if r["action"] == "prune.result"][-1]["seen"]
        )
        assert old not in seen.ids, n  # reported, never laundered into the memory
    root2, config2, real2 = first_prune(tmp_path / "b")
    planted = plant(root2, real2)
    out = cli(config2, T1, "prune", "--json", "--force", "--reason", "history migrated")
    assert out.exit_code == 0, out.output
    seen = decode_seen(
        [r["data"] for r in records(root2) if r["action"] == "prune.result"][-1]["seen"]
    )
    assert set(planted) <= seen.ids  # accepted with a reason: no longer suspects
    again = cli(config2, T1 + timedelta(hours=1), "verify", "--json")
    assert not [v for v in json.loads(again.stdout)["violations"] if v["kind"] == "time_drift"]


def test_honest_new_snapshots_raise_nothing(tmp_path: Path) -> None:
    root, config, real = first_prune(tmp_path)
    new = [put(root, T0 + timedelta(hours=h), T0 + timedelta(hours=h, minutes=5)) for h in (1, 20)]
    plan = cli(config, T1, "plan", "--json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert doc["time_drift"] == [] and doc["refusals"] == []
    assert len(doc["decisions"]) == len(real) + len(new)
    out = cli(config, T1, "verify", "--json")
    assert not [v for v in json.loads(out.stdout)["violations"] if v["kind"] == "time_drift"]


def test_a_new_snapshot_far_from_its_write_time_is_flagged(tmp_path: Path) -> None:
    root, config, _ = first_prune(tmp_path)
    # claims after the last run, but its files were written two days after that claim
    sid = put(root, T0 + timedelta(hours=2), T0 + timedelta(days=2, hours=3))
    out = cli(config, T0 + timedelta(days=2, hours=4), "verify", "--json")
    found = [v for v in json.loads(out.stdout)["violations"] if v["kind"] == "time_drift"]
    assert [(v["id"], v["why"]) for v in found] == [(sid, "drift")]


def test_a_first_run_raises_nothing_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "store"
    honest_history(root)
    put(root, (T0 - timedelta(days=3)).replace(hour=23), T0)  # would be a suspect, later
    config = config_file(tmp_path, root)
    plan = cli(config, T0, "plan", "--json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert doc["memory"] == FIRST_RUN and doc["time_drift"] == []
    assert f"snapshot times not judged: {FIRST_RUN}" in cli(config, T0, "-v", "plan").output
    assert "not judged" not in cli(config, T0, "plan").output  # quiet unless -v
    out = cli(config, T0, "verify", "--json")
    notes = [n for n in json.loads(out.stdout)["notes"] if n["kind"] == "trusted_time"]
    assert [n["problem"] for n in notes] == [FIRST_RUN]


def test_a_garbage_seen_is_reported_and_never_widens_deletion(tmp_path: Path) -> None:
    root, config, real = first_prune(tmp_path)
    plant(root, real)
    baseline = json.loads(cli(config, T1, "plan", "--json").stdout)
    log = audit_log_for(load_config(config), sign=False)
    garbage = {"v": 1, "at": T1.isoformat(), "count": 3, "sha256": "0" * 64, "ids": "!!!"}
    log.append("prune.result", {"deleted": [], "seen": garbage}, now=T0 + timedelta(hours=7))
    plan = cli(config, T1, "plan", "--json")
    assert plan.exit_code == 0, plan.output  # no memory: the plan a run without it makes
    doc = json.loads(plan.stdout)
    assert "seen.ids" in doc["memory"] and "no memory" in doc["memory"]
    would = {d["id"] for d in doc["decisions"] if d["action"] == "forget"}
    refused = {d["id"] for d in baseline["decisions"] if d["action"] == "forget"}
    assert would == refused  # the same plan, judged or not: garbage never adds a deletion
    out = cli(config, T1, "verify", "--json")
    notes = [n for n in json.loads(out.stdout)["notes"] if n["kind"] == "trusted_time"]
    assert notes and "seen.ids" in notes[0]["problem"]


def test_decode_seen_bounds_hostile_fields() -> None:
    good = encode_seen(T0, ["b", "a"])
    assert decode_seen(good) == Seen(T0, frozenset({"a", "b"}))
    bombs = [
        None,
        {**good, "v": 2},
        {**good, "at": "yesterday"},
        {**good, "at": "2026-11-23T12:00:00"},
        {**good, "count": 10**30},
        {**good, "count": 3},
        {**good, "sha256": "f" * 64},
        {**good, "ids": "not base64!"},
        {**good, "ids": encode_seen(T0, ["x" * 2000])["ids"]},
    ]
    for bad in bombs:
        try:
            decode_seen(bad)
        except SeenError:
            continue
        raise AssertionError(f"accepted {bad!r}")
    zero = encode_seen(T0, [])
    assert decode_seen(zero).ids == frozenset()
    assert memory_from_records([]).first_run


# ------------------------------------------------------------------------- the property

DAY = timedelta(days=1)


def _stored(sid_time: datetime, written: datetime) -> StoredSnapshot:
    sid = "app/" + sid_time.strftime("%Y%m%dT%H%M%SZ")
    return StoredSnapshot(Snapshot(sid, sid_time, "app"), written=written)


@settings(max_examples=60, deadline=None)
@given(
    real_days=st.lists(st.integers(1, 40), min_size=1, max_size=25, unique=True),
    planted=st.lists(
        st.tuples(st.integers(1, 40), st.integers(0, 23 * 60)), min_size=1, max_size=15
    ),
    policy=st.sampled_from(
        ["keep_daily = 7", "keep_weekly = 4", "keep_daily = 5\nkeep_weekly = 3"]
    ),
)
def test_backdated_snapshots_never_make_prune_delete_what_it_keeps_without_them(
    tmp_path_factory, real_days: list[int], planted: list[tuple[int, int]], policy: str
) -> None:
    tmp = tmp_path_factory.mktemp("p")
    path = tmp / "c.toml"
    path.write_text(
        f'timezone = "UTC"\n[store]\nurl = "file://{tmp}/s"\n[safety]\nmax_delete_fraction = 1.0\n'
        f'stale_after = "100d"\n[[policy]]\nname = "app"\n{policy}\n'
    )
    config = load_config(path)
    now = T1
    real = [
        _stored((T0 - d * DAY).replace(hour=2), (T0 - d * DAY).replace(hour=2)) for d in real_days
    ]
    fake = [
        _stored(T0.replace(hour=0) - d * DAY + timedelta(minutes=m), T0 + timedelta(hours=3))
        for d, m in planted
    ]
    ids = {s.snapshot.id for s in real}
    fake = list({s.snapshot.id: s for s in fake if s.snapshot.id not in ids}.values())
    memory = Memory(Seen(T0, frozenset(ids)))
    known = Intents(memory=memory)

    def plan(listing: Listing) -> tuple[set[str], bool]:
        run = compute_run_plan(config, listing, now, lambda: known)
        refusals = check_safety(run, config, now)
        forgotten = {d.snapshot.id for d in run.decisions() if d.action == "forget"}
        return forgotten, any(r.rule == "time_drift" for r in refusals)

    without, refused = plan(Listing(snapshots=real))
    assert not refused
    with_fake, refused = plan(Listing(snapshots=real + fake))
    assert refused or (with_fake & ids) <= without
