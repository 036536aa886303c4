"""The prune lock: one holder at a time, stale locks reported (never stolen), unlock rules."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backupctl import humanize
from backupctl.cli import main
from backupctl.errors import LockHeld, SafetyRefusal, StoreError
from backupctl.evidence.audit import AuditLog
from backupctl.prune.lock import (
    LOCK_KEY,
    Lock,
    LockInfo,
    UnreadableLock,
    acquire_lock,
    read_lock,
    ttl_delta,
)
from backupctl.stores.base import BlobStore, PreconditionFailed
from backupctl.stores.blobs import FileBlobs, S3Blobs
from retention import Duration

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_lock_object_names_owner_host_pid_run_and_expiry(blobs: BlobStore) -> None:
    with acquire_lock(blobs, owner="ops@db1", ttl=6 * HOUR, now=T0, run_id="run-1") as lock:
        stored = json.loads(blobs.get(LOCK_KEY))
        assert stored["owner"] == "ops@db1" and stored["run_id"] == "run-1"
        assert stored["host"] and isinstance(stored["pid"], int)
        assert datetime.fromisoformat(stored["acquired"]) == T0
        assert datetime.fromisoformat(stored["expires"]) == T0 + 6 * HOUR
        assert lock.info.run_id == "run-1"
    with pytest.raises(KeyError):
        blobs.get(LOCK_KEY)


def test_second_prune_is_refused_with_holder_and_times(blobs: BlobStore) -> None:
    with acquire_lock(blobs, owner="ops@db1", ttl=6 * HOUR, now=T0), pytest.raises(LockHeld) as err:
        acquire_lock(blobs, owner="cron@db2", ttl=6 * HOUR, now=T0 + HOUR)
    text = str(err.value)
    assert "ops@db1" in text and humanize.when(T0) in text and humanize.when(T0 + 6 * HOUR) in text
    assert "STALE" not in text
    assert err.value.exit_code == 4


def _age_lock(
    blobs: BlobStore, seconds: float, request: pytest.FixtureRequest | None = None
) -> None:
    """Make the lock ``seconds`` old by the store's clock: a file's mtime is set back, an S3
    object's Last-Modified on the moto server likewise (tests/conftest.py's age_s3_object)."""
    if isinstance(blobs, FileBlobs):
        past = time.time() - seconds
        os.utime(blobs.root / LOCK_KEY, (past, past))
    else:
        assert isinstance(blobs, S3Blobs) and request is not None
        age = request.getfixturevalue("age_s3_object")
        age(blobs.bucket, blobs.prefix + LOCK_KEY, seconds)


def test_stale_lock_is_reported_with_the_unlock_command_and_not_stolen(
    blobs: BlobStore, request: pytest.FixtureRequest
) -> None:
    acquire_lock(
        blobs, owner="ops@db1", ttl=timedelta(seconds=1), now=T0, run_id="dead-run"
    )  # it "died"
    before = blobs.get(LOCK_KEY)
    _age_lock(blobs, 2.3, request)
    with pytest.raises(LockHeld) as err:
        acquire_lock(
            blobs, owner="cron@db2", ttl=HOUR, now=T0 + 3 * HOUR, config_path="/etc/backupctl.toml"
        )
    text = str(err.value)
    assert "STALE" in text and "ops@db1" in text and "dead-run" in text
    assert "backupctl unlock --config /etc/backupctl.toml" in text
    assert blobs.get(LOCK_KEY) == before


def test_release_deletes_only_our_own_lock(blobs: BlobStore) -> None:
    lock = acquire_lock(blobs, owner="a@h", ttl=HOUR, now=T0, run_id="mine")
    other = LockInfo(owner="b@h", host="h", pid=1, run_id="theirs", acquired=T0, expires=T0 + HOUR)
    blobs.put(LOCK_KEY, other.to_bytes())  # cleared by unlock --force and re-taken by another run
    assert lock.release() is False
    assert read_lock(blobs) == other
    blobs.delete(LOCK_KEY)
    assert acquire_lock(blobs, ttl=HOUR, now=T0, run_id="x").release() is True
    assert read_lock(blobs) is None


def test_context_manager_releases_on_error(blobs: BlobStore) -> None:
    with pytest.raises(RuntimeError), acquire_lock(blobs, ttl=HOUR, now=T0):
        raise RuntimeError("prune failed")
    assert read_lock(blobs) is None


def test_a_retried_put_of_our_own_lock_counts_as_acquired(blobs: BlobStore) -> None:
    acquire_lock(blobs, owner="a@h", ttl=HOUR, now=T0, run_id="same")
    lock = acquire_lock(blobs, owner="a@h", ttl=HOUR, now=T0, run_id="same")
    assert lock.info.run_id == "same" and lock.release()


def test_two_threads_racing_for_the_lock_exactly_one_wins(blobs: BlobStore) -> None:
    for round_ in range(4):
        barrier = threading.Barrier(2, timeout=10)
        outcome: dict[int, Lock | LockHeld] = {}

        def contender(
            i: int,
            barrier: threading.Barrier = barrier,
            outcome: dict[int, Lock | LockHeld] = outcome,
            run: str = f"r{round_}",
        ) -> None:
            barrier.wait()
            try:
                outcome[i] = acquire_lock(
                    blobs, owner=f"w{i}@h", ttl=HOUR, now=T0, run_id=f"{run}-{i}"
                )
            except LockHeld as exc:
                outcome[i] = exc

        threads = [threading.Thread(target=contender, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        kinds = sorted(type(v).__name__ for v in outcome.values())
        assert kinds == ["Lock", "LockHeld"], outcome
        winner = next(v for v in outcome.values() if isinstance(v, Lock))
        held = read_lock(blobs)
        assert held is not None and held.run_id == winner.info.run_id
        assert winner.release()


def test_unreadable_lock_is_an_error_not_a_takeover(blobs: BlobStore) -> None:
    blobs.put(LOCK_KEY, b"{not json")
    with pytest.raises(StoreError, match=r"unreadable.*unlock --force"):
        acquire_lock(blobs, ttl=HOUR, now=T0)
    assert blobs.get(LOCK_KEY) == b"{not json"


def test_ttl_from_config_duration() -> None:
    assert ttl_delta(Duration(hours=6), T0) == 6 * HOUR
    assert ttl_delta(Duration(days=1), T0) == timedelta(days=1)
    assert ttl_delta(2 * HOUR, T0) == 2 * HOUR


# ---- backupctl unlock ----------------------------------------------------------------


def _config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "backupctl.toml"
    path.write_text(
        f'[store]\nurl = "{url}"\n{extra}\n[[policy]]\nname = "app"\nkeep_within = "2m"\n'
    )
    return path


def _unlock(config: Path, *args: str, now: datetime) -> tuple[int, str]:
    """Exit code and stdout (errors: the whole output) of ``backupctl unlock``."""
    result = CliRunner().invoke(
        main, ["unlock", "--config", str(config), *args], env={"BACKUPCTL_NOW": now.isoformat()}
    )
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_unlock_refuses_a_live_lock_and_removes_a_stale_one(tmp_path: Path) -> None:
    store = FileBlobs(tmp_path / "store")
    config = _config(tmp_path, f"file://{tmp_path / 'store'}")
    acquire_lock(store, owner="ops@db1", ttl=HOUR, now=T0, run_id="r1")
    code, out = _unlock(config, now=T0 + timedelta(minutes=30))
    assert code == 4 and "live" in out and "ops@db1" in out
    assert read_lock(store) is not None
    _age_lock(store, 2 * 3600)
    code, out = _unlock(config, now=T0 + 2 * HOUR)
    assert code == 0 and "removed the stale lock" in out
    assert read_lock(store) is None
    records = AuditLog(store).records()
    assert [r["action"] for r in records] == ["unlock"]
    assert records[0]["data"]["lock"]["run_id"] == "r1" and records[0]["data"]["stale"] is True
    code, out = _unlock(config, now=T0 + 2 * HOUR)
    assert code == 0 and "no lock" in out


def test_unlock_force_removes_a_live_or_unreadable_lock(tmp_path: Path) -> None:
    store = FileBlobs(tmp_path / "store")
    config = _config(tmp_path, f"file://{tmp_path / 'store'}")
    acquire_lock(store, ttl=HOUR, now=T0, run_id="live")
    code, out = _unlock(config, "--force", "--json", now=T0)
    assert code == 0 and json.loads(out)["forced"] is True and json.loads(out)["removed"] is True
    store.put(LOCK_KEY, b"garbage")
    code, out = _unlock(config, now=T0)
    assert code == 1 and "unreadable" in out and store.get(LOCK_KEY) == b"garbage"
    code, out = _unlock(config, "--force", now=T0)
    assert code == 0 and read_lock(store) is None


def test_unlock_on_s3_store(  # type: ignore[no-untyped-def]
    tmp_path: Path, s3_client, s3_endpoint: str, bucket: str, request: pytest.FixtureRequest
) -> None:
    store = S3Blobs(s3_client, bucket, "salure")
    config = _config(
        tmp_path, f"s3://{bucket}/salure", f'endpoint_url = "{s3_endpoint}"\nregion = "us-east-1"'
    )
    acquire_lock(store, ttl=timedelta(seconds=1), now=T0, run_id="r1")
    assert _unlock(config, now=T0)[0] == 4
    _age_lock(store, 2.3, request)
    code, _ = _unlock(config, now=T0)
    assert code == 0 and read_lock(store) is None
    assert AuditLog(store).verify() == []


def test_unlock_for_a_local_restic_repo_needs_audit_url(tmp_path: Path) -> None:
    config = _config(tmp_path, "restic:/srv/restic-repo")
    code, out = _unlock(config, now=T0)
    assert code == 2 and "audit.url" in out


class _Flaky:
    """A FileBlobs whose first conditional PUT meets a lock that is gone by the time we read it."""

    def __init__(self, inner: FileBlobs) -> None:
        self.inner = inner
        self.raced = False

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        if if_absent and not self.raced:
            self.raced = True
            raise PreconditionFailed(key)
        self.inner.put(key, data, if_absent=if_absent)

    def list(self, prefix: str = "") -> Any:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        raise StoreError("S3 DeleteObject failed: AccessDenied")


def test_a_lock_released_between_put_and_read_is_retried_and_a_failed_release_keeps_the_real_error(
    tmp_path: Path,
) -> None:
    flaky = _Flaky(FileBlobs(tmp_path))
    with (
        pytest.raises(RuntimeError, match="prune failed"),
        acquire_lock(flaky, ttl=HOUR, now=T0, run_id="r"),
    ):
        raise RuntimeError("prune failed")
    assert flaky.raced and read_lock(flaky.inner) is not None  # left to expire, not hidden
    lock = Lock(flaky, read_lock(flaky.inner))  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="AccessDenied"), lock:
        pass


# ---- expiry by the store's clock, not this host's -------------------------------------------


class _ServiceClock:
    """A FileBlobs whose ``get_with_meta`` reports a service clock the test sets: ``written`` is
    when the service stored the lock, ``now`` the service's time when it is read back."""

    def __init__(self, inner: FileBlobs, written: datetime, now: datetime) -> None:
        self.inner, self.written, self.now = inner, written, now

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def get_with_meta(self, key: str) -> tuple[bytes, float | None, float | None]:
        return self.inner.get(key), self.written.timestamp(), self.now.timestamp()

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        self.inner.put(key, data, if_absent=if_absent)

    def list(self, prefix: str = "") -> Any:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def test_a_host_whose_clock_is_ahead_sees_a_live_lock_as_live(tmp_path: Path) -> None:
    service = _ServiceClock(FileBlobs(tmp_path), written=T0, now=T0 + HOUR)
    acquire_lock(service, owner="ops@db1", ttl=6 * HOUR, now=T0, run_id="live")
    held = read_lock(service)
    assert held is not None and not held.is_stale(T0 + 7 * HOUR)  # this host is 7 h ahead
    with pytest.raises(LockHeld) as err:
        acquire_lock(service, ttl=6 * HOUR, now=T0 + 7 * HOUR)
    assert "STALE" not in str(err.value)


def test_a_lock_written_by_a_host_whose_clock_was_ahead_goes_stale_by_the_services_clock(
    tmp_path: Path,
) -> None:
    # the writer claimed acquired = T0 + 7 h (its clock), the service stored it at T0
    service = _ServiceClock(
        FileBlobs(tmp_path), written=T0, now=T0 + 6 * HOUR + timedelta(minutes=5)
    )
    acquire_lock(service, owner="ops@fast", ttl=6 * HOUR, now=T0 + 7 * HOUR, run_id="fast")
    held = read_lock(service)
    assert held is not None and held.is_stale(T0 + 6 * HOUR + timedelta(minutes=5))
    with pytest.raises(LockHeld, match=r"STALE.*expired 0:05:00 ago by the store's clock"):
        acquire_lock(service, ttl=6 * HOUR, now=T0 + 6 * HOUR + timedelta(minutes=5))
    # and a lock written by a host whose clock was behind is not stale early
    slow = _ServiceClock(FileBlobs(tmp_path / "slow"), written=T0, now=T0 + 2 * HOUR)
    acquire_lock(slow, ttl=6 * HOUR, now=T0 - 7 * HOUR, run_id="slow")
    held = read_lock(slow)
    assert held is not None and not held.is_stale(T0 + 2 * HOUR)


def test_file_store_a_local_clock_7h_ahead_does_not_remove_a_live_lock(tmp_path: Path) -> None:
    """File stores: the lock file's mtime against the kernel's clock, not BACKUPCTL_NOW."""
    store = FileBlobs(tmp_path / "store")
    config = _config(tmp_path, f"file://{tmp_path / 'store'}")
    real = datetime.now(UTC)
    acquire_lock(store, owner="ops@db1", ttl=6 * HOUR, now=real, run_id="live")
    code, out = _unlock(config, now=real + 7 * HOUR)
    assert code == 4 and "live" in out
    held = read_lock(store)
    assert held is not None and held.run_id == "live"


# ---- a service that does not honour If-None-Match -------------------------------------------


class _IgnoresCondition(_ServiceClock):
    """A store that writes a conditional PUT unconditionally (a proxy that drops If-None-Match)."""

    def __init__(self, inner: FileBlobs) -> None:
        super().__init__(inner, T0, T0)

    def get_with_meta(self, key: str) -> tuple[bytes, float | None, float | None]:
        return self.inner.get(key), None, None

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        self.inner.put(key, data)


def test_a_store_that_ignores_the_condition_is_refused_and_left_without_our_lock(
    tmp_path: Path,
) -> None:
    blobs = _IgnoresCondition(FileBlobs(tmp_path))
    with pytest.raises(SafetyRefusal, match=r"did not honour If-None-Match") as err:
        acquire_lock(blobs, owner="a@h", ttl=HOUR, now=T0)
    assert err.value.exit_code == 4 and isinstance(err.value, LockHeld)
    assert read_lock(blobs.inner) is None


def test_a_lock_overwritten_right_after_our_put_is_not_ours(tmp_path: Path) -> None:
    inner = FileBlobs(tmp_path)
    theirs = LockInfo(owner="b@h", host="h", pid=1, run_id="theirs", acquired=T0, expires=T0 + HOUR)

    class Overwritten(_ServiceClock):
        def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
            self.inner.put(key, data, if_absent=if_absent)
            self.inner.put(
                key, theirs.to_bytes()
            )  # a second prune's PUT that ignored the condition

    with pytest.raises(LockHeld, match=r"replaced.*If-None-Match"):
        acquire_lock(Overwritten(inner, T0, T0), owner="a@h", ttl=HOUR, now=T0, run_id="mine")
    assert read_lock(inner) == theirs  # not ours: left alone


# ---- garbage locks ----------------------------------------------------------------------------

_GOOD = {
    "owner": "a@h",
    "host": "h",
    "pid": 1,
    "run_id": "r",
    "acquired": T0.isoformat(),
    "expires": (T0 + HOUR).isoformat(),
    "version": 1,
}
GARBAGE = {
    "not-json": b"{not json",
    "binary": b"\xff\xfe\x00garbage",
    "deep-list": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deep-but-small": b"[" * 300 + b"]" * 300,
    "5000-digit-pid": json.dumps(_GOOD).replace('"pid": 1', '"pid": ' + "9" * 5000).encode(),
    "huge-float": json.dumps(_GOOD).replace('"pid": 1', '"pid": 1e400').encode(),
    "string": b'"a lock"',
    "list": b"[1, 2]",
    "wrong-types": json.dumps({**_GOOD, "owner": ["x"], "pid": "12", "run_id": None}).encode(),
    "bool-pid": json.dumps({**_GOOD, "pid": True}).encode(),
    "naive-time": json.dumps({**_GOOD, "acquired": "2026-11-23T02:00:00"}).encode(),
    "edge-times": json.dumps(
        {**_GOOD, "acquired": "0001-01-01T00:00:00+14:00", "expires": "9999-12-31T23:59:59-14:00"}
    ).encode(),
    "expires-before-acquired": json.dumps({**_GOOD, "expires": (T0 - HOUR).isoformat()}).encode(),
    "missing-fields": b'{"owner": "a@h"}',
    "too-large": b'{"owner": "' + b"x" * (2 << 20) + b'"}',
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_a_garbage_lock_blocks_prune_clearly_and_only_force_removes_it(
    tmp_path: Path, name: str
) -> None:
    garbage = GARBAGE[name]
    store = FileBlobs(tmp_path / "store")
    store.put(LOCK_KEY, garbage)
    with pytest.raises(StoreError, match=r"unreadable.*unlock --force"):
        acquire_lock(store, ttl=HOUR, now=T0)
    assert store.get(LOCK_KEY) == garbage
    config = _config(tmp_path, f"file://{tmp_path / 'store'}")
    later = T0 + timedelta(days=400)
    _age_lock(store, 400 * 86400)  # even an ancient garbage lock is not "stale and removable"
    code, out = _unlock(config, now=later)
    assert code == 1 and "unreadable" in out and "Traceback" not in out
    assert store.get(LOCK_KEY) == garbage
    code, out = _unlock(config, "--force", "--json", now=later)
    assert code == 0, out
    data = json.loads(out)
    assert data["removed"] is True and data["lock"] is None and data["unreadable"]
    assert read_lock(store) is None
    record = AuditLog(store).records()[-1]
    assert record["action"] == "unlock" and record["data"]["unreadable"] == data["unreadable"]


@pytest.mark.parametrize("target", ["file", "dev-zero", "fifo"])
def test_a_lock_that_is_a_symlink_or_fifo_is_unreadable_and_force_removes_only_the_link(
    tmp_path: Path, target: str
) -> None:
    store = FileBlobs(tmp_path / "store")
    (tmp_path / "store" / "_backupctl").mkdir(parents=True)
    victim = tmp_path / "elsewhere.json"
    victim.write_bytes(json.dumps(_GOOD).encode())
    lock_path = tmp_path / "store" / LOCK_KEY
    if target == "fifo":
        os.mkfifo(lock_path)
    else:
        lock_path.symlink_to(victim if target == "file" else Path("/dev/zero"))
    with pytest.raises(StoreError, match="unreadable"):
        acquire_lock(store, ttl=HOUR, now=T0)
    config = _config(tmp_path, f"file://{tmp_path / 'store'}")
    code, out = _unlock(config, now=T0)
    assert code == 1 and "unreadable" in out
    code, out = _unlock(config, "--force", now=T0)
    assert code == 0, out
    assert not lock_path.exists() and not lock_path.is_symlink() and victim.exists()


# ---- fuzz: any lock object is a lock or an UnreadableLock, never a crash -----------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_times = st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()) | st.text(max_size=30)
_lockish = st.fixed_dictionaries(
    {},
    optional={
        "owner": st.text(max_size=20) | _json,
        "host": st.text(max_size=20) | _json,
        "pid": st.integers() | _json,
        "run_id": st.text(max_size=20) | _json,
        "token": st.text(max_size=20) | _json,
        "acquired": _times,
        "expires": _times,
        "version": _json,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_lockish.map(lambda d: json.dumps(d).encode())
    | _json.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64),
    written=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    service_now=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
def test_any_lock_object_reads_as_a_lock_or_unreadable(
    tmp_path: Path, body: bytes, written: float | None, service_now: float | None
) -> None:
    inner = FileBlobs(tmp_path / "fuzz")
    inner.put(LOCK_KEY, body)
    blobs = _ServiceClock(inner, T0, T0)
    blobs.get_with_meta = lambda key: (inner.get(key), written, service_now)  # type: ignore[method-assign]
    try:
        held = read_lock(blobs)
    except UnreadableLock as exc:
        assert exc.reason
        return
    assert held is not None
    held.is_stale(T0)
    assert held.describe().isprintable()
    with pytest.raises(LockHeld):
        acquire_lock(blobs, ttl=HOUR, now=T0)


def test_unlock_speaks_the_config_timezone_without_microseconds(tmp_path: Path) -> None:
    """Issue 14, one clock: unlock's lines said ``since 2026-11-23T02:00:00.123456+00:00``."""
    store = FileBlobs(tmp_path / "store")
    config = _config(tmp_path, f"file://{tmp_path / 'store'}")
    config.write_text('timezone = "Europe/Amsterdam"\n' + config.read_text())
    acquire_lock(store, owner="ops@db1", ttl=HOUR, now=T0 + timedelta(microseconds=123456))
    code, out = _unlock(config, now=T0 + timedelta(minutes=30))
    assert code == 4 and "since 2026-11-23 03:00:00 CET until 2026-11-23 04:00:00 CET" in out
    assert "T02:00" not in out and "123456" not in out
