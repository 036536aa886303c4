"""A real restic repository on the moto S3 server, named ``restic:s3:http://KEY:hunter2-SECRET@…``:
every command, run as its own process with JSON logs on stderr, and a drill whose restore fails
(its message names the repository), must not show the secret on stdout, on stderr, in any file
written (proof, metrics, scratch) or in any object backupctl put into the bucket (audit log, lock).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from tests.e2e.restic_fixtures import PASSWORD, SnapshotSpec, build_repo, make_source

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed"),
]

SECRET = "hunter2-SECRET"
NOW = "2026-11-23T10:00:00+00:00"
PW_ENV = "BACKUPCTL_TEST_REDACT_PW"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    config: Path
    tmp: Path
    bucket: str
    s3: Any
    env: dict[str, str]


@pytest.fixture()
def restic_s3(tmp_path: Path, s3_endpoint: str, s3_client: Any, bucket: str) -> Iterator[Setup]:
    location = (
        "s3:" + s3_endpoint.replace("http://", f"http://AKIAEXAMPLE:{SECRET}@") + f"/{bucket}/repo"
    )
    source = tmp_path / "src"
    make_source(source)
    build_repo(
        location,
        source,
        [SnapshotSpec("web1", time=f"2026-11-{day} 02:00:00") for day in (20, 21, 22)],
    )
    config = tmp_path / "backupctl.toml"
    config.write_text(f"""timezone = "UTC"

[store]
url = "restic:{location}"
restic_password_env = "{PW_ENV}"

[[policy]]
name = "web"
group = "host=web1 paths={source}"
schedule = "0 2 * * *"
keep_daily = 2

[drill]
target = "1 working day"
live_check = "test -d {{dir}}"
live_check_timeout = 5
live_check_interval = 0.1
scratch_dir = "{tmp_path / "scratch"}"
""")
    env = {**os.environ, PW_ENV: PASSWORD, "BACKUPCTL_NOW": NOW, "PYTHONPATH": str(ROOT)}
    yield Setup(config, tmp_path, bucket, s3_client, env)


def cli(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    """``backupctl --log-json -v ARGS`` as its own process; neither stream may hold the secret."""
    proc = subprocess.run(
        [sys.executable, "-m", "backupctl.cli", "--log-json", "-v", *args],
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        cwd=setup.tmp,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert SECRET not in proc.stdout, f"{args}: stdout leaks the secret:\n{proc.stdout}"
    assert SECRET not in proc.stderr, f"{args}: stderr leaks the secret:\n{proc.stderr}"
    return proc


def assert_nothing_written_holds_the_secret(setup: Setup) -> None:
    for path in setup.tmp.rglob("*"):
        assert SECRET not in path.name, path
        if path.is_file() and path.name != "backupctl.toml":
            assert SECRET.encode() not in path.read_bytes(), f"{path} holds the secret"
    for obj in setup.s3.list_objects_v2(Bucket=setup.bucket).get("Contents", []):
        body = setup.s3.get_object(Bucket=setup.bucket, Key=obj["Key"])["Body"].read()
        assert SECRET.encode() not in body, obj["Key"]


def test_every_command_on_a_restic_repository_whose_url_carries_a_password(
    restic_s3: Setup,
) -> None:
    cfg = str(restic_s3.config)
    out = restic_s3.tmp / "out"
    assert cli(restic_s3, "plan", "--config", cfg).returncode == 0
    assert cli(restic_s3, "plan", "--config", cfg, "--json").returncode == 0
    assert cli(restic_s3, "prune", "--config", cfg, "--dry-run").returncode == 0
    pruned = cli(
        restic_s3,
        "prune",
        "--config",
        cfg,
        "--json",
        "--metrics-file",
        str(out.with_suffix(".prom")),
    )
    assert pruned.returncode == 0, pruned.stderr
    assert cli(restic_s3, "verify", "--config", cfg, "--json").returncode in (0, 3)
    drilled = cli(restic_s3, "drill", "--config", cfg, "--json", "--seed", "1")
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    assert cli(
        restic_s3,
        "proof",
        "--config",
        cfg,
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-23",
        "--out",
        str(out),
    ).returncode in (0, 3)
    assert (out / "proof.json").is_file() and "***@" in (out / "proof.json").read_text()
    assert cli(restic_s3, "audit", "verify", "--config", cfg).returncode == 0
    exported = restic_s3.tmp / "audit.jsonl"
    assert (
        cli(restic_s3, "audit", "export", "--config", cfg, "--out", str(exported)).returncode == 0
    )
    assert cli(restic_s3, "unlock", "--config", cfg).returncode == 0

    # the repository's data is damaged: the drill's restore fails and its message names the
    # repository (corrupted, not deleted: restic retries a missing pack for about a minute, a
    # damaged one fails at once)
    listed = restic_s3.s3.list_objects_v2(Bucket=restic_s3.bucket, Prefix="repo/data/").get(
        "Contents", []
    )
    for obj in listed:
        data = bytearray(
            restic_s3.s3.get_object(Bucket=restic_s3.bucket, Key=obj["Key"])["Body"].read()
        )
        data[len(data) // 2 : len(data) // 2 + 11] = b"\x00corrupted\x00"[
            : len(data) - len(data) // 2
        ]
        restic_s3.s3.put_object(Bucket=restic_s3.bucket, Key=obj["Key"], Body=bytes(data))
    failed = cli(restic_s3, "drill", "--config", cfg, "--json", "--seed", "2")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert cli(restic_s3, "verify", "--config", cfg).returncode in (1, 3)
    assert_nothing_written_holds_the_secret(restic_s3)


@pytest.fixture()
def no_repo(tmp_path: Path) -> Setup:
    """A config naming a restic repository on a closed port (nothing there; restic fails fast)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    location = f"s3:http://AKIAEXAMPLE:{SECRET}@127.0.0.1:{port}/bucket/repo"
    config = tmp_path / "backupctl.toml"
    config.write_text(f"""timezone = "UTC"

[store]
url = "restic:{location}"
restic_password_env = "{PW_ENV}"

[audit]
url = "file://{tmp_path / "audit"}"

[[policy]]
name = "web"
keep_daily = 2
""")
    (tmp_path / "audit").mkdir()
    env = {
        **os.environ,
        PW_ENV: PASSWORD,
        "BACKUPCTL_NOW": NOW,
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    return Setup(config, tmp_path, "", None, env)


def test_a_missing_restic_binary_and_a_bad_config(no_repo: Setup) -> None:
    restic_s3 = no_repo
    text = restic_s3.config.read_text()
    restic_s3.config.write_text(
        text.replace(
            "restic_password_env", 'restic_binary = "/nonexistent/restic"\nrestic_password_env', 1
        )
    )
    failed = cli(restic_s3, "plan", "--config", str(restic_s3.config))
    assert failed.returncode != 0 and "/nonexistent/restic" in failed.stderr
    restic_s3.config.write_text(
        text.replace('url = "restic:', 'url = "', 1)
    )  # the restic: prefix forgotten
    bad = cli(restic_s3, "plan", "--config", str(restic_s3.config))
    assert bad.returncode == 2 and "AKIAEXAMPLE" not in bad.stderr and "***@" in bad.stderr
    for path in restic_s3.tmp.rglob("*"):
        assert (
            not path.is_file()
            or path.name == "backupctl.toml"
            or SECRET.encode() not in path.read_bytes()
        )


def test_the_password_is_not_on_restics_command_line(
    no_repo: Setup, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
) -> None:
    from backupctl import proc

    # the moto server answers at once that there is no repository (a closed port makes restic
    # retry for ~10 s): restic runs, with the secret in its repository URL, and fails
    text = no_repo.config.read_text()
    host = text.split("@", 1)[1].split("/", 1)[0]
    no_repo.config.write_text(text.replace(host, s3_endpoint.removeprefix("http://"), 1))

    seen: list[list[str]] = []
    real = proc.subprocess.Popen

    def recording(args: Any, *a: Any, **k: Any) -> Any:
        seen.append([str(x) for x in args])
        return real(args, *a, **k)

    monkeypatch.setattr(proc.subprocess, "Popen", recording)
    monkeypatch.setenv(PW_ENV, PASSWORD)
    result = CliRunner().invoke(
        main, ["plan", "--config", str(no_repo.config)], env={"BACKUPCTL_NOW": NOW}
    )
    assert result.exit_code == 1, result.output  # no repository there: restic ran and failed
    assert any("restic" in args[0] for args in seen)
    assert seen and not any(SECRET in arg for args in seen for arg in args)
