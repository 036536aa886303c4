"""Issue 12 parts 1-2 end to end on a real S3 endpoint (moto over HTTP): prune and proof sign
with [audit] signing_key_file, audit verify checks against [audit] public_key_file, and the
attacks of someone who can write to the bucket but holds no key are caught (exit 3): a whole
chain rewritten consistently, a forged appended drill record, an emptied log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backupctl.cli import main
from backupctl.evidence.audit import (
    AUDIT_PREFIX,
    HEAD_KEY,
    AuditLog,
    canonical,
    record_digest,
    record_hash,
    record_key,
    signed_bytes,
)
from backupctl.evidence.signing import Signer
from backupctl.seed import S3Writer, write_snapshot
from backupctl.stores.blobs import S3Blobs

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PREFIX = "salure"


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"BACKUPCTL_NOW": NOW.isoformat()})


@pytest.fixture()
def signed_store(tmp_path: Path, s3_client: Any, s3_endpoint: str, bucket: str) -> Path:
    """An S3 store with 6 snapshots, a key pair, and a config that signs and verifies; one
    signed prune has run and its log was verified (so its head is remembered)."""
    for d in range(6, 0, -1):
        write_snapshot(
            S3Writer(s3_client, bucket, PREFIX), "app", NOW - timedelta(days=d), {"db": b"x"}
        )
    made = _run("keygen", "--out", str(tmp_path / "audit.key"))
    assert made.exit_code == 0, made.output
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "UTC"\n[store]\nurl = "s3://{bucket}/{PREFIX}"\n'
        f'endpoint_url = "{s3_endpoint}"\n'
        'region = "us-east-1"\n[safety]\nmax_delete_fraction = 1.0\n'
        f'[audit]\nsigning_key_file = "{tmp_path}/audit.key"\n'
        f'public_key_file = "{tmp_path}/audit.key.pub"\n'
        '[[policy]]\nname = "app"\nkeep_last = 3\n'
    )
    pruned = _run("prune", "--config", str(cfg), "--json")
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.stdout)["audit_head"]["seq"] == 2
    ok = _run("audit", "verify", "--config", str(cfg))
    assert ok.exit_code == 0 and "every record signed" in ok.stdout, ok.output
    return cfg


def _blobs(s3_client: Any, bucket: str) -> S3Blobs:
    return S3Blobs(s3_client, bucket, PREFIX)


def test_a_consistent_rewrite_with_another_key_is_caught(
    signed_store: Path, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    blobs = _blobs(s3_client, bucket)
    evil = Signer.of(Ed25519PrivateKey.generate())
    prev = "0" * 64
    for r in AuditLog(blobs).records():  # hide the deletions, re-sign, re-hash, new head
        r = {k: v for k, v in r.items() if k not in ("sig", "sha256")}
        r["data"], r["prev"], r["key_id"] = {"deleted": []}, prev, evil.key_id
        r["sig"] = evil.sign(signed_bytes(r))
        r["sha256"] = record_digest(r)
        blobs.put(record_key(r["seq"]), canonical(r))
        prev = record_hash(r)
    blobs.put(HEAD_KEY, json.dumps({"seq": r["seq"], "sha256": prev}).encode())
    # from an auditor's host with no memory of this log, only the public key catches it
    fresh = {"XDG_STATE_HOME": str(tmp_path / "auditor"), "BACKUPCTL_NOW": NOW.isoformat()}
    result = CliRunner().invoke(
        main, ["audit", "verify", "--config", str(signed_store), "--json"], env=fresh
    )
    assert result.exit_code == 3, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [p["seq"] for p in problems] == [1, 2]
    assert all("not by the trusted key" in p["problem"] for p in problems)


def test_a_forged_appended_drill_record_is_caught(
    signed_store: Path, s3_client: Any, bucket: str
) -> None:
    blobs = _blobs(s3_client, bucket)
    log = AuditLog(blobs)
    old_head, last = log.head(), log.records()[-1]
    forged = {
        "seq": 3,
        "time": NOW.isoformat(),
        "actor": "ops@db1",
        "action": "drill",
        "data": {"verdict": "passed"},
        "prev": record_hash(last),
    }
    forged["sha256"] = record_digest(forged)
    blobs.put(record_key(3), canonical(forged), if_absent=True)
    result = _run("audit", "verify", "--config", str(signed_store), "--head", old_head)
    assert result.exit_code == 3, result.output
    assert "record 3 (_backupctl/audit/0000000003.json): unsigned" in result.stdout


def test_an_emptied_log_is_caught_by_the_remembered_head(
    signed_store: Path, s3_client: Any, bucket: str
) -> None:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/_backupctl/")
    for obj in listed.get("Contents", []):
        s3_client.delete_object(Bucket=bucket, Key=obj["Key"])
    result = _run("audit", "verify", "--config", str(signed_store))
    assert result.exit_code == 3, result.output
    assert f"{PREFIX}/{AUDIT_PREFIX}: TAMPERED" in result.stdout
    assert "the log is empty, but this host's verification" in result.stdout


def test_a_signed_proof_checks_offline_with_only_the_public_key(
    signed_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "proof"
    made = _run(
        *("proof", "--config", str(signed_store), "--from", "2026-11-01", "--to", "2026-11-23"),
        *("--out", str(out)),
    )
    assert made.exit_code in (0, 3), made.output
    assert (out / "proof.json.sig").is_file()
    pub = tmp_path / "audit.key.pub"
    checked = _run("proof", "check", str(out), "--pubkey", str(pub))
    assert checked.exit_code == 0 and "valid signature" in checked.output, checked.output
    since = _run("audit", "verify", "--config", str(signed_store), "--since-proof", str(out))
    assert since.exit_code == 0, since.output
