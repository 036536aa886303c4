"""The manifest cache against a real moto S3 server on loopback: a warm listing reads no
manifest the listing confirmed (key and ETag), a replaced manifest is read again, a vanished
one is neither used nor kept, ``--no-cache`` reads them all, ``listing = "folders"`` asks with
conditional GETs, Object Lock state is not trusted further than it may be, and a prune with a
warm cache deletes exactly what a cold one does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.commands.options import config_option, load_config
from backupctl.config import Config, parse_config
from backupctl.seed import S3Writer, write_snapshot
from backupctl.stores.cache import CachedManifest
from backupctl.stores.s3 import S3Store

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SNAPSHOTS = 12


def make_config(
    bucket: str, endpoint: str, cache_dir: Path, listing: str = "objects", **cache: Any
) -> Config:
    return parse_config(
        {
            "timezone": "UTC",
            "store": {"url": f"s3://{bucket}/bk", "endpoint_url": endpoint, "listing": listing},
            "cache": {"dir": str(cache_dir), **cache},
            "safety": {"max_delete_fraction": 1.0, "stale_after": "30d"},
            "policy": [{"name": "app", "keep_last": 3}],
        }
    )


def write_config_file(path: Path, bucket: str, endpoint: str, cache_dir: Path) -> Path:
    path.write_text(f"""
timezone = "UTC"

[store]
url = "s3://{bucket}/bk"
endpoint_url = "{endpoint}"

[cache]
dir = "{cache_dir}"

[safety]
max_delete_fraction = 1.0
stale_after = "30d"

[[policy]]
name = "app"
keep_last = 3
""")
    return path


def seed(client: Any, bucket: str, n: int = SNAPSHOTS) -> list[str]:
    """``n`` snapshots of group app, 6 h apart, 3 objects each; their ids, oldest first."""
    writer = S3Writer(client, bucket, "bk")
    ids = [
        write_snapshot(
            writer,
            "app",
            NOW - timedelta(hours=6 * (n - i)),
            {f"obj-{j}.bin": f"{i}-{j}".encode() for j in range(3)},
        )
        for i in range(n)
    ]
    return ids


def manifest_key(sid: str) -> str:
    return f"bk/{sid}/manifest.json"


def gets(store: S3Store) -> int:
    """GetObject requests of one listing of ``store``."""
    return store.listing().requests.get("GetObject", 0)


def all_keys(client: Any, bucket: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bk/")
    return {
        o["Key"]
        for p in pages
        for o in p.get("Contents", ())
        if not o["Key"].startswith("bk/_backupctl/")
    }


def test_a_warm_listing_reads_no_manifest_whose_key_and_etag_the_listing_confirmed(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    seed(s3_client, bucket)
    config = make_config(bucket, s3_endpoint, tmp_path / "cache")
    cold = S3Store(config).listing()
    warm_store = S3Store(config)  # a new process would open the same file
    warm = warm_store.listing()

    assert cold.requests["GetObject"] == SNAPSHOTS
    assert warm.requests == {"ListObjectsV2": 1}
    assert [
        (s.snapshot, s.status, s.manifest, s.size, s.manifest_sha256, s.written)
        for s in warm.snapshots
    ] == [
        (s.snapshot, s.status, s.manifest, s.size, s.manifest_sha256, s.written)
        for s in cold.snapshots
    ]
    assert warm.folders == cold.folders  # what the delete reuses is the same
    assert warm_store.cache is not None and len(warm_store.cache.cached_keys()) == SNAPSHOTS


def test_a_replaced_manifest_is_read_again_and_its_new_bytes_win(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    ids = seed(s3_client, bucket)
    config = make_config(bucket, s3_endpoint, tmp_path / "cache")
    S3Store(config).listing()
    s3_client.put_object(Bucket=bucket, Key=manifest_key(ids[2]), Body=b"{not json")
    doc = json.loads(s3_client.get_object(Bucket=bucket, Key=manifest_key(ids[4]))["Body"].read())
    doc["objects"] = doc["objects"][:1]  # a valid manifest naming fewer objects: a new ETag
    s3_client.put_object(Bucket=bucket, Key=manifest_key(ids[4]), Body=json.dumps(doc).encode())

    store = S3Store(config)
    warm = store.listing()

    assert warm.requests.get("GetObject") == 2  # the two replaced ones, no other
    assert {s.snapshot.id: s.problem for s in warm.incomplete}.keys() == {ids[2]}
    assert "never deleted" in (warm.incomplete[0].problem or "")
    by_id = {s.snapshot.id: s for s in warm.snapshots}
    assert [e.key for e in by_id[ids[4]].manifest or ()] == ["obj-0.bin"]
    assert gets(S3Store(config)) == 0  # the new copies are cached


def test_a_vanished_manifest_is_neither_used_nor_kept(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    ids = seed(s3_client, bucket)
    config = make_config(bucket, s3_endpoint, tmp_path / "cache")
    store = S3Store(config)
    store.listing()
    assert store.cache is not None and manifest_key(ids[1])[3:] in store.cache.cached_keys()
    s3_client.delete_object(Bucket=bucket, Key=manifest_key(ids[1]))  # its data stays

    warm = S3Store(config).listing()

    assert [s.snapshot.id for s in warm.incomplete] == [ids[1]]
    assert ids[1] not in {s.snapshot.id for s in warm.snapshots}
    assert warm.requests.get("GetObject", 0) == 0
    assert manifest_key(ids[1])[3:] not in store.cache.cached_keys()
    assert len(store.cache.cached_keys()) == SNAPSHOTS - 1


def test_cache_off_reads_every_manifest_and_keeps_nothing(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(s3_client, bucket)
    off = make_config(bucket, s3_endpoint, tmp_path / "off", enabled=False)
    assert S3Store(off).cache is None
    assert [gets(S3Store(off)) for _ in range(2)] == [SNAPSHOTS, SNAPSHOTS]
    assert not (tmp_path / "off").exists()

    on = make_config(bucket, s3_endpoint, tmp_path / "on")
    S3Store(on).listing()
    monkeypatch.setenv("BACKUPCTL_NO_CACHE", "1")
    assert gets(S3Store(on)) == SNAPSHOTS
    monkeypatch.delenv("BACKUPCTL_NO_CACHE")
    assert gets(S3Store(on)) == 0


def test_the_no_cache_flag_turns_the_cache_off_for_a_command(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    seed(s3_client, bucket)
    path = write_config_file(tmp_path / "b.toml", bucket, s3_endpoint, tmp_path / "cache")
    counts: list[int] = []

    @click.command()
    @config_option()
    def probe(config_path: str | None) -> None:  # what every config_option command gets
        counts.append(gets(S3Store(load_config(config_path))))

    runner = CliRunner()
    for args in ([], [], ["--no-cache"], []):
        result = runner.invoke(probe, ["--config", str(path), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert counts == [SNAPSHOTS, 0, SNAPSHOTS, 0]


def planted_cache(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> tuple[list[str], Path]:
    """A seeded bucket, its config file, and a warm cache whose copy of the first snapshot's
    manifest is planted: the right ETag, other bytes (not JSON). A command that uses the cache
    then lists that snapshot as incomplete; one that reads the store does not."""
    ids = seed(s3_client, bucket)
    cache_dir = tmp_path / "cache"
    path = write_config_file(tmp_path / "b.toml", bucket, s3_endpoint, cache_dir)
    store = S3Store(make_config(bucket, s3_endpoint, cache_dir))
    store.listing()
    etag = s3_client.head_object(Bucket=bucket, Key=manifest_key(ids[0]))["ETag"]
    assert store.cache is not None
    store.cache.put([(manifest_key(ids[0])[3:], CachedManifest(etag, b"{planted", {}))])
    return ids, path


def test_prune_no_cache_reads_the_store_not_the_cached_copy(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A cached copy is used by default (here one planted with the right ETag but other bytes
    shows it), and never with --no-cache."""
    ids, path = planted_cache(s3_endpoint, s3_client, bucket, tmp_path)

    def dry_run(*flags: str) -> dict[str, Any]:
        result = CliRunner().invoke(
            main,
            ["prune", "--config", str(path), "--dry-run", "--json", *flags],
            env={"BACKUPCTL_NOW": NOW.isoformat()},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        doc: dict[str, Any] = json.loads(result.stdout)
        return doc

    cached, fresh = dry_run(), dry_run("--no-cache")
    assert cached["incomplete"] == [ids[0]]  # the planted copy was parsed: not JSON
    assert cached["requests"].get("GetObject", 0) == 0
    assert fresh["incomplete"] == []
    assert fresh["requests"]["GetObject"] == SNAPSHOTS


def test_folders_mode_asks_with_conditional_gets_and_sees_replacements_and_removals(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    ids = seed(s3_client, bucket)
    config = make_config(bucket, s3_endpoint, tmp_path / "cache", listing="folders")
    cold = S3Store(config).listing()
    s3_client.put_object(Bucket=bucket, Key=manifest_key(ids[3]), Body=b"[]")
    s3_client.delete_object(Bucket=bucket, Key=manifest_key(ids[5]))

    store = S3Store(config)
    statuses: list[int] = []
    store.client.meta.events.register(
        "after-call.s3.GetObject",
        lambda http_response, **_: statuses.append(http_response.status_code),
    )
    warm = store.listing()

    assert warm.requests["GetObject"] == SNAPSHOTS  # folders mode confirms no ETag: one each
    assert sorted(statuses) == [200] + [304] * (SNAPSHOTS - 2) + [404]  # no body for the rest
    assert [s.snapshot.id for s in warm.incomplete] == [ids[3], ids[5]]
    assert [(s.snapshot, s.manifest, s.size, s.written) for s in warm.snapshots] == [
        (s.snapshot, s.manifest, s.size, s.written)
        for s in cold.snapshots
        if s.snapshot.id not in (ids[3], ids[5])
    ]
    assert store.cache is not None
    assert manifest_key(ids[5])[3:] not in store.cache.cached_keys()  # vanished: dropped
    assert len(store.cache.cached_keys()) == SNAPSHOTS - 1  # the replaced one holds its new bytes
    assert warm.folders == {k: v for k, v in cold.folders.items() if k not in (ids[3], ids[5])}


def test_object_lock_a_legal_hold_is_always_read_again_a_retention_comes_from_the_cache(
    s3_endpoint: str, s3_client: Any, tmp_path: Path
) -> None:
    bucket = "t-cache-object-lock"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    ids = seed(s3_client, bucket, 4)
    until = NOW.replace(year=2099)
    s3_client.put_object_legal_hold(
        Bucket=bucket, Key=manifest_key(ids[0]), LegalHold={"Status": "ON"}
    )
    s3_client.put_object_retention(
        Bucket=bucket,
        Key=manifest_key(ids[1]),
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
    )
    config = make_config(bucket, s3_endpoint, tmp_path / "cache")
    cold = S3Store(config).listing()
    warm = S3Store(config).listing()

    held = {s.snapshot.id: s.problem for s in warm.snapshots if s.status == "held"}
    assert held == {s.snapshot.id: s.problem for s in cold.snapshots if s.status == "held"}
    assert held.keys() == {ids[0], ids[1]} and "legal hold" in (held[ids[0]] or "")
    assert "held until 2099" in (held[ids[1]] or "")
    assert warm.requests.get("GetObject") == 1  # the legal hold, read again

    s3_client.put_object_legal_hold(
        Bucket=bucket, Key=manifest_key(ids[0]), LegalHold={"Status": "OFF"}
    )  # lifted: no new ETag
    lifted = S3Store(config).listing()
    assert {s.snapshot.id for s in lifted.snapshots if s.status == "held"} == {ids[1]}


def test_a_prune_with_a_warm_cache_deletes_exactly_what_a_cold_one_does(
    s3_endpoint: str, s3_client: Any, tmp_path: Path
) -> None:
    """Two identical buckets; one cache is warmed, then both stores change behind it the same
    way (a manifest replaced by a bad one, one deleted, one replaced naming fewer objects);
    both prune. The warm cache must not make a folder whose manifest changed or left look
    complete."""
    results: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for name in ("cold", "warm"):
        bucket = f"t-cache-prune-{name}"
        s3_client.create_bucket(Bucket=bucket)
        ids = seed(s3_client, bucket)
        cache_dir = tmp_path / name
        path = write_config_file(tmp_path / f"{name}.toml", bucket, s3_endpoint, cache_dir)
        if name == "warm":
            store = S3Store(make_config(bucket, s3_endpoint, cache_dir))
            store.listing()
            assert store.cache is not None and len(store.cache.cached_keys()) == SNAPSHOTS
        s3_client.put_object(Bucket=bucket, Key=manifest_key(ids[1]), Body=b"{not json")
        s3_client.delete_object(Bucket=bucket, Key=manifest_key(ids[3]))
        doc = json.loads(
            s3_client.get_object(Bucket=bucket, Key=manifest_key(ids[5]))["Body"].read()
        )
        doc["objects"] = doc["objects"][:1]
        s3_client.put_object(Bucket=bucket, Key=manifest_key(ids[5]), Body=json.dumps(doc).encode())
        result = CliRunner().invoke(
            main,
            ["prune", "--config", str(path), "--json"],
            env={"BACKUPCTL_NOW": NOW.isoformat()},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        pruned = json.loads(result.stdout)
        if name == "warm":
            assert pruned["requests"]["GetObject"] == 2  # the two replaced manifests only
        left = {k.removeprefix("bk/") for k in all_keys(s3_client, bucket)}
        results[name] = ({k: pruned[k] for k in ("deleted", "incomplete", "held")}, left)

    assert results["warm"] == results["cold"]
    outcome, left = results["warm"]
    assert outcome["incomplete"] == [ids[1], ids[3]]
    assert len(outcome["deleted"]) == SNAPSHOTS - 2 - 3
    assert ids[5] in outcome["deleted"]
    assert {f"{ids[1]}/obj-0.bin", f"{ids[3]}/obj-0.bin", f"{ids[1]}/manifest.json"} <= left
    assert f"{ids[5]}/obj-1.bin" not in left  # the folder went whole (it held more than named)


@pytest.mark.parametrize("damage", ["corrupt file", "folder is a file"])
def test_a_damaged_or_unusable_cache_never_fails_the_command(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path, damage: str
) -> None:
    ids = seed(s3_client, bucket)
    cache_dir = tmp_path / "cache"
    if damage == "corrupt file":
        S3Store(make_config(bucket, s3_endpoint, cache_dir)).listing()
        db = cache_dir / "manifests.sqlite3"
        for extra in cache_dir.glob("manifests.sqlite3-*"):
            extra.unlink()
        db.write_bytes(b"\x00garbage" * 4096)
    else:
        cache_dir.write_text("a file where the cache folder should be")
    path = write_config_file(tmp_path / "b.toml", bucket, s3_endpoint, cache_dir)

    result = CliRunner().invoke(
        main,
        ["prune", "--config", str(path), "--dry-run", "--json"],
        env={"BACKUPCTL_NOW": NOW.isoformat()},
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["incomplete"] == [] and doc["requests"]["GetObject"] == SNAPSHOTS
    assert sorted(doc["would_delete"]) == ids[: SNAPSHOTS - 3] and doc["kept"] == 3
    if damage == "corrupt file":  # discarded and filled afresh: the next run is warm
        assert gets(S3Store(make_config(bucket, s3_endpoint, cache_dir))) == 0


def test_plan_and_fleet_take_no_cache_too(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """plan and fleet (whose stores run in pool threads) honour --no-cache like prune does."""
    ids, path = planted_cache(s3_endpoint, s3_client, bucket, tmp_path)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[[store]]\nname = "one"\nconfig = "{path.name}"\n')

    def incomplete(*args: str) -> list[str]:
        result = CliRunner().invoke(main, [*args, "--json"], env={"BACKUPCTL_NOW": NOW.isoformat()})
        assert result.exit_code == 0, result.output
        doc: dict[str, Any] = json.loads(result.stdout)
        found: list[str] = (doc["stores"]["one"]["result"] if "stores" in doc else doc)[
            "incomplete"
        ]
        return found

    for args in (["plan", "--config", str(path)], ["fleet", "plan", "--fleet", str(fleet)]):
        assert incomplete(*args) == [ids[0]]  # the planted copy was used
        assert incomplete(*args, "--no-cache") == []
