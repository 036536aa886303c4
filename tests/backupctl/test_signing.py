"""Issue 12 part 1: Ed25519 keys, signed audit records and proofs, key rotation.

Each attack is shown twice: without the public key it gets through (the chain alone cannot
tell), with it the forgery is a violation (exit 3) naming the record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from backupctl.cli import main
from backupctl.evidence.audit import (
    HEAD_KEY,
    ROTATE_ACTION,
    AuditLog,
    canonical,
    record_digest,
    record_hash,
    record_key,
    signed_bytes,
    verify_jsonl_report,
)
from backupctl.evidence.signing import (
    MAX_KEY_BYTES,
    Signer,
    key_id_of,
    load_public_key,
    load_signer,
    public_hex,
)
from backupctl.seed import DirWriter, write_snapshot
from backupctl.stores.blobs import FileBlobs

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def keygen(path: Path) -> tuple[Path, Path]:
    result = CliRunner().invoke(main, ["keygen", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path, Path(f"{path}.pub")


def attacker() -> Signer:
    return Signer.of(Ed25519PrivateKey.generate())


def fill(blobs: FileBlobs, signer: Signer | None, n: int = 4, start: int = 0) -> AuditLog:
    log = AuditLog(blobs, signer=signer)
    for i in range(start, start + n):
        log.append(
            ("prune.intent", "prune.result", "drill")[i % 3],
            {"i": i, "verdict": "passed" if i % 3 == 2 else None},
            actor="ops@db1",
            now=T0 + timedelta(hours=i),
        )
    return log


def put_raw(blobs: FileBlobs, record: dict[str, Any]) -> None:
    blobs.put(record_key(record["seq"]), canonical(record))


def seal(record: dict[str, Any], signer: Signer | None) -> dict[str, Any]:
    """Re-sign (with ``signer``, or strip the signature) and re-hash a record."""
    record = {k: v for k, v in record.items() if k not in ("sig", "key_id", "sha256")}
    if signer is not None:
        record["key_id"] = signer.key_id
        record["sig"] = signer.sign(signed_bytes(record))
    record["sha256"] = record_digest(record)
    return record


def set_head(blobs: FileBlobs, record: dict[str, Any]) -> None:
    blobs.put(HEAD_KEY, json.dumps({"seq": record["seq"], "sha256": record_hash(record)}).encode())


def config(tmp_path: Path, store: Path, **audit: str) -> Path:
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in audit.items())
    path = tmp_path / "backupctl.toml"
    path.write_text(
        f'timezone = "UTC"\n[store]\nurl = "file://{store}"\n[safety]\nmax_delete_fraction = 1.0\n'
        f'[audit]\n{lines}[[policy]]\nname = "app"\nkeep_last = 2\n'
    )
    return path


def verify(*args: str, state: Path | None = None) -> Any:
    env = {"XDG_STATE_HOME": str(state)} if state is not None else None
    return CliRunner().invoke(main, ["audit", "verify", *args], env=env)


# ---- keygen ----------------------------------------------------------------------------------


def test_keygen_writes_a_0600_private_key_and_a_public_key_even_with_umask_0(
    tmp_path: Path,
) -> None:
    old = os.umask(0)
    try:
        private, public = keygen(tmp_path / "audit.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    signer, verifier = load_signer(private), load_public_key(public)
    assert signer.key_id == verifier.key_id == key_id_of(verifier.public)
    assert verifier.verify(signer.sign(b"x"), b"x") and not verifier.verify(signer.sign(b"x"), b"y")


@pytest.mark.parametrize("existing", ["audit.key", "audit.key.pub"])
def test_keygen_never_overwrites(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("precious")
    result = CliRunner().invoke(main, ["keygen", "--out", str(tmp_path / "audit.key")])
    assert result.exit_code == 2, result.output
    assert "already exists" in result.output and "Traceback" not in result.output
    assert (tmp_path / existing).read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # no half pair left


def test_keygen_key_is_readable_by_openssl(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl")
    private, public = keygen(tmp_path / "k")
    derived = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout"], capture_output=True, check=True
    )
    assert derived.stdout == public.read_bytes()


# ---- bad key files: one line, exit 2 ------------------------------------------------------------


def _bad_keys(tmp_path: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}

    def write(name: str, data: bytes, mode: int = 0o600) -> None:
        out[name] = tmp_path / name
        out[name].write_bytes(data)
        out[name].chmod(mode)

    write("empty", b"")
    write("garbage", b"not a key\n")
    write("huge", b"-----BEGIN PUBLIC KEY-----\n" + b"A" * (MAX_KEY_BYTES + 10))
    write("binary", bytes(range(256)))
    rsa = generate_private_key(public_exponent=65537, key_size=1024)
    write(
        "rsa",
        rsa.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write(
        "rsa.pub",
        rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    ed = Ed25519PrivateKey.generate()
    write(
        "encrypted",
        ed.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        ),
    )
    pem = ed.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write("world-readable", pem, 0o644)
    write("private-as-public", pem)
    write(
        "public-as-private",
        ed.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    os.mkfifo(tmp_path / "fifo")
    out["fifo"] = tmp_path / "fifo"
    out["missing"] = tmp_path / "nope"
    out["directory"] = tmp_path
    return out


PUBLIC_BAD = ["empty", "garbage", "huge", "binary", "rsa.pub", "private-as-public", "fifo"]
PUBLIC_BAD += ["missing", "directory"]
PRIVATE_BAD = ["empty", "garbage", "huge", "binary", "rsa", "encrypted", "world-readable"]
PRIVATE_BAD += ["public-as-private", "fifo", "missing", "directory"]


def _one_line_exit_2(result: Any, name: str) -> None:
    assert result.exit_code == 2, (name, result.output)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backupctl: error:"), (name, result.output)


def test_bad_public_key_files_are_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    bad = _bad_keys(tmp_path / "keys")
    store = tmp_path / "store"
    fill(FileBlobs(store), None, 1)
    (tmp_path / "proof").mkdir()
    for name in PUBLIC_BAD:
        _one_line_exit_2(verify("--file", "-", "--pubkey", str(bad[name])), name)
        cfg = config(tmp_path, store, public_key_file=str(bad[name]))
        _one_line_exit_2(verify("--config", str(cfg)), f"config {name}")
        check = CliRunner().invoke(
            main, ["proof", "check", str(tmp_path / "proof"), "--pubkey", str(bad[name])]
        )
        _one_line_exit_2(check, f"proof {name}")


def test_bad_signing_key_files_stop_prune_before_anything_changes(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    bad = _bad_keys(tmp_path / "keys")
    store = tmp_path / "store"
    for d in range(5, 0, -1):
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
    before = sorted(p.relative_to(store).as_posix() for p in store.rglob("*"))
    for name in PRIVATE_BAD:
        cfg = config(tmp_path, store, signing_key_file=str(bad[name]))
        result = CliRunner().invoke(
            main, ["prune", "--config", str(cfg)], env={"BACKUPCTL_NOW": T0.isoformat()}
        )
        _one_line_exit_2(result, name)
        assert str(bad[name]) in result.output
        assert sorted(p.relative_to(store).as_posix() for p in store.rglob("*")) == before


# ---- signed records ------------------------------------------------------------------------------


def test_signed_records_verify_and_openssl_agrees(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    store = FileBlobs(tmp_path / "store")
    fill(store, load_signer(private))
    records = AuditLog(store).records()
    verifier = load_public_key(public)
    for r in records:
        assert r["key_id"] == verifier.key_id and verifier.verify(r["sig"], signed_bytes(r))
        assert r["sha256"] == record_digest(r)  # sha256 covers the signature
    cfg = config(tmp_path, tmp_path / "store", public_key_file=str(public))
    ok = verify("--config", str(cfg), "--json")
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout)
    assert out["signatures"] == {
        "checked": True,
        "trusted_key": verifier.key_id,
        "key_id_at_head": verifier.key_id,
    }
    if shutil.which("openssl") is None:
        return
    r = records[-1]  # an auditor's independent check: openssl and the documented bytes
    (tmp_path / "msg").write_bytes(signed_bytes(r))
    (tmp_path / "sig").write_bytes(bytes.fromhex(r["sig"]))
    subprocess.run(
        [
            *("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin"),
            *("-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig")),
        ],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("how", ["unsigned", "attacker-key"])
def test_a_consistently_rewritten_chain_is_caught_with_the_public_key(
    tmp_path: Path, how: str
) -> None:
    private, public = keygen(tmp_path / "k")
    blobs = FileBlobs(tmp_path / "store")
    fill(blobs, load_signer(private))
    evil = attacker() if how == "attacker-key" else None
    prev = "0" * 64
    for r in AuditLog(blobs).records():  # the whole chain, every hash and the head recomputed
        r["data"] = {"rewritten": True}
        r["prev"] = prev
        r = seal(r, evil)
        put_raw(blobs, r)
        prev = record_hash(r)
    set_head(blobs, r)
    plain = config(tmp_path, tmp_path / "store")
    assert verify("--config", str(plain)).exit_code == 0  # the attack: the chain alone agrees
    (tmp_path / "state").mkdir()
    with_key = verify("--config", str(plain), "--pubkey", str(public), state=tmp_path / "state")
    assert with_key.exit_code == 3, with_key.output
    assert "record 1 (_backupctl/audit/0000000001.json)" in with_key.stdout
    assert ("unsigned" if how == "unsigned" else "not by the trusted key") in with_key.stdout


def test_an_appended_forged_drill_record_is_caught_even_with_the_old_head(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    blobs = FileBlobs(tmp_path / "store")
    log = fill(blobs, load_signer(private))
    old_head = log.head()
    last = log.records()[-1]
    forged = {
        "seq": last["seq"] + 1,
        "time": (T0 + timedelta(days=1)).isoformat(),
        "actor": "ops@db1",
        "action": "drill",
        "data": {"verdict": "passed"},
        "prev": record_hash(last),
        "key_id": last["key_id"],  # claims the real key; cannot make its signature
        "sig": last["sig"],
    }
    forged = {**forged, "sha256": record_digest(forged)}
    put_raw(blobs, forged)
    set_head(blobs, forged)
    cfg = config(tmp_path, tmp_path / "store")
    assert verify("--config", str(cfg), "--head", old_head).exit_code == 0  # the attack
    caught = verify("--config", str(cfg), "--head", old_head, "--pubkey", str(public), "--json")
    assert caught.exit_code == 3, caught.output
    problems = json.loads(caught.stdout)["problems"]
    assert [(p["seq"], "bad signature" in p["problem"]) for p in problems] == [(5, True)]


def test_an_edited_signed_record_is_caught_even_when_rehashed(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    blobs = FileBlobs(tmp_path / "store")
    fill(blobs, load_signer(private))
    records = AuditLog(blobs).records()
    r = records[1]
    r["data"] = {"deleted": ["app/everything"]}
    r["sha256"] = record_digest(r)  # the signature kept: it no longer matches
    put_raw(blobs, r)
    report = verify_jsonl_report(
        "".join(canonical(x).decode() + "\n" for x in [records[0], r, *records[2:]]),
        trust=load_public_key(public),
    )
    assert {p.seq for p in report.problems} == {2, 3}  # bad signature (2), broken prev (3)
    assert any(p.seq == 2 and "bad signature" in p.problem for p in report.problems)


def test_unsigned_records_before_signed_from_are_accepted(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    blobs = FileBlobs(tmp_path / "store")
    fill(blobs, None, 3)  # the log began before signing was enabled
    fill(blobs, load_signer(private), 2, start=3)
    text = AuditLog(blobs).export_jsonl()
    strict = verify_jsonl_report(text, trust=load_public_key(public))
    assert [p.seq for p in strict.problems] == [1, 2, 3]
    assert verify_jsonl_report(text, trust=load_public_key(public), signed_from=4).ok
    cfg = config(tmp_path, tmp_path / "store", public_key_file=str(public), signed_from="4")
    cfg.write_text(cfg.read_text().replace('signed_from = "4"', "signed_from = 4"))
    assert verify("--config", str(cfg)).exit_code == 0
    assert verify("--config", str(cfg), "--signed-from", "1").exit_code == 3


# ---- rotation ------------------------------------------------------------------------------------


def test_rotation_hands_the_trust_to_the_new_key_only(tmp_path: Path) -> None:
    old_private, old_public = keygen(tmp_path / "old")
    new_private, _ = keygen(tmp_path / "new")
    store = tmp_path / "store"
    blobs = FileBlobs(store)
    fill(blobs, load_signer(old_private), 2)
    cfg = config(tmp_path, store, signing_key_file=str(old_private))
    rotated = CliRunner().invoke(
        main, ["audit", "rotate-key", "--config", str(cfg), "--new-key", str(new_private)]
    )
    assert rotated.exit_code == 0, rotated.output
    record = AuditLog(blobs).records()[-1]
    new_id = load_signer(new_private).key_id
    assert record["action"] == ROTATE_ACTION and record["data"]["new_key_id"] == new_id
    assert record["key_id"] == load_signer(old_private).key_id
    fill(blobs, load_signer(new_private), 2, start=2)
    ok = verify("--config", str(cfg), "--pubkey", str(old_public), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["signatures"]["key_id_at_head"] == new_id

    last = AuditLog(blobs).records()[-1]  # the old key after the rotation (append refuses it)
    late_record = seal(
        {
            "seq": 6,
            "time": T0.isoformat(),
            "actor": "thief@x",
            "action": "drill",
            "data": {"verdict": "passed"},
            "prev": record_hash(last),
        },
        load_signer(old_private),
    )
    put_raw(blobs, late_record)
    set_head(blobs, late_record)
    late = verify("--config", str(cfg), "--pubkey", str(old_public), "--json")
    assert late.exit_code == 3
    assert [p["seq"] for p in json.loads(late.stdout)["problems"]] == [6]


def test_a_rotation_record_signed_by_a_wrong_key_is_refused(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    blobs = FileBlobs(tmp_path / "store")
    fill(blobs, load_signer(private), 2)
    evil, evil_next = attacker(), attacker()
    last = AuditLog(blobs).records()[-1]
    rotation = seal(
        {
            "seq": 3,
            "time": T0.isoformat(),
            "actor": "ops@db1",
            "action": ROTATE_ACTION,
            "data": {
                "old_key_id": load_signer(private).key_id,
                "new_key_id": evil_next.key_id,
                "new_public_key": public_hex(evil_next.private.public_key()),
            },
            "prev": record_hash(last),
        },
        evil,
    )
    put_raw(blobs, rotation)
    set_head(blobs, rotation)
    fill(blobs, evil_next, 1, start=3)
    report = verify_jsonl_report(AuditLog(blobs).export_jsonl(), trust=load_public_key(public))
    assert [p.seq for p in report.problems] == [3, 4]
    assert "not by the trusted key" in report.problems[0].problem


def test_rotate_key_needs_the_current_key_and_a_different_new_one(tmp_path: Path) -> None:
    private, _ = keygen(tmp_path / "k")
    store = tmp_path / "store"
    fill(FileBlobs(store), load_signer(private), 1)
    no_key = config(tmp_path, store)
    result = CliRunner().invoke(
        main, ["audit", "rotate-key", "--config", str(no_key), "--new-key", str(private)]
    )
    _one_line_exit_2(result, "no signing key")
    same = config(tmp_path, store, signing_key_file=str(private))
    result = CliRunner().invoke(
        main, ["audit", "rotate-key", "--config", str(same), "--new-key", str(private)]
    )
    _one_line_exit_2(result, "same key")
    assert len(AuditLog(FileBlobs(store)).records()) == 1


# ---- proofs --------------------------------------------------------------------------------------


def _proof(tmp_path: Path, cfg: Path, out: str) -> Path:
    result = CliRunner().invoke(
        main,
        [
            *("proof", "--config", str(cfg), "--from", "2026-11-01", "--to", "2026-11-23"),
            *("--out", str(tmp_path / out)),
        ],
        env={"BACKUPCTL_NOW": T0.isoformat()},
    )
    assert result.exit_code in (0, 3), result.output
    return tmp_path / out


def test_proof_is_signed_and_an_edit_with_a_reembedded_hash_is_caught(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    store = tmp_path / "store"
    for d in range(5, 0, -1):
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
    fill(FileBlobs(store), load_signer(private), 2)
    cfg = config(tmp_path, store, signing_key_file=str(private), public_key_file=str(public))
    proof = _proof(tmp_path, cfg, "proof")
    sig = json.loads((proof / "proof.json.sig").read_text())
    assert sig["key_id"] == load_signer(private).key_id and sig["algorithm"] == "ed25519"
    ok = CliRunner().invoke(main, ["proof", "check", str(proof), "--pubkey", str(public)])
    assert ok.exit_code == 0 and "valid signature" in ok.output, ok.output

    data = (proof / "proof.json").read_bytes()  # edit, then re-embed the new hash in proof.html
    edited = data.replace(b'"records": 2', b'"records": 1', 1)  # e.g. hide an audit record
    assert edited != data
    html = (proof / "proof.html").read_bytes()
    html = html.replace(
        hashlib.sha256(data).hexdigest().encode(), hashlib.sha256(edited).hexdigest().encode()
    )
    (proof / "proof.json").write_bytes(edited)
    (proof / "proof.html").write_bytes(html)
    plain = CliRunner().invoke(main, ["proof", "check", str(proof)])
    assert plain.exit_code == 0  # the attack: the hash alone agrees
    caught = CliRunner().invoke(main, ["proof", "check", str(proof), "--pubkey", str(public)])
    assert caught.exit_code == 3 and "not a valid signature" in caught.output, caught.output

    (proof / "proof.json.sig").unlink()
    gone = CliRunner().invoke(main, ["proof", "check", str(proof), "--pubkey", str(public)])
    assert gone.exit_code == 3 and "unsigned" in gone.output, gone.output


def test_a_proof_signed_after_a_rotation_checks_with_the_first_key(tmp_path: Path) -> None:
    old_private, old_public = keygen(tmp_path / "old")
    new_private, new_public = keygen(tmp_path / "new")
    store = tmp_path / "store"
    fill(FileBlobs(store), load_signer(old_private), 2)
    old_cfg = config(tmp_path, store, signing_key_file=str(old_private))
    rotated = CliRunner().invoke(
        main, ["audit", "rotate-key", "--config", str(old_cfg), "--new-key", str(new_private)]
    )
    assert rotated.exit_code == 0, rotated.output
    cfg = config(
        tmp_path, store, signing_key_file=str(new_private), public_key_file=str(old_public)
    )
    proof = _proof(tmp_path, cfg, "proof")
    for key in (old_public, new_public):
        ok = CliRunner().invoke(main, ["proof", "check", str(proof), "--pubkey", str(key)])
        assert ok.exit_code == 0, (key, ok.output)
    stranger = tmp_path / "stranger"
    keygen(stranger)
    other = CliRunner().invoke(main, ["proof", "check", str(proof), "--pubkey", f"{stranger}.pub"])
    assert other.exit_code == 3, other.output


def test_every_writer_signs(tmp_path: Path) -> None:
    """prune and unlock records are signed too (drill's are in the e2e drill tests' path)."""
    private, public = keygen(tmp_path / "k")
    store = tmp_path / "store"
    for d in range(5, 0, -1):
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
    cfg = config(tmp_path, store, signing_key_file=str(private), public_key_file=str(public))
    env = {"BACKUPCTL_NOW": T0.isoformat()}
    pruned = CliRunner().invoke(main, ["prune", "--config", str(cfg)], env=env)
    assert pruned.exit_code == 0, pruned.output
    (store / "_backupctl" / "lock.json").write_text("junk")
    unlocked = CliRunner().invoke(main, ["unlock", "--config", str(cfg), "--force"], env=env)
    assert unlocked.exit_code == 0, unlocked.output
    records = AuditLog(FileBlobs(store)).records()
    assert [r["action"] for r in records] == ["prune.intent", "prune.result", "unlock"]
    assert all(r["key_id"] == load_signer(private).key_id for r in records)
    assert verify("--config", str(cfg)).exit_code == 0


@pytest.mark.parametrize("checked", [True, False])
def test_a_forged_unsigned_intent_never_resumes_a_deletion_when_signatures_are_checked(
    tmp_path: Path, checked: bool
) -> None:
    """A journal plus a chain-consistent but unsigned prune.intent is what made an interrupted
    deletion resumable; with [audit] public_key_file the forged intent does not verify, so the
    folder whose manifest someone hid is left alone."""
    from backupctl.stores.layout import JOURNAL_PREFIX, encode_journal

    private, public = keygen(tmp_path / "k")
    store = tmp_path / "store"
    ids = [
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
        for d in range(3, 0, -1)
    ]
    keys = {"signing_key_file": str(private)}
    if checked:
        keys["public_key_file"] = str(public)
    cfg = config(tmp_path, store, **keys)
    cfg.write_text(cfg.read_text().replace("keep_last = 2", "keep_last = 100"))
    env = {"BACKUPCTL_NOW": T0.isoformat()}
    assert CliRunner().invoke(main, ["prune", "--config", str(cfg)], env=env).exit_code == 0
    victim = store / ids[0]
    (victim / "manifest.json").unlink()  # hidden: the folder now looks half-deleted
    AuditLog(FileBlobs(store)).append("prune.intent", {"delete": [{"id": ids[0]}]}, now=T0)
    (store / JOURNAL_PREFIX).mkdir(parents=True, exist_ok=True)
    name = "20261101T000000Z-evil.json"
    (store / JOURNAL_PREFIX / name).write_bytes(encode_journal([ids[0]], name, T0))
    plan = CliRunner().invoke(main, ["plan", "--config", str(cfg), "--json"], env=env)
    assert (ids[0] in json.loads(plan.stdout)["resume"]) is not checked, plan.output
    result = CliRunner().invoke(main, ["prune", "--config", str(cfg), "--json"], env=env)
    # without the public key the forgery works (the chain is consistent): the data is deleted
    assert (victim / "db.sql").exists() is checked, result.output


def test_a_host_still_signing_with_the_rotated_away_key_appends_nothing(tmp_path: Path) -> None:
    old_private, _ = keygen(tmp_path / "old")
    new_private, _ = keygen(tmp_path / "new")
    store = tmp_path / "store"
    for d in range(5, 0, -1):
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
    old_cfg = config(tmp_path, store, signing_key_file=str(old_private))
    rotated = CliRunner().invoke(
        main, ["audit", "rotate-key", "--config", str(old_cfg), "--new-key", str(new_private)]
    )
    assert rotated.exit_code == 0, rotated.output
    before = sorted(p.relative_to(store).as_posix() for p in store.rglob("*"))
    env = {"BACKUPCTL_NOW": T0.isoformat()}
    stale = CliRunner().invoke(main, ["prune", "--config", str(old_cfg)], env=env)
    assert stale.exit_code == 1 and "handed the log to key" in stale.output, stale.output
    assert sorted(p.relative_to(store).as_posix() for p in store.rglob("*")) == before
    new_cfg = config(tmp_path, store, signing_key_file=str(new_private))
    assert CliRunner().invoke(main, ["prune", "--config", str(new_cfg)], env=env).exit_code == 0
    stranger, _ = keygen(tmp_path / "stranger")
    other = config(tmp_path, store, signing_key_file=str(stranger))
    refused = CliRunner().invoke(main, ["prune", "--config", str(other)], env=env)
    assert refused.exit_code == 1 and "is signed by key" in refused.output, refused.output


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"algorithm": "rsa"}', b"[" * 5000, b" " * 100_000, b'{"algorithm": "ed25519"}'],
)
def test_a_garbage_proof_signature_is_a_violation(tmp_path: Path, content: bytes) -> None:
    private, public = keygen(tmp_path / "k")
    store = tmp_path / "store"
    fill(FileBlobs(store), load_signer(private), 1)
    cfg = config(tmp_path, store, signing_key_file=str(private))
    proof = _proof(tmp_path, cfg, "proof")
    (proof / "proof.json.sig").write_bytes(content)
    result = CliRunner().invoke(main, ["proof", "check", str(proof), "--pubkey", str(public)])
    assert result.exit_code == 3 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_backupctl_verify_checks_the_signatures_too(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "k")
    store = tmp_path / "store"
    for d in range(3, 0, -1):
        write_snapshot(DirWriter(store), "app", T0 - timedelta(days=d), {"db.sql": b"x"})
    fill(FileBlobs(store), load_signer(private), 2)
    fill(FileBlobs(store), None, 1, start=2)  # an unsigned record appended by a bucket writer
    cfg = config(tmp_path, store, public_key_file=str(public))
    env = {"BACKUPCTL_NOW": T0.isoformat()}
    result = CliRunner().invoke(main, ["verify", "--config", str(cfg), "--json"], env=env)
    audit = [v for v in json.loads(result.stdout)["violations"] if v["kind"] == "audit"]
    assert result.exit_code == 3 and [v["seq"] for v in audit] == [3], result.output
    plain = config(tmp_path, store)
    result = CliRunner().invoke(main, ["verify", "--config", str(plain), "--json"], env=env)
    assert not [v for v in json.loads(result.stdout)["violations"] if v["kind"] == "audit"]
