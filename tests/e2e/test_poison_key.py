"""Issue 11 part 3 on the moto S3 server: one key that DeleteObjects cannot carry (a byte XML 1.0
forbids) no longer fails every batch it is in; the other snapshots finish, and so does it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backupctl.config import parse_config
from backupctl.seed import S3Writer, write_snapshot
from backupctl.stores.s3 import S3Store

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 11, 1, tzinfo=UTC)
POISON = "bad\x01name.bin"


def all_keys(client: Any, bucket: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bk/")
    return {o["Key"] for p in pages for o in p.get("Contents", ())}


def poisoned_snapshot(client: Any, bucket: str, t: datetime) -> str:
    sid = f"app/{t.strftime('%Y%m%dT%H%M%SZ')}"
    objects = {POISON: b"poison", "ok.bin": b"fine"}
    for name, data in objects.items():
        client.put_object(Bucket=bucket, Key=f"bk/{sid}/{name}", Body=data)
    manifest = {
        "version": 1,
        "group": "app",
        "time": t.isoformat(),
        "objects": [
            {"key": k, "size": len(v), "sha256": hashlib.sha256(v).hexdigest()}
            for k, v in objects.items()
        ],
    }
    client.put_object(
        Bucket=bucket, Key=f"bk/{sid}/manifest.json", Body=json.dumps(manifest).encode()
    )
    return sid


@pytest.mark.parametrize("batch_size", [1000, 3])
def test_a_poison_key_does_not_stop_the_other_snapshots_of_its_batch(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    batch_size: int,
) -> None:
    writer = S3Writer(s3_client, bucket, "bk")
    good = [
        write_snapshot(writer, "app", T0 + timedelta(hours=h), {"a.bin": b"1", "b.bin": b"2"})
        for h in range(4)
    ]
    bad = poisoned_snapshot(s3_client, bucket, T0 + timedelta(hours=10))
    keep = write_snapshot(writer, "app", T0 + timedelta(days=1), {"a.bin": b"3"})
    store = S3Store(
        parse_config(
            {
                "store": {"url": f"s3://{bucket}/bk", "endpoint_url": s3_endpoint},
                "policy": [{"name": "app", "keep_last": 1}],
            }
        )
    )
    store.batch_size = batch_size
    listing = store.listing()
    assert {s.snapshot.id for s in listing.snapshots} == {*good, bad, keep}
    report = store.delete([s for s in listing.snapshots if s.snapshot.id != keep], listing=listing)
    assert sorted(report.deleted) == sorted([*good, bad]), report.failed
    assert all_keys(s3_client, bucket) == {f"bk/{keep}/a.bin", f"bk/{keep}/manifest.json"}


def test_a_batch_refused_as_malformed_is_split_down_to_the_one_key(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
) -> None:
    """A service (or proxy) that refuses a whole DeleteObjects because of one key it dislikes."""
    from botocore.exceptions import ClientError

    writer = S3Writer(s3_client, bucket, "bk")
    sids = [
        write_snapshot(writer, "app", T0 + timedelta(hours=h), {"a.bin": b"1", "b.bin": b"2"})
        for h in range(6)
    ]
    disliked = f"bk/{sids[2]}/b.bin"
    sent: list[int] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        keys = [o["Key"] for o in params["Delete"]["Objects"]]
        sent.append(len(keys))
        if disliked in keys:
            raise ClientError(
                {"Error": {"Code": "MalformedXML", "Message": "not well-formed"}}, "DeleteObjects"
            )

    store = S3Store(
        parse_config(
            {
                "store": {"url": f"s3://{bucket}/bk", "endpoint_url": s3_endpoint},
                "policy": [{"name": "app", "keep_last": 1}],
            }
        )
    )
    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", refuse)
    listing = store.listing()
    report = store.delete(listing.snapshots[:-1], listing=listing)
    assert set(report.failed) == {sids[2]} and "MalformedXML" in report.failed[sids[2]]
    assert sorted(report.deleted) == sorted(s for s in sids[:5] if s != sids[2])
    left = {
        k for k in all_keys(s3_client, bucket) if not k.startswith("bk/_backupctl/")
    }  # the journal stays
    assert left == {
        disliked,
        f"bk/{sids[5]}/a.bin",
        f"bk/{sids[5]}/b.bin",
        f"bk/{sids[5]}/manifest.json",
    }
    assert len(sent) <= 2 * 15  # bounded: the split costs O(log n) requests per bad key
