"""Planning from S3 Inventory (``store.inventory``) against a real moto S3 server on loopback.

moto stores inventory configurations but writes no reports, so the report of a seeded bucket
is written here in AWS's format (tests/backupctl/test_inventory.py) into a second bucket.
Shown: a plan and a prune from the report equal a plan and a prune from a listing of an
identical bucket (snapshots written since the report included); a forgotten folder with a key
new or gone since the report is not deleted and is reported (exit 1); a report older than
``store.inventory_max_age`` is refused (exit 4) and a corrupt one is an error naming it (exit 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.evidence.audit import AuditLog
from backupctl.seed import S3Writer, write_snapshot
from backupctl.stores import inventory
from backupctl.stores.blobs import S3Blobs
from tests.backupctl.test_inventory import aws_time, report_objects

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REPORT = NOW - timedelta(hours=8)  # the report's scan began here
OLD = 10  # snapshots in the report, 6 h apart, the newest 2.5 days before NOW
KEEP = 3


def seed(client: Any, bucket: str) -> list[str]:
    """OLD snapshots of group app (3 objects each), oldest first; their ids."""
    writer = S3Writer(client, bucket, "bk")
    return [
        write_snapshot(
            writer,
            "app",
            NOW - timedelta(days=2, hours=12) - timedelta(hours=6 * (OLD - 1 - i)),
            {f"obj-{j}.bin": f"{i}-{j}".encode() for j in range(3)},
        )
        for i in range(OLD)
    ]


def all_objects(client: Any, bucket: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o for p in pages for o in p.get("Contents", ())]


def write_inventory(client: Any, source: str, dest: str, when: datetime = REPORT) -> str:
    """An AWS-format report of every object in ``source`` now, dated ``when``, into ``dest``;
    the ``store.inventory`` URL of its configuration folder."""
    prefix = f"inv/{source}/daily/"
    rows = [
        {
            "Key": o["Key"],
            "Size": o["Size"],
            "ETag": o["ETag"].strip('"'),
            "LastModifiedDate": aws_time(o["LastModified"]),
        }
        for o in all_objects(client, source)
    ]
    for key, data in report_objects(rows, bucket=source, prefix=prefix, when=when).items():
        client.put_object(Bucket=dest, Key=key, Body=data)
    return f"s3://{dest}/{prefix}"


def config_file(path: Path, bucket: str, endpoint: str, inventory: str | None) -> Path:
    line = f'inventory = "{inventory}"\ninventory_max_age = "3d"' if inventory else ""
    path.write_text(f"""
timezone = "UTC"

[store]
url = "s3://{bucket}/bk"
endpoint_url = "{endpoint}"
{line}

[cache]
enabled = false

[safety]
max_delete_fraction = 1.0
stale_after = "3d"  # the newest snapshot's age, not the report's (inventory_max_age)

[[policy]]
name = "app"
keep_last = {KEEP}
""")
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"BACKUPCTL_NOW": NOW.isoformat()})


def twin_buckets(s3_client: Any, tag: str) -> tuple[str, str, str, list[str]]:
    """Two identically seeded buckets (``inv`` planned from a report, ``lst`` from a listing)
    and the report bucket; the ids."""
    names = [f"t-inv-{tag}-{x}" for x in ("inv", "lst", "rep")]
    for n in names:
        s3_client.create_bucket(Bucket=n)
    ids = seed(s3_client, names[0])
    assert seed(s3_client, names[1]) == ids
    return names[0], names[1], names[2], ids


def test_inventory_plan_and_prune_equal_the_listing_ones(
    s3_client: Any, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventory, "CHUNK_FOLDERS", 3)  # the listing is built in 4 chunks
    inv, lst, rep, ids = twin_buckets(s3_client, "eq")
    url = write_inventory(s3_client, inv, rep)
    # written after the report, in both: seen only by the live listing since the report
    new = [
        write_snapshot(S3Writer(s3_client, b, "bk"), "app", NOW - timedelta(hours=2), {"x": b"n"})
        for b in (inv, lst)
    ]
    assert new[0] == new[1]
    a = config_file(tmp_path / "inv.toml", inv, s3_endpoint, url)
    b = config_file(tmp_path / "lst.toml", lst, s3_endpoint, None)

    plans = [run("plan", "--config", str(p), "--json") for p in (a, b)]
    assert [p.exit_code for p in plans] == [0, 0], plans[0].output + plans[1].output
    decisions = [json.loads(p.stdout)["decisions"] for p in plans]
    assert decisions[0] == decisions[1]
    kept = {d["id"] for d in decisions[0] if d["action"] == "keep"}
    assert kept == {new[0], ids[-1], ids[-2]}  # the new snapshot pushed one more out
    # the plan says what it was made from: the report (its manifest and time), or a listing
    sources = [json.loads(p.stdout)["listed_from"] for p in plans]
    assert sources[1] is None
    assert sources[0] == {
        "kind": "s3-inventory",
        "report": f"{url}{REPORT:%Y-%m-%dT%H-%MZ}/manifest.json",
        "report_time": REPORT.isoformat(),
        "listed_live_since": ["app/20261122T020000Z/"],
    }
    human = run("plan", "--config", str(a))
    assert human.exit_code == 0, human.output
    assert human.stdout.splitlines()[0] == (
        "planned from the S3 Inventory report of 2026-11-23 02:00:00 UTC (keys named since one "
        f"day before it listed live): {sources[0]['report']}"
    )
    assert "S3 Inventory" not in run("plan", "--config", str(b)).stdout

    pruned = [run("prune", "--config", str(p), "--json") for p in (a, b)]
    assert [p.exit_code for p in pruned] == [0, 0], pruned[0].output + pruned[1].output
    docs = [json.loads(p.stdout) for p in pruned]
    assert docs[0]["deleted"] == docs[1]["deleted"] == ids[: OLD - 2]
    left = [sorted(o["Key"] for o in all_objects(s3_client, x)) for x in (inv, lst)]
    assert [k for k in left[0] if "/_backupctl/" not in k] == [
        k for k in left[1] if "/_backupctl/" not in k
    ]
    # the audit record of the deletion names the report it was planned from
    records = AuditLog(S3Blobs(s3_client, inv, "bk")).records()
    intents = [r["data"] for r in records if r["action"] == "prune.intent"]
    assert [i.get("listed_from") for i in intents] == [sources[0]]
    lst_records = AuditLog(S3Blobs(s3_client, lst, "bk")).records()
    assert all("listed_from" not in r["data"] for r in lst_records)
    # the report was read, not the bucket listed: ListObjectsV2 of the report folders, of the
    # keys named since the report and of the journals, then one per folder confirmed live
    assert docs[0]["requests"]["ListObjectsV2"] == 3 + len(docs[0]["deleted"])


def test_a_folder_changed_since_the_report_is_not_deleted_and_is_reported(
    s3_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    inv, _, rep, ids = twin_buckets(s3_client, "chg")
    url = write_inventory(s3_client, inv, rep)
    grown, shrunk, rewritten, gone = ids[0], ids[1], ids[2], ids[3]
    s3_client.put_object(Bucket=inv, Key=f"bk/{grown}/late.bin", Body=b"new since the report")
    s3_client.delete_object(Bucket=inv, Key=f"bk/{shrunk}/obj-1.bin")
    s3_client.put_object(Bucket=inv, Key=f"bk/{rewritten}/obj-2.bin", Body=b"other bytes")
    for o in all_objects(s3_client, inv):
        if o["Key"].startswith(f"bk/{gone}/"):
            s3_client.delete_object(Bucket=inv, Key=o["Key"])
    cfg = config_file(tmp_path / "inv.toml", inv, s3_endpoint, url)

    result = run("prune", "--config", str(cfg), "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert sorted(doc["failed"]) == [grown, shrunk, rewritten]
    assert all("changed since the S3 Inventory report" in why for why in doc["failed"].values())
    assert doc["deleted"] == ids[4 : OLD - KEEP]
    left = {o["Key"] for o in all_objects(s3_client, inv)}
    assert f"bk/{grown}/late.bin" in left and f"bk/{grown}/manifest.json" in left
    assert f"bk/{shrunk}/manifest.json" in left and f"bk/{shrunk}/obj-0.bin" in left
    assert f"bk/{rewritten}/manifest.json" in left
    deleted = tuple(f"bk/{i}/" for i in ids[4 : OLD - KEEP])
    assert not any(k.startswith(deleted) for k in left)


def test_an_old_report_is_refused_and_a_corrupt_one_is_an_error(
    s3_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    inv, _, rep, _ = twin_buckets(s3_client, "bad")
    url = write_inventory(s3_client, inv, rep, when=NOW - timedelta(days=4))
    cfg = config_file(tmp_path / "inv.toml", inv, s3_endpoint, url)
    old = run("prune", "--config", str(cfg))
    assert old.exit_code == 4, old.output
    assert "store.inventory_max_age" in old.output and "Traceback" not in old.output

    url = write_inventory(s3_client, inv, rep)
    folder = url.split("/", 3)[3] + REPORT.strftime("%Y-%m-%dT%H-%MZ") + "/"
    manifest = json.loads(
        s3_client.get_object(Bucket=rep, Key=folder + "manifest.json")["Body"].read()
    )
    key = manifest["files"][0]["key"]
    s3_client.put_object(Bucket=rep, Key=key, Body=b"\x1f\x8b not gzip at all")
    bad = run("plan", "--config", str(cfg))
    assert bad.exit_code == 1, bad.output
    assert key in bad.output and "Traceback" not in bad.output
    assert len([line for line in bad.output.splitlines() if key in line]) == 1


def test_single_object_dumps_are_confirmed_by_their_exact_key(
    s3_client: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    """``{group}/{time:…}.sql.gz``: a dump rewritten since the report stays (failed); a
    ``….part`` new beside a forgotten dump is another key, the dump itself is deleted."""
    inv, rep = "t-inv-single", "t-inv-single-rep"
    for b in (inv, rep):
        s3_client.create_bucket(Bucket=b)
    times = [NOW - timedelta(days=3) - timedelta(hours=6 * i) for i in range(6)][::-1]
    names = [f"db/{t.strftime('%Y-%m-%dT%H%M')}.sql.gz" for t in times]
    for i, name in enumerate(names):
        s3_client.put_object(Bucket=inv, Key="bk/" + name, Body=f"dump {i}".encode())
    url = write_inventory(s3_client, inv, rep)
    s3_client.put_object(Bucket=inv, Key="bk/" + names[0], Body=b"rewritten, longer dump")
    s3_client.put_object(Bucket=inv, Key="bk/" + names[1] + ".part", Body=b"upload")
    cfg = config_file(tmp_path / "inv.toml", inv, s3_endpoint, url)
    text = cfg.read_text().replace('name = "app"', 'name = "db"')
    cfg.write_text(
        text.replace("[store]", '[store]\nkey_template = "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"')
    )

    result = run("prune", "--config", str(cfg), "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    ids = [f"db/{t.strftime('%Y%m%dT%H%M%SZ')}" for t in times]
    assert list(doc["failed"]) == [ids[0]]
    assert doc["deleted"] == ids[1:3]
    left = {o["Key"] for o in all_objects(s3_client, inv)}
    assert {"bk/" + names[0], "bk/" + names[1] + ".part"} <= left
    assert not {"bk/" + n for n in names[1:3]} & left
