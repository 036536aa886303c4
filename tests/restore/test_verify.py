"""The manifest verifier: every kind of bad object is named; sampling is seeded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restore.protocol import ManifestEntry
from restore.verify import hash_file, safe_path, sample_entries, verify_tree


def entry(key: str, data: bytes) -> ManifestEntry:
    return ManifestEntry(key, len(data), hashlib.sha256(data).hexdigest())


def test_hash_file_matches_hashlib_across_chunk_boundaries(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # 2.3 MB read in 1000-byte chunks: many boundaries
    (tmp_path / "f").write_bytes(data)
    assert hash_file(tmp_path / "f", chunk=1000) == (len(data), hashlib.sha256(data).hexdigest())
    (tmp_path / "empty").write_bytes(b"")
    assert hash_file(tmp_path / "empty") == (0, hashlib.sha256(b"").hexdigest())


def test_verify_tree_names_each_failing_object(tmp_path: Path) -> None:
    good, bad = b"a" * 5000, b"b" * 10
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "good").write_bytes(good)
    (tmp_path / "flipped").write_bytes(b"c" + bad[1:])
    (tmp_path / "short").write_bytes(bad[:5])
    entries = [
        entry("d/good", good),
        entry("flipped", bad),
        entry("short", bad),
        entry("gone", bad),
        entry("../escape", bad),
    ]
    report = verify_tree(tmp_path, entries, workers=3)
    assert report.objects == 5
    assert len(report.problems) == 4
    text = "\n".join(report.problems)
    assert "flipped: sha256 mismatch" in text and "short: size 5 != manifest 10" in text
    assert "gone: missing" in text and "../escape: unsafe key" in text
    assert "d/good" not in text


def test_verify_tree_all_good(tmp_path: Path) -> None:
    blobs = {f"k{i}": bytes([i]) * (i * 1000 + 1) for i in range(20)}
    for k, v in blobs.items():
        (tmp_path / k).write_bytes(v)
    seen: list[int] = []
    report = verify_tree(
        tmp_path, [entry(k, v) for k, v in blobs.items()], workers=4, progress=seen.append
    )
    assert report.problems == [] and report.objects == 20
    assert report.bytes == sum(map(len, blobs.values())) == sum(seen)


@pytest.mark.parametrize("key", ["/etc/passwd", "a/../../b", "", "a\\b"])
def test_safe_path_refuses_keys_outside_the_root(tmp_path: Path, key: str) -> None:
    assert safe_path(tmp_path, key) is None


@given(n=st.integers(0, 200), pct=st.floats(0.01, 100), seed=st.integers(0, 2**32))
def test_sample_is_seeded_ordered_and_sized(n: int, pct: float, seed: int) -> None:
    entries = [ManifestEntry(f"k{i:03d}", 1, "0" * 64) for i in range(n)]
    got = sample_entries(entries, pct, seed)
    assert got == sample_entries(entries, pct, seed)
    assert got == sorted(got, key=lambda e: e.key)
    assert (len(got) >= 1) == (n >= 1)
    assert len(got) <= n


def test_sample_rejects_bad_percentages() -> None:
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        sample_entries([], 0, 1)


def test_an_entry_without_a_sha256_is_checked_by_its_crc32_else_by_size_only(
    tmp_path: Path,
) -> None:
    import base64
    import zlib

    data = b"pg_dump of the app database\n" * 100
    (tmp_path / "db.sql.gz").write_bytes(data)
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    by_crc = ManifestEntry("db.sql.gz", len(data), "", crc32=crc)
    by_size = ManifestEntry("db.sql.gz", len(data), "")
    assert (by_crc.reference, by_size.reference) == ("crc32", "size")
    report = verify_tree(tmp_path, [by_crc, by_size])
    assert report.problems == [] and report.size_only == 1

    flipped = bytearray(data)
    flipped[7] ^= 1  # same size: the CRC32 tells, the size cannot
    (tmp_path / "db.sql.gz").write_bytes(bytes(flipped))
    assert verify_tree(tmp_path, [by_size]).problems == []
    [problem] = verify_tree(tmp_path, [by_crc]).problems
    assert problem.startswith("db.sql.gz: CRC32 mismatch: S3 " + crc)
    (tmp_path / "db.sql.gz").write_bytes(data[:-1])
    assert verify_tree(tmp_path, [by_size]).problems == [
        f"db.sql.gz: size {len(data) - 1} != manifest {len(data)}"
    ]
