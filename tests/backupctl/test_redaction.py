"""Credentials never leave backupctl: a password (or token) inside any URL, and secret-looking
``key=value`` pairs, are masked in logs, error lines, stdout, audit records, metrics and proofs.

The CLI cases run every command against configs whose URLs carry ``hunter2-SECRET`` and grep
every output stream and every file written for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backupctl import secrets
from backupctl.cli import main

SECRET = "hunter2-SECRET"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


# --- the one redaction function -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "restic:rest:http://user:hunter2-SECRET@127.0.0.1:8000/repo",
            "restic:rest:http://user:***@127.0.0.1:8000/repo",
        ),
        ("rest:https://user:hunter2-SECRET@h/r", "rest:https://user:***@h/r"),
        (
            "restic:s3:http://user:hunter2-SECRET@host/bucket",
            "restic:s3:http://user:***@host/bucket",
        ),
        ("s3:https://u:hunter2-SECRET@h/b", "s3:https://u:***@h/b"),
        ("sftp://backup:hunter2-SECRET@host/srv", "sftp://backup:***@host/srv"),
        ("http://AKIAIOSFODNN7EXAMPLE:hunter2-SECRET@127.0.0.1:9000", "http://***@127.0.0.1:9000"),
        ("s3://user:hunter2-SECRET@bucket/prefix", "s3://user:***@bucket/prefix"),
        # a password holding '@' or ':' (restic, like Go's url.Parse, takes the last '@' of the
        # authority)
        ("rest:http://user:hun@ter2:SECRET@h:8000/r", "rest:http://user:***@h:8000/r"),
        # userinfo without a password: a token is masked, a plain login name stays readable
        ("https://ghp_hunter2SECRETxxxxxxxxxxxx@github.com/o/r", "https://***@github.com/o/r"),
        ("http://hunter2-SECRET@host/x", "http://***@host/x"),
        ("sftp://backup@host/srv", "sftp://backup@host/srv"),
        ("ssh://git@github.com/o/r", "ssh://git@github.com/o/r"),
        # inside prose, quotes, JSON and reprs
        (
            "got 'rest:http://u:hunter2-SECRET@h/r' (expected x)",
            "got 'rest:http://u:***@h/r' (expected x)",
        ),
        ('{"store": "s3:http://u:hunter2-SECRET@h/b"}', '{"store": "s3:http://u:***@h/b"}'),
        (
            'Could not connect to "http://k:hunter2-SECRET@127.0.0.1:9/b?list-type=2"',
            'Could not connect to "http://k:***@127.0.0.1:9/b?list-type=2"',
        ),
        # no userinfo: unchanged (an '@' in a path is not userinfo)
        ("http://127.0.0.1:9000/bucket/a@b", "http://127.0.0.1:9000/bucket/a@b"),
        ("mailto:ops@example.org", "mailto:ops@example.org"),
        ("file:///var/backups/x", "file:///var/backups/x"),
        # secret-looking key=value pairs
        ("password=hunter2-SECRET rest", "password=*** rest"),
        ("AWS_SECRET_ACCESS_KEY=hunter2-SECRET", "AWS_SECRET_ACCESS_KEY=***"),
        ("token: hunter2-SECRET", "token: ***"),
        ("listing failed: password=hunter2-SECRET", "listing failed: password=***"),
        ("--restic-password=hunter2-SECRET", "--restic-password=***"),
        ("Authorization: Bearer hunter2-SECRET", "Authorization: ***"),
        ("sent Bearer hunter2-SECRETxyz", "sent Bearer ***"),
    ],
)
def test_redact_text(text: str, shown: str) -> None:
    assert secrets.redact_text(text) == shown
    assert SECRET not in secrets.redact_text(text)


def test_redact_text_masks_given_values_and_redact_url_is_the_same_rule() -> None:
    assert secrets.redact_text("x hunter2-SECRET y", ["hunter2-SECRET"]) == "x *** y"
    assert secrets.redact_url("rest:http://u:hunter2-SECRET@h/r") == "rest:http://u:***@h/r"
    assert secrets.redact_url("s3://bucket/prefix") == "s3://bucket/prefix"


def test_redact_data_walks_nested_values_and_keys() -> None:
    data = {
        "store": "s3:http://u:hunter2-SECRET@h/b",
        "n": 3,
        "ok": True,
        "none": None,
        "list": ["http://k:hunter2-SECRET@h", {"deep": ("rest:http://u:hunter2-SECRET@h/r",)}],
        "http://u:hunter2-SECRET@h": 1,
    }
    out = secrets.redact_data(data)
    assert SECRET not in json.dumps(out)
    assert out["n"] == 3 and out["ok"] is True and out["none"] is None
    assert out["list"][1]["deep"] == ["rest:http://u:***@h/r"]
    assert secrets.redact_data({"a": "plain", "b": [1, 2.5]}) == {"a": "plain", "b": [1, 2.5]}


def test_redact_data_masks_secret_named_keys_only_when_asked() -> None:
    assert secrets.redact_data({"password": "x", "id": "y"}, mask_keys=True) == {
        "password": "***",
        "id": "y",
    }
    assert secrets.redact_data({"password": "x"}) == {"password": "x"}


def test_proc_and_log_share_the_rule() -> None:
    from backupctl import log, proc

    assert proc.redact_text("rest:http://u:hunter2-SECRET@h/r") == "rest:http://u:***@h/r"
    assert (
        proc.describe(["restic", "--repo", "rest:http://u:hunter2-SECRET@h/r"])
        == "restic --repo 'rest:http://u:***@h/r'"
    )
    event = log.redact(
        None,
        "info",
        {
            "event": "x",
            "url": "s3:http://u:hunter2-SECRET@h/b",
            "password": "p",
            "nested": {"list": ["http://k:hunter2-SECRET@h"]},
            "error": "could not reach http://k:hunter2-SECRET@h",
        },
    )
    assert SECRET not in json.dumps(event) and event["password"] == "***"
    assert event["nested"] == {"list": ["http://k:***@h"]}


# --- the edges, unit by unit ----------------------------------------------------------------------


def test_audit_append_redacts_data_before_hashing(tmp_path: Path) -> None:
    from backupctl.evidence.audit import AuditLog, verify_jsonl
    from backupctl.stores.blobs import open_blobs

    log = AuditLog(open_blobs(f"file://{tmp_path}"))
    record = log.append(
        "drill",
        {
            "message": "restore failed: rest:http://u:hunter2-SECRET@h/r unreachable",
            "phases": [{"error": "http://k:hunter2-SECRET@h"}],
        },
        now=NOW,
    )
    assert SECRET not in json.dumps(record)
    assert record["data"]["message"] == "restore failed: rest:http://u:***@h/r unreachable"
    assert_tree_clean(tmp_path)
    assert verify_jsonl(log.export_jsonl()) == []  # hashed as written


def test_metrics_labels_are_redacted(tmp_path: Path) -> None:
    from backupctl.evidence.metrics import PruneMetrics, write_textfile

    path = tmp_path / "m.prom"
    write_textfile(path, PruneMetrics(kept={"http://u:hunter2-SECRET@h": 1}))
    assert SECRET not in path.read_text()


def test_s3_client_never_sees_the_userinfo() -> None:
    from backupctl.stores.s3client import make_s3_client, split_endpoint_credentials

    assert split_endpoint_credentials("http://AKIA:hunter2-SECRET@127.0.0.1:9000/") == (
        "http://127.0.0.1:9000/",
        ("AKIA", "hunter2-SECRET"),
    )
    assert split_endpoint_credentials("http://127.0.0.1:9000") == ("http://127.0.0.1:9000", None)
    assert split_endpoint_credentials(None) == (None, None)
    client = make_s3_client("http://AKIA:hunter2-SECRET@127.0.0.1:9", region="us-east-1")
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    creds = client._request_signer._credentials  # the userinfo is the key pair, not part of the URL
    assert (creds.access_key, creds.secret_key) == ("AKIA", "hunter2-SECRET")


# --- the CLI, end to end in-process ---------------------------------------------------------------


def assert_tree_clean(*roots: Path) -> None:
    """No file under ``roots`` contains the secret (in its bytes or its name); the config that
    holds it (``backupctl.toml``) is the one file allowed to."""
    for root in roots:
        if root.is_file():
            assert SECRET.encode() not in root.read_bytes(), root
            continue
        for path in root.rglob("*"):
            assert SECRET not in path.name, path
            if path.is_file() and path.name != "backupctl.toml":
                assert SECRET.encode() not in path.read_bytes(), f"{path} holds the secret"


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(
        main, ["--log-json", "-v", *args], env={"BACKUPCTL_NOW": NOW.isoformat(), **(env or {})}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert SECRET not in text, f"{args}: {stream} leaks the secret:\n{text}"
    return result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def put_snapshot(s3: Any, bucket: str, prefix: str, group: str, when: datetime) -> None:
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    folder = f"{prefix}/{group}/{stamp}/"
    data = f"payload {stamp}".encode()
    s3.put_object(Bucket=bucket, Key=folder + "data.bin", Body=data)
    manifest = {
        "version": 1,
        "group": group,
        "time": when.isoformat(),
        "objects": [
            {"key": "data.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        ],
    }
    s3.put_object(Bucket=bucket, Key=folder + "manifest.json", Body=json.dumps(manifest).encode())


def config_text(url: str, endpoint: str | None, tmp: Path, extra: str = "") -> str:
    ep = f'endpoint_url = "{endpoint}"\n' if endpoint else ""
    return f"""timezone = "UTC"

[store]
url = "{url}"
{ep}{extra}

[[policy]]
name = "app"
group = "app"
schedule = "0 2 * * *"
keep_daily = 3

[drill]
target = "1 working day"
live_check = "test -d {{dir}}"
live_check_timeout = 5
live_check_interval = 0.1
scratch_dir = "{tmp / "scratch"}"
"""


@pytest.fixture()
def s3_store(tmp_path: Path, s3_endpoint: str, s3_client: Any, bucket: str) -> Iterator[Path]:
    """An S3 store on moto with 6 daily snapshots.

    The endpoint URL carries the secret as userinfo.
    """
    for day in range(6):
        put_snapshot(s3_client, bucket, "bk", "app", NOW.replace(hour=2) - timedelta(days=day))
    secret_endpoint = s3_endpoint.replace("http://", f"http://AKIAEXAMPLE:{SECRET}@")
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(config_text(f"s3://{bucket}/bk", secret_endpoint, tmp_path))
    yield cfg


def test_every_command_on_an_s3_store_with_a_password_in_the_endpoint(
    s3_store: Path, tmp_path: Path, s3_client: Any, bucket: str
) -> None:
    cfg = str(s3_store)
    assert run(["plan", "--config", cfg]).exit_code == 0
    assert run(["plan", "--config", cfg, "--json"]).exit_code == 0
    assert run(["prune", "--config", cfg, "--dry-run"]).exit_code == 0
    metrics = tmp_path / "m.prom"
    assert run(["prune", "--config", cfg, "--json", "--metrics-file", str(metrics)]).exit_code == 0
    assert run(["verify", "--config", cfg, "--json"]).exit_code in (0, 3)
    assert run(["drill", "--config", cfg, "--json", "--seed", "1"]).exit_code in (0, 3)
    assert run(
        [
            "proof",
            "--config",
            cfg,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-24",
            "--out",
            str(tmp_path / "proof"),
        ]
    ).exit_code in (0, 3)
    assert run(["audit", "verify", "--config", cfg, "--json"]).exit_code == 0
    assert run(["audit", "export", "--config", cfg]).exit_code == 0
    assert run(["unlock", "--config", cfg, "--json"]).exit_code in (0, 1, 4)
    assert_tree_clean(tmp_path)
    for obj in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        assert SECRET.encode() not in body, obj["Key"]


def test_proof_shows_the_store_url_redacted(tmp_path: Path) -> None:
    """A store URL that carries a password (an s3:// URL with userinfo) is shown as ``***`` in
    proof.json and proof.html; the page's hash is that of the redacted proof.json."""
    from backupctl.evidence.proof_files import check_proof, write_proof

    proof = proof_document("s3://user:hunter2-SECRET@bucket/prefix")
    out = tmp_path / "proof"
    write_proof(out, proof)
    assert_tree_clean(out)
    assert (
        json.loads((out / "proof.json").read_text())["config"]["store"]
        == "s3://user:***@bucket/prefix"
    )
    check_proof(out)


def proof_document(store_url: str) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    from backupctl.config import Config, DrillConfig, SafetyConfig, StoreConfig, VerifyConfig
    from backupctl.evidence.proof_model import ProofInputs, build_proof
    from backupctl.evidence.verify import VerifyReport
    from backupctl.stores.base import Listing

    config = Config(
        path="/etc/backupctl.toml",
        timezone=ZoneInfo("UTC"),
        store=StoreConfig(url=store_url),
        safety=SafetyConfig(),
        verify=VerifyConfig(),
        drill=DrillConfig(),
        policies=(),
    )
    verify = VerifyReport(
        at=NOW,
        checked={"at": NOW.isoformat()},
        notes=[{"kind": "note", "message": f"listing http://k:{SECRET}@h"}],
    )
    inputs = ProofInputs(
        config=config,
        listing=Listing(snapshots=[]),
        records=[],
        audit={
            "ok": True,
            "records": 0,
            "head": "0" * 64,
            "problems": [{"seq": 1, "key": "k", "problem": f"error at http://k:{SECRET}@h"}],
        },
        verify=verify,
        start=NOW - timedelta(days=30),
        end=NOW,
        now=NOW,
    )
    return build_proof(inputs)


@pytest.mark.parametrize("endpoint_kind", ["s3 store", "audit url beside a file store"])
def test_an_unreachable_endpoint_with_a_password(tmp_path: Path, endpoint_kind: str) -> None:
    endpoint = f"http://AKIAEXAMPLE:{SECRET}@127.0.0.1:{closed_port()}"
    if endpoint_kind == "s3 store":
        cfg_text = config_text("s3://bucket/bk", endpoint, tmp_path)
    else:
        (tmp_path / "files").mkdir()
        cfg_text = config_text(f"file://{tmp_path / 'files'}", endpoint, tmp_path).replace(
            "[[policy]]", '[audit]\nurl = "s3://bucket/audit"\n\n[[policy]]'
        )
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(cfg_text)
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_MAX_ATTEMPTS": "1"}
    commands = [
        ["verify", "--config", str(cfg), "--json"],
        ["audit", "verify", "--config", str(cfg)],
        ["unlock", "--config", str(cfg)],
    ]
    if endpoint_kind == "s3 store":
        commands.append(["plan", "--config", str(cfg), "--json"])
    else:
        commands.append(["prune", "--config", str(cfg), "--dry-run"])
    for args in commands:
        result = run(args, env)
        assert result.exit_code != 0 or endpoint_kind != "s3 store", args
    assert_tree_clean(tmp_path)


@pytest.mark.parametrize(
    "repository",
    [
        f"rest:http://user:{SECRET}@127.0.0.1:PORT/repo",
        f"s3:http://AKIAEXAMPLE:{SECRET}@127.0.0.1:PORT/bucket/repo",
    ],
)
def test_restic_repository_url_with_a_password(tmp_path: Path, repository: str) -> None:
    """restic is not needed: a missing binary is the error here (a real one gives its own error,
    which must be redacted just as well)."""
    repository = repository.replace("PORT", str(closed_port()))
    audit = tmp_path / "audit"
    audit.mkdir()
    pw = tmp_path / "pw"
    pw.write_text("restic-pw\n")
    for binary in ("/nonexistent/restic", shutil.which("restic")):
        if binary is None:
            continue
        extra = f'restic_binary = "{binary}"\nrestic_password_file = "{pw}"\n'
        text = config_text(f"restic:{repository}", None, tmp_path, extra)
        if repository.startswith("rest:"):
            text = text.replace("[[policy]]", f'[audit]\nurl = "file://{audit}"\n\n[[policy]]')
        cfg = tmp_path / "backupctl.toml"
        cfg.write_text(text)
        env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_MAX_ATTEMPTS": "1"}
        every = (
            ["plan", "--config", str(cfg)],
            ["plan", "--config", str(cfg), "--json"],
            ["prune", "--config", str(cfg), "--dry-run"],
            ["verify", "--config", str(cfg), "--json"],
            ["drill", "--config", str(cfg), "--json"],
            ["unlock", "--config", str(cfg)],
            ["audit", "verify", "--config", str(cfg)],
            [
                "proof",
                "--config",
                str(cfg),
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-24",
                "--out",
                str(tmp_path / "proof"),
            ],
        )
        # every command's output path with the missing binary; real restic retries a closed port for
        # ~10 s per command, and its own error text reaches the outputs the same way in each: one is
        # enough
        for args in every if binary.startswith("/nonexistent") else every[1:2]:
            result = run(args, env)
            assert result.exit_code != 0 or args[0] in ("unlock", "audit"), (args, result.output)
    assert_tree_clean(tmp_path)


@pytest.mark.parametrize(
    "bad",
    [
        # the restic: prefix forgotten
        'url = "rest:http://user:hunter2-SECRET@127.0.0.1:8000/repo"',
        'url = "s3://b/p"\nendpoint_url = ["http://k:hunter2-SECRET@h"]',  # not a string
        'url = "s3://b/p"\nregion = "http://k:hunter2-SECRET@h"\nbogus_key = "http://k:hunter2-SECRET@h"',
    ],
)
def test_a_bad_config_names_the_problem_without_the_secret(tmp_path: Path, bad: str) -> None:
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(f'timezone = "UTC"\n[store]\n{bad}\n[[policy]]\nname = "app"\nkeep_last = 1\n')
    result = run(["plan", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "***" in result.stderr or "bogus_key" in result.stderr


def test_an_uncaught_error_line_is_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CLI's one error line is the edge: whatever a store put into its message is masked."""
    from backupctl.errors import StoreError
    from backupctl.stores import s3 as s3_store_module

    def boom(*_a: Any, **_k: Any) -> Any:
        raise StoreError(f"s3:http://k:{SECRET}@h/b: listing failed: password={SECRET}")

    monkeypatch.setattr(s3_store_module.S3Store, "listing", boom)
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(config_text("s3://bucket/bk", "http://127.0.0.1:1", tmp_path))
    result = run(
        ["plan", "--config", str(cfg)], {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    )
    assert result.exit_code == 1
    assert "s3:http://k:***@h/b: listing failed: password=***" in result.stderr


def test_env_secrets_are_masked_in_error_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTIC_PASSWORD", SECRET)
    assert SECRET not in secrets.redact_text(
        f"restic said: wrong password {SECRET}", secrets.env_secrets()
    )
    assert os.environ["RESTIC_PASSWORD"] == SECRET


def test_what_a_store_says_never_reaches_stdout_with_a_password(
    s3_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands print documents built from store messages (a drill's message, verify's integrity
    problems): a restic store names its repository URL in them. stdout is an edge too."""
    from backupctl.errors import StoreError
    from backupctl.stores import s3 as s3_store_module
    from backupctl.stores.base import IntegrityProblem

    def restore(*_a: Any, **_k: Any) -> Any:
        raise StoreError(
            f"restic repository rest:http://user:{SECRET}@h:8000/repo: cannot reach the endpoint"
        )

    def check_integrity(_self: Any, snapshots: Any) -> list[IntegrityProblem]:
        return [
            IntegrityProblem(s.snapshot.id, "data.bin", f"unreadable at http://u:{SECRET}@h/b")
            for s in snapshots
        ]

    monkeypatch.setattr(s3_store_module.S3Store, "restore", restore)
    monkeypatch.setattr(s3_store_module.S3Store, "check_integrity", check_integrity)
    cfg = str(s3_store)
    for args in (
        ["drill", "--config", cfg, "--json", "--seed", "1"],
        ["drill", "--config", cfg, "--seed", "2"],
        ["verify", "--config", cfg, "--json"],
        ["verify", "--config", cfg],
    ):
        assert run(args).exit_code == 3, args
    assert_tree_clean(tmp_path)
