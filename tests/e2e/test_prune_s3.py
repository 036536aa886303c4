"""`backupctl prune` end to end on a moto S3 server: six months of SLA-shaped history
(app 4x daily, server daily), plus unknown keys and an incomplete snapshot."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from backupctl.config import load_config
from backupctl.evidence.audit import AuditLog
from backupctl.evidence.metrics import LAST_SUCCESS
from backupctl.prune.runner import compute_run_plan
from backupctl.seed import S3Writer, seed_history, write_snapshot
from backupctl.stores import open_store
from backupctl.stores.locations import audit_blobs_for

pytestmark = pytest.mark.e2e

TZ = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
UNKNOWN = ["README.txt", "app/not-a-time/file.bin", "other-tool/state.json"]


def write_config(path: Path, bucket: str, endpoint: str, fraction: float = 0.5) -> Path:
    path.write_text(f"""
timezone = "Europe/Amsterdam"

[store]
url = "s3://{bucket}/backups"
endpoint_url = "{endpoint}"

[safety]
max_delete_fraction = {fraction}
stale_after = "2d"

[[policy]]
name = "app"
preset = "sla-app"
schedule = "0 0,6,12,18 * * *"

[[policy]]
name = "server"
preset = "sla-server"
schedule = "0 2 * * *"
""")
    return path


def prune(config: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["prune", "--config", str(config), *args],
        env={"BACKUPCTL_NOW": NOW.isoformat()},
        catch_exceptions=False,
    )


@pytest.fixture()
def seeded(s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path) -> tuple[Path, Any, str]:
    writer = S3Writer(s3_client, bucket, "backups")
    seed_history(
        writer,
        start=NOW - timedelta(days=183),
        end=NOW - timedelta(hours=1),
        tz=TZ,
        sizes={"app": (64,), "server": (64, 32)},
        seed=7,
    )
    for key in UNKNOWN:
        writer.put(key, b"not a backup")
    partial_time = NOW - timedelta(
        days=150, minutes=17
    )  # old: the policy would forget it if it were whole
    folder_key = write_snapshot(writer, "app", partial_time, {"db.sql.gz": b"half"})
    s3_client.delete_object(Bucket=bucket, Key=f"backups/{folder_key}/manifest.json")
    return write_config(tmp_path / "backupctl.toml", bucket, s3_endpoint), s3_client, folder_key


def keys(client: Any, bucket: str) -> set[str]:
    out: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="backups/"):
        out.update(o["Key"].removeprefix("backups/") for o in page.get("Contents", ()))
    return out


def test_dry_run_and_plan_touch_nothing_then_prune_converges_and_leaves_the_rest_alone(
    seeded: tuple[Path, Any, str],
    bucket: str,
    tmp_path: Path,
) -> None:
    """One seeded history (seeding it is most of the cost): first a dry run and a plan, which
    change nothing; then the prune, refused and forced, converges to the plan."""
    config_path, client, partial_id = seeded
    _dry_run_and_plan_touch_nothing(config_path, client, bucket)
    config = load_config(config_path)
    store = open_store(config)
    before = store.listing()
    run = compute_run_plan(config, before, NOW)
    assert len(before.snapshots) > 900 and [s.snapshot.id for s in before.incomplete] == [
        partial_id
    ]
    keep, forget = run.kept_ids(), {s.snapshot.id for s in run.to_forget()}
    assert forget and keep

    # the default max_delete_fraction refuses the first prune of a long history: nothing is deleted
    refused = prune(config_path, "--json")
    assert refused.exit_code == 4, refused.output
    doc = json.loads(refused.stdout)
    assert not doc["ok"] and {r["rule"] for r in doc["refusals"]} == {"max_delete_fraction"}
    assert doc["deleted"] == [] and len(store.listing().snapshots) == len(before.snapshots)

    metrics = tmp_path / "backupctl.prom"
    done = prune(
        config_path,
        "--json",
        "--force",
        "--reason",
        "first prune of the migrated bucket",
        "--metrics-file",
        str(metrics),
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["ok"] and set(doc["deleted"]) == forget and doc["kept"] == len(keep)
    assert doc["unknown"] == sorted(UNKNOWN) and doc["incomplete"] == [partial_id]
    assert doc["failed"] == {} and doc["bytes_freed"] > 0 and doc["forced"]

    after = store.listing()
    assert {s.snapshot.id for s in after.snapshots} == keep
    assert [s.snapshot.id for s in after.incomplete] == [partial_id]
    assert sorted(after.unknown) == sorted(UNKNOWN)
    left = keys(client, bucket)
    assert set(UNKNOWN) <= left and f"{partial_id}/db.sql.gz" in left

    log = AuditLog(audit_blobs_for(config))
    assert log.verify() == []
    actions = [r["action"] for r in log.records()]
    assert actions == ["prune.forced", "prune.intent", "prune.result"]
    intent, result = log.records()[1:]
    assert {d["id"] for d in intent["data"]["delete"]} == forget
    assert intent["data"]["config_sha256"] == config.sha256
    assert (
        set(result["data"]["deleted"]) == forget and result["data"]["requests"]["DeleteObjects"] > 0
    )

    text = metrics.read_text()
    assert 'backupctl_snapshots_kept{group="app"}' in text and LAST_SUCCESS in text

    again = prune(config_path, "--json")  # steady state: nothing to do, no refusal
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["deleted"] == []


def _dry_run_and_plan_touch_nothing(config_path: Path, client: Any, bucket: str) -> None:
    before = keys(client, bucket)
    dry = prune(config_path, "--dry-run", "--json")
    assert dry.exit_code == 4  # the refusal is reported by a dry run too
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] and doc["deleted"] == [] and doc["would_delete"]
    plan = CliRunner().invoke(
        main,
        ["plan", "--config", str(config_path), "--json"],
        env={"BACKUPCTL_NOW": NOW.isoformat()},
        catch_exceptions=False,
    )
    assert plan.exit_code == 0, plan.output
    decisions = json.loads(plan.stdout)["decisions"]
    assert {d["id"] for d in decisions if d["action"] == "forget"} == set(doc["would_delete"])
    assert all(d["reasons"] for d in decisions if d["action"] == "keep")
    assert keys(client, bucket) == before  # no lock, no audit record, nothing deleted


def test_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BACKUPCTL_CONFIG", raising=False)
    missing = CliRunner().invoke(main, ["prune"])
    assert (
        missing.exit_code == 2
        and "backupctl.toml" in missing.stderr
        and "backupctl init" in missing.stderr
    )
    force = CliRunner().invoke(main, ["prune", "--force"])
    assert force.exit_code == 2 and "--reason" in force.stderr
