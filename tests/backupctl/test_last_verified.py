"""Issue 12 part 5: retention that knows about verification. The newest snapshot of a group
that passed a drill (by the verified audit log's ``drill`` records) is never deleted, even when
the rules would forget it; its reason reads ``last verified``. A log that does not verify
cannot vouch for anything, so a prune that would delete is refused (overridable)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from backupctl.cli import main
from backupctl.config import load_config
from backupctl.prune.resume import Intents, verified_from_records
from backupctl.prune.runner import LAST_VERIFIED, check_safety, compute_run_plan
from backupctl.seed import DirWriter, write_snapshot
from backupctl.stores.base import Listing, StoredSnapshot
from retention import Snapshot

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
IDS = [f"app/202611{d:02d}T020000Z" for d in range(10, 23)]  # 13 dailies, oldest first


def config_file(tmp_path: Path, root: Path, extra: str = "") -> Path:
    path = tmp_path / "backupctl.toml"
    path.write_text(f"""timezone = "UTC"
[store]
url = "file://{root}"
[safety]
max_delete_fraction = 1.0
{extra}
[[policy]]
name = "app"
keep_last = 3
""")
    return path


def listing() -> Listing:
    snaps = [
        StoredSnapshot(Snapshot(i, datetime.strptime(i[4:], "%Y%m%dT%H%M%S%z"), "app")) for i in IDS
    ]
    return Listing(snapshots=snaps)


def plan_with(tmp_path: Path, known: Intents, extra: str = "") -> tuple[dict[str, list[str]], list]:
    config = load_config(config_file(tmp_path, tmp_path / "store", extra))
    run = compute_run_plan(config, listing(), NOW, lambda: known)
    rules = {d.snapshot.id: [r.rule for r in d.reasons] for d in run.decisions()}
    return rules, check_safety(run, config, NOW)


def test_the_newest_verified_snapshot_is_kept_with_the_reason_last_verified(
    tmp_path: Path,
) -> None:
    drilled = {IDS[2]: "2026-11-13T09:00:00+00:00", IDS[5]: "2026-11-16T09:00:00+00:00"}
    rules, refusals = plan_with(tmp_path, Intents(verified=drilled))
    assert rules[IDS[5]] == [LAST_VERIFIED]  # the newest snapshot that passed a drill
    assert rules[IDS[2]] == []  # an older verified one is forgotten as the rules say
    assert {i for i, r in rules.items() if r} == {IDS[5], *IDS[-3:]}
    assert refusals == []


def test_a_verified_snapshot_the_rules_keep_anyway_keeps_its_own_reason(tmp_path: Path) -> None:
    rules, _ = plan_with(tmp_path, Intents(verified={IDS[-1]: "2026-11-22T09:00:00+00:00"}))
    assert rules[IDS[-1]] == ["last"]
    assert sum(1 for r in rules.values() if r) == 3


def test_the_rule_can_be_turned_off(tmp_path: Path) -> None:
    drilled = Intents(verified={IDS[5]: "2026-11-16T09:00:00+00:00"})
    rules, _ = plan_with(tmp_path, drilled, "keep_last_verified = false")
    assert rules[IDS[5]] == []


def test_a_log_that_does_not_verify_refuses_a_prune_that_deletes(tmp_path: Path) -> None:
    rules, refusals = plan_with(tmp_path, Intents(problem="the audit log does not verify"))
    assert [(r.rule, r.overridable) for r in refusals] == [(LAST_VERIFIED, True)]
    assert "does not verify" in refusals[0].message
    assert sum(1 for r in rules.values() if r) == 3  # the plan itself is unchanged


def test_only_passed_drill_records_count() -> None:
    def drill(sid: object, verdict: str) -> dict[str, object]:
        return {
            "action": "drill",
            "time": "T",
            "data": {"verdict": verdict, "snapshot": {"id": sid}},
        }

    records = [
        drill("a/1", "passed"),
        drill("a/2", "failed"),
        drill("a/3", "over_target"),
        drill(7, "passed"),
        {"action": "prune.intent", "data": {"verdict": "passed", "snapshot": {"id": "a/4"}}},
        {"action": "drill", "data": "garbage"},
    ]
    assert verified_from_records(records) == {"a/1": "T"}


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, [*args, "--config", str(config)], env={"BACKUPCTL_NOW": NOW.isoformat()}
    )


def test_a_real_drill_protects_its_snapshot_from_a_real_prune(tmp_path: Path) -> None:
    """Drill an old snapshot on a file store, then prune with keep_last = 3: the drilled one
    survives with ``last verified`` in plan --json, the prune's audit record and the store."""
    root = tmp_path / "store"
    ids = [
        write_snapshot(DirWriter(root), "app", NOW - timedelta(days=d), {"db.sql": b"d%d" % d})
        for d in range(8, 0, -1)
    ]
    config = config_file(tmp_path, root, "")
    drilled = cli(config, "drill", "--snapshot", ids[1], "--json")
    assert drilled.exit_code == 0, drilled.output
    plan = cli(config, "plan", "--json")
    assert plan.exit_code == 0, plan.output
    decisions = {d["id"]: d for d in json.loads(plan.stdout)["decisions"]}
    assert decisions[ids[1]]["action"] == "keep"
    assert decisions[ids[1]]["rules"] == [LAST_VERIFIED]
    assert decisions[ids[1]]["reasons"][0].startswith("last verified")
    pruned = cli(config, "prune", "--json")
    assert pruned.exit_code == 0, pruned.output
    left = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("app/*/manifest.json"))
    assert left == sorted([ids[1], *ids[-3:]])
    records = [json.loads(p.read_text()) for p in sorted(root.glob("_backupctl/audit/*.json"))]
    [intent] = [r["data"] for r in records if r["action"] == "prune.intent"]
    assert [(p["id"], p["rules"]) for p in intent["protected"]] == [(ids[1], [LAST_VERIFIED])]
    assert ids[1] not in {d["id"] for d in intent["delete"]}
