"""`backupctl adopt` end to end on a moto S3 server (the scenario of
tests/backupctl/test_adopt.py), and a manifest that appears between plan and write is not
overwritten (the conditional PUT's 412)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backupctl.config import load_config
from backupctl.produce.adopt import apply_adoption, gather, plan_adoption
from backupctl.seed import S3Writer
from backupctl.stores import open_store
from backupctl.stores.layout import format_time
from tests.backupctl.test_adopt import NOW, build_store, config_text, run_scenario

pytestmark = pytest.mark.e2e
PREFIX = "backups/"


def _setup(s3_client: Any, bucket: str, s3_endpoint: str, age_s3_object: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    def put(key: str, data: bytes) -> None:
        s3_client.put_object(Bucket=bucket, Key=PREFIX + key, Body=data)

    def age(key: str, seconds: float) -> None:  # Last-Modified = NOW - seconds
        age_s3_object(bucket, PREFIX + key, time.time() - NOW.timestamp() + seconds)

    def keys() -> dict[str, bytes]:
        out = {}
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", ()):
                body = s3_client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                out[o["Key"].removeprefix(PREFIX)] = body
        return out

    expected = build_store(put, age, S3Writer(s3_client, bucket, PREFIX.rstrip("/")))
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        config_text(f"s3://{bucket}/{PREFIX.rstrip('/')}", f'endpoint_url = "{s3_endpoint}"')
    )
    return put, age, keys, expected, cfg


def test_adopt_end_to_end_on_s3(
    s3_client: Any, bucket: str, s3_endpoint: str, age_s3_object: Any, tmp_path: Path
) -> None:
    put, age, keys, expected, cfg = _setup(s3_client, bucket, s3_endpoint, age_s3_object, tmp_path)
    old = (NOW - timedelta(days=60)).replace(hour=2)
    bad = f"app/{format_time(old)}"
    put(bad + "/x/../db.sql.gz", b"a key that climbs out of its folder")
    age(bad + "/x/../db.sql.gz", 9999)
    run_scenario(cfg, expected, bad, keys)


def test_a_manifest_that_appears_meanwhile_is_not_overwritten_on_s3(
    s3_client: Any, bucket: str, s3_endpoint: str, age_s3_object: Any, tmp_path: Path
) -> None:
    put, _, _, expected, cfg = _setup(s3_client, bucket, s3_endpoint, age_s3_object, tmp_path)
    store = open_store(load_config(str(cfg)))
    decisions = plan_adoption(gather(store, set()), NOW, timedelta(hours=1))
    raced = expected["eligible"][-1]
    put(raced + "/manifest.json", b"someone else's manifest")
    result = apply_adoption(store, decisions, workers=4)
    assert "not overwritten" in result.failed[raced]
    body = s3_client.get_object(Bucket=bucket, Key=PREFIX + raced + "/manifest.json")["Body"]
    assert body.read() == b"someone else's manifest"
    assert len(result.adopted) == len(expected["eligible"]) - 1
