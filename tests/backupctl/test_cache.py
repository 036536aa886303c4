"""The manifest cache on its own (backupctl/stores/cache.py): keys and ETags, the size bound
and its eviction, damaged files and entries, two users at once, and where it lives."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from backupctl.config import CacheConfig
from backupctl.stores.cache import (
    FILE_NAME,
    CachedManifest,
    ManifestCache,
    cache_dir,
    open_cache,
    store_identity,
)


def entry(etag: str = '"e1"', data: bytes = b'{"version": 1}', **meta: object) -> CachedManifest:
    return CachedManifest(etag, data, meta)


def make(tmp_path: Path, store: str = "s1", max_size: int = 1 << 20) -> ManifestCache:
    return ManifestCache(tmp_path / "c" / FILE_NAME, store, max_size)


def test_an_entry_is_found_under_its_key_and_etag_only(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.put([("a/manifest.json", entry(last_modified="2026-11-20T05:00:00+00:00"))])

    assert cache.lookup({"a/manifest.json": '"e1"'}) == {
        "a/manifest.json": entry(last_modified="2026-11-20T05:00:00+00:00")
    }
    assert cache.lookup({"a/manifest.json": '"e2"'}) == {}  # replaced in the store: a miss
    assert cache.lookup({"b/manifest.json": '"e1"'}) == {}
    assert cache.lookup({"a/manifest.json": None})["a/manifest.json"].etag == '"e1"'  # any ETag


def test_stores_do_not_see_each_others_entries(tmp_path: Path) -> None:
    one, two = make(tmp_path, "one"), make(tmp_path, "two")
    one.put([("k", entry(data=b"one"))])
    two.put([("k", entry(data=b"two"))])

    assert one.lookup({"k": '"e1"'})["k"].data == b"one"
    assert two.lookup({"k": '"e1"'})["k"].data == b"two"
    one.forget_absent([])
    assert one.cached_keys() == set() and two.cached_keys() == {"k"}


def test_a_new_etag_replaces_the_entry(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.put([("k", entry('"e1"', b"old"))])
    cache.put([("k", entry('"e2"', b"new"))])

    assert cache.lookup({"k": '"e1"'}) == {}
    assert cache.lookup({"k": '"e2"'})["k"].data == b"new"


def test_forget_absent_drops_only_missing_keys_under_the_listed_prefixes(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.put([(k, entry()) for k in ("app/1/manifest.json", "app/2/manifest.json", "db/1/m")])

    cache.forget_absent(["app/1/manifest.json"], under=["app/"])

    assert cache.cached_keys() == {"app/1/manifest.json", "db/1/m"}  # db/ was not listed: kept
    cache.forget_absent(["app/1/manifest.json"])  # the whole prefix listed
    assert cache.cached_keys() == {"app/1/manifest.json"}


def test_the_bound_evicts_the_least_recently_used_entries(tmp_path: Path) -> None:
    cache = make(tmp_path, max_size=10_000)
    blob = b"x" * 1000
    cache.put([(f"k{i}", entry(data=blob)) for i in range(8)])
    assert cache.cached_keys() == {f"k{i}" for i in range(8)}
    cache.lookup({"k0": None, "k1": None})  # used now: newer than k2..k7

    cache.put([(f"n{i}", entry(data=blob)) for i in range(4)])

    assert cache.size() <= 10_000
    left = cache.cached_keys()
    assert {"k0", "k1", "n0", "n1", "n2", "n3"} <= left  # recently used and new stay
    assert "k2" not in left  # the oldest went first
    assert len(left) < 12


def test_an_entry_over_a_quarter_of_the_bound_is_not_kept(tmp_path: Path) -> None:
    cache = make(tmp_path, max_size=4000)
    cache.put([("big", entry(data=b"x" * 1001)), ("small", entry(data=b"x" * 100))])
    assert cache.cached_keys() == {"small"}


def test_the_file_on_disk_shrinks_after_an_eviction(tmp_path: Path) -> None:
    cache = make(tmp_path, max_size=2_000_000)
    cache.put([(f"k{i}", entry(data=os.urandom(20_000))) for i in range(90)])
    big = cache.path.stat().st_size  # the last connection's close folds the WAL in
    assert big > 1_500_000
    small_bound = ManifestCache(cache.path, "s1", 100_000)
    small_bound.put([("last", entry(data=b"x"))])
    assert small_bound.size() <= 100_000
    assert cache.path.stat().st_size < big / 4


def test_a_corrupt_file_is_discarded_with_a_warning_and_the_cache_starts_afresh(
    tmp_path: Path,
) -> None:
    cache = make(tmp_path)
    cache.put([("k", entry())])
    for suffix in ("-wal", "-shm"):
        Path(f"{cache.path}{suffix}").unlink(missing_ok=True)
    cache.path.write_bytes(b"this is not a database " * 200)

    with capture_logs() as events:
        assert cache.lookup({"k": None}) == {}  # no error for the command
    cache.put([("k2", entry())])
    assert cache.cached_keys() == {"k2"}
    assert [(e["event"], e["log_level"]) for e in events] == [
        ("manifest cache damaged: discarded", "warning")
    ]


def test_a_database_of_another_schema_is_discarded(tmp_path: Path) -> None:
    path = tmp_path / "c" / FILE_NAME
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE manifests (x)")
        db.execute("PRAGMA user_version = 1")
    cache = ManifestCache(path, "s1", 1 << 20)
    cache.put([("k", entry())])
    assert cache.cached_keys() == {"k"}


def test_an_entry_whose_bytes_changed_on_disk_is_dropped_not_served(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.put([("k", entry(data=b'{"a": 1}')), ("j", entry(data=b"fine"))])
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE manifests SET data = ? WHERE key = 'k'", (b'{"a": 2}',))

    assert set(cache.lookup({"k": None, "j": None})) == {"j"}
    assert cache.cached_keys() == {"j"}


def test_an_unusable_location_is_skipped_without_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ManifestCache(blocker / FILE_NAME, "s1", 1 << 20)
    cache.put([("k", entry())])
    assert cache.lookup({"k": None}) == {}


def test_threads_and_two_caches_on_one_file_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c" / FILE_NAME
    stores = [ManifestCache(path, f"s{i}", 1 << 24) for i in range(4)]
    start = threading.Barrier(8)

    def work(n: int) -> None:
        cache = stores[n % 4]
        start.wait()
        for i in range(25):
            cache.put([(f"k{n}-{i}", entry(f'"{n}-{i}"', f"{n}-{i}".encode()))])
            assert (
                cache.lookup({f"k{n}-{i}": f'"{n}-{i}"'})[f"k{n}-{i}"].data == f"{n}-{i}".encode()
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    for s, cache in enumerate(stores):
        assert cache.cached_keys() == {f"k{n}-{i}" for n in (s, s + 4) for i in range(25)}


def test_another_process_writing_meanwhile_is_seen(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "c" / FILE_NAME
    mine = ManifestCache(path, "s1", 1 << 20)
    mine.put([("mine", entry())])
    proc = multiprocessing.get_context("spawn").Process(target=_put_one, args=(str(path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert mine.cached_keys() == {"mine", "theirs"}


def _put_one(path: str) -> None:
    ManifestCache(Path(path), "s1", 1 << 20).put([("theirs", entry())])


def test_the_file_is_private(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.put([("k", entry())])
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700


def test_where_the_cache_lives_and_when_it_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir(CacheConfig()) == tmp_path / "xdg" / "backupctl"
    assert cache_dir(CacheConfig(dir=str(tmp_path / "mine"))) == tmp_path / "mine"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir(CacheConfig()) == Path.home() / ".cache" / "backupctl"

    on = open_cache(CacheConfig(dir=str(tmp_path)), "s")
    assert on is not None and on.path == tmp_path / FILE_NAME and on.max_size == 256 * 2**20
    assert open_cache(CacheConfig(enabled=False), "s") is None
    monkeypatch.setenv("BACKUPCTL_NO_CACHE", "1")
    assert open_cache(CacheConfig(), "s") is None
    monkeypatch.setenv("BACKUPCTL_NO_CACHE", "0")
    assert open_cache(CacheConfig(), "s") is not None


def test_a_store_identity_holds_no_credentials_and_tells_stores_apart() -> None:
    a = store_identity("s3", "https://AKIAXXXX:s3cr3t@minio.example:9000/", "b", "p/")
    assert a == store_identity("s3", "https://minio.example:9000", "b", "p/")
    assert "s3cr3t" not in a and len(a) == 64
    others = {
        store_identity("s3", "https://minio.example:9000", "b", "q/"),
        store_identity("s3", "https://minio.example:9000", "c", "p/"),
        store_identity("s3", "https://other.example:9000", "b", "p/"),
        store_identity("s3", None, "b", "p/"),
    }
    assert a not in others and len(others) == 4
