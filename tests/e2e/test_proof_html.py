"""proof.html in headless Chromium: renders, the timeline SVGs are in the DOM, no console errors,
no external resources; printed to PDF it carries the forced reason, the missed times, the specific
deletion reasons and the tier table; a screenshot and the PDF are kept in test-artifacts/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.seed import DirWriter, seed_history

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
FORCED_REASON = "first prune after the migration, change OPS-1234"
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
        '[drill]\ntarget = "1 working day"\n'
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
    prune_env = {"BACKUPCTL_NOW": "2026-04-02T03:30:00+02:00"}
    refused = runner.invoke(main, ["prune", "--config", str(cfg)], env=prune_env)
    assert refused.exit_code == 4, refused.output  # the first prune of a real history
    forced = runner.invoke(
        main,
        ["prune", "--config", str(cfg), "--force", "--reason", FORCED_REASON],
        env=prune_env,
    )
    assert forced.exit_code == 0, forced.output
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


def _pdf_text(pdf: Path) -> str:
    pypdf = pytest.importorskip("pypdf")  # a dev dependency (pyproject.toml)
    reader = pypdf.PdfReader(str(pdf))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    # print wraps lines (inside words too, in narrow cells) and sets ligatures (ﬁ): compare the
    # characters without whitespace
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_printed_pdf_carries_every_table(proof_dir: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "proof.pdf"
    pdf.unlink(missing_ok=True)
    printed = _chromium(
        [
            f"--print-to-pdf={pdf}",
            "--no-pdf-header-footer",
            (proof_dir / "proof.html").as_uri(),
        ],
        tmp_path / "profile",
    )
    assert printed.returncode == 0, printed.stderr[-2000:]
    text = _pdf_text(pdf)
    for needle in (
        FORCED_REASON,
        "2026-03-29 03:00:00 CEST",  # the missed DST-night backup, in local time
        "Retention tiers",
        "slots needed",
        "within_daily",
        "outside within 2m (cut-off",  # an app snapshot's specific reason
        "outside daily within 7d (cut-off",  # a server snapshot's
        "Control mapping",
        "A.8.13",
        "2024/2690",
        "app backups 4×/day, kept 2 months",
        "Snapshots present",  # the last table, folded on screen: printed all the same
    ):
        assert _squash(needle) in text, needle
    assert "PT0." not in text  # durations for people


def test_deletion_counts_agree(proof_dir: Path) -> None:
    proof = json.loads((proof_dir / "proof.json").read_text())
    counts = proof["deletion_counts"]
    assert counts["total"] == len(proof["deletions"]) > 0
    assert counts["total"] == sum(g["total"] for g in counts["groups"].values())
    assert counts["before_period"] + counts["in_period"] == counts["total"]
    assert all(d["why"] and d["why"] != ["not kept by policy"] for d in proof["deletions"])
    assert proof["forced"][0]["reason"] == FORCED_REASON
    assert proof["forced"][0]["refusals"]
