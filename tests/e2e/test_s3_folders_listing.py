"""``store.listing = "folders"`` against a real moto S3 server on loopback: snapshot folders
from delimiter listings, contents from the manifests, and what that mode cannot see."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backupctl.config import Config, parse_config
from backupctl.errors import ConfigError
from backupctl.seed import S3Writer, seed_history, write_snapshot
from backupctl.stores.layout import JOURNAL_PREFIX, encode_journal
from backupctl.stores.s3 import S3Store

pytestmark = pytest.mark.e2e
TZ = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 1, tzinfo=TZ)


def make_config(
    bucket: str, endpoint: str, listing: str, template: str = "{group}/{time}/"
) -> Config:
    return parse_config(
        {
            "timezone": "Europe/Amsterdam",
            "store": {
                "url": f"s3://{bucket}/bk",
                "endpoint_url": endpoint,
                "listing": listing,
                "key_template": template,
            },
            "policy": [
                {"name": "app", "keep_within": "2m"},
                {"name": "server", "preset": "sla-server"},
            ],
        }
    )


def all_keys(client: Any, bucket: str, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for p in pages for o in p.get("Contents", ())}


def put(client: Any, bucket: str, key: str, body: bytes = b"x") -> None:
    client.put_object(Bucket=bucket, Key=f"bk/{key}", Body=body)


def test_folders_listing_finds_the_same_snapshots_as_a_full_listing_with_far_fewer_requests(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    seeded = seed_history(
        S3Writer(s3_client, bucket, "bk"), start=T0, end=T0 + timedelta(days=3), tz=TZ
    )
    put(s3_client, bucket, "app/20261110T000000Z/db.sql.gz")  # upload in progress: no manifest
    put(s3_client, bucket, "app/20261111T000000Z/manifest.json", b"{not json")
    put(s3_client, bucket, "_backupctl/lock.json", b"{}")
    full = S3Store(make_config(bucket, s3_endpoint, "objects")).listing()
    folders = S3Store(make_config(bucket, s3_endpoint, "folders")).listing()

    assert [s.snapshot.id for s in folders.snapshots] == sorted(s.id for s in seeded)
    assert [(s.snapshot, s.manifest, s.size, s.manifest_sha256) for s in folders.snapshots] == [
        (s.snapshot, s.manifest, s.size, s.manifest_sha256) for s in full.snapshots
    ]
    assert {s.snapshot.id: s.problem for s in folders.incomplete} == {
        "app/20261110T000000Z": full.incomplete[0].problem,
        "app/20261111T000000Z": full.incomplete[1].problem,
    }
    assert folders.unknown == full.unknown == []
    # the top level, one page per group folder, the journal folder (there is a _backupctl/)
    assert folders.requests["ListObjectsV2"] == 4
    assert full.requests["ListObjectsV2"] == math.ceil(
        sum(len(s.objects) + 1 for s in seeded) / 1000
    )
    # the full listing knows which folders have a manifest.json; folders mode asks each (one
    # 404 here)
    assert (
        full.requests["GetObject"] == len(seeded) + 1
        and folders.requests["GetObject"] == len(seeded) + 2
    )


def test_unknown_keys_and_folders_beside_snapshot_folders_are_reported_and_never_deleted(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    write_snapshot(
        S3Writer(s3_client, bucket, "bk"), "app", datetime(2026, 11, 1, tzinfo=UTC), {"a": b"1"}
    )
    strays = [
        "README.txt",
        "other/20261101T000000Z/manifest.json",
        "app/notes.txt",
        "app/20261399T000000Z/db.sql.gz",
        "app/x/20261101T000000Z/manifest.json",
    ]
    for key in strays:
        put(s3_client, bucket, key)
    store = S3Store(make_config(bucket, s3_endpoint, "folders"))
    listing = store.listing()
    assert listing.unknown == [
        "README.txt",
        "app/20261399T000000Z/",
        "app/notes.txt",
        "app/x/",
        "other/",
    ]
    assert [s.snapshot.id for s in listing.snapshots] == ["app/20261101T000000Z"]
    report = store.delete(listing.snapshots, listing=listing)
    assert report.deleted == ["app/20261101T000000Z"]
    assert all_keys(s3_client, bucket) == {f"bk/{k}" for k in strays}


def test_delete_takes_the_manifests_keys_and_leaves_keys_it_never_saw_reported_next_time(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    writer = S3Writer(s3_client, bucket, "bk")
    times = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(3)]
    ids = [
        write_snapshot(writer, "app", t, {f"obj-{j}": b"y" * j for j in range(4)}) for t in times
    ]
    put(s3_client, bucket, f"{ids[0]}/not-in-manifest.bin")
    store = S3Store(make_config(bucket, s3_endpoint, "folders"))
    listing = store.listing()
    batches: list[list[str]] = []
    store.client.meta.events.register(
        "before-parameter-build.s3.DeleteObjects",
        lambda params, **_: batches.append([o["Key"] for o in params["Delete"]["Objects"]]),
    )

    report = store.delete(listing.snapshots[:2], listing=listing)
    assert report.deleted == ids[:2] and not report.failed
    assert [sorted(b) for b in batches] == [
        [f"bk/{i}/manifest.json" for i in ids[:2]],
        sorted(f"bk/{i}/obj-{j}" for i in ids[:2] for j in range(4)),
    ]
    assert "ListObjectsV2" not in report.requests
    assert report.bytes_freed == sum(s.size for s in listing.snapshots[:2])
    assert all_keys(s3_client, bucket, "bk/app/") == {
        f"bk/{ids[0]}/not-in-manifest.bin",
        *(f"bk/{ids[2]}/{k}" for k in ("manifest.json", "obj-0", "obj-1", "obj-2", "obj-3")),
    }
    again = store.listing()
    assert [s.snapshot.id for s in again.snapshots] == [ids[2]]
    assert [s.snapshot.id for s in again.incomplete] == [ids[0]]
    assert "never deleted" in (again.incomplete[0].problem or "")
    assert store.delete(again.incomplete, listing=again).failed.keys() == {ids[0]}
    assert f"bk/{ids[0]}/not-in-manifest.bin" in all_keys(s3_client, bucket)


def test_an_interrupted_deletion_is_found_through_its_journal_and_finished(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    writer = S3Writer(s3_client, bucket, "bk")
    sid = write_snapshot(writer, "app", datetime(2026, 11, 1, tzinfo=UTC), {"a": b"1", "b": b"2"})
    write_snapshot(writer, "app", datetime(2026, 11, 2, tzinfo=UTC), {"a": b"1"})
    s3_client.delete_object(
        Bucket=bucket, Key=f"bk/{sid}/manifest.json"
    )  # a run died after the manifest
    journal = f"{JOURNAL_PREFIX}20261102T000000Z-dead.json"
    put(
        s3_client,
        bucket,
        journal,
        encode_journal([sid], journal, datetime(2026, 11, 2, tzinfo=UTC)),
    )
    store = S3Store(make_config(bucket, s3_endpoint, "folders"))
    listing = store.listing()
    assert [s.snapshot.id for s in listing.incomplete] == [sid]
    assert "deletion interrupted" in (listing.incomplete[0].problem or "")

    report = store.delete(listing.incomplete, listing=listing)
    assert report.deleted == [sid]
    assert report.requests["ListObjectsV2"] == 1  # that one folder
    assert not any(k.startswith(f"bk/{sid}/") for k in all_keys(s3_client, bucket))
    assert not any(k.startswith(f"bk/{JOURNAL_PREFIX}") for k in all_keys(s3_client, bucket))


def test_a_template_with_group_and_time_in_one_level_shares_one_listing(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    template = "backups/{time}-{group}/"
    writer = S3Writer(s3_client, bucket, "bk")
    ids = [
        write_snapshot(
            writer, g, datetime(2026, 11, 1, h, tzinfo=UTC), {"a": b"1"}, template=template
        )
        for g in ("app", "server")
        for h in (1, 2)
    ]
    put(s3_client, bucket, "backups/20261101T010000Z-other/manifest.json")
    listing = S3Store(make_config(bucket, s3_endpoint, "folders", template)).listing()
    assert sorted(s.snapshot.id for s in listing.snapshots) == sorted(ids)
    assert listing.unknown == ["backups/20261101T010000Z-other/"]
    assert listing.requests["ListObjectsV2"] == 2


def test_folders_listing_needs_time_in_the_last_folder_level(s3_endpoint: str, bucket: str) -> None:
    with pytest.raises(ConfigError) as err:
        S3Store(make_config(bucket, s3_endpoint, "folders", "{time}/{group}/"))
    assert "store.listing = 'folders'" in str(
        err.value
    ) and "{time} in the last folder level" in str(err.value)
    S3Store(
        make_config(bucket, s3_endpoint, "objects", "{time}/{group}/")
    )  # the full listing copes


def test_manifests_with_unexpected_content_still_make_incomplete_snapshots(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    doc = {"version": 1, "group": "server", "time": "2026-11-01T00:00:00+00:00", "objects": []}
    put(s3_client, bucket, "app/20261101T000000Z/manifest.json", json.dumps(doc).encode())
    listing = S3Store(make_config(bucket, s3_endpoint, "folders")).listing()
    assert listing.snapshots == []
    assert "does not match the key's group" in (listing.incomplete[0].problem or "")
