"""Issue 13 part 4 end to end on a moto S3 server: ``backupctl init --discover`` on a bucket that
another tool filled (pg_dump files 4x a day named in local time, daily server folders without
manifests, stray keys) writes a config that loads, and ``backupctl plan`` sees exactly the
dumps; a bucket of folders alone leads to ``backupctl adopt``. One restic repository too:
``restic snapshots --json`` -> ``restic_group_by`` and a policy per group."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.config import load_config
from backupctl.stores.layout import snapshot_id
from tests.e2e.restic_fixtures import PASSWORD, SnapshotSpec, build_repo, make_source

pytestmark = pytest.mark.e2e

AMS = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 11, 3, tzinfo=AMS)
DAYS = 20
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STRAYS = ["db/2026-11-10T0600.sql.gz.part", "db/README", "notes.txt"]


def dump_times() -> list[datetime]:
    return [
        (START + timedelta(days=d)).replace(hour=h) for d in range(DAYS) for h in (0, 6, 12, 18)
    ]


def server_times() -> list[datetime]:
    return [(START + timedelta(days=d)).replace(hour=2) for d in range(DAYS)]


def put(s3_client: Any, bucket: str, key: str, body: bytes = b"x") -> None:
    s3_client.put_object(Bucket=bucket, Key="backups/" + key, Body=body)


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"BACKUPCTL_NOW": NOW.isoformat()})


def test_discover_a_bucket_of_dumps_folders_and_strays(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    dumps = {}
    for t in dump_times():
        key = "db/" + t.strftime("%Y-%m-%dT%H%M") + ".sql.gz"
        put(s3_client, bucket, key, b"pg_dump")
        dumps[key] = snapshot_id("db", t.astimezone(UTC))
    for t in server_times():
        folder = "server/" + t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "/"
        put(s3_client, bucket, folder + "etc/hostname")
        put(s3_client, bucket, folder + "var/data.tar")
    for key in STRAYS:
        put(s3_client, bucket, key)
    target = tmp_path / "backupctl.toml"

    result = cli(
        "init",
        "--config",
        str(target),
        "--url",
        f"s3://{bucket}/backups",
        "--endpoint-url",
        s3_endpoint,
        "--discover",
    )
    assert result.exit_code == 0, result.output
    assert f"listed {len(dumps) + 2 * DAYS + len(STRAYS)} key(s)" in result.output
    assert "key_template: {group}/{time:%Y-%m-%dT%H%M}.sql.gz" in result.output
    assert 'policy "db": 80 snapshot(s), 98% of its keys matched' in result.output
    assert 'not covered: "server"' in result.output
    assert f"next: `backupctl plan --config {target}`" in result.output

    config = load_config(target)
    assert config.store.endpoint_url == s3_endpoint
    assert config.store.key_template == "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"
    (policy,) = config.policies
    assert (policy.group, policy.schedule) == ("db", "0 0,6,12,18 * * *")
    text = target.read_text()
    assert "80 of 82 key(s) matched the template" in text
    assert '"db/2026-11-10T0600.sql.gz.part"' in text and '"db/README"' in text

    planned = cli("plan", "--json", "--config", str(target))
    assert planned.exit_code == 0, planned.output
    doc = json.loads(planned.stdout)
    assert sorted(d["id"] for d in doc["decisions"]) == sorted(dumps.values())
    unknown = set(doc["unknown"])
    assert set(STRAYS) <= unknown and all(k.startswith("server/") for k in unknown - set(STRAYS))


def test_a_bucket_of_manifestless_folders_leads_to_adopt(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    for t in server_times():
        put(s3_client, bucket, "server/" + t.strftime("%Y-%m-%d") + "/etc/hostname")
    target = tmp_path / "backupctl.toml"
    url = f"s3://{bucket}/backups"
    args = ["init", "--config", str(target), "--url", url, "--endpoint-url", s3_endpoint]
    result = cli(*args, "--discover")
    assert result.exit_code == 0, result.output
    assert f"`backupctl adopt --dry-run --config {target}`" in result.output
    config = load_config(target)
    assert config.store.key_template == "{group}/{time:%Y-%m-%d}/"
    assert config.policies[0].schedule == "0 0 * * *"  # a date-only name reads as midnight
    adopt = CliRunner().invoke(
        main, ["adopt", "--dry-run", "--json", "--min-age", "0s", "--config", str(target)]
    )
    assert adopt.exit_code == 0, adopt.output
    assert len(json.loads(adopt.stdout)["would_adopt"]) == DAYS

    # the file is there now: init refuses to overwrite it, and a missing bucket is exit 1
    again = cli(*args, "--discover")
    assert again.exit_code == 2 and "already exists" in again.output
    other = tmp_path / "other.toml"
    missing = cli(
        "init",
        "--config",
        str(other),
        "--url",
        f"s3://{bucket}-missing/x",
        "--endpoint-url",
        s3_endpoint,
        "--discover",
    )
    assert missing.exit_code == 1 and missing.output.startswith("backupctl: error:")
    assert "Traceback" not in missing.output and not other.exists()


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")
def test_discover_a_restic_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(tmp_path / "cache"))
    make_source(tmp_path / "src")
    days = ("2026-11-20", "2026-11-21", "2026-11-22")
    specs = [SnapshotSpec("web1", (), f"{d} 02:00:00", "Europe/Amsterdam") for d in days]
    repo = build_repo(str(tmp_path / "repo"), tmp_path / "src", specs)
    password = tmp_path / "restic.pw"
    password.write_text(PASSWORD)
    target = tmp_path / "backupctl.toml"
    url = f"restic:{repo.location}"
    args = ["init", "--config", str(target), "--url", url, "--discover"]
    result = cli(*args, "--restic-password-file", str(password))
    assert result.exit_code == 0, result.output
    assert (
        "listed 3 snapshot(s)" in result.output and "restic_group_by: host,paths" in result.output
    )
    config = load_config(target)
    assert config.store.restic_password_file == str(password)
    assert config.audit_url == "file:///var/lib/backupctl/audit"
    (policy,) = config.policies
    assert policy.group == f"host=web1 paths={tmp_path / 'src'}"
    assert policy.schedule == "0 2 * * *"
    text = target.read_text()
    assert "endpoint_url" not in text and "content_md5" not in text and "region" not in text
    planned = cli("plan", "--json", "--config", str(target))
    assert planned.exit_code == 0, planned.output
    decisions = json.loads(planned.stdout)["decisions"]
    assert sorted(d["id"][:8] for d in decisions) == sorted(repo.ids)  # build_repo's short ids

    # without a password restic cannot list: a config error (exit 2), nothing written
    other = tmp_path / "other.toml"
    result = cli("init", "--config", str(other), "--url", url, "--discover")
    assert result.exit_code == 2 and "no restic password" in result.output, result.output
    assert not other.exists()
