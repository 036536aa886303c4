"""Issue 12 part 3 on moto S3 (which enforces Object Lock and keeps versions): [audit]
object_lock writes each record under retention, audit verify reads the records' versions on a
versioned bucket (an overwritten or deleted record is caught even when the latest versions form
a consistent chain), and says when the log is not WORM-protected (a note, exit 0)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.evidence.audit import (
    HEAD_KEY,
    AuditLog,
    canonical,
    record_digest,
    record_hash,
    record_key,
)
from backupctl.seed import DirWriter, S3Writer, write_snapshot
from backupctl.stores.blobs import S3Blobs

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PREFIX = "salure"


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"BACKUPCTL_NOW": NOW.isoformat()})


def _bucket(s3_client: Any, *, lock: bool = False, versioned: bool = False) -> str:
    name = f"w-{uuid.uuid4().hex[:12]}"
    if lock:
        s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        s3_client.create_bucket(Bucket=name)
    if versioned:
        s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _config(tmp_path: Path, url: str, endpoint: str, audit: str = "") -> Path:
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "UTC"\n[store]\nurl = "{url}"\nendpoint_url = "{endpoint}"\n'
        'region = "us-east-1"\n[safety]\nmax_delete_fraction = 1.0\n'
        f'[audit]\n{audit}[[policy]]\nname = "app"\nkeep_last = 3\n'
    )
    return cfg


def _seed(s3_client: Any, bucket: str) -> None:
    for d in range(6, 0, -1):
        write_snapshot(
            S3Writer(s3_client, bucket, PREFIX), "app", NOW - timedelta(days=d), {"db": b"x"}
        )


def test_object_lock_writes_every_record_under_retention(
    tmp_path: Path, s3_client: Any, s3_endpoint: str
) -> None:
    bucket = _bucket(s3_client, lock=True)
    _seed(s3_client, bucket)
    cfg = _config(
        tmp_path,
        f"s3://{bucket}/{PREFIX}",
        s3_endpoint,
        'object_lock = "compliance"\nobject_lock_retain = "30d"\n',
    )
    started = time.time()
    pruned = _run("prune", "--config", str(cfg))
    assert pruned.exit_code == 0, pruned.output
    for seq in (1, 2):
        head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{record_key(seq)}")
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"].timestamp()
        assert started + 30 * 86400 - 5 <= until <= time.time() + 30 * 86400 + 5
    version = s3_client.list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/{record_key(1)}")[
        "Versions"
    ][0]["VersionId"]
    with pytest.raises(ClientError):  # the original can be neither deleted …
        s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{record_key(1)}", VersionId=version)
    ok = _run("audit", "verify", "--config", str(cfg), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["notes"] == []  # WORM-protected: nothing to say

    # … nor hidden: a new version on top of it is caught, though it is a well-formed record
    record = AuditLog(S3Blobs(s3_client, bucket, PREFIX)).records()[0]
    record["data"] = {"delete": []}
    record["sha256"] = record_digest(record)
    s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/{record_key(1)}", Body=canonical(record))
    caught = _run("audit", "verify", "--config", str(cfg), "--json")
    assert caught.exit_code == 3, caught.output
    problems = json.loads(caught.stdout)["problems"]
    assert any(p["seq"] == 1 and p["problem"].startswith("overwritten") for p in problems)


def test_a_consistent_rewrite_of_a_versioned_log_is_caught_by_its_versions(
    tmp_path: Path, s3_client: Any, s3_endpoint: str
) -> None:
    bucket = _bucket(s3_client, versioned=True)
    blobs = S3Blobs(s3_client, bucket, PREFIX)
    log = AuditLog(blobs)
    for i in range(3):
        log.append("prune.result", {"i": i}, actor="ops@db1", now=NOW + timedelta(hours=i))
    cfg = _config(tmp_path, f"s3://{bucket}/{PREFIX}", s3_endpoint)
    clean = _run("audit", "verify", "--config", str(cfg), "--json")
    assert clean.exit_code == 0, clean.output
    notes = json.loads(clean.stdout)["notes"]
    assert len(notes) == 1 and "has no Object Lock (it is versioned" in notes[0]

    prev = "0" * 64  # every record, every hash and the head pointer recomputed: consistent
    for r in log.records():
        r = {k: v for k, v in r.items() if k != "sha256"}
        r["data"], r["prev"] = {"rewritten": True}, prev
        r["sha256"] = record_digest(r)
        blobs.put(record_key(r["seq"]), canonical(r))
        prev = record_hash(r)
    blobs.put(HEAD_KEY, json.dumps({"seq": 3, "sha256": prev}).encode())
    fresh = {"XDG_STATE_HOME": str(tmp_path / "elsewhere"), "BACKUPCTL_NOW": NOW.isoformat()}
    result = CliRunner().invoke(
        main, ["audit", "verify", "--config", str(cfg), "--json"], env=fresh
    )
    assert result.exit_code == 3, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [p["seq"] for p in problems] == [1, 2, 3]  # no key, no memory: the versions tell
    assert all("overwritten: 2 versions" in p["problem"] for p in problems)


def test_a_deleted_record_of_a_versioned_log_is_named(
    tmp_path: Path, s3_client: Any, s3_endpoint: str
) -> None:
    bucket = _bucket(s3_client, versioned=True)
    log = AuditLog(S3Blobs(s3_client, bucket, PREFIX))
    for i in range(2):
        log.append("prune.result", {"i": i}, actor="ops@db1", now=NOW)
    s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{record_key(2)}")  # a delete marker
    s3_client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{HEAD_KEY}")
    cfg = _config(tmp_path, f"s3://{bucket}/{PREFIX}", s3_endpoint)
    result = _run("audit", "verify", "--config", str(cfg))
    assert result.exit_code == 3, result.output
    assert "record 2 (_backupctl/audit/0000000002.json): deleted: a delete marker" in result.stdout


def test_a_file_store_log_is_noted_as_not_worm_protected(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_snapshot(DirWriter(store), "app", NOW - timedelta(days=1), {"db": b"x"})
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(f'[store]\nurl = "file://{store}"\n[[policy]]\nname = "app"\nkeep_last = 3\n')
    assert _run("prune", "--config", str(cfg)).exit_code == 0
    result = _run("audit", "verify", "--config", str(cfg))
    assert result.exit_code == 0 and "intact" in result.stdout
    assert "note: the audit log is not WORM-protected" in result.stdout


def test_object_lock_config_problems_are_exit_2_and_change_nothing(
    tmp_path: Path, s3_client: Any, s3_endpoint: str
) -> None:
    bucket = _bucket(s3_client)  # no Object Lock on this bucket
    _seed(s3_client, bucket)
    url = f"s3://{bucket}/{PREFIX}"
    keys = lambda: sorted(
        o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    )
    before = keys()
    for audit, expected in [
        ('object_lock = "compliance"\n', "give both"),
        ('object_lock_retain = "7y"\n', "give both"),
        ('object_lock = "forever"\nobject_lock_retain = "7y"\n', "'governance' or 'compliance'"),
        (
            f'url = "file://{tmp_path}/a"\nobject_lock = "governance"\nobject_lock_retain = "1d"\n',
            "needs an S3 audit log",
        ),
    ]:
        result = _run("prune", "--config", str(_config(tmp_path, url, s3_endpoint, audit)))
        assert result.exit_code == 2 and expected in result.output, (audit, result.output)
        assert "Traceback" not in result.output
    assert keys() == before
    no_lock = _config(
        tmp_path, url, s3_endpoint, 'object_lock = "governance"\nobject_lock_retain = "1d"\n'
    )
    result = _run("prune", "--config", str(no_lock))
    assert result.exit_code == 1 and "Object Lock enabled" in result.output, result.output
    assert keys() == before  # the intent could not be written: nothing was deleted
