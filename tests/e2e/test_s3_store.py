"""S3Store against a real moto S3 server on loopback: listing, safe deletion, versions,
Object Lock, Content-MD5, integrity and restore."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backupctl.config import Config, parse_config
from backupctl.seed import S3Writer, seed_history, write_snapshot
from backupctl.stores.batches import fewest_delete_requests
from backupctl.stores.layout import JOURNAL_PREFIX
from backupctl.stores.s3 import S3Store

pytestmark = pytest.mark.e2e
TZ = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 1, tzinfo=TZ)


def make_config(url: str, endpoint: str | None, **store: Any) -> Config:
    table = {"url": url, **({"endpoint_url": endpoint} if endpoint else {}), **store}
    return parse_config(
        {
            "timezone": "Europe/Amsterdam",
            "store": table,
            "policy": [
                {"name": "app", "keep_within": "2m"},
                {"name": "server", "preset": "sla-server"},
            ],
        }
    )


def all_keys(client: Any, bucket: str, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for p in pages for o in p.get("Contents", ())}


def seed_small(client: Any, bucket: str, prefix: str = "bk", days: int = 1) -> list[Any]:
    return seed_history(
        S3Writer(client, bucket, prefix), start=T0, end=T0 + timedelta(days=days), tz=TZ
    )


@pytest.fixture()
def store(s3_endpoint: str, bucket: str) -> S3Store:
    return S3Store(make_config(f"s3://{bucket}/bk", s3_endpoint))


def test_listing_classifies_unknown_incomplete_and_bad_manifests_and_delete_leaves_them(
    store: S3Store,
    s3_client: Any,
    bucket: str,
) -> None:
    seeded = seed_small(s3_client, bucket)

    def put(key: str, body: bytes = b"x") -> None:
        s3_client.put_object(Bucket=bucket, Key=f"bk/{key}", Body=body)

    put("README.txt")
    put("app/20261399T000000Z/db.sql.gz")  # month 13: not a time
    put("other/20261101T000000Z/manifest.json", b"{}")  # group without a policy
    put("app/20261110T000000Z/db.sql.gz")  # upload in progress: no manifest
    put("app/20261111T000000Z/db.sql.gz")
    put("app/20261111T000000Z/manifest.json", b"{not json")
    bad_time = {"version": 1, "group": "app", "time": "2026-11-12T01:00:00+00:00", "objects": []}
    put("app/20261112T000000Z/manifest.json", json.dumps(bad_time).encode())
    escape = {
        "version": 1,
        "group": "app",
        "time": "2026-11-13T00:00:00Z",
        "objects": [{"key": "../x", "size": 1, "sha256": "0" * 64}],
    }
    put("app/20261113T000000Z/manifest.json", json.dumps(escape).encode())
    put("_backupctl/lock.json", b"{}")

    listing = store.listing()
    assert [s.snapshot.id for s in listing.snapshots] == sorted(s.id for s in seeded)
    assert listing.unknown == [
        "README.txt",
        "app/20261399T000000Z/db.sql.gz",
        "other/20261101T000000Z/manifest.json",
    ]
    problems = {s.snapshot.id: s.problem or "" for s in listing.incomplete}
    assert set(problems) == {
        "app/20261110T000000Z",
        "app/20261111T000000Z",
        "app/20261112T000000Z",
        "app/20261113T000000Z",
    }
    assert "no manifest.json" in problems["app/20261110T000000Z"]
    assert "not valid JSON" in problems["app/20261111T000000Z"]
    assert "does not match the key's time" in problems["app/20261112T000000Z"]
    assert "outside the snapshot folder" in problems["app/20261113T000000Z"]
    first = listing.snapshots[0]
    assert (
        first.snapshot.time == datetime(2026, 11, 1, tzinfo=TZ) and first.snapshot.time.tzinfo == TZ
    )
    assert listing.requests == {
        "GetObject": len(seeded) + 3,
        "ListObjectsV2": 1,
    }  # + the 3 bad manifests

    before = all_keys(s3_client, bucket)
    report = store.delete([*listing.snapshots, *listing.incomplete], listing=listing)
    assert sorted(report.deleted) == sorted(s.id for s in seeded)
    assert set(report.failed) == set(problems)  # incomplete ones are refused, not deleted
    left = all_keys(s3_client, bucket)
    assert left == {k for k in before if not any(k.startswith(f"bk/{s.id}/") for s in seeded)}
    assert not any(k.startswith("bk/" + JOURNAL_PREFIX) for k in left)


def test_every_manifest_is_deleted_before_any_data_and_a_rerun_finishes_an_interrupted_delete(
    store: S3Store,
    s3_client: Any,
    bucket: str,
) -> None:
    seeded = seed_small(s3_client, bucket)  # 5 app snapshots + 1 server
    first = store.listing()
    snaps = first.snapshots
    batches: list[list[str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys = [o["Key"] for o in params["Delete"]["Objects"]]
        batches.append(keys)
        if not all(k.endswith("/manifest.json") for k in keys):
            raise ConnectionError("injected: the network died after the manifests were deleted")

    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", record)
    with pytest.raises(ConnectionError):
        store.delete(
            snaps, listing=first
        )  # an exception outside the S3 error types: the run dies mid-way
    store.client.meta.events.unregister("before-parameter-build.s3.DeleteObjects", record)
    assert sorted(batches[0]) == sorted(
        f"bk/{s.id}/manifest.json" for s in seeded
    )  # one batch, first
    assert batches[1] and not any(k.endswith("/manifest.json") for k in batches[1])

    listing = store.listing()
    assert listing.snapshots == []
    assert sorted(s.snapshot.id for s in listing.incomplete) == sorted(s.id for s in seeded)
    assert all("deletion interrupted" in (s.problem or "") for s in listing.incomplete)
    for s in seeded:  # data still there
        assert all_keys(s3_client, bucket, f"bk/{s.id}/") == {f"bk/{s.id}/{k}" for k in s.objects}

    assert (
        store.delete([], listing=listing).deleted == []
    )  # a journal alone never makes the store delete
    report = store.delete(
        listing.incomplete, listing=listing
    )  # the runner hands back what the journal names: finished
    assert report.deleted == sorted(s.id for s in seeded)
    assert (
        report.requests["ListObjectsV2"] == 1
    )  # 6 folders to re-list: one listing of the prefix is cheaper
    assert all_keys(s3_client, bucket) == set()


def _manifest(group: str, t: datetime, names: list[str]) -> bytes:
    empty = hashlib.sha256(b"").hexdigest()
    return json.dumps(
        {
            "version": 1,
            "group": group,
            "time": t.isoformat(),
            "objects": [{"key": n, "size": 0, "sha256": empty} for n in names],
        }
    ).encode()


def _backend_put(bucket: str, keys: dict[str, bytes]) -> None:
    """Objects straight into the in-process moto backend that serves the HTTP endpoint
    (thousands of HTTP PUTs take seconds on 2 cores); the deletion under test goes over HTTP."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key, data in keys.items():
        backend.put_object(bucket, key, data)


# (n, m, keys per DeleteObjects): the real limit with fewer and just more than 1000 manifests;
# then, at a small limit (cheap to seed and list), more manifests than the limit with a partial
# last manifest batch (topped up with data) and a whole multiple of it (no partial batch)
@pytest.mark.parametrize(
    ("n", "m", "size"), [(3, 1200, 1000), (1001, 2, 1000), (15, 3, 10), (20, 1, 10)]
)
def test_n_snapshots_of_m_objects_take_the_fewest_manifest_first_delete_objects_and_no_listing(
    store: S3Store,
    s3_client: Any,
    bucket: str,
    n: int,
    m: int,
    size: int,
) -> None:
    store.batch_size = size
    times = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(n)]
    names = [f"chunk-{j:05d}" for j in range(m)]
    objects: dict[str, bytes] = {}
    for t in times:
        folder = f"bk/app/{t:%Y%m%dT%H%M%SZ}/"
        objects.update({folder + name: b"" for name in names})
        objects[folder + "manifest.json"] = _manifest("app", t, names)
    _backend_put(bucket, objects)
    listing = store.listing()
    assert len(listing.snapshots) == n
    events: list[
        tuple[str, int]
    ] = []  # ("sent" | "answered", batch number), in the order they happened
    batches: list[list[str]] = []

    lock = threading.Lock()  # the store sends batches from several threads

    def sent(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        with lock:
            batches.append([o["Key"] for o in params["Delete"]["Objects"]])
            context["batch"] = len(batches) - 1  # botocore hands the same dict to after-call
            events.append(("sent", context["batch"]))

    def answered(context: dict[str, Any], **_: Any) -> None:
        with lock:
            events.append(("answered", context["batch"]))

    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", sent)
    store.client.meta.events.register("after-call.s3.DeleteObjects", answered)
    report = store.delete(listing.snapshots, listing=listing)
    assert len(report.deleted) == n and not report.failed and not report.held
    assert (
        report.requests["DeleteObjects"] == fewest_delete_requests(n, n * m, size) == len(batches)
    )
    if n >= size:
        assert len(batches) == math.ceil(n * (m + 1) / size)  # the ideal, exactly
    assert "ListObjectsV2" not in report.requests and "ListObjectVersions" not in report.requests
    assert report.requests["DeleteObject"] == 1 and report.requests["PutObject"] == 1  # the journal
    assert all(len(b) <= size for b in batches)
    manifest_in = {
        k.rsplit("/", 1)[0]: i
        for i, b in enumerate(batches)
        for k in b
        if k.endswith("/manifest.json")
    }
    for i, batch in enumerate(
        batches
    ):  # every data key is sent after its manifest's batch was answered
        for key in batch:
            if not key.endswith("/manifest.json"):
                first = manifest_in[key.rsplit("/", 1)[0]]
                assert events.index(("answered", first)) < events.index(("sent", i)), key
    assert report.bytes_freed == sum(len(v) for v in objects.values())
    assert all_keys(s3_client, bucket) == set()


def test_the_last_manifest_batch_carries_earlier_data_and_a_manifest_refused_there_keeps_its_data(
    store: S3Store,
    s3_client: Any,
    bucket: str,
) -> None:
    store.batch_size = 4  # 6 snapshots x (manifest + 3 data) = 24 keys: ceil(24/4) = 6 requests
    writer = S3Writer(s3_client, bucket, "bk")
    ids = [
        write_snapshot(
            writer, "app", datetime(2026, 11, 1, i, tzinfo=UTC), {f"d{j}": b"x" for j in range(3)}
        )
        for i in range(6)
    ]
    listing = store.listing()
    refused = f"bk/{ids[5]}/manifest.json"  # its manifest goes in the shared (second) batch
    batches: list[list[str]] = []

    def spare(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        batches.append([o["Key"] for o in params["Delete"]["Objects"]])
        context["batch"] = len(batches)
        params["Delete"]["Objects"] = [
            o for o in params["Delete"]["Objects"] if o["Key"] != refused
        ]

    def inject(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context["batch"] == 2:
            parsed["Errors"] = [
                {"Key": refused, "Code": "InternalError", "Message": "We encountered an error"}
            ]

    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", spare)
    store.client.meta.events.register("after-call.s3.DeleteObjects", inject)
    report = store.delete(listing.snapshots, listing=listing)
    store.client.meta.events.unregister("after-call.s3.DeleteObjects", inject)
    store.client.meta.events.unregister("before-parameter-build.s3.DeleteObjects", spare)

    assert sorted(batches[0]) == [f"bk/{i}/manifest.json" for i in ids[:4]]
    assert sorted(batches[1]) == sorted(
        [f"bk/{ids[0]}/d0", f"bk/{ids[0]}/d1", *(f"bk/{i}/manifest.json" for i in ids[4:])]
    )
    assert len(batches) == 1 + 1 + math.ceil(
        (18 - 2 - 3) / 4
    )  # the refused snapshot's 3 data keys never sent
    assert not any(k.startswith(f"bk/{ids[5]}/") for b in batches[2:] for k in b)
    assert report.deleted == ids[:5] and "InternalError" in report.failed[ids[5]]
    assert all_keys(s3_client, bucket, "bk/app/") == {
        f"bk/{ids[5]}/{k}" for k in ("manifest.json", "d0", "d1", "d2")
    }
    again = store.listing()
    assert store.delete(again.snapshots, listing=again).deleted == [
        ids[5]
    ]  # the next prune deletes it (and the journal)
    assert all_keys(s3_client, bucket) == set()


def test_a_folder_with_objects_its_manifest_does_not_name_is_listed_and_emptied_in_batches(
    store: S3Store,
    s3_client: Any,
    bucket: str,
) -> None:
    _backend_put(bucket, {f"bk/app/20261101T010000Z/chunk-{i:05d}": b"" for i in range(2499)})
    write_snapshot(
        S3Writer(s3_client, bucket, "bk"), "app", datetime(2026, 11, 1, 1, tzinfo=UTC), {}
    )
    sizes: list[int] = []
    store.client.meta.events.register(
        "before-parameter-build.s3.DeleteObjects",
        lambda params, **_: sizes.append(len(params["Delete"]["Objects"])),
    )
    listing = store.listing()
    [snap] = listing.snapshots
    report = store.delete([snap], listing=listing)
    assert report.deleted == ["app/20261101T010000Z"]
    # the manifest alone first, then the data the listing found (its batches go in parallel,
    # in any order)
    assert sizes[0] == 1 and sorted(sizes[1:]) == [499, 1000, 1000]
    assert report.requests["DeleteObjects"] == 4
    assert report.requests["ListObjectsV2"] == 3  # the one folder, 2499 keys
    assert report.requests["DeleteObject"] == 1  # the finished journal
    assert all_keys(s3_client, bucket) == set()


def test_per_key_errors_fail_the_snapshot_with_the_s3_code_and_a_rerun_finishes(
    store: S3Store,
    s3_client: Any,
    bucket: str,
) -> None:
    seed_small(s3_client, bucket, days=0)
    first = store.listing()
    [snap] = first.snapshots
    victim = f"bk/{snap.snapshot.id}/db.sql.gz"

    def spare(params: dict[str, Any], **_: Any) -> None:  # the server "fails" to delete the victim
        params["Delete"]["Objects"] = [o for o in params["Delete"]["Objects"] if o["Key"] != victim]

    def inject(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Errors"] = [
            {"Key": victim, "Code": "InternalError", "Message": "We encountered an internal error"}
        ]

    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", spare)
    store.client.meta.events.register("after-call.s3.DeleteObjects", inject)
    report = store.delete([snap], listing=first)
    assert report.deleted == [] and "InternalError" in report.failed[snap.snapshot.id]
    assert victim in report.failed[snap.snapshot.id]
    store.client.meta.events.unregister("after-call.s3.DeleteObjects", inject)
    store.client.meta.events.unregister("before-parameter-build.s3.DeleteObjects", spare)
    listing = store.listing()
    assert "deletion interrupted" in (listing.incomplete[0].problem or "")
    # without the listing the store reads its journals again: the same outcome
    assert store.delete(listing.incomplete).deleted == [snap.snapshot.id]
    assert all_keys(s3_client, bucket) == set()


@pytest.mark.parametrize("delete_versions", [True, False])
def test_versioned_bucket(
    s3_endpoint: str, s3_client: Any, bucket: str, delete_versions: bool
) -> None:
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = S3Store(make_config(f"s3://{bucket}/bk", s3_endpoint, delete_versions=delete_versions))
    seeded = seed_small(s3_client, bucket, days=0)
    sid = seeded[0].id
    s3_client.put_object(Bucket=bucket, Key=f"bk/{sid}/db.sql.gz", Body=b"second version")
    listing = store.listing()
    report = store.delete(listing.snapshots, listing=listing)
    assert report.deleted == [sid]
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix=f"bk/{sid}/")
    if delete_versions:
        assert "Versions" not in versions and "DeleteMarkers" not in versions
        assert report.requests.get("ListObjectVersions") == 1
    else:
        assert len(versions["Versions"]) == 4 and len(versions["DeleteMarkers"]) == 3
    assert all_keys(s3_client, bucket) == set()


def test_object_lock_holds_are_reported_and_never_fought(s3_endpoint: str, s3_client: Any) -> None:
    bucket = f"lock-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = S3Store(make_config(f"s3://{bucket}/bk", s3_endpoint))
    until = datetime.now(UTC) + timedelta(days=30)
    free, held_manifest, held_data = (datetime(2026, 11, d, 2, tzinfo=UTC) for d in (1, 2, 3))

    class Locking(S3Writer):
        def __init__(self, lock: dict[str, Any], only: str = "") -> None:
            super().__init__(s3_client, bucket, "bk")
            self.lock, self.only = lock, only

        def put(self, key: str, data: bytes) -> None:
            extra = self.lock if key.endswith(self.only) else {}
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, **extra)

    write_snapshot(S3Writer(s3_client, bucket, "bk"), "server", free, {"a": b"1"})
    write_snapshot(
        Locking({"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}),
        "server",
        held_manifest,
        {"a": b"2"},
    )
    write_snapshot(
        Locking({"ObjectLockLegalHoldStatus": "ON"}, only="/a"), "server", held_data, {"a": b"3"}
    )

    listing = store.listing()
    status = {s.snapshot.id: (s.status, s.problem) for s in listing.snapshots}
    assert status["server/20261102T020000Z"][0] == "held"
    assert "held until" in (status["server/20261102T020000Z"][1] or "")
    assert "COMPLIANCE" in (status["server/20261102T020000Z"][1] or "")
    assert status["server/20261103T020000Z"] == ("complete", None)  # only its data is locked

    report = store.delete(listing.snapshots, listing=listing)
    assert report.deleted == ["server/20261101T020000Z"]
    assert "held until" in report.held["server/20261102T020000Z"]
    assert "legal hold" in report.held["server/20261103T020000Z"]
    left = all_keys(s3_client, bucket, "bk/server/")
    assert (
        "bk/server/20261102T020000Z/manifest.json" in left
        and "bk/server/20261102T020000Z/a" in left
    )
    assert "bk/server/20261103T020000Z/a" in left
    assert not any(k.startswith("bk/server/20261101T020000Z/") for k in left)


@pytest.mark.parametrize(
    "message", ["Access Denied because object protected by object lock.", "Access Denied"]
)
def test_a_manifest_refused_with_access_denied_keeps_its_data_while_the_rest_of_its_batch_goes(
    store: S3Store,
    s3_client: Any,
    bucket: str,
    message: str,
) -> None:
    writer = S3Writer(s3_client, bucket, "bk")
    ids = [
        write_snapshot(
            writer, "server", datetime(2026, 11, d, 2, tzinfo=UTC), {"a": b"1", "b": b"2"}
        )
        for d in (1, 2, 3)
    ]
    listing = store.listing()
    assert [s.status for s in listing.snapshots] == ["complete"] * 3
    # e.g. a bucket policy denying the delete; only the answer tells
    victim = f"bk/{ids[1]}/manifest.json"
    batches: list[list[str]] = []

    def deny(params: dict[str, Any], **_: Any) -> None:
        batches.append([o["Key"] for o in params["Delete"]["Objects"]])
        params["Delete"]["Objects"] = [o for o in params["Delete"]["Objects"] if o["Key"] != victim]

    def answer(parsed: dict[str, Any], **_: Any) -> None:
        if len(batches) == 1:
            parsed["Errors"] = [{"Key": victim, "Code": "AccessDenied", "Message": message}]

    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", deny)
    store.client.meta.events.register("after-call.s3.DeleteObjects", answer)
    report = store.delete(listing.snapshots, listing=listing)
    assert report.deleted == [ids[0], ids[2]]
    assert sorted(batches[0]) == sorted(
        f"bk/{i}/manifest.json" for i in ids
    )  # one batch for the three
    assert sorted(batches[1]) == sorted(f"bk/{i}/{k}" for i in (ids[0], ids[2]) for k in "ab")
    assert all_keys(s3_client, bucket, "bk/server/") == {
        f"bk/{ids[1]}/{k}" for k in ("a", "b", "manifest.json")
    }
    assert report.requests["DeleteObjects"] == 2 and report.requests["HeadObject"] == 1
    if "object lock" in message:
        assert "Object Lock" in report.held[ids[1]] and not report.failed
    else:
        assert (
            report.failed[ids[1]] == f"S3 AccessDenied on {victim}: Access Denied"
            and not report.held
        )
    store.client.meta.events.unregister("after-call.s3.DeleteObjects", answer)
    store.client.meta.events.unregister("before-parameter-build.s3.DeleteObjects", deny)
    again = store.listing()
    assert [s.snapshot.id for s in again.snapshots] == [ids[1]]  # whole again, nothing half-deleted
    assert store.delete(again.snapshots, listing=again).deleted == [ids[1]]
    assert all_keys(s3_client, bucket, "bk/server/") == set()


@pytest.mark.parametrize("content_md5", [True, False])
def test_content_md5_header_on_delete_objects(
    monkeypatch: pytest.MonkeyPatch, content_md5: bool
) -> None:
    from moto import mock_aws

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        store = S3Store(make_config("s3://md5-bucket/p", None, content_md5=content_md5))
        store.client.create_bucket(Bucket="md5-bucket")
        write_snapshot(
            S3Writer(store.client, "md5-bucket", "p"),
            "app",
            datetime(2026, 11, 1, tzinfo=UTC),
            {"x": b"data"},
        )
        headers: list[dict[str, str]] = []
        store.client.meta.events.register(
            "before-send.s3.DeleteObjects",
            lambda request, **_: headers.append(dict(request.headers)),
        )
        listing = store.listing()
        assert store.delete(listing.snapshots, listing=listing).deleted == ["app/20261101T000000Z"]
    assert len(headers) == 2  # the manifests, then the data
    assert all(("Content-MD5" in h) is content_md5 for h in headers)


def test_integrity_check_names_flipped_and_missing_objects(
    store: S3Store, s3_client: Any, bucket: str
) -> None:
    seeded = seed_small(s3_client, bucket)
    a, b = seeded[0], seeded[-1]
    key_a = f"bk/{a.id}/db.sql.gz"
    data = bytearray(a.objects["db.sql.gz"])
    data[10] ^= 0x01
    s3_client.put_object(Bucket=bucket, Key=key_a, Body=bytes(data))
    missing = f"bk/{b.id}/{next(iter(b.objects))}"
    s3_client.delete_object(Bucket=bucket, Key=missing)
    problems = store.check_integrity(store.listing().snapshots)
    found = {(p.snapshot_id, p.key): p.problem for p in problems}
    assert set(found) == {(a.id, key_a), (b.id, missing)}
    assert "sha256 mismatch" in found[(a.id, key_a)] and found[(b.id, missing)] == "missing"


def test_restore_writes_identical_bytes(
    store: S3Store, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    seeded = seed_small(s3_client, bucket, days=0)
    [snap] = store.list_snapshots()
    progressed: list[int] = []
    out = store.restore(snap, tmp_path / "r", workers=3, progress=progressed.append)
    assert out.problems == () and out.files == len(seeded[0].objects)
    assert out.bytes == sum(progressed) == sum(len(v) for v in seeded[0].objects.values())
    for name, data in seeded[0].objects.items():
        assert (tmp_path / "r" / name).read_bytes() == data


def test_custom_key_template_and_seed_speed(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    import time

    store = S3Store(
        make_config(f"s3://{bucket}", s3_endpoint, key_template="backups/{time}-{group}/")
    )
    started = time.monotonic()
    seeded = seed_history(
        S3Writer(s3_client, bucket),
        start=T0,
        end=T0 + timedelta(days=30),
        tz=TZ,
        template="backups/{time}-{group}/",
        missed=[
            datetime(2026, 11, 2, 6, tzinfo=TZ),
            ("server", datetime(2026, 11, 3, 2, tzinfo=TZ)),
            ("app", datetime(2026, 11, 3, 2, tzinfo=TZ)),
        ],
    )  # no app backup at 02:00 anyway
    elapsed = time.monotonic() - started
    assert (
        len(seeded) == 30 * 4 + 1 + 30 - 2
    )  # 4 a day + the closing midnight, 30 dailies, two missed
    assert elapsed < 30
    listing = store.listing()
    assert (
        len(listing.snapshots) == len(seeded) and listing.unknown == [] and listing.incomplete == []
    )
    ids = {s.snapshot.id for s in listing.snapshots}
    assert "app/20261102T050000Z" not in ids and "server/20261103T010000Z" not in ids
    assert "app/20261103T050000Z" in ids and "server/20261102T010000Z" in ids


def test_blobs_live_beside_the_backups_and_are_not_unknown(
    store: S3Store, s3_client: Any, bucket: str
) -> None:
    store.blobs().put("_backupctl/audit/0000000001.json", b"{}", if_absent=True)
    assert all_keys(s3_client, bucket) == {"bk/_backupctl/audit/0000000001.json"}
    listing = store.listing()
    assert listing.unknown == [] and listing.snapshots == [] and listing.incomplete == []
