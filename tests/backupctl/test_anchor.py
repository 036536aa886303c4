"""Issue 12 part 2: anchored heads. `audit verify` remembers the head it verified per log
(under $XDG_STATE_HOME/backupctl/), and a log that is shorter, emptied, or does not extend it
is tampered (exit 3); proofs record the head (`--since-proof`); prune exports it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.evidence.anchor import anchor_path, read_anchor, state_dir
from backupctl.evidence.audit import (
    AUDIT_PREFIX,
    HEAD_KEY,
    AuditLog,
    canonical,
    record_digest,
    record_hash,
    record_key,
)
from backupctl.seed import DirWriter, write_snapshot
from backupctl.stores.blobs import FileBlobs

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def fill(blobs: FileBlobs, n: int, start: int = 0) -> AuditLog:
    log = AuditLog(blobs)
    for i in range(start, start + n):
        log.append("prune.result", {"i": i}, actor="ops@db1", now=T0 + timedelta(hours=i))
    return log


def config(tmp_path: Path, store: Path, extra: str = "") -> Path:
    path = tmp_path / "backupctl.toml"
    path.write_text(
        f'timezone = "UTC"\n[store]\nurl = "file://{store}"\n[safety]\nmax_delete_fraction = 1.0\n'
        f'{extra}[[policy]]\nname = "app"\nkeep_last = 2\n'
    )
    return path


def verify(cfg: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["audit", "verify", "--config", str(cfg), *args])


def source(store: Path) -> str:
    return f"file://{store}/{AUDIT_PREFIX}"


@pytest.fixture()
def logged(tmp_path: Path) -> tuple[FileBlobs, Path]:
    """A store with a 4-record log, verified once (so its head is remembered)."""
    store = tmp_path / "store"
    blobs = FileBlobs(store)
    fill(blobs, 4)
    cfg = config(tmp_path, store)
    first = verify(cfg)
    assert first.exit_code == 0, first.output
    assert "first verification of this log on this host" in first.stdout
    return blobs, cfg


def test_the_verified_head_is_remembered_in_one_small_file_per_log(
    tmp_path: Path, logged: tuple[FileBlobs, Path]
) -> None:
    blobs, cfg = logged
    files = list((tmp_path / "state").rglob("*")) if (tmp_path / "state").exists() else []
    assert not files  # (the test's own state home is elsewhere: conftest's XDG_STATE_HOME)
    path = anchor_path(source(blobs.root))
    assert path.parent == state_dir() / "audit-heads" and path.is_file()
    saved = json.loads(path.read_text())
    assert saved["seq"] == 4 and saved["head"] == AuditLog(blobs).head()
    assert saved["source"] == source(blobs.root)
    fill(blobs, 2, start=4)  # the log grows: fine, and the anchor moves on
    grown = verify(cfg)
    assert grown.exit_code == 0 and "extends the head this host verified" in grown.stdout
    assert json.loads(path.read_text())["seq"] == 6
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_an_emptied_log_is_not_intact_once_anchored(logged: tuple[FileBlobs, Path]) -> None:
    blobs, cfg = logged
    shutil.rmtree(blobs.root / "_backupctl")  # every record and the head pointer
    result = verify(cfg)
    assert result.exit_code == 3, result.output
    assert "0 record(s)" in result.stdout and "intact" not in result.stdout
    assert "the log is empty, but this host's verification" in result.stdout
    again = verify(cfg)  # the anchor is not moved by a failed verification
    assert again.exit_code == 3


def test_a_truncated_log_with_a_rewritten_head_pointer_is_caught(
    logged: tuple[FileBlobs, Path],
) -> None:
    blobs, cfg = logged
    records = AuditLog(blobs).records()
    for r in records[2:]:
        blobs.delete(record_key(r["seq"]))
    kept = records[1]
    blobs.put(HEAD_KEY, json.dumps({"seq": 2, "sha256": record_hash(kept)}).encode())
    result = verify(cfg, "--json")
    assert result.exit_code == 3, result.output
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 1 and "ends at seq 2" in problems[0]["problem"]


def test_a_consistent_rewrite_is_caught_by_the_anchor_even_without_a_key(
    logged: tuple[FileBlobs, Path],
) -> None:
    blobs, cfg = logged
    prev = "0" * 64
    for r in AuditLog(blobs).records():
        r = {k: v for k, v in r.items() if k != "sha256"}
        r["data"], r["prev"] = {"rewritten": True}, prev
        r["sha256"] = record_digest(r)
        blobs.put(record_key(r["seq"]), canonical(r))
        prev = record_hash(r)
    blobs.put(HEAD_KEY, json.dumps({"seq": r["seq"], "sha256": prev}).encode())
    result = verify(cfg, "--json")
    assert result.exit_code == 3, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [p["seq"] for p in problems] == [4] and "rewritten" in problems[0]["problem"]


def test_credentials_never_reach_the_anchor(tmp_path: Path) -> None:
    a = anchor_path("s3://AKIA1234567890:secretpw@host/bucket/_backupctl/audit/")
    b = anchor_path("s3://AKIA1234567890:otherpw@host/bucket/_backupctl/audit/")
    assert a == b
    from backupctl.evidence.anchor import save_anchor

    save_anchor("s3://AKIA1234567890:secretpw@host/bucket/_backupctl/audit/", 1, "a" * 64, T0)
    assert "secretpw" not in a.read_text() and "AKIA" not in a.read_text()


def test_state_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "backupctl"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/path"):
        monkeypatch.setenv("XDG_STATE_HOME", unset)
        assert state_dir() == tmp_path / "home" / ".local" / "state" / "backupctl"


@pytest.mark.parametrize(
    "content", [b"", b"{", b'{"seq": "x", "head": "y"}', b"[" * 10_000, b"x" * 100_000]
)
def test_a_damaged_anchor_file_is_one_line_exit_1(
    logged: tuple[FileBlobs, Path], content: bytes
) -> None:
    blobs, cfg = logged
    anchor_path(source(blobs.root)).write_bytes(content)
    result = verify(cfg)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "remembered audit head" in lines[0] and "Traceback" not in lines[0]


def test_an_unwritable_state_home_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    fill(FileBlobs(store), 2)
    (tmp_path / "blocker").write_text("a file where the state directory should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "blocker"))
    result = verify(config(tmp_path, store))
    assert result.exit_code == 0 and "warning: cannot remember" in result.output


# ---- proofs record the head ----------------------------------------------------------------------


def _store_with_snapshots(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    for d in range(5, 0, -1):
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
    return store


def test_since_proof_checks_the_log_still_extends_the_proofs_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with_snapshots(tmp_path)
    blobs = FileBlobs(store)
    fill(blobs, 3)
    cfg = config(tmp_path, store)
    made = CliRunner().invoke(
        main,
        [
            *("proof", "--config", str(cfg), "--from", "2026-11-01", "--to", "2026-11-23"),
            *("--out", str(tmp_path / "proof")),
        ],
        env={"BACKUPCTL_NOW": T0.isoformat()},
    )
    assert made.exit_code in (0, 3), made.output
    audit = json.loads((tmp_path / "proof" / "proof.json").read_text())["audit"]
    assert audit["head"] == AuditLog(blobs).head() and audit["head_seq"] == 3
    fill(blobs, 1, start=3)
    assert verify(cfg, "--since-proof", str(tmp_path / "proof")).exit_code == 0

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "auditor-laptop"))  # no anchor here
    shutil.rmtree(store / "_backupctl")
    fill(blobs, 2)  # a new, shorter log in its place
    plain = verify(cfg)
    assert plain.exit_code == 0  # the attack, seen from a host without memory
    caught = verify(cfg, "--since-proof", str(tmp_path / "proof"))
    assert caught.exit_code == 3, caught.output
    assert "the proof in" in caught.stdout


def test_since_proof_needs_a_readable_proof(tmp_path: Path) -> None:
    store = tmp_path / "store"
    fill(FileBlobs(store), 1)
    cfg = config(tmp_path, store)
    (tmp_path / "p").mkdir()
    missing = verify(cfg, "--since-proof", str(tmp_path / "p"))
    assert missing.exit_code == 2 and "proof.json" in missing.output
    (tmp_path / "p" / "proof.json").write_text('{"audit": {}}')
    nohead = verify(cfg, "--since-proof", str(tmp_path / "p"))
    assert nohead.exit_code == 2 and "records no audit head" in nohead.output


# ---- prune exports the head ----------------------------------------------------------------------


def test_prune_json_and_metrics_carry_the_head(tmp_path: Path) -> None:
    store = _store_with_snapshots(tmp_path)
    cfg = config(tmp_path, store)
    metrics = tmp_path / "m.prom"
    result = CliRunner().invoke(
        main,
        ["prune", "--config", str(cfg), "--json", "--metrics-file", str(metrics)],
        env={"BACKUPCTL_NOW": T0.isoformat()},
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    log = AuditLog(FileBlobs(store))
    assert out["audit_head"] == {"seq": 2, "head": log.head()}
    text = metrics.read_text()
    assert "backupctl_audit_head_seq 2\n" in text
    assert f'backupctl_audit_head_info{{head="{log.head()}"}} 1\n' in text
    # an outside system keeps it and checks later: the log still extends it
    assert verify(cfg, "--head", out["audit_head"]["head"]).exit_code == 0
    dry = CliRunner().invoke(
        main,
        ["prune", "--config", str(cfg), "--json", "--dry-run"],
        env={"BACKUPCTL_NOW": T0.isoformat()},
    )
    assert dry.exit_code == 0 and json.loads(dry.stdout)["audit_head"] is None


def test_read_anchor_none_before_the_first_verification(tmp_path: Path) -> None:
    assert read_anchor(source(tmp_path)) is None
