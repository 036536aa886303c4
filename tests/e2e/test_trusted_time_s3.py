"""Trusted time end to end on moto S3: the store's LastModified comes from the service (it
cannot be set), so the planted snapshots claim old times and are written now, after the
previous prune. prune refuses them (exit 4, ``time_drift``), verify names each with its
claimed time and the service's LastModified (exit 3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from backupctl.seed import S3Writer, write_snapshot

pytestmark = pytest.mark.e2e


def cli(config: Path, now: datetime, *args: str) -> Result:
    return CliRunner().invoke(
        main, [*args, "--config", str(config)], env={"BACKUPCTL_NOW": now.isoformat()}
    )


@pytest.mark.parametrize("mode", ["objects", "folders"])
def test_backdated_snapshots_on_s3_are_refused_and_reported(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path, mode: str
) -> None:
    """Objects mode: the newest LastModified of the snapshot's keys (ListObjectsV2); folders
    mode: manifest.json's, from the GetObject the listing makes anyway."""
    config = tmp_path / "backupctl.toml"
    config.write_text(f"""timezone = "UTC"
[store]
url = "s3://{bucket}/backups"
endpoint_url = "{s3_endpoint}"
listing = "{mode}"
[safety]
max_delete_fraction = 1.0
stale_after = "10d"
[[policy]]
name = "app"
keep_daily = 7
""")
    writer = S3Writer(s3_client, bucket, "backups")
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    days = [
        (first - timedelta(days=d)).replace(hour=2, minute=0, second=0) for d in range(10, 0, -1)
    ]
    real = [write_snapshot(writer, "app", t, {"db.sql": t.isoformat().encode()}) for t in days]
    out = cli(config, first, "prune", "--json")  # a first run: nothing to judge with
    assert out.exit_code == 0, out.output
    kept = real[3:]
    planted = [
        write_snapshot(writer, "app", t.replace(hour=23), {"db.sql": b"planted"}) for t in days[4:9]
    ]
    later = datetime.now(UTC) + timedelta(minutes=1)
    pruned = cli(config, later, "prune", "--json")
    assert pruned.exit_code == 4, pruned.output
    [refusal] = json.loads(pruned.stdout)["refusals"]
    assert refusal["rule"] == "time_drift" and planted[0] in refusal["message"]
    listed = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert all(f"backups/{i}/manifest.json" in listed for i in kept)  # nothing deleted

    verified = cli(config, later, "verify", "--json")
    assert verified.exit_code == 3, verified.output
    found = {
        v["id"]: v for v in json.loads(verified.stdout)["violations"] if v["kind"] == "time_drift"
    }
    assert set(found) == set(planted)
    head = s3_client.head_object(Bucket=bucket, Key=f"backups/{planted[0]}/manifest.json")
    v = found[planted[0]]
    assert datetime.fromisoformat(v["time"]) == days[4].replace(hour=23)
    assert datetime.fromisoformat(v["written"]) == head["LastModified"]
    assert datetime.fromisoformat(v["written"]) > first

    forced = cli(config, later, "prune", "--json", "--force", "--reason", "history migrated")
    assert forced.exit_code == 0, forced.output
