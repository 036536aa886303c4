"""Restore drills end to end: ``backupctl drill`` on the moto S3 server and on a restic
repository stored on the same server; clean restores, a corrupted object, a live check that
never passes, stratified rotation driven by the audit log, and ``drill deadline``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from tests.e2e.restic_fixtures import cheapen_key

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Amsterdam
RESTIC = shutil.which("restic")
RESTIC_PW_ENV = "BACKUPCTL_TEST_DRILL_RESTIC_PW"


def put_snapshot(
    s3: Any, bucket: str, prefix: str, group: str, when: datetime, objects: dict[str, bytes]
) -> str:
    """Write a snapshot in the layout contract (objects first, manifest last); return its id."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    folder = f"{prefix}/{group}/{stamp}/"
    entries = []
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=folder + key, Body=data)
        entries.append({"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"version": 1, "group": group, "time": when.isoformat(), "objects": entries}
    s3.put_object(Bucket=bucket, Key=folder + "manifest.json", Body=json.dumps(manifest).encode())
    return f"{group}/{stamp}"


def write_config(
    path: Path,
    url: str,
    endpoint: str,
    *,
    live_check: str,
    timeout: float = 10,
    extra_store: str = "",
    group: str = "server",
) -> Path:
    path.write_text(f"""
timezone = "Europe/Amsterdam"

[store]
url = "{url}"
endpoint_url = "{endpoint}"
{extra_store}

[[policy]]
name = "server"
group = "{group}"
keep_within_daily = "7d"
keep_within_weekly = "4w"
keep_within_monthly = "6m"

[drill]
target = "1 working day"
live_check = '{live_check}'
live_check_timeout = {timeout}
live_check_interval = 0.2
scratch_dir = "{path.parent / "scratch"}"
workers = 4
""")
    return path


def drill(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(
        main,
        ["drill", "--config", str(config), "--json", *args],
        env={"BACKUPCTL_NOW": NOW.isoformat(), **(env or {})},
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result, json_out(result)


def json_out(result: Result) -> dict[str, Any]:
    """The command's JSON document: stdout holds nothing else (logs go to stderr)."""
    return dict(json.loads(result.stdout))


def drill_records(config: Path) -> list[dict[str, Any]]:
    from backupctl.config import load_config
    from backupctl.evidence.audit import AuditLog
    from backupctl.stores.locations import audit_blobs_for

    log = AuditLog(audit_blobs_for(load_config(config)))
    assert log.verify() == []
    return [r["data"] for r in log.records() if r["action"] == "drill"]


@pytest.fixture()
def s3_store(
    s3_client: Any, bucket: str, tmp_path: Path, s3_endpoint: str
) -> Iterator[tuple[Path, dict[str, str]]]:
    """Three server snapshots (monthly, weekly and daily age) in a fresh bucket, and a config."""
    ids = {}
    for tier, days in (("monthly", 60), ("weekly", 14), ("daily", 1)):
        when = (NOW - timedelta(days=days)).replace(hour=1)
        ids[tier] = put_snapshot(
            s3_client,
            bucket,
            "backups",
            "server",
            when,
            {
                "etc/hosts": f"127.0.0.1 {tier}\n".encode(),
                "db/dump.sql": os.urandom(700_000),
                "www/index.html": b"<h1>ok</h1>" * 100,
            },
        )
    config = write_config(
        tmp_path / "backupctl.toml",
        f"s3://{bucket}/backups",
        s3_endpoint,
        live_check="test -s {dir}/etc/hosts && grep -q ok {dir}/www/index.html",
    )
    yield config, ids
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir()), (
        "the scratch space must be cleaned up"
    )


def test_s3_clean_restore_passes_and_is_audited(s3_store: tuple[Path, dict[str, str]]) -> None:
    config, ids = s3_store
    result, rec = drill(config)
    assert result.exit_code == 0, result.output
    assert rec["verdict"] == "passed" and rec["snapshot"]["id"] == ids["daily"]
    assert [p["name"] for p in rec["phases"]] == ["fetch", "verify", "live"]
    assert rec["phases"][1]["objects"] == 3 and rec["phases"][2]["attempts"] == 1
    assert rec["deadline"] == "2026-11-24T11:00:00+01:00"
    assert rec["forecast"]["meets_target"] is True
    assert drill_records(config)[-1]["verdict"] == "passed"


def test_s3_corrupted_object_is_named(
    s3_store: tuple[Path, dict[str, str]], s3_client: Any, bucket: str
) -> None:
    config, ids = s3_store
    key = f"backups/{ids['weekly']}/db/dump.sql"
    data = bytearray(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[4242] ^= 0x40
    s3_client.put_object(Bucket=bucket, Key=key, Body=bytes(data))  # behind backupctl's back
    result, rec = drill(config, "--snapshot", ids["weekly"])
    assert result.exit_code == 3
    assert rec["verdict"] == "verify_failed" and rec["live"] is None
    assert len(rec["failed_objects"]) == 1 and rec["failed_objects"][0].startswith(
        "db/dump.sql: sha256"
    )
    assert "verify_failed" in result.stderr
    assert drill_records(config)[-1]["failed_objects"] == rec["failed_objects"]


def test_s3_live_check_that_never_passes_times_out(
    s3_client: Any, bucket: str, tmp_path: Path, s3_endpoint: str
) -> None:
    put_snapshot(s3_client, bucket, "b", "server", NOW - timedelta(hours=8), {"a": b"a"})
    config = write_config(
        tmp_path / "c.toml", f"s3://{bucket}/b", s3_endpoint, live_check="false", timeout=1
    )
    result, rec = drill(config)
    assert result.exit_code == 3
    assert rec["verdict"] == "live_check_timeout"
    assert "did not pass within 1 s" in rec["message"]
    assert 2 <= rec["phases"][2]["attempts"] <= 10 and 0.9 <= rec["phases"][2]["seconds"] < 3


def test_s3_stratified_rotates_tiers_through_the_audit_log(
    s3_store: tuple[Path, dict[str, str]],
) -> None:
    config, ids = s3_store
    picks = []
    for _ in range(3):
        result, rec = drill(config, "--stratified", "--sample", "50", "--seed", "7")
        assert result.exit_code == 0, result.output
        picks.append((rec["selection"]["tier"], rec["snapshot"]["id"]))
        assert rec["phases"][1]["objects"] == 2  # half of 3, rounded, seeded
    assert picks == [
        ("monthly", ids["monthly"]),
        ("weekly", ids["weekly"]),
        ("daily", ids["daily"]),
    ]
    assert [r["selection"]["tier"] for r in drill_records(config)] == ["monthly", "weekly", "daily"]


def test_unknown_snapshot_is_a_usage_error(s3_store: tuple[Path, dict[str, str]]) -> None:
    config, _ = s3_store
    result = CliRunner().invoke(
        main, ["drill", "--config", str(config), "--snapshot", "server/nope"]
    )
    assert result.exit_code == 2 and "matches no complete snapshot" in result.stderr


# -- restic -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def restic_repo(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A small restic repository on the moto server with one snapshot; (repository, password)."""
    if RESTIC is None:
        pytest.skip("restic binary not installed")
    from backupctl.stores.s3client import make_s3_client

    bucket = f"restic-{uuid.uuid4().hex[:8]}"
    make_s3_client(endpoint_url=s3_endpoint, region="us-east-1").create_bucket(Bucket=bucket)
    repo = f"s3:{s3_endpoint}/{bucket}/repo"
    password = uuid.uuid4().hex
    data = tmp_path_factory.mktemp("restic-data")
    (data / "etc").mkdir()
    (data / "etc" / "hosts").write_text("127.0.0.1 restic\n")
    (data / "blob.bin").write_bytes(os.urandom(500_000))
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": repo,
        "RESTIC_PASSWORD": password,
        "RESTIC_CACHE_DIR": str(tmp_path_factory.mktemp("restic-cache")),
    }
    for args in (["init"], ["backup", "-q", "--host", "drillhost", str(data)]):
        subprocess.run([RESTIC, *args], env=env, check=True, capture_output=True, timeout=60)
        if args == ["init"]:
            cheapen_key(repo, password)  # every later restic command: ~0.2 s, not ~0.7 s
    return repo, password


def test_restic_clean_restore_passes_verified_by_restic(
    restic_repo: tuple[str, str], tmp_path: Path, s3_endpoint: str
) -> None:
    repo, password = restic_repo
    config = write_config(
        tmp_path / "r.toml",
        f"restic:{repo}",
        s3_endpoint,
        live_check='find {dir} -path "*/etc/hosts" | grep -q .',
        extra_store=f'restic_password_env = "{RESTIC_PW_ENV}"',
        group="host=drillhost paths=/data",
    )
    result, rec = drill(config, env={RESTIC_PW_ENV: password})
    assert result.exit_code == 0, result.output
    assert rec["verdict"] == "passed"
    assert rec["phases"][1]["by"] == "store"
    assert rec["bytes"] >= 500_000
    assert password not in result.output
    assert drill_records(config)[-1]["snapshot"]["id"] == rec["snapshot"]["id"]
    assert not any((tmp_path / "scratch").iterdir())


def test_restic_drill_by_id_prefix_and_unknown_id(
    restic_repo: tuple[str, str], tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backupctl.config import load_config
    from backupctl.stores.restic import ResticStore

    repo, password = restic_repo
    config = write_config(
        tmp_path / "r.toml",
        f"restic:{repo}",
        s3_endpoint,
        live_check="true",
        extra_store=f'restic_password_env = "{RESTIC_PW_ENV}"',
        group="host=drillhost paths=/data",
    )
    monkeypatch.setenv(RESTIC_PW_ENV, password)
    (snap,) = ResticStore(load_config(str(config))).list_snapshots()
    result, rec = drill(config, "--snapshot", snap.snapshot.id[:7], env={RESTIC_PW_ENV: password})
    assert result.exit_code == 0, result.output
    assert rec["snapshot"]["id"] == snap.snapshot.id and rec["selection"]["mode"] == "explicit"
    assert rec["snapshot"]["group"] == snap.snapshot.group
    assert rec["snapshot"]["time"] == snap.snapshot.time.isoformat()
    bad = CliRunner().invoke(
        main,
        ["drill", "--config", str(config), "--snapshot", "deadbeef"],
        env={RESTIC_PW_ENV: password, "BACKUPCTL_NOW": NOW.isoformat()},
    )
    assert bad.exit_code == 2 and "'deadbeef' matches no complete snapshot" in bad.stderr
    assert not any((tmp_path / "scratch").iterdir())


# -- deadline -----------------------------------------------------------------------------------


def test_deadline_defaults_christmas() -> None:
    result = CliRunner().invoke(
        main, ["drill", "deadline", "--from", "2026-12-24T16:30:00+01:00", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json_out(result)
    assert out["deadline"] == "2026-12-28T16:30:00+01:00"
    assert out["working_time_budget"] == "PT8H" and out["working_time_budget_seconds"] == 28800


def test_deadline_bad_time_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["drill", "deadline", "--from", "tomorrow"])
    assert result.exit_code == 2 and "--from" in result.stderr


# -- file store and config errors -----------------------------------------------------------------


def test_file_store_drill_passes_and_bad_working_hours_are_config_errors(tmp_path: Path) -> None:
    from tests.restore.fakes import write_snapshot

    root = tmp_path / "backups"
    write_snapshot(root, "server", NOW - timedelta(hours=9), {"etc/hosts": b"127.0.0.1 file\n"})
    config = write_config(
        tmp_path / "f.toml",
        f"file://{root}",
        "http://unused.invalid",
        live_check="grep -q file {dir}/etc/hosts",
    )
    result, rec = drill(config)
    assert result.exit_code == 0, result.output
    assert rec["verdict"] == "passed" and rec["phases"][1]["objects"] == 1
    assert drill_records(config)[-1]["verdict"] == "passed"

    config.write_text(
        config.read_text().replace(
            'target = "1 working day"', 'working_hours = { fri-mon = "09:00-17:00" }'
        )
    )
    bad = CliRunner().invoke(main, ["drill", "--config", str(config)])
    assert bad.exit_code == 2 and "drill.working_hours" in bad.stderr and "backwards" in bad.stderr
    bad = CliRunner().invoke(
        main, ["drill", "deadline", "--from", "2026-11-23T10:00:00Z", "--config", str(config)]
    )
    assert bad.exit_code == 2 and "backwards" in bad.stderr

    config.write_text(
        config.read_text().replace('working_hours = { fri-mon = "09:00-17:00" }', 'holidays = "XX"')
    )
    bad = CliRunner().invoke(
        main, ["drill", "--config", str(config)], env={"BACKUPCTL_NOW": NOW.isoformat()}
    )
    # the holidays load beside the restore, so an unknown country is found after it: same error
    assert bad.exit_code == 2 and "drill.holidays" in bad.stderr and "python-holidays" in bad.stderr
    assert not list((tmp_path / "scratch").iterdir())  # the restore's scratch space is gone
    assert drill_records(config)[-1]["verdict"] == "passed"  # nothing recorded for the failed run
