"""`make demo`'s entry point, run as a new user would, in a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from backupctl.demo import MISSED

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    env = {**os.environ, "BACKUPCTL_DEMO_DIR": str(out)}
    env.pop("BACKUPCTL_NOW", None)
    proc = subprocess.run(
        [sys.executable, "-m", "backupctl.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc, out


def test_every_step_ends_as_expected(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every step ended as expected" in proc.stdout
    assert str(out / "proof" / "proof.html") in proc.stdout


def test_proof_files_exist_and_check(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = demo_run
    assert (out / "proof" / "proof.json").is_file()
    assert (out / "proof" / "proof.html").is_file()
    check = subprocess.run(
        [sys.executable, "-m", "backupctl.cli", "proof", "check", str(out / "proof")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_audit_log_verifies(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = demo_run
    log = (out / "logs" / "audit-verify.txt").read_text()
    assert "(exit 0)" in log


def test_verify_lists_exactly_the_seeded_misses(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = demo_run
    text = (out / "logs" / "verify.txt").read_text()
    body = text.split("\n\n", 1)[1].split("--- stderr ---")[0]
    report = json.loads(body)
    missed = {
        (v["group"], datetime.fromisoformat(v["expected"]))
        for v in report["violations"]
        if v["kind"] == "missed"
    }
    assert missed == set(MISSED)
    assert {v["kind"] for v in report["violations"]} == {"missed"}
