"""FileBlobs and S3Blobs (on the moto server) honour the BlobStore protocol the same way."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backupctl.errors import StoreError, UsageError
from backupctl.stores.base import BlobStore, PreconditionFailed
from backupctl.stores.blobs import FileBlobs, S3Blobs, check_key, open_blobs


@pytest.fixture(params=["file", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return FileBlobs(tmp_path / "store")
    client = request.getfixturevalue("s3_client")
    return S3Blobs(client, request.getfixturevalue("bucket"), "/backups/salure/")


def test_put_get_roundtrip_and_missing_key(blobs: BlobStore) -> None:
    blobs.put("_backupctl/x.json", b"\x00\x01hello")
    assert blobs.get("_backupctl/x.json") == b"\x00\x01hello"
    blobs.put("_backupctl/x.json", b"again")
    assert blobs.get("_backupctl/x.json") == b"again"
    with pytest.raises(KeyError):
        blobs.get("_backupctl/absent.json")


def test_conditional_put_is_refused_when_the_key_exists(blobs: BlobStore) -> None:
    blobs.put("lock.json", b"first", if_absent=True)
    with pytest.raises(PreconditionFailed):
        blobs.put("lock.json", b"second", if_absent=True)
    assert blobs.get("lock.json") == b"first"


def test_list_is_in_key_order_with_sizes_and_prefix(blobs: BlobStore) -> None:
    for key in ["a/b", "a-c", "a/a/deep", "b", "ab"]:
        blobs.put(key, key.encode() * 2)
    listed = list(blobs.list())
    assert [b.key for b in listed] == sorted(["a/b", "a-c", "a/a/deep", "b", "ab"])
    assert all(b.size == 2 * len(b.key) for b in listed)
    assert [b.key for b in blobs.list("a/")] == ["a/a/deep", "a/b"]
    assert [b.key for b in blobs.list("a")] == ["a-c", "a/a/deep", "a/b", "ab"]
    assert list(blobs.list("zzz/")) == []


def test_delete_removes_the_key_and_missing_keys_are_fine(blobs: BlobStore) -> None:
    blobs.put("d/one", b"1")
    blobs.put("d/two", b"2")
    blobs.delete("d/one")
    blobs.delete("d/one")
    assert [b.key for b in blobs.list()] == ["d/two"]


UNSAFE_KEYS = ["", "/etc/passwd", "a/../b", "..", "a//b", "./a", "a/.", "a\\b", "a\0b"]


def test_unsafe_keys_are_refused(blobs: BlobStore) -> None:
    for key in UNSAFE_KEYS:
        with pytest.raises(StoreError, match="blob key"):
            blobs.put(key, b"x")
        with pytest.raises(StoreError, match="blob key"):
            blobs.get(key)
        with pytest.raises(StoreError, match="blob key"):
            blobs.delete(key)
    assert list(blobs.list()) == []


def _race(attempt: Callable[[int], object], n: int) -> list[object]:
    """Run ``attempt(i)`` in ``n`` threads released together; each result or exception."""
    barrier = threading.Barrier(n, timeout=10)
    results: list[object] = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = attempt(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


def test_racing_conditional_puts_have_exactly_one_winner(blobs: BlobStore) -> None:
    for round_ in range(3):
        key = f"race/{round_}"
        results = _race(lambda i, key=key: blobs.put(key, str(i).encode(), if_absent=True), 6)  # type: ignore[misc]
        winners = [i for i, r in enumerate(results) if r is None]
        assert len(winners) == 1
        assert all(isinstance(r, PreconditionFailed) for r in results if r is not None)
        assert blobs.get(key) == str(winners[0]).encode()


def test_file_blobs_skips_temp_files_and_prunes_empty_dirs(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path)
    blobs.put("x/y/z.json", b"{}")
    (tmp_path / "x" / "y" / ".backupctl-tmp-abandoned").write_bytes(b"half")
    assert [b.key for b in blobs.list()] == ["x/y/z.json"]
    (tmp_path / "x" / "y" / ".backupctl-tmp-abandoned").unlink()
    blobs.delete("x/y/z.json")
    assert not (tmp_path / "x").exists() and tmp_path.exists()


def test_file_blobs_list_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert list(FileBlobs(tmp_path / "nothing").list("_backupctl/")) == []
    with pytest.raises(StoreError, match="prefix"):
        list(FileBlobs(tmp_path).list("../"))


_segment = st.text(alphabet="abcXYZ019-_.é", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.sets(st.lists(_segment, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8)
)
def test_file_blobs_list_returns_every_key_in_byte_order(
    tmp_path_factory: pytest.TempPathFactory, keys: set[str]
) -> None:
    blobs = FileBlobs(tmp_path_factory.mktemp("h"))
    # a key cannot be both a file and a directory, as in any filesystem
    files = {k for k in keys if not any(o.startswith(k + "/") for o in keys)}
    for key in files:
        blobs.put(key, key.encode())
    assert [b.key for b in blobs.list()] == sorted(files, key=str.encode)
    assert all(blobs.get(k) == k.encode() for k in files)


def test_s3_versioned_delete_removes_every_version_and_marker(s3_client, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    blobs = S3Blobs(s3_client, bucket, "p")
    blobs.put("k", b"1")
    blobs.put("k", b"2")
    blobs.put("k2", b"other")
    s3_client.delete_object(Bucket=bucket, Key="p/k")  # a delete marker on top
    blobs.put("k", b"3")
    blobs.delete("k")
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix="p/")
    left = [v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
    assert left == ["p/k2"]
    # a conditional PUT works again once every version is gone
    blobs.put("k", b"new", if_absent=True)


def test_s3_errors_name_bucket_key_and_code(s3_client) -> None:  # type: ignore[no-untyped-def]
    blobs = S3Blobs(s3_client, "no-such-bucket-h2", "pre")
    with pytest.raises(StoreError, match=r"s3://no-such-bucket-h2/pre/k.*NoSuchBucket"):
        blobs.put("k", b"x")
    with pytest.raises(StoreError, match="NoSuchBucket"):
        list(blobs.list())


def test_s3_prefix_isolates_keys(s3_client, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3_client.put_object(Bucket=bucket, Key="other/_backupctl/lock.json", Body=b"x")
    blobs = S3Blobs(s3_client, bucket, "mine")
    blobs.put("_backupctl/lock.json", b"y")
    assert [b.key for b in blobs.list("_backupctl/")] == ["_backupctl/lock.json"]
    assert (
        s3_client.get_object(Bucket=bucket, Key="mine/_backupctl/lock.json")["Body"].read() == b"y"
    )


def test_open_blobs_urls(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    s3 = open_blobs(f"s3://{bucket}/a/b", endpoint_url=s3_endpoint, region="us-east-1")
    assert isinstance(s3, S3Blobs) and s3.bucket == bucket and s3.prefix == "a/b/"
    s3.put("k", b"v")
    assert s3.get("k") == b"v"
    local = open_blobs(f"file://{tmp_path}")
    assert isinstance(local, FileBlobs) and local.root == tmp_path
    for bad in ["file://relative/path", "gs://bucket", "restic:/repo", "s3:///x"]:
        with pytest.raises(UsageError, match="expected"):
            open_blobs(bad)


def test_check_key_accepts_ordinary_keys() -> None:
    for key in ["_backupctl/audit/0000000001.json", "a..b/c", "é/ü.json", ".hidden"]:
        assert check_key(key) == key
