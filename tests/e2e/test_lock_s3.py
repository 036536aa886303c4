"""The prune lock and the audit log's conditional writes on a real S3 endpoint (moto over HTTP):
a lock's expiry is judged by the service's clock, a service that ignores ``If-None-Match`` is
detected and refused, and a garbage lock is reported (and cleared only with ``--force``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.errors import LockHeld, SafetyRefusal, StoreError
from backupctl.evidence.audit import AuditLog, record_key
from backupctl.prune.lock import LOCK_KEY, acquire_lock, read_lock
from backupctl.stores.blobs import S3Blobs
from backupctl.stores.s3client import make_s3_client
from tests.e2e.faultproxy import FaultProxy

HOUR = timedelta(hours=1)
PREFIX = "salure"


def _config(tmp_path: Path, bucket: str, endpoint: str) -> Path:
    path = tmp_path / "backupctl.toml"
    path.write_text(
        f'[store]\nurl = "s3://{bucket}/{PREFIX}"\nendpoint_url = "{endpoint}"\n'
        'region = "us-east-1"\n'
        '[safety]\nlock_ttl = "6h"\n[[policy]]\nname = "app"\ngroup = "app"\nkeep_within = "2m"\n'
    )
    return path


def _run(*args: str, now: datetime) -> Any:
    return CliRunner().invoke(main, list(args), env={"BACKUPCTL_NOW": now.isoformat()})


@pytest.fixture()
def ignoring(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A proxy in front of moto that strips If-None-Match: a service that ignores the condition."""
    proxy = FaultProxy(s3_endpoint).start()
    proxy.ignore_if_none_match = True
    try:
        yield proxy
    finally:
        proxy.stop()


# ---- expiry by the service's clock ---------------------------------------------------------


def test_a_host_whose_clock_is_7h_ahead_does_not_remove_a_live_6h_lock(
    tmp_path: Path, s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    store = S3Blobs(s3_client, bucket, PREFIX)
    real = datetime.now(UTC)
    acquire_lock(store, owner="ops@db1", ttl=6 * HOUR, now=real, run_id="live-run")
    skewed = real + 7 * HOUR
    result = _run("unlock", "--config", str(_config(tmp_path, bucket, s3_endpoint)), now=skewed)
    assert result.exit_code == 4, result.output
    assert "live" in result.output and "ops@db1" in result.output
    held = read_lock(store)
    assert held is not None and held.run_id == "live-run"
    # a prune on that host reports the lock as held, not as STALE
    with pytest.raises(LockHeld) as err:
        acquire_lock(store, owner="cron@db2", ttl=6 * HOUR, now=skewed)
    assert "STALE" not in str(err.value) and "another prune holds the lock" in str(err.value)


def test_a_lock_past_its_ttl_by_the_services_clock_is_stale_even_on_a_host_whose_clock_is_behind(
    tmp_path: Path,
    s3_client: Any,
    s3_endpoint: str,
    bucket: str,
    age_s3_object: Callable[[str, str, float], None],
) -> None:
    store = S3Blobs(s3_client, bucket, PREFIX)
    real = datetime.now(UTC)
    acquire_lock(store, owner="ops@db1", ttl=timedelta(seconds=1), now=real, run_id="short")
    age_s3_object(bucket, f"{PREFIX}/{LOCK_KEY}", 2.3)  # written 2.3 s ago by the service's clock
    behind = real - 7 * HOUR
    with pytest.raises(LockHeld, match=r"STALE.*store's clock"):
        acquire_lock(store, ttl=6 * HOUR, now=behind)
    result = _run(
        "unlock", "--config", str(_config(tmp_path, bucket, s3_endpoint)), "--json", now=behind
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["removed"] is True and out["stale"] is True and out["lock"]["run_id"] == "short"
    assert read_lock(store) is None
    assert [r["action"] for r in AuditLog(store).records()] == ["unlock"]


# ---- a service that ignores If-None-Match ------------------------------------------------------


def test_the_proxy_really_ignores_the_condition(ignoring: FaultProxy, bucket: str) -> None:
    blobs = S3Blobs(make_s3_client(endpoint_url=ignoring.url, region="us-east-1"), bucket, PREFIX)
    blobs.put("probe", b"one", if_absent=True)
    blobs.put("probe", b"two", if_absent=True)  # no PreconditionFailed: the condition never arrived
    assert blobs.get("probe") == b"two" and ignoring.stripped == 2


def test_a_lock_through_a_service_that_ignores_if_none_match_is_refused(
    ignoring: FaultProxy, s3_client: Any, bucket: str
) -> None:
    blobs = S3Blobs(make_s3_client(endpoint_url=ignoring.url, region="us-east-1"), bucket, PREFIX)
    now = datetime.now(UTC)
    with pytest.raises(SafetyRefusal) as err:
        acquire_lock(blobs, owner="a@h", ttl=HOUR, now=now)
    text = str(err.value)
    assert err.value.exit_code == 4 and isinstance(err.value, LockHeld)
    assert (
        f"s3://{bucket}/{PREFIX}" in text and "If-None-Match" in text and "did not honour" in text
    )
    assert read_lock(S3Blobs(s3_client, bucket, PREFIX)) is None  # our lock was taken back


def test_two_prunes_through_a_service_that_ignores_if_none_match_both_refuse(
    ignoring: FaultProxy, s3_client: Any, bucket: str
) -> None:
    direct = S3Blobs(s3_client, bucket, PREFIX)
    proxied = S3Blobs(make_s3_client(endpoint_url=ignoring.url, region="us-east-1"), bucket, PREFIX)
    now = datetime.now(UTC)
    acquire_lock(
        direct, owner="first@h", ttl=HOUR, now=now, run_id="first"
    )  # the first prune, honestly
    with pytest.raises(LockHeld, match="If-None-Match"):
        acquire_lock(
            proxied, owner="second@h", ttl=HOUR, now=now, run_id="second"
        )  # its PUT overwrote
    held = read_lock(direct)
    assert held is None or held.run_id != "second"  # the second never runs with the lock


def test_cli_prune_through_a_service_that_ignores_if_none_match_exits_4(
    tmp_path: Path, ignoring: FaultProxy, s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/app/20261101T000000Z/db.sql", Body=b"x")
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{PREFIX}/app/20261101T000000Z/manifest.json",
        Body=json.dumps(
            {"version": 1, "group": "app", "time": "2026-11-01T00:00:00+00:00", "objects": []}
        ).encode(),
    )
    result = _run(
        "prune", "--config", str(_config(tmp_path, bucket, ignoring.url)), now=datetime.now(UTC)
    )
    assert result.exit_code == 4, result.output
    assert "If-None-Match" in result.output and "Traceback" not in result.output
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert (
        f"{PREFIX}/app/20261101T000000Z/manifest.json" in keys
        and f"{PREFIX}/{LOCK_KEY}" not in keys
    )


def test_audit_append_through_a_service_that_ignores_if_none_match_refuses_and_overwrites_nothing(
    ignoring: FaultProxy, s3_client: Any, bucket: str
) -> None:
    direct = S3Blobs(s3_client, bucket, PREFIX)
    honest = AuditLog(direct)
    now = datetime.now(UTC)
    for i in range(2):
        honest.append("drill", {"i": i}, actor="ops@db1", now=now)
    before = {k: direct.get(record_key(k)) for k in (1, 2)}
    proxied = S3Blobs(make_s3_client(endpoint_url=ignoring.url, region="us-east-1"), bucket, PREFIX)
    with pytest.raises(SafetyRefusal, match=r"If-None-Match.*nothing was appended"):
        AuditLog(proxied).append("prune.intent", {"ids": ["x"]}, now=now)
    assert {k: direct.get(record_key(k)) for k in (1, 2)} == before
    assert [r["seq"] for r in honest.records()] == [1, 2] and honest.verify() == []


def test_a_racing_writer_that_overwrites_a_fresh_audit_record_is_detected(
    ignoring: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """Two writers both 'win' seq 1 on such a service.

    The one whose record was overwritten says so.
    """
    proxied = S3Blobs(make_s3_client(endpoint_url=ignoring.url, region="us-east-1"), bucket, PREFIX)
    other = AuditLog(
        S3Blobs(make_s3_client(endpoint_url=ignoring.url, region="us-east-1"), bucket, PREFIX)
    )
    now = datetime.now(UTC)
    original_put = proxied.put

    def put_then_lose_the_race(key: str, data: bytes, *, if_absent: bool = False) -> None:
        original_put(key, data, if_absent=if_absent)
        if key == record_key(1) and if_absent and not raced:
            raced.append(key)
            other.blobs.put(
                key, data.replace(b"first", b"other"), if_absent=True
            )  # overwrites ours

    raced: list[str] = []
    proxied.put = put_then_lose_the_race  # type: ignore[method-assign]
    with pytest.raises(SafetyRefusal, match=r"record 1 .*overwritten.*If-None-Match"):
        AuditLog(proxied).append("drill", {"who": "first"}, now=now)


# ---- garbage locks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"{not json",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 500 + b"1" + b"}" * 500,
        b'{"pid": ' + b"9" * 5000 + b"}",
        json.dumps(
            {
                "owner": ["x"],
                "host": {},
                "pid": "12",
                "run_id": None,
                "acquired": 5,
                "expires": True,
            }
        ).encode(),
    ],
    ids=["not-json", "deep-and-large", "deep", "5000-digits", "wrong-types"],
)
def test_a_garbage_lock_is_reported_and_cleared_only_with_force(
    tmp_path: Path, s3_client: Any, s3_endpoint: str, bucket: str, garbage: bytes
) -> None:
    store = S3Blobs(s3_client, bucket, PREFIX)
    store.put(LOCK_KEY, garbage)
    config = str(_config(tmp_path, bucket, s3_endpoint))
    now = datetime.now(UTC) + 400 * 24 * HOUR
    with pytest.raises(StoreError, match="unreadable"):
        read_lock(store)
    plain = _run("unlock", "--config", config, now=now)
    assert plain.exit_code == 1 and "unreadable" in plain.output and "Traceback" not in plain.output
    assert store.get(LOCK_KEY) == garbage
    prune = _run("prune", "--config", config, now=now)
    assert (
        prune.exit_code == 1 and "unreadable" in prune.output and "unlock --force" in prune.output
    )
    assert store.get(LOCK_KEY) == garbage
    forced = _run("unlock", "--config", config, "--force", "--json", now=now)
    assert forced.exit_code == 0, forced.output
    out = json.loads(forced.stdout)
    assert out["removed"] is True and out["lock"] is None and out["unreadable"]
    assert read_lock(store) is None
    assert AuditLog(store).records()[-1]["data"]["unreadable"] == out["unreadable"]
