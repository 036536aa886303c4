"""ResticStore against the real restic 0.14 binary.

It runs against a local repository and one on the moto S3 server.

Both repositories are built once (module-scoped fixtures: this module is their only user).
Tests that delete, lock or corrupt work on a private copy of the local repository (a file
copy costs milliseconds, a restic command ~0.7 s).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backupctl.errors import ConfigError, LockHeld, StoreError, UsageError
from backupctl.proc import Completed
from backupctl.stores import restic as restic_module
from backupctl.stores.base import StoredSnapshot
from backupctl.stores.restic import PruneFailed, ResticStore, classify, rotating_subset
from retention import Snapshot
from tests.e2e.restic_fixtures import (
    PASSWORD,
    Repo,
    SnapshotSpec,
    build_repo,
    copy_repo,
    full_ids,
    make_source,
    restic,
    restic_config,
    wait_for,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed"),
]

AMS = "Europe/Amsterdam"
LOCAL_SPECS = [
    SnapshotSpec("web1", ("daily",), "2024-01-01 10:00:00", AMS),  # 0: winter, +01:00
    SnapshotSpec("web1", ("daily",), "2024-01-02 10:00:00", AMS),  # 1
    SnapshotSpec("web1", ("daily",), "2024-07-03 10:00:00", AMS),  # 2: summer, +02:00
    SnapshotSpec("db1", ("app", "db"), "2024-01-02 03:00:00", "UTC"),  # 3
    SnapshotSpec("db1", (), None, "UTC"),  # 4: now, nanoseconds
]


@pytest.fixture(scope="module")
def restic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Password and cache for every restic run in this module (backupctl inherits them); the
    environment is restored afterwards so other modules see no restic password."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESTIC_PASSWORD", PASSWORD)
        mp.delenv("RESTIC_PASSWORD_FILE", raising=False)
        mp.delenv("RESTIC_PASSWORD_COMMAND", raising=False)
        mp.setenv("RESTIC_CACHE_DIR", str(tmp_path_factory.mktemp("restic-cache")))
        yield


@pytest.fixture(scope="module")
def local_repo(restic_session: None, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    root = tmp_path_factory.mktemp("restic-local")
    make_source(root / "src")
    repo = build_repo(str(root / "repo"), root / "src", LOCAL_SPECS)
    by_short = full_ids(repo.location)
    repo.ids = [by_short[short] for short in repo.ids]
    return repo


@pytest.fixture(scope="module")
def local_snapshots(local_repo: Repo) -> dict[str, StoredSnapshot]:
    """The local repository's snapshots by id, listed once.

    Copies of the repository hold the same.
    """
    return {s.snapshot.id: s for s in _store("restic:" + local_repo.location).list_snapshots()}


@pytest.fixture(scope="module")
def source_files(local_repo: Repo) -> dict[str, bytes]:
    return {
        str(p.relative_to(local_repo.source)): p.read_bytes()
        for p in sorted(local_repo.source.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def s3_repo(
    restic_session: None, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Repo:
    from backupctl.stores.s3client import make_s3_client

    bucket = f"restic-{uuid.uuid4().hex[:10]}"
    make_s3_client(endpoint_url=s3_endpoint, region="us-east-1").create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("restic-s3")
    make_source(root / "src")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    specs = [SnapshotSpec("s3host", ("daily",), f"2024-03-0{d} 02:00:00", AMS) for d in (1, 2, 3)]
    repo = build_repo(f"s3:{s3_endpoint}/{bucket}/repo", root / "src", specs, env)
    by_short = full_ids(repo.location, env)
    repo.ids = [by_short[short] for short in repo.ids]
    return repo


def _store(url: str, **store: object) -> ResticStore:
    return ResticStore(restic_config(url, **store))


def _private(local_repo: Repo, tmp_path: Path) -> ResticStore:
    return _store("restic:" + str(copy_repo(Path(local_repo.location), tmp_path / "repo")))


def _raw_listing(location: str) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(restic(location, "snapshots", "--json").stdout)
    return listed


# -------------------------------------------------- listing


def test_list_parses_real_output(local_repo: Repo) -> None:
    listing = _store("restic:" + local_repo.location).listing()
    by_id = {s.snapshot.id: s.snapshot for s in listing.snapshots}
    assert sorted(by_id) == sorted(local_repo.ids)
    assert all(s.manifest is None and s.status == "complete" for s in listing.snapshots)
    assert listing.incomplete == [] and listing.unknown == []
    src = str(local_repo.source)

    winter, summer, db = (by_id[local_repo.ids[i]] for i in (0, 2, 3))
    assert winter.time.isoformat() == "2024-01-01T10:00:00+01:00"  # restic's own offset, kept
    assert summer.time.utcoffset() == timedelta(hours=2)
    assert db.time.isoformat() == "2024-01-02T03:00:00+00:00"
    assert (winter.host, winter.paths, winter.tags) == ("web1", (src,), ("daily",))
    assert db.tags == ("app", "db")
    assert winter.group == f"host=web1 paths={src}"
    assert db.group == f"host=db1 paths={src}"


def test_list_truncates_nanoseconds_to_microseconds(local_repo: Repo) -> None:
    raw = {s["id"]: s for s in _raw_listing(local_repo.location)}
    newest = local_repo.ids[4]
    raw_time = str(raw[newest]["time"])  # e.g. 2026-11-23T07:50:01.123456789Z (restic's "now")
    fraction = (
        raw_time.split(".", 1)[1].rstrip("Z")[:9].split("+")[0].split("-")[0]
        if "." in raw_time
        else ""
    )
    stored = {
        s.snapshot.id: s.snapshot for s in _store("restic:" + local_repo.location).list_snapshots()
    }
    assert stored[newest].time.microsecond == int(fraction[:6].ljust(6, "0"))
    assert stored[newest].time.isoformat()[:19] == raw_time[:19]


def test_group_by_follows_config(local_repo: Repo) -> None:
    store = _store("restic:" + local_repo.location, restic_group_by="host,tags")
    groups = {s.snapshot.id: s.snapshot.group for s in store.listing().snapshots}
    assert groups[local_repo.ids[3]] == "host=db1 tags=app,db"
    assert groups[local_repo.ids[4]] == "host=db1 tags="
    with pytest.raises(ConfigError, match="restic_group_by: unknown field"):
        _store("restic:" + local_repo.location, restic_group_by="host,colour")


# -------------------------------------------------- malformed output (fake restic)


def _fake_restic(tmp_path: Path, stdout: str = "", stderr: str = "", code: int = 0) -> str:
    """A stand-in restic that prints fixed output, whatever it is asked."""
    (tmp_path / "out.txt").write_text(stdout)
    (tmp_path / "err.txt").write_text(stderr)
    script = tmp_path / "fake-restic"
    script.write_text(
        f"#!/bin/sh\ncat '{tmp_path}/out.txt'\ncat '{tmp_path}/err.txt' >&2\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


GOOD = {"time": "2024-01-01T10:00:00+01:00", "paths": ["/srv"], "hostname": "h", "id": "a" * 64}


@pytest.mark.parametrize(
    ("stdout", "problem"),
    [
        ("Fatal: something went wrong\n", "not valid JSON"),
        ('{"id": "x"}', "expected a JSON list of snapshots"),
        (
            json.dumps([{**GOOD, "time": "yesterday"}]),
            "\"time\" 'yesterday' is not a time with offset",
        ),
        (json.dumps([{k: v for k, v in GOOD.items() if k != "time"}]), 'missing "time"'),
        (json.dumps([{**GOOD, "id": 42}]), 'expected "id" to be a restic snapshot id'),
        (json.dumps([{**GOOD, "paths": "/srv"}]), 'expected "paths" to be a list of strings'),
        (json.dumps([GOOD, 7]), "snapshot 1: expected a JSON object"),
    ],
)
def test_malformed_snapshots_output_names_repository_and_problem(
    restic_session: None,
    tmp_path: Path,
    stdout: str,
    problem: str,
) -> None:
    store = _store("restic:/srv/restic-repo", restic_binary=_fake_restic(tmp_path, stdout))
    with pytest.raises(StoreError) as err:
        store.listing()
    assert "restic repository /srv/restic-repo" in str(err.value)
    assert problem in str(err.value)


def test_fake_output_that_is_fine_parses(restic_session: None, tmp_path: Path) -> None:
    raw = [GOOD, {**GOOD, "id": "b" * 64, "time": "2024-01-02T10:00:00.123456789Z", "tags": None}]
    store = _store("restic:/r", restic_binary=_fake_restic(tmp_path, json.dumps(raw)))
    snaps = [s.snapshot for s in store.listing().snapshots]
    assert [s.time.isoformat() for s in snaps] == [
        "2024-01-01T10:00:00+01:00",
        "2024-01-02T10:00:00.123456+00:00",
    ]
    assert snaps[1].tags == ()


def test_unknown_restic_failure_quotes_restic(restic_session: None, tmp_path: Path) -> None:
    store = _store(
        "restic:/r", restic_binary=_fake_restic(tmp_path, "", "Fatal: the moon is in the way\n", 7)
    )
    with pytest.raises(
        StoreError, match=r"could not list snapshots: .* exited 7: Fatal: the moon is in the way"
    ):
        store.listing()


def test_missing_restic_binary_says_how_to_install(restic_session: None, tmp_path: Path) -> None:
    store = _store("restic:/r", restic_binary=str(tmp_path / "restic"))
    with pytest.raises(StoreError, match="apt-get install restic"):
        store.listing()


def test_prune_failure_keeps_the_report(restic_session: None, tmp_path: Path) -> None:
    # forget "succeeds" (exit 0), prune fails: the caller still learns which ids are gone
    script = tmp_path / "fake-restic"
    script.write_text(
        '#!/bin/sh\nfor a in "$@"; do '
        '[ "$a" = prune ] && { echo "Fatal: disk full" >&2; exit 1; }; '
        "done\nexit 0\n"
    )
    script.chmod(0o755)
    store = _store("restic:/r", restic_binary=str(script))
    snap = StoredSnapshot(Snapshot(id="c" * 64, time=_t()))
    with pytest.raises(PruneFailed, match=r"forgotten but prune failed.*disk full") as err:
        store.delete([snap])
    assert err.value.report.deleted == ["c" * 64]


def _t() -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC)


# -------------------------------------------------- configuration of the password


def test_password_from_file_and_from_named_variable(
    local_repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTIC_PASSWORD", "not-the-password")
    pw_file = tmp_path / "pw"
    pw_file.write_text(PASSWORD + "\n")
    url = "restic:" + local_repo.location
    assert len(_store(url, restic_password_file=str(pw_file)).listing().snapshots) == len(
        local_repo.ids
    )
    monkeypatch.setenv("MY_RESTIC_PW", PASSWORD)
    monkeypatch.setenv(
        "RESTIC_PASSWORD_FILE", str(tmp_path / "wrong-file")
    )  # must not win over the config
    assert len(_store(url, restic_password_env="MY_RESTIC_PW").listing().snapshots) == len(
        local_repo.ids
    )


def test_wrong_password_is_a_clear_error(local_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAD_PW", "nope")
    store = _store("restic:" + local_repo.location, restic_password_env="BAD_PW")
    with pytest.raises(StoreError) as err:
        store.listing()
    assert f"restic repository {local_repo.location}: wrong password" in str(err.value)
    assert "nope" not in str(err.value)


def test_missing_password_settings_are_config_errors(
    restic_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=r"restic_password_file: .* does not exist"):
        _store("restic:/r", restic_password_file=str(tmp_path / "absent")).listing()
    with pytest.raises(
        ConfigError, match="restic_password_env: the environment variable UNSET_PW is not set"
    ):
        _store("restic:/r", restic_password_env="UNSET_PW").listing()
    monkeypatch.delenv("RESTIC_PASSWORD")
    with pytest.raises(ConfigError, match="no restic password"):
        _store("restic:/r").listing()


# -------------------------------------------------- missing or unreachable repositories


def test_missing_local_repository(restic_session: None, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no restic repository there .*restic -r .* init"):
        _store(f"restic:{tmp_path}/nothing").listing()


def test_unreachable_s3_endpoint(restic_session: None) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=r"cannot reach the storage endpoint.*connection refused"):
        _store(f"restic:s3:http://127.0.0.1:{port}/bucket/repo").listing()


def test_s3_bucket_without_repository(s3_repo: Repo, s3_client, bucket: str) -> None:  # type: ignore[no-untyped-def]
    endpoint = s3_repo.location.split("s3:", 1)[1].rsplit("/", 2)[0]
    with pytest.raises(StoreError, match="no restic repository there"):
        _store(f"restic:s3:{endpoint}/{bucket}/repo").listing()


# -------------------------------------------------- forget + prune


def test_forget_and_prune_leave_exactly_the_rest(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _private(local_repo, tmp_path)
    doomed = [local_snapshots[local_repo.ids[i]] for i in (0, 1, 3)]
    prefix_only = StoredSnapshot(dataclass_replace_id(doomed[0].snapshot, local_repo.ids[2][:8]))
    ghost = StoredSnapshot(dataclass_replace_id(doomed[0].snapshot, "f" * 64))
    monkeypatch.setattr(restic_module, "FORGET_CHUNK", 2)  # two forget calls, one prune
    progress: list[int] = []

    report = store.delete([*doomed, prefix_only, ghost], progress.append)

    assert sorted(report.deleted) == sorted(s.snapshot.id for s in doomed)
    assert sorted(report.failed) == sorted([local_repo.ids[2][:8], "f" * 64])
    assert "refused" in report.failed[local_repo.ids[2][:8]]
    assert "no matching ID" in report.failed["f" * 64]
    assert report.requests == {"restic forget": 2, "restic prune": 1}
    assert progress == [2, 2]
    # Whether prune frees bytes here depends on how the concurrently written fixture snapshots
    # deduplicated (their data may all be shared with the survivors); the parsing of restic's
    # "total prune" line is tested on its real formats in test_pruned_bytes_from_prune_stats.
    assert report.bytes_freed >= 0
    left = {s["id"] for s in _raw_listing(store.repository)}
    assert left == {local_repo.ids[2], local_repo.ids[4]}
    assert (
        store.check_integrity(store.list_snapshots(), subset="100%") == []
    )  # restic check, all data read


def test_nothing_forgotten_means_no_prune(restic_session: None, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    script = tmp_path / "fake-restic"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n'
        "echo 'Ignoring \"" + "f" * 64 + "\": no matching ID found for prefix' >&2\nexit 0\n"
    )
    script.chmod(0o755)
    ghost = StoredSnapshot(Snapshot(id="f" * 64, time=_t()))
    report = _store("restic:/r", restic_binary=str(script)).delete([ghost])
    assert report.deleted == [] and report.requests == {"restic forget": 1}
    assert [line.split()[0] for line in calls.read_text().splitlines()] == [
        "forget"
    ]  # the repository: in the env


def dataclass_replace_id(snapshot: Snapshot, new_id: str) -> Snapshot:
    return dataclasses.replace(snapshot, id=new_id)


def test_s3_repository_list_forget_prune_check_restore(s3_repo: Repo, tmp_path: Path) -> None:
    store = _store("restic:" + s3_repo.location)
    listed = store.listing().snapshots
    assert sorted(s.snapshot.id for s in listed) == sorted(s3_repo.ids)
    assert {s.snapshot.time.isoformat() for s in listed} == {
        f"2024-03-0{d}T02:00:00+01:00" for d in (1, 2, 3)
    }
    oldest_two = sorted(listed, key=lambda s: s.snapshot.time)[:2]

    report = store.delete(oldest_two)

    assert (
        sorted(report.deleted) == sorted(s.snapshot.id for s in oldest_two) and report.failed == {}
    )
    remaining = store.list_snapshots()
    assert [s.snapshot.id for s in remaining] == [s3_repo.ids[2]]
    assert store.check_integrity(remaining, subset="100%") == []
    outcome = store.restore(remaining[0], tmp_path / "out", workers=2)
    assert outcome.problems == () and outcome.files == 4


# -------------------------------------------------- locks


def test_locked_repository_gives_lock_held_and_changes_nothing(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    tmp_path: Path,
) -> None:
    store = _private(local_repo, tmp_path)
    locks = Path(store.repository) / "locks"
    # `backup --stdin` holds a (shared) lock while it waits for input; forget needs an exclusive
    # one.
    holder = subprocess.Popen(
        ["restic", "--repo", store.repository, "backup", "--stdin", "--quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(locks.iterdir()), 20, "restic backup --stdin to take its lock")
        target = local_snapshots[local_repo.ids[0]]
        with pytest.raises(LockHeld) as err:
            store.delete([target])
        message = str(err.value)
        assert f"PID {holder.pid}" in message and "locked by another restic process" in message
        assert f"restic -r {store.repository} unlock" in message
        assert err.value.exit_code == 4
        # a killed holder leaves a stale lock: restic 0.14 still refuses, and the hint clears it
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=20)
        with pytest.raises(LockHeld):
            store.delete([target])
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=20)
    assert len(_raw_listing(store.repository)) == len(local_repo.ids)  # nothing was forgotten
    restic(store.repository, "unlock")  # the hinted command (fails the test if restic refuses)
    assert not any(locks.iterdir())  # the stale lock is gone: the next run can proceed


def test_with_restic_lock_wait_a_prune_waits_for_a_running_backup_then_proceeds(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    tmp_path: Path,
) -> None:
    location = str(copy_repo(Path(local_repo.location), tmp_path / "repo"))
    store = _store("restic:" + location, restic_lock_wait=60)
    locks = Path(location) / "locks"
    holder = subprocess.Popen(
        ["restic", "--repo", location, "backup", "--stdin", "--quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(locks.iterdir()), 20, "restic backup --stdin to take its lock")
        releaser = threading.Timer(
            2.0, lambda: holder.communicate(b"the backup finishes", timeout=30)
        )
        releaser.start()
        started = time.monotonic()
        report = store.delete([local_snapshots[local_repo.ids[0]]])
        waited = time.monotonic() - started
        releaser.join(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=20)
    assert holder.returncode == 0  # the backup was never disturbed
    assert report.deleted == [local_repo.ids[0]] and report.requests["restic prune"] == 1
    assert 2.0 <= waited < 60
    left = {s["id"] for s in _raw_listing(location)}
    assert local_repo.ids[0] not in left and len(left) == len(
        local_repo.ids
    )  # one forgotten, the backup's added


def test_restic_lock_wait_gives_up_at_its_limit_with_lock_held(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    tmp_path: Path,
) -> None:
    location = str(copy_repo(Path(local_repo.location), tmp_path / "repo"))
    store = _store("restic:" + location, restic_lock_wait=1.5)
    holder = subprocess.Popen(
        ["restic", "--repo", location, "backup", "--stdin", "--quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: any((Path(location) / "locks").iterdir()),
            20,
            "restic backup --stdin to take its lock",
        )
        started = time.monotonic()
        with pytest.raises(LockHeld):
            store.delete([local_snapshots[local_repo.ids[0]]])
        assert 1.5 <= time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait(timeout=20)
    assert len(_raw_listing(location)) == len(local_repo.ids)  # nothing was forgotten


# -------------------------------------------------- restore and integrity


def test_restore_writes_the_files_under_their_original_path(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    source_files: dict[str, bytes],
    tmp_path: Path,
) -> None:
    store = _store("restic:" + local_repo.location)
    snap = local_snapshots[local_repo.ids[2]]
    seen: list[int] = []
    outcome = store.restore(snap, tmp_path / "out", progress=seen.append)
    root = tmp_path / "out" / str(local_repo.source).lstrip("/")
    restored = {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
    assert restored == source_files
    assert outcome.files == len(source_files)
    assert outcome.bytes == sum(len(b) for b in source_files.values()) == sum(seen)
    assert outcome.verified_by_store and outcome.problems == ()


def test_restore_of_unknown_snapshot_is_an_error(local_repo: Repo, tmp_path: Path) -> None:
    store = _store("restic:" + local_repo.location)
    ghost = StoredSnapshot(Snapshot(id="e" * 64, time=_t()))
    with pytest.raises(StoreError, match="could not restore snapshot eeeeeeee"):
        store.restore(ghost, tmp_path / "out")


def test_restore_by_reference_names_the_snapshot_restic_restored(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    tmp_path: Path,
) -> None:
    from restore.protocol import ReferenceRefused, RestoresByReference

    store = _store("restic:" + local_repo.location)
    assert isinstance(store, RestoresByReference)
    chosen = local_repo.ids[1]
    done = store.restore_reference(chosen[:6], tmp_path / "one")
    assert (
        done.restored_id == chosen[:8] and done.outcome.verified_by_store and done.outcome.files > 0
    )
    newest = max(local_snapshots.values(), key=lambda s: s.snapshot.time).snapshot.id
    assert store.restore_reference("latest", tmp_path / "two").restored_id == newest[:8]
    for bad in ("-h", "--target=/", "ABC", "latest "):  # never handed to restic as an argument
        with pytest.raises(ReferenceRefused):
            store.restore_reference(bad, tmp_path / "three")
    assert not (tmp_path / "three").exists()
    with pytest.raises(StoreError, match="could not restore snapshot eeeeeeee"):
        store.restore_reference("e" * 64, tmp_path / "four")


def test_corrupted_pack_is_found_by_check_and_by_restore(
    local_repo: Repo,
    local_snapshots: dict[str, StoredSnapshot],
    tmp_path: Path,
) -> None:
    store = _private(local_repo, tmp_path)
    # The fixture's backups run concurrently, so several packs may each hold a copy of the
    # 300 KB blob.bin (restore may read any copy): corrupt every pack that is big enough.
    packs = [
        p
        for p in (Path(store.repository) / "data").rglob("*")
        if p.is_file() and p.stat().st_size > 300_000
    ]
    assert packs
    for pack in packs:
        pack.chmod(0o600)
        with pack.open("r+b") as f:
            f.seek(pack.stat().st_size // 2)
            f.write(b"\x00corrupted\x00")

    problems = store.check_integrity(list(local_snapshots.values()), subset="100%")
    assert problems and {p.key for p in problems} >= {f"data/{pack.name}" for pack in packs}

    outcome = store.restore(local_snapshots[local_repo.ids[0]], tmp_path / "out")
    assert outcome.verified_by_store
    assert any("blob.bin" in p for p in outcome.problems)
    assert not any("readme.txt" in p for p in outcome.problems)


def test_check_subset_spec(local_repo: Repo, local_snapshots: dict[str, StoredSnapshot]) -> None:
    store = _store("restic:" + local_repo.location)
    with pytest.raises(UsageError, match="expected a percentage"):
        store.check_integrity(list(local_snapshots.values()), subset="most of it")
    assert store.check_integrity([], subset="100%") == []  # nothing asked, nothing run
    assert (
        store.check_integrity(list(local_snapshots.values())) == []
    )  # default: today's rotating part


def test_rotating_subset_covers_every_part() -> None:
    parts = {rotating_subset(day) for day in range(738000, 738010)}
    assert parts == {f"{n}/10" for n in range(1, 11)}


# -------------------------------------------------- blobs


def test_blobs_use_the_audit_location(restic_session: None, tmp_path: Path) -> None:
    pytest.importorskip("backupctl.evidence.audit")
    config = restic_config("restic:/r")
    store = ResticStore(dataclasses.replace(config, audit_url=f"file://{tmp_path}/audit"))
    blobs = store.blobs()
    blobs.put("x/probe", b"ok")
    assert blobs.get("x/probe") == b"ok"
    with pytest.raises(ConfigError):
        ResticStore(dataclasses.replace(config, audit_url="restic:/elsewhere")).blobs()


# -------------------------------------------------- parsing restic's messages (no restic run)


def _completed(stderr: str, code: int = 1, stdout: str = "") -> Completed:
    return Completed(
        ("restic", "--repo", "/r", "forget"), code, stdout.encode(), stderr.encode(), 0.1
    )


def test_exclusive_lock_message_names_the_holder() -> None:
    stderr = (
        "unable to create lock in backend: repository is already locked exclusively by PID 12 "
        "on db1 by root (UID 0, GID 0)\n"
        "lock was created at 2026-11-23 07:38:10 (2m0s ago)\nstorage ID 0437ed59\n"
        "the `unlock` command can be used to remove stale locks\n"
    )
    err = classify(_completed(stderr), "/r", "prune")
    assert isinstance(err, LockHeld)
    assert (
        "locked by another restic process (exclusively PID 12 on db1 by root (UID 0, GID 0) "
        "lock was created at 2026-11-23 07:38:10 (2m0s ago) storage ID 0437ed59)" in str(err)
    )
    assert "could not prune" in str(err) and "`restic -r /r unlock`" in str(err)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "Fatal: unable to open config file: Stat: The AWS Access Key Id you provided "
            "does not exist in our records. (InvalidAccessKeyId)\n",
            "the S3 service refused the credentials",
        ),
        (
            "Fatal: create repository at s3:http://h/b/r failed: "
            "client.BucketExists: Access Denied.\n",
            "the S3 service refused the credentials",
        ),
        (
            'Fatal: unable to open config file: Stat: Get "http://127.0.0.1:1/b/?location=": '
            "dial tcp 127.0.0.1:1: connect: connection refused\n"
            "Is there a repository at the following location?\ns3:http://127.0.0.1:1/b/r\n",
            "cannot reach the storage endpoint",
        ),
        ("Fatal: wrong password or no key found\n", "wrong password or no key found"),
        (
            "Fatal: unable to open config file: stat /r/config: no such file or directory\n"
            "Is there a repository at the following location?\n/r\n",
            "no restic repository there",
        ),
        (
            "Fatal: something new\n",
            "could not forget: `restic --repo /r forget` exited 1: Fatal: something new",
        ),
    ],
)
def test_restic_failures_are_classified(stderr: str, expected: str) -> None:
    err = classify(_completed(stderr), "/r", "forget")
    assert type(err) is StoreError
    assert str(err).startswith("restic repository /r") and expected in str(err)


@pytest.mark.parametrize(
    ("line", "size"),
    [
        ("total prune:           4 blobs / 929 B", 929),
        ("total prune:         120 blobs / 1.500 MiB", 1572864),
        ("total prune:           2 blobs / 2.000 GiB", 2 * 1024**3),
        ("nothing to do", 0),
    ],
)
def test_pruned_bytes_from_prune_stats(line: str, size: int) -> None:
    assert restic_module._pruned_bytes(f"to delete: …\n{line}\nremaining: …\n") == size


def test_check_errors_become_problems_per_pack_and_tree() -> None:
    stderr = (
        "using temporary cache in /tmp/x\n"
        "Pack ID does not match, want 026b4392abb7, got cf0cf54b7819\n"
        'error for tree 4ed6427e:\n  tree 4ed6427e: file "f2" blob 0 size could not be found\n'
        '  tree 4ed6427e: file "f3" blob 1 size could not be found\n'
        "Fatal: repository contains errors\n"
    )
    problems = restic_module._check_problems(stderr)
    assert [(p.snapshot_id, p.key) for p in problems] == [
        ("", "data/026b4392abb7"),
        ("", "tree/4ed6427e"),
        ("", "tree/4ed6427e"),
    ]
    assert 'file "f3"' in problems[2].problem
