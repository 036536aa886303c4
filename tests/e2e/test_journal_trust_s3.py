"""Issue 11 part 1 on the moto S3 server, through the CLI: a planted deletion journal never
makes prune delete; on a versioned bucket, manifests hidden behind delete markers are never
"finished" (every version survives), even with a forged, consistent prune.intent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from backupctl.evidence.audit import AuditLog
from backupctl.seed import S3Writer, write_snapshot
from backupctl.stores.blobs import S3Blobs
from backupctl.stores.layout import JOURNAL_PREFIX, encode_journal

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def setup(
    tmp_path: Path,
    client: Any,
    bucket: str,
    endpoint: str,
    versioned: bool,
    n: int = 5,
) -> tuple[Path, list[str]]:
    if versioned:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    writer = S3Writer(client, bucket, "bk")
    ids = [
        write_snapshot(writer, "app", NOW - timedelta(days=d), {"db.sql": f"day {d}".encode()})
        for d in range(n, 0, -1)
    ]
    config = tmp_path / "backupctl.toml"
    config.write_text(f"""timezone = "UTC"
[store]
url = "s3://{bucket}/bk"
endpoint_url = "{endpoint}"
delete_versions = {"true" if versioned else "false"}
[safety]
max_delete_fraction = 1.0
[[policy]]
name = "app"
keep_last = 100
""")
    return config, ids


def prune(config: Path) -> Result:
    return CliRunner().invoke(
        main, ["prune", "--config", str(config), "--json"], env={"BACKUPCTL_NOW": NOW.isoformat()}
    )


def versions(client: Any, bucket: str) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="bk/"):
        out |= {
            (v["Key"], v["VersionId"])
            for v in page.get("Versions", ())
            if "/_backupctl/" not in v["Key"]
        }
    return out


def plant(client: Any, bucket: str, ids: list[str]) -> None:
    key = f"bk/{JOURNAL_PREFIX}20261101T000000Z-evil.json"
    client.put_object(Bucket=bucket, Key=key, Body=encode_journal(ids, key, NOW))


def test_hidden_manifests_and_a_planted_journal_lose_no_version(
    tmp_path: Path,
    s3_client: Any,
    bucket: str,
    s3_endpoint: str,
) -> None:
    config, ids = setup(tmp_path, s3_client, bucket, s3_endpoint, versioned=True)
    before = versions(s3_client, bucket)
    for sid in ids:  # someone who may only add delete markers hides every manifest
        s3_client.delete_object(Bucket=bucket, Key=f"bk/{sid}/manifest.json")
    plant(s3_client, bucket, ids)
    result = prune(config)
    assert result.exit_code == 0, result.output
    assert versions(s3_client, bucket) == before
    assert json.loads(result.stdout)["deleted"] == []


def test_even_a_forged_intent_cannot_finish_a_folder_whose_manifest_has_versions(
    tmp_path: Path,
    s3_client: Any,
    bucket: str,
    s3_endpoint: str,
) -> None:
    config, ids = setup(tmp_path, s3_client, bucket, s3_endpoint, versioned=True)
    before = versions(s3_client, bucket)
    hidden = ids[:-1]  # the newest stays visible, so "never the newest" alone would not stop it
    for sid in hidden:
        s3_client.delete_object(Bucket=bucket, Key=f"bk/{sid}/manifest.json")
    plant(s3_client, bucket, hidden)
    AuditLog(S3Blobs(s3_client, bucket, "bk")).append(
        "prune.intent", {"delete": [{"id": sid} for sid in hidden]}, now=NOW
    )  # consistent, unsigned
    result = prune(config)
    assert versions(s3_client, bucket) == before, result.output
    assert json.loads(result.stdout)["deleted"] == []


def test_a_planted_journal_never_deletes_an_upload_in_progress_of_any_group(
    tmp_path: Path,
    s3_client: Any,
    bucket: str,
    s3_endpoint: str,
) -> None:
    config, _ = setup(tmp_path, s3_client, bucket, s3_endpoint, versioned=False)
    uploads = ["bk/other/20261120T000000Z/part.bin", "bk/app/20261120T030000Z/part.bin"]
    for key in uploads:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"half")
    plant(s3_client, bucket, ["other/20261120T000000Z", "app/20261120T030000Z"])
    result = prune(config)
    assert result.exit_code == 0, result.output
    for key in uploads:
        s3_client.head_object(Bucket=bucket, Key=key)  # still there
    records = AuditLog(S3Blobs(s3_client, bucket, "bk")).records()
    intent = [r for r in records if r["action"] == "prune.intent"]
    assert all(
        d["id"] not in ("other/20261120T000000Z", "app/20261120T030000Z")
        for r in intent
        for d in r["data"]["delete"]
    )
