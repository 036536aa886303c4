"""The hash-chained audit log: clean logs verify, every kind of tampering is caught and
named, concurrent appenders produce one gapless chain, and the store is resolved from config."""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.config import parse_config
from backupctl.errors import ConfigError, StoreError
from backupctl.evidence.audit import (
    HEAD_KEY,
    ZERO_HASH,
    AuditLog,
    canonical,
    record_digest,
    record_hash,
    record_key,
    verify_jsonl,
)
from backupctl.stores.base import BlobStore
from backupctl.stores.blobs import FileBlobs, S3Blobs
from backupctl.stores.locations import audit_blobs_for

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
N = 5  # the `blobs` fixture (a FileBlobs and an S3Blobs) is in tests/backupctl/conftest.py


def _fill(blobs: BlobStore, n: int = N) -> AuditLog:
    log = AuditLog(blobs)
    for i in range(n):
        action = ("prune.intent", "prune.result", "drill")[i % 3]
        log.append(
            action,
            {"i": i, "ids": [f"app/2026110{i}T000000Z"], "note": "é"},
            actor="ops@db1",
            now=T0 + timedelta(hours=i),
        )
    return log


def _brief_hash(record: dict[str, Any]) -> str:
    """The hash exactly as the contract words it, computed independently."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_clean_log_verifies_and_follows_the_contract(blobs: BlobStore) -> None:
    log = _fill(blobs)
    records = log.records()
    assert [r["seq"] for r in records] == list(range(1, N + 1))
    assert records[0]["prev"] == ZERO_HASH
    for before, after in itertools.pairwise(records):
        assert after["prev"] == _brief_hash(before)
    for r in records:
        assert set(r) >= {"seq", "time", "actor", "action", "data", "prev"}
        assert datetime.fromisoformat(r["time"]).utcoffset() is not None
        assert blobs.get(record_key(r["seq"])) == canonical(r)
    assert (
        records[3]["data"]["ids"] == ["app/20261103T000000Z"] and records[0]["actor"] == "ops@db1"
    )
    assert log.head() == _brief_hash(records[-1])
    assert log.verify() == []
    assert [b.key for b in blobs.list("_backupctl/audit/")] == [
        record_key(s) for s in range(1, N + 1)
    ]


def test_empty_log() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = AuditLog(FileBlobs(tmp))
        assert log.records() == [] and log.head() == ZERO_HASH and log.verify() == []
        assert log.export_jsonl() == "" and verify_jsonl("") == []


def test_export_is_json_lines_that_verify_offline(blobs: BlobStore) -> None:
    log = _fill(blobs)
    text = log.export_jsonl()
    lines = text.splitlines()
    assert len(lines) == N and [json.loads(line)["seq"] for line in lines] == list(range(1, N + 1))
    assert verify_jsonl(text) == []
    assert verify_jsonl(text, expect_head=log.head()) == []


# ---- tampering with the stored log ---------------------------------------------------


def _rewrite(
    blobs: BlobStore, record: dict[str, Any], *, rehash: bool, key_seq: int | None = None
) -> None:
    if rehash:
        record["sha256"] = record_digest(record)
    blobs.put(record_key(key_seq or record["seq"]), canonical(record))


def _set_head(blobs: BlobStore, record: dict[str, Any]) -> None:
    blobs.put(HEAD_KEY, json.dumps({"seq": record["seq"], "sha256": record_hash(record)}).encode())


def tamper(blobs: BlobStore, kind: str, i: int, j: int) -> set[int]:
    """Tamper with record index ``i`` (and ``j``) of a clean log; the seqs a verifier must name."""
    recs = AuditLog(blobs).records()
    n = len(recs)
    if kind.startswith("swap"):
        i, j = min(i, j), max(i, j)
    r = recs[i]
    if kind in ("edit", "edit_rehash"):
        r["data"] = {"i": 999, "ids": []}
        _rewrite(blobs, r, rehash=kind == "edit_rehash")
        return {i + 1, i + 2}
    if kind in ("edit_prev", "edit_prev_rehash"):
        r["prev"] = "f" * 64
        _rewrite(blobs, r, rehash=kind == "edit_prev_rehash")
        return {i + 1}
    if kind == "edit_time":
        r["time"] = (T0 - timedelta(days=30)).isoformat()
        _rewrite(blobs, r, rehash=False)
        return {i + 1}
    if kind == "delete":
        blobs.delete(record_key(i + 1))
        return {i + 1}
    if (
        kind == "delete_renumber"
    ):  # remove record i, renumber the rest and fix every digest and the head
        for later in recs[i + 1 :]:
            later["seq"] -= 1
            _rewrite(blobs, later, rehash=True)
        blobs.delete(record_key(n))
        _set_head(blobs, recs[-1])
        return {i + 1}
    if kind == "insert":  # a forged record at i, properly chained to i-1, the rest renumbered
        forged = {
            "seq": i + 1,
            "time": r["time"],
            "actor": "evil@x",
            "action": "prune.result",
            "data": {"deleted": ["app/x"]},
            "prev": r["prev"],
        }
        for later in recs[i:]:
            later["seq"] += 1
            _rewrite(blobs, later, rehash=True)
        _rewrite(blobs, forged, rehash=True)
        _set_head(blobs, recs[-1])
        return {i + 1, i + 2}
    if kind == "swap":  # exchange two stored objects
        a, b = blobs.get(record_key(i + 1)), blobs.get(record_key(j + 1))
        blobs.put(record_key(i + 1), b)
        blobs.put(record_key(j + 1), a)
        return {i + 1, j + 1}
    if kind == "swap_renumber":  # exchange two records and fix their seq and digests
        ri, rj = recs[i], recs[j]
        ri["seq"], rj["seq"] = rj["seq"], ri["seq"]
        _rewrite(blobs, ri, rehash=True)
        _rewrite(blobs, rj, rehash=True)
        return {i + 1, i + 2, j + 1, j + 2}
    if kind == "move":  # record i stored under a later, free key
        blobs.put(record_key(n + 3), blobs.get(record_key(i + 1)))
        blobs.delete(record_key(i + 1))
        return {i + 1, n + 3}
    raise AssertionError(kind)


KINDS = [
    "edit",
    "edit_rehash",
    "edit_prev",
    "edit_prev_rehash",
    "edit_time",
    "delete",
    "delete_renumber",
    "insert",
    "swap",
    "swap_renumber",
    "move",
]


def _detected(problems: list[Any], expected: set[int]) -> bool:
    return bool(problems) and any(p.seq in expected for p in problems)


# dropping the newest record *and* rewriting the head pointer needs an anchored head (tested below)
CASES = [
    (k, w)
    for k in KINDS
    for w in ("first", "middle", "last")
    if (k, w) != ("delete_renumber", "last")
]


@pytest.mark.parametrize(("kind", "where"), CASES)
def test_tampering_is_detected_and_names_the_seq(blobs: BlobStore, kind: str, where: str) -> None:
    i = {"first": 0, "middle": 2, "last": N - 1}[where]
    j = N - 1 if i < N - 1 else 1
    log = _fill(blobs)
    expected = tamper(blobs, kind, i, j)
    problems = log.verify()
    assert _detected(problems, expected), (kind, i, j, problems)
    assert all(str(p) for p in problems)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=st.sampled_from(KINDS), n=st.integers(2, 7), data=st.data())
def test_any_tampering_anywhere_is_detected(kind: str, n: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, n - 2 if kind == "delete_renumber" else n - 1), label="i")
    j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i), label="j")
    with tempfile.TemporaryDirectory() as tmp:
        blobs = FileBlobs(tmp)
        log = _fill(blobs, n)
        expected = tamper(blobs, kind, i, j)
        problems = log.verify()
        assert _detected(problems, expected), (kind, i, j, problems)


def test_anchored_head_catches_a_rewritten_tail(blobs: BlobStore) -> None:
    log = _fill(blobs)
    anchor = log.head()  # e.g. recorded in last month's proof
    log.append("drill", {"ok": True}, now=T0 + timedelta(days=1))
    assert log.verify(expect_head=anchor) == []  # the log may grow
    recs = log.records()
    for seq in (N + 1, N):
        blobs.delete(record_key(seq))
    _set_head(blobs, recs[N - 2])
    assert log.verify() == []  # undetectable without an anchor ...
    problems = log.verify(expect_head=anchor)
    assert problems and "expected head" in problems[0].problem  # ... caught with one
    assert str(problems[0]).startswith("the expected head")


def test_stray_objects_and_garbage_are_reported(blobs: BlobStore) -> None:
    log = _fill(blobs)
    blobs.put("_backupctl/audit/notes.txt", b"hi")
    blobs.put(record_key(3), b"{broken")
    problems = log.verify()
    assert any(p.key == "_backupctl/audit/notes.txt" for p in problems)
    assert any(p.seq == 3 and "JSON" in p.problem for p in problems)
    with pytest.raises(StoreError, match="0000000003"):
        log.records()


def test_a_record_key_in_non_ascii_digits_is_a_stray_not_a_record(blobs: BlobStore) -> None:
    """Python's \\d is every Unicode digit: "９９９９９９９９９９.json" sorted last and was read as
    record 9999999999, the log's tail (append then continued from it). It is a stray object."""
    log = _fill(blobs)
    planted = "_backupctl/audit/" + "９" * 10 + ".json"
    blobs.put(planted, b"{}")
    problems = log.verify()
    assert [p.key for p in problems] == [planted]
    assert "unexpected object" in problems[0].problem
    assert len(log.records()) == N


def test_append_refuses_to_continue_a_log_whose_tail_was_removed(blobs: BlobStore) -> None:
    log = _fill(blobs)
    blobs.delete(record_key(N))
    with pytest.raises(StoreError, match=rf"damaged: record {N} is missing"):
        log.append("prune.intent", {}, now=T0)
    assert [b.key for b in blobs.list("_backupctl/audit/")][-1] == record_key(N - 1)


def test_append_rejects_bad_input(blobs: BlobStore) -> None:
    log = AuditLog(blobs)
    with pytest.raises(TypeError):
        log.append("drill", {"when": datetime.now(UTC)}, now=T0)
    with pytest.raises(ValueError):
        log.append("drill", {"ratio": float("nan")}, now=T0)
    with pytest.raises(ValueError):
        log.append("drill", {}, now=datetime(2026, 1, 1))
    assert log.records() == []


# ---- tampering with an export --------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 8),
    op=st.sampled_from(["edit", "delete", "swap", "insert", "edit_prev", "dup"]),
    data=st.data(),
)
def test_any_tampering_of_an_export_is_detected(n: int, op: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        text = _fill(FileBlobs(tmp), n).export_jsonl()
    lines = text.splitlines()
    last = n - 1 if op != "delete" else n - 2  # a dropped last line needs an anchor (tested above)
    i = data.draw(st.integers(0, last), label="i")
    expected = {i + 1}
    record = json.loads(lines[i])
    if op == "edit":
        record["actor"] = "someone-else@x"
        lines[i] = json.dumps(record)
    elif op == "edit_prev":
        record["prev"] = ZERO_HASH if i else "1" * 64
        record["sha256"] = record_digest(record)
        lines[i] = canonical(record).decode()
    elif op == "delete":
        del lines[i]
    elif op == "swap":
        j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i), label="j")
        lines[i], lines[j] = lines[j], lines[i]
        expected.add(j + 1)
    elif op == "insert":
        forged = {**record, "actor": "evil@x", "seq": record["seq"]}
        forged["sha256"] = record_digest(forged)
        lines.insert(i, canonical(forged).decode())
        expected.add(i + 2)
    elif op == "dup":
        lines.insert(i, lines[i])
    problems = verify_jsonl("\n".join(lines) + "\n")
    assert _detected(problems, expected), (op, i, problems)


# ---- concurrency -----------------------------------------------------------------------


def test_two_appenders_produce_one_gapless_valid_chain(blobs: BlobStore) -> None:
    per_writer = 8
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        log = AuditLog(blobs)
        barrier.wait()
        try:
            for k in range(per_writer):
                log.append("drill", {"writer": name, "k": k}, actor=f"{name}@h", now=T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    log = AuditLog(blobs)
    records = log.records()
    assert [r["seq"] for r in records] == list(range(1, 2 * per_writer + 1))
    assert sorted((r["data"]["writer"], r["data"]["k"]) for r in records) == sorted(
        (w, k) for w in "ab" for k in range(per_writer)
    )
    assert log.verify() == []
    # the head pointer may lag behind a racing writer, never run ahead, and the next append
    # continues the chain
    log.append("prune.intent", {}, now=T0)
    assert log.records()[-1]["seq"] == 2 * per_writer + 1 and log.verify() == []


def test_a_retried_append_of_the_same_bytes_is_not_duplicated(blobs: BlobStore) -> None:
    log = _fill(blobs, 2)
    original_put = blobs.put
    calls: list[str] = []

    def put_twice(key: str, data: bytes, *, if_absent: bool = False) -> None:
        calls.append(key)
        original_put(key, data, if_absent=if_absent)
        if if_absent:  # the response was "lost": the client retries the same PUT
            original_put(key, data, if_absent=if_absent)

    blobs.put = put_twice  # type: ignore[method-assign]
    record = log.append("drill", {"x": 1}, now=T0)
    assert record["seq"] == 3 and calls.count(record_key(3)) == 1
    assert [r["seq"] for r in log.records()] == [1, 2, 3] and log.verify() == []


# ---- where the log lives ------------------------------------------------------------------


def _cfg(url: str, extra: str = "") -> Any:
    import tomllib

    return parse_config(
        tomllib.loads(
            f'[store]\nurl = "{url}"\n{extra}\n[[policy]]\nname = "app"\nkeep_within = "2m"\n'
        ),
        path="t.toml",
    )


def test_audit_blobs_for_each_store_kind(tmp_path: Path) -> None:
    s3 = audit_blobs_for(_cfg("s3://backups/salure", 'endpoint_url = "http://127.0.0.1:9"'))
    assert isinstance(s3, S3Blobs) and (s3.bucket, s3.prefix) == ("backups", "salure/")
    local = audit_blobs_for(_cfg(f"file://{tmp_path}"))
    assert isinstance(local, FileBlobs) and local.root == tmp_path
    restic = audit_blobs_for(_cfg("restic:s3:http://127.0.0.1:9000/bucket/repo/x"))
    assert isinstance(restic, S3Blobs) and (restic.bucket, restic.prefix) == ("bucket", "repo/x/")
    assert restic.client.meta.endpoint_url == "http://127.0.0.1:9000"
    aws = audit_blobs_for(_cfg("restic:s3:s3.amazonaws.com/bkt"))
    assert isinstance(aws, S3Blobs) and (aws.bucket, aws.prefix) == ("bkt", "")
    override = audit_blobs_for(
        _cfg("restic:/srv/repo", f'[audit]\nurl = "file://{tmp_path}/audit"')
    )
    assert isinstance(override, FileBlobs) and override.root == tmp_path / "audit"
    with pytest.raises(
        ConfigError,
        match=r"(?s)t\.toml.*audit\.url: required for the restic repository '/srv/repo'",
    ):
        audit_blobs_for(_cfg("restic:/srv/repo"))
    with pytest.raises(ConfigError, match=r"audit\.url"):
        audit_blobs_for(_cfg("s3://b/p", '[audit]\nurl = "restic:/x"'))


# ---- backupctl audit ---------------------------------------------------------------------


def test_audit_cli_verify_and_export(tmp_path: Path) -> None:
    store = FileBlobs(tmp_path / "store")
    _fill(store)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "file://{tmp_path}/store"\n[[policy]]\nname = "app"\nkeep_within = "2m"\n'
    )
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--config", str(config), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["ok"] is True and report["records"] == N and report["problems"] == []
    exported = runner.invoke(main, ["audit", "export", "--config", str(config)])
    assert exported.exit_code == 0 and verify_jsonl(exported.stdout) == []
    (tmp_path / "log.jsonl").write_text(exported.stdout)
    offline = runner.invoke(
        main, ["audit", "verify", "--file", str(tmp_path / "log.jsonl"), "--head", report["head"]]
    )
    assert offline.exit_code == 0 and "intact" in offline.stdout

    tamper(store, "edit", 1, 2)
    bad = runner.invoke(main, ["audit", "verify", "--config", str(config)])
    assert bad.exit_code == 3 and "TAMPERED" in bad.stdout and "record 2" in bad.stdout
    bad_json = runner.invoke(main, ["audit", "verify", "--config", str(config), "--json"])
    assert bad_json.exit_code == 3 and 2 in [
        p["seq"] for p in json.loads(bad_json.stdout)["problems"]
    ]

    usage = runner.invoke(main, ["audit", "verify", "--head", "xyz", "--file", "-"], input="")
    assert usage.exit_code == 2 and "--head" in usage.output
    missing = runner.invoke(main, ["audit", "verify", "--file", str(tmp_path / "nope.jsonl")])
    assert (
        missing.exit_code == 2
        and "nope.jsonl" in missing.output
        and "Traceback" not in missing.output
    )


def test_audit_cli_on_s3(tmp_path: Path, s3_client, s3_endpoint: str, bucket: str) -> None:  # type: ignore[no-untyped-def]
    _fill(S3Blobs(s3_client, bucket, "salure"))
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "s3://{bucket}/salure"\nendpoint_url = "{s3_endpoint}"\n'
        '[[policy]]\nname = "app"\nkeep_within = "2m"\n'
    )
    result = CliRunner().invoke(main, ["audit", "verify", "--config", str(config)])
    assert result.exit_code == 0 and f"s3://{bucket}/salure/_backupctl/audit/" in result.stdout


# ---- hostile records and heads (bounded parsing) -----------------------------------------------

HOSTILE = {
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"seq":' * 50_000 + b"1" + b"}" * 50_000,
    "5000-digits": b'{"seq": ' + b"9" * 5000 + b"}",
    "nan": b'{"seq": NaN}',
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_record_is_one_problem_and_the_rest_is_served(tmp_path: Path, name: str) -> None:
    blobs = FileBlobs(tmp_path / "store")
    log = _fill(blobs)
    blobs.put(record_key(3), HOSTILE[name])
    report = log.verify_report()
    assert not report.ok and report.records == N
    assert [p.seq for p in report.problems if p.key == record_key(3)] == [3]
    with pytest.raises(StoreError, match="0000000003"):
        log.records()
    lines = log.export_jsonl().splitlines()
    assert len(lines) == N and json.loads(lines[2])["unreadable_object"] == record_key(3)
    log.append("drill", {"after": True}, now=T0)  # the tail is intact: appending goes on
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "file://{tmp_path}/store"\n[[policy]]\nname = "app"\nkeep_within = "2m"\n'
    )
    result = CliRunner().invoke(main, ["audit", "verify", "--config", str(config), "--json"])
    assert result.exit_code == 3, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any(p["seq"] == 3 for p in problems) and "Traceback" not in result.output
    exported = CliRunner().invoke(main, ["audit", "export", "--config", str(config)])
    assert exported.exit_code == 0
    offline = verify_jsonl(exported.stdout)
    assert offline  # the placeholder line is reported, not a crash


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_tail_record_stops_append_with_a_clear_error(tmp_path: Path, name: str) -> None:
    blobs = FileBlobs(tmp_path / "store")
    log = _fill(blobs)
    blobs.put(record_key(N), HOSTILE[name])
    with pytest.raises(StoreError, match=rf"{record_key(N)}|record {N}"):
        log.append("prune.intent", {}, now=T0)
    with pytest.raises(StoreError, match="unreadable"):
        log.head()
    assert blobs.get(record_key(N)) == HOSTILE[name]


@pytest.mark.parametrize("name", [*HOSTILE, "wrong-types", "bool-seq", "negative"])
def test_a_hostile_head_pointer_is_reported_and_append_refuses_clearly(
    tmp_path: Path, name: str
) -> None:
    blobs = FileBlobs(tmp_path / "store")
    log = _fill(blobs)
    raw = {
        "wrong-types": b'{"seq": "5", "sha256": 7}',
        "bool-seq": b'{"seq": true, "sha256": "x"}',
        "negative": b'{"seq": -3, "sha256": "' + b"0" * 64 + b'"}',
    }.get(name) or HOSTILE[name]
    blobs.put(HEAD_KEY, raw)
    problems = log.verify()
    assert any(p.key == HEAD_KEY for p in problems), problems
    with pytest.raises(StoreError, match=r"audit-head\.json"):
        log.append("prune.intent", {}, now=T0)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "file://{tmp_path}/store"\n[[policy]]\nname = "app"\nkeep_within = "2m"\n'
    )
    result = CliRunner().invoke(main, ["audit", "verify", "--config", str(config)])
    assert (
        result.exit_code == 3
        and "audit-head.json" in result.stdout
        and "Traceback" not in result.output
    )


def test_hostile_lines_in_an_export_are_problems(tmp_path: Path) -> None:
    log = _fill(FileBlobs(tmp_path))
    lines = log.export_jsonl().splitlines()
    lines[1] = HOSTILE["deep"].decode()
    lines[2] = HOSTILE["5000-digits"].decode()
    problems = verify_jsonl("\n".join(lines) + "\n")
    assert {p.key for p in problems} >= {"line 2", "line 3"}


# ---- a service that does not honour If-None-Match -----------------------------------------------


class _Unconditional:
    """A FileBlobs behind a 'service' that drops If-None-Match: every PUT overwrites."""

    def __init__(self, inner: FileBlobs) -> None:
        self.inner = inner

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        self.inner.put(key, data)

    def list(self, prefix: str = "") -> Any:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def test_append_on_a_store_that_ignores_the_condition_refuses_before_overwriting(
    tmp_path: Path,
) -> None:
    from backupctl.errors import SafetyRefusal

    inner = FileBlobs(tmp_path)
    _fill(inner, 3)
    before = {b.key: inner.get(b.key) for b in inner.list("_backupctl/")}
    with pytest.raises(SafetyRefusal, match=r"If-None-Match.*nothing was appended"):
        AuditLog(_Unconditional(inner)).append("prune.intent", {}, now=T0)
    assert {b.key: inner.get(b.key) for b in inner.list("_backupctl/")} == before
    empty = FileBlobs(tmp_path / "empty")
    with pytest.raises(SafetyRefusal, match="If-None-Match"):
        AuditLog(_Unconditional(empty)).append(
            "prune.intent", {}, now=T0
        )  # caught on the first record too


def test_append_whose_fresh_record_is_overwritten_says_so(tmp_path: Path) -> None:
    from backupctl.errors import SafetyRefusal

    inner = FileBlobs(tmp_path)
    _fill(inner, 2)

    class Racing(_Unconditional):
        def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
            self.inner.put(key, data, if_absent=if_absent)
            if key == record_key(3):
                self.inner.put(
                    key, data.replace(b"mine", b"them")
                )  # another writer's PUT, unconditional

    log = AuditLog(Racing(inner))
    with pytest.raises(SafetyRefusal, match=r"record 3 .*overwritten"):
        log.append("drill", {"who": "mine"}, now=T0)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_proof_reads_the_readable_records_around_a_hostile_one(
    tmp_path: Path, name: str
) -> None:
    from backupctl.commands.proof import _records

    blobs = FileBlobs(tmp_path)
    log = _fill(blobs)
    blobs.put(record_key(2), HOSTILE[name])
    assert [r["seq"] for r in _records(log)] == [1, 3, 4, 5]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_objects = (
    _json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | st.sampled_from(list(HOSTILE.values()))
)


@settings(max_examples=100, deadline=None)
@given(record=_objects, head=st.none() | _objects, where=st.integers(1, 3))
def test_any_record_or_head_is_a_problem_not_a_crash(
    record: bytes, head: bytes | None, where: int
) -> None:
    from backupctl.errors import BackupctlError

    with tempfile.TemporaryDirectory() as tmp:
        blobs = FileBlobs(tmp)
        log = _fill(blobs, 3)
        blobs.put(record_key(where), record)
        if head is not None:
            blobs.put(HEAD_KEY, head)
        report = log.verify_report()
        assert not report.ok
        log.export_jsonl()
        try:
            log.append("drill", {}, now=T0)
        except BackupctlError as exc:
            assert str(exc)
