"""proof.html in headless Chromium: renders, the timeline SVGs are in the DOM, no console errors,
no external resources; one screenshot is kept at test-artifacts/proof.png."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.seed import DirWriter, seed_history

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
AMS = ZoneInfo("Europe/Amsterdam")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def proof_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("proof-html")
    root = tmp / "store"
    cfg = tmp / "backupctl.toml"
    cfg.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{root}"\n'
        "[safety]\nmax_delete_fraction = 1.0\n"
        '[[policy]]\nname = "app"\nschedule = "0 0,6,12,18 * * *"\npreset = "sla-app"\n'
        '[[policy]]\nname = "server"\nschedule = "0 2 * * *"\npreset = "sla-server"\n'
    )
    seed_history(
        DirWriter(root),
        start=datetime(2026, 1, 1, tzinfo=AMS),
        end=datetime(2026, 4, 2, 3, tzinfo=AMS),
        tz=AMS,
        missed=[datetime(2026, 3, 29, 3, tzinfo=AMS)],
        sizes={"app": (32,), "server": (32,)},
    )
    runner = CliRunner()
    assert (
        runner.invoke(
            main,
            ["prune", "--config", str(cfg)],
            env={"BACKUPCTL_NOW": "2026-04-02T03:30:00+02:00"},
        ).exit_code
        == 0
    )
    out = tmp / "proof"
    made = runner.invoke(
        main,
        [
            "proof",
            "--config",
            str(cfg),
            "--from",
            "2026-01-01",
            "--to",
            "2026-04-03",
            "--out",
            str(out),
        ],
        env={"BACKUPCTL_NOW": "2026-04-02T10:00:00+02:00"},
    )
    assert made.exit_code == 3, made.output  # the DST-night miss makes the verdict FAIL
    return out


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed: cannot render proof.html")
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_page_is_self_contained(proof_dir: Path) -> None:
    html = (proof_dir / "proof.html").read_text()
    assert not re.search(r"<script|<link|src=|url\(|https?://(?!www\.w3\.org/2000/svg)", html)
    assert html.count('class="timeline"') == 2


def test_dom_has_the_timelines_and_no_console_errors(proof_dir: Path, tmp_path: Path) -> None:
    url = (proof_dir / "proof.html").as_uri()
    dom = _chromium(["--enable-logging=stderr", "--v=0", "--dump-dom", url], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r'<svg[^>]*class="timeline"', dom.stdout)) == 2
    assert 'data-group="server"' in dom.stdout and "FAIL" in dom.stdout
    assert "2026-03-29T03:00:00+02:00" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []


def test_screenshot_is_kept_as_an_artifact(proof_dir: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "proof.png"
    png.unlink(missing_ok=True)
    shot = _chromium(
        [f"--screenshot={png}", "--window-size=1280,2000", (proof_dir / "proof.html").as_uri()],
        tmp_path / "profile",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
