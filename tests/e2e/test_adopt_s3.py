"""`backupctl adopt` end to end on a moto S3 server (the scenario of
tests/backupctl/test_adopt.py), and a manifest that appears between plan and write is not
overwritten (the conditional PUT's 412)."""

from __future__ import annotations

import hashlib
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


def test_adopt_records_digests_of_single_object_dumps_on_s3(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """Dumps without an S3 checksum get a digest record (and the audit record its sha256); one
    with a SHA256 checksum is left to S3's; verify then compares every dump, catches a
    same-size change behind S3's back and names a garbage record; a prune removes exactly the
    pruned dump and its record."""
    import json

    import boto3
    from botocore.config import Config
    from click.testing import CliRunner
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
    from moto.s3.models import s3_backends

    from backupctl.cli import main

    plain = boto3.client(  # a client that adds no checksum: S3 keeps none for these dumps
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required"),
    )
    names = [f"pg/db/202611{d:02d}T020000Z.sql.gz" for d in (10, 11, 12, 13)]
    data = {n: f"pg_dump {n}\n".encode() * 40 for n in names}
    for n in names[:3]:
        plain.put_object(Bucket=bucket, Key=n, Body=data[n])
    s3_client.put_object(
        Bucket=bucket, Key=names[3], Body=data[names[3]], ChecksumAlgorithm="SHA256"
    )
    plain.put_object(Bucket=bucket, Key="pg/db/20261110T020000Z.sql.gz.part", Body=b"beside")
    assert "ChecksumCRC32" not in plain.head_object(
        Bucket=bucket, Key=names[0], ChecksumMode="ENABLED"
    )
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(f"""
timezone = "UTC"
[store]
url = "s3://{bucket}/pg"
endpoint_url = "{s3_endpoint}"
key_template = "{{group}}/{{time}}.sql.gz"
[safety]
max_delete_fraction = 1.0
[[policy]]
name = "db"
keep_last = 100
""")

    def cli(*args: str) -> Any:  # on the real clock: moto stamps uploads with it
        return CliRunner().invoke(main, [*args, "--config", str(cfg)])

    done = cli("adopt", "--json", "--min-age", "0s")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    ids = ["db/20261110T020000Z", "db/20261111T020000Z", "db/20261112T020000Z"]
    assert [a["id"] for a in doc["adopted"]] == ids
    assert "SHA256 checksum" in doc["skipped"]["db/20261113T020000Z"]
    for a, n in zip(doc["adopted"], names, strict=False):
        rec = json.loads(
            s3_client.get_object(Bucket=bucket, Key="pg/" + a["record"])["Body"].read()
        )
        assert rec["sha256"] == a["sha256"] == hashlib.sha256(data[n]).hexdigest()
        assert rec["key"] == n.removeprefix("pg/") and rec["etag"].strip('"')
    again = cli("adopt", "--json", "--min-age", "0s")
    assert json.loads(again.stdout)["adopted"] == []  # recorded already: never rewritten

    ok = json.loads(cli("verify", "--json").stdout)
    assert not [n for n in ok["notes"] if n["kind"] == "no_integrity_reference"]
    assert not [v for v in ok["violations"] if v["kind"] == "integrity"]

    keys = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys
    flipped = bytearray(data[names[0]])
    flipped[0] ^= 1
    keys[names[0]].value = bytes(flipped)  # same size, behind S3's back
    s3_client.put_object(
        Bucket=bucket, Key="pg/_backupctl/digests/db/20261111T020000Z.json", Body=b"{{"
    )
    bad = cli("verify", "--json")
    assert bad.exit_code == 3 and "Traceback" not in bad.output
    found = {v["id"]: v for v in json.loads(bad.stdout)["violations"] if v["kind"] == "integrity"}
    assert set(found) == {ids[0], ids[1]}
    assert "sha256 mismatch: recorded" in found[ids[0]]["problem"]
    assert found[ids[0]]["key"] == names[0]
    assert found[ids[1]]["key"] == "pg/_backupctl/digests/db/20261111T020000Z.json"
    assert found[ids[1]]["problem"].startswith("bad digest record:")

    store = open_store(load_config(str(cfg)))
    listing = store.listing()
    before = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    doomed = [s for s in listing.snapshots if s.snapshot.id == ids[2]]
    report = store.delete(doomed, listing=listing)
    assert report.deleted == [ids[2]] and not report.failed
    after = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert before - after == {names[2], f"pg/_backupctl/digests/{ids[2]}.json"}
    assert not after - before
