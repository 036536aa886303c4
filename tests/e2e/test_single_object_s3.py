"""Issue 13 part 1 end to end on a moto S3 server: an existing bucket of single-object pg_dump
files named in local time across the 2026-10-25 DST change, plus stray keys."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.config import load_config
from backupctl.stores.s3 import S3Store
from retention import Policy, Snapshot, plan

pytestmark = pytest.mark.e2e

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 10, 27, 12, 0, tzinfo=UTC)
STRAYS = ["db/2026-10-25T0230.sql.gz.part", "db/README", "db/2026-03-29T0230.sql.gz", "x.txt"]


def dump_times() -> list[datetime]:
    """Every 30 minutes from 2026-10-24 20:00 to 2026-10-26 08:00 UTC: the fall-back hour's local
    names (02:00-02:59) occur twice; the producer overwrote the first with the second."""
    t, out = datetime(2026, 10, 24, 20, 0, tzinfo=UTC), []
    while t <= datetime(2026, 10, 26, 8, 0, tzinfo=UTC):
        out.append(t)
        t += timedelta(minutes=30)
    return out


def local_name(t: datetime) -> str:
    return "db/" + t.astimezone(AMS).strftime("%Y-%m-%dT%H%M") + ".sql.gz"


@pytest.fixture()
def dumps(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> tuple[Path, dict[str, bytes]]:
    written: dict[str, bytes] = {}
    for i, t in enumerate(dump_times()):
        written[local_name(t)] = f"pg_dump {i}\n".encode() * (i + 1)  # a repeat overwrites
    for i, (key, data) in enumerate(written.items()):
        checksum = {"ChecksumAlgorithm": "SHA256"} if i % 2 else {}  # else botocore's CRC32
        s3_client.put_object(Bucket=bucket, Key="pg/" + key, Body=data, **checksum)
    for key in STRAYS:
        s3_client.put_object(Bucket=bucket, Key="pg/" + key, Body=b"stray")
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(f"""
timezone = "Europe/Amsterdam"

[store]
url = "s3://{bucket}/pg"
endpoint_url = "{s3_endpoint}"
key_template = "{{group}}/{{time:%Y-%m-%dT%H%M}}.sql.gz"

[safety]
max_delete_fraction = 1.0

[[policy]]
name = "db"
keep_hourly = 6
keep_daily = 2
""")
    return cfg, written


def run(cfg: Path, *args: str) -> Any:
    return CliRunner().invoke(
        main, [*args, "--config", str(cfg)], env={"BACKUPCTL_NOW": NOW.isoformat()}
    )


def test_plan_prune_verify_and_drill_on_local_time_single_object_dumps(
    dumps: tuple[Path, dict[str, bytes]], s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    cfg, written = dumps
    store = S3Store(load_config(cfg))
    listing = store.listing()
    by_key = {store.folder(s.snapshot.id): s for s in listing.snapshots}
    assert set(by_key) == set(written)  # exactly the dumps
    assert sorted(listing.unknown) == sorted(STRAYS)
    assert all(by_key[k].size == len(v) for k, v in written.items())

    # what restic's rules keep, on the same times (each ambiguous name read as its first time)
    snaps = [
        Snapshot(id=s.snapshot.id, time=s.snapshot.time, group="db") for s in listing.snapshots
    ]
    policy = Policy.from_mapping({"keep_hourly": 6, "keep_daily": 2}, where="test")
    expected = plan(snaps, policy, now=NOW)
    keep = {d.snapshot.id for d in expected.kept()}
    assert keep and len(keep) < len(snaps)

    pruned = run(cfg, "prune", "--json")
    assert pruned.exit_code == 0, pruned.output
    left = {
        o["Key"].removeprefix("pg/")
        for p in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="pg/")
        for o in p.get("Contents", ())
        if not o["Key"].startswith("pg/_backupctl/")
    }
    assert left == {store.folder(i) for i in keep} | set(STRAYS)

    # verify reports seeded misses: a kept dump truncated and one gone since the listing
    listing = store.listing()
    assert store.check_integrity(listing.snapshots) == []
    truncated, gone = sorted(keep)[:2]
    s3_client.put_object(Bucket=bucket, Key="pg/" + store.folder(truncated), Body=b"truncated")
    s3_client.delete_object(Bucket=bucket, Key="pg/" + store.folder(gone))
    problems = {
        (p.snapshot_id, p.problem.split(" ")[0]) for p in store.check_integrity(listing.snapshots)
    }
    assert problems == {(truncated, "size"), (gone, "missing")}

    # a drill restores one dump byte-identical
    other = next(s for s in listing.snapshots if s.snapshot.id not in (truncated, gone))
    out = store.restore(other, tmp_path / "restored")
    name = store.folder(other.snapshot.id)
    assert out.problems == ()
    assert (tmp_path / "restored" / name.rpartition("/")[2]).read_bytes() == written[name]
    # ... and `backupctl drill` checks a dump with S3's SHA256 and one with botocore's CRC32
    # against those checksums (not by size only)
    by_algo: dict[str, str] = {}
    for s in listing.snapshots:
        if s.snapshot.id in (truncated, gone):
            continue
        head = s3_client.head_object(
            Bucket=bucket, Key="pg/" + store.folder(s.snapshot.id), ChecksumMode="ENABLED"
        )
        by_algo.setdefault("SHA256" if head.get("ChecksumSHA256") else "CRC32", s.snapshot.id)
    assert set(by_algo) == {"SHA256", "CRC32"}
    for sid in by_algo.values():
        drilled = run(cfg, "drill", "--snapshot", sid, "--json")
        doc = json.loads(drilled.stdout)
        [verify] = [p for p in doc["phases"] if p["name"] == "verify"]
        assert drilled.exit_code == 0 and verify["size_only"] == 0, drilled.output


def test_verify_uses_the_s3_checksum_of_a_single_object(
    dumps: tuple[Path, dict[str, bytes]], s3_client: Any, bucket: str
) -> None:
    """A same-size change behind S3's back (bit rot, a tampered replica) is caught by the
    checksum S3 stored at upload: SHA256 where the producer asked for it, else CRC32."""
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
    from moto.s3.models import s3_backends

    cfg, written = dumps
    store = S3Store(load_config(cfg))
    listing = store.listing()
    assert store.check_integrity(listing.snapshots) == []
    assert store.unreferenced == []  # every dump has a SHA256 or CRC32 checksum to compare
    names = sorted(written)
    rotted = names[:2]  # one with a SHA256 checksum, one with CRC32
    keys = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys
    for name in rotted:
        stored = keys["pg/" + name]
        checksum = stored.checksum_value
        data = bytearray(written[name])
        data[0] ^= 1
        stored.value = bytes(data)
        stored.checksum_value = checksum  # the service's record of what was uploaded
    by_key = {store.folder(s.snapshot.id): s.snapshot.id for s in listing.snapshots}
    problems = {p.snapshot_id: p.problem for p in store.check_integrity(listing.snapshots)}
    assert set(problems) == {by_key[n] for n in rotted}, problems
    assert all("checksum" in p.lower() for p in problems.values()), problems


def test_a_multipart_dump_with_a_composite_crc32_is_checked_by_size_not_called_rotten(
    dumps: tuple[Path, dict[str, bytes]], s3_client: Any, bucket: str
) -> None:
    """A dump uploaded in parts with CRC32 (what the aws CLI and `backup` do) has a composite
    checksum, a CRC32 of the parts' CRC32s, which moto reports without AWS's "-N" suffix: it
    is no whole-object CRC32 and must not be compared as one (a false "mismatch")."""
    cfg, _ = dumps
    part = 5 << 20
    data = bytes(range(256)) * (2 * part // 256 + 3)
    key = "pg/" + local_name(dump_times()[-1] + timedelta(hours=1))
    up = s3_client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")
    parts = []
    for n, i in enumerate(range(0, len(data), part), 1):
        r = s3_client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=up["UploadId"],
            PartNumber=n,
            Body=data[i : i + part],
            ChecksumAlgorithm="CRC32",
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3_client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    head = s3_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    whole = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert head["ChecksumCRC32"] not in (whole, "") and head["ETag"].endswith('-3"')
    store = S3Store(load_config(cfg))
    listing = store.listing()
    [dump] = [s for s in listing.snapshots if "pg/" + store.folder(s.snapshot.id) == key]
    assert store.check_integrity([dump]) == []
    assert store.unreferenced == [dump.snapshot.id]  # checked by its size only, and said so
    drilled = run(cfg, "drill", "--snapshot", dump.snapshot.id, "--json")
    doc = json.loads(drilled.stdout)
    [verify] = [p for p in doc["phases"] if p["name"] == "verify"]
    assert drilled.exit_code == 0 and verify["size_only"] == 1, drilled.output
    # adopt records a sha256 for it (it has no whole-object checksum); the drill then uses it
    adopted = run(cfg, "adopt", "--min-age", "0s", "--json")
    skipped = json.loads(adopted.stdout)["skipped"][dump.snapshot.id]
    assert "after this machine's clock" in skipped  # uploaded after NOW: never adopted yet
    adopted = CliRunner().invoke(main, ["adopt", "--min-age", "0s", "--json", "--config", str(cfg)])
    assert adopted.exit_code == 0, adopted.output
    adopted_ids = [a["id"] for a in json.loads(adopted.stdout)["adopted"]]
    assert adopted_ids == [dump.snapshot.id], adopted.output
    drilled = run(cfg, "drill", "--snapshot", dump.snapshot.id, "--json")
    [verify] = [p for p in json.loads(drilled.stdout)["phases"] if p["name"] == "verify"]
    assert drilled.exit_code == 0 and verify["size_only"] == 0, drilled.output


def test_in_a_versioned_bucket_prune_deletes_every_version_of_exactly_the_dump(
    s3_client: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = "pg/db/2026-10-24T0230.sql.gz"
    for body in (b"first", b"second"):  # two versions of the old dump
        s3_client.put_object(Bucket=bucket, Key=old, Body=body)
    s3_client.put_object(Bucket=bucket, Key=old + ".part", Body=b"beside it")
    s3_client.put_object(Bucket=bucket, Key="pg/db/2026-10-26T0230.sql.gz", Body=b"new")
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(f"""
timezone = "Europe/Amsterdam"
[store]
url = "s3://{bucket}/pg"
endpoint_url = "{s3_endpoint}"
key_template = "{{group}}/{{time:%Y-%m-%dT%H%M}}.sql.gz"
[safety]
max_delete_fraction = 1.0
[[policy]]
name = "db"
keep_last = 1
""")
    store = S3Store(load_config(cfg))
    listing = store.listing()
    doomed = [s for s in listing.snapshots if store.folder(s.snapshot.id) == old[3:]]
    report = store.delete(doomed, listing=listing)
    assert report.deleted == [doomed[0].snapshot.id] and not report.failed
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix="pg/db/")
    keys = [v["Key"] for v in versions.get("Versions", [])]
    assert old not in keys and not versions.get("DeleteMarkers")
    assert sorted(keys) == [old + ".part", "pg/db/2026-10-26T0230.sql.gz"]
