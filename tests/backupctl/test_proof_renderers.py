"""A new proof format is one entry in ``RENDERERS``.

The proof command writes it beside proof.json and proof.html, and ``proof check`` checks the
hash it records.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.evidence.proof_files import RENDERERS, Renderer
from backupctl.seed import DirWriter, seed_history

AMS = ZoneInfo("Europe/Amsterdam")
NOW = {"BACKUPCTL_NOW": "2026-01-05T10:00:00+01:00"}


def render_txt(proof: dict[str, Any], digest: str) -> bytes:
    counts = ", ".join(
        f"{name} {g['counts']['filled']} filled" for name, g in proof["groups"].items()
    )
    return f"{proof['verdict']['summary']}: {counts}\nproof.json sha256 {digest}\n".encode()


def txt_digest(data: bytes) -> str | None:
    last = data.decode(errors="replace").strip().rsplit(" ", 1)[-1]
    return last if len(last) == 64 else None


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{root}"\n'
        '[[policy]]\nname = "server"\nschedule = "0 2 * * *"\nkeep_daily = 7\n'
    )
    seed_history(
        DirWriter(root),
        start=datetime(2026, 1, 1, tzinfo=AMS),
        end=datetime(2026, 1, 5, 3, tzinfo=AMS),
        tz=AMS,
        missed=[],
        sizes={"server": (16,)},
    )
    return cfg


def test_a_new_format_is_one_entry(
    monkeypatch: pytest.MonkeyPatch, config: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(RENDERERS, "txt", Renderer("proof.txt", render_txt, txt_digest))
    out = tmp_path / "proof"
    made = CliRunner().invoke(
        main,
        [
            "proof",
            "--config",
            str(config),
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-05",
            "--out",
            str(out),
        ],
        env=NOW,
    )
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in out.iterdir()) == ["proof.html", "proof.json", "proof.txt"]
    assert f"and {out / 'proof.html'}, {out / 'proof.txt'}\n" in made.output
    text = (out / "proof.txt").read_text()
    assert text.startswith("PASS: server 4 filled\n")
    checked = CliRunner().invoke(main, ["proof", "check", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "recorded in proof.html, proof.txt" in checked.output
    assert txt_digest(text.encode()) in checked.output

    (out / "proof.txt").write_text(text.replace(text.split()[-1], "0" * 64))
    tampered = CliRunner().invoke(main, ["proof", "check", str(out)])
    assert tampered.exit_code == 3
    assert "but proof.txt records 000" in tampered.output


def test_a_format_without_a_hash_is_written_and_not_checked(
    monkeypatch: pytest.MonkeyPatch, config: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(
        RENDERERS, "csv", Renderer("proof.csv", lambda proof, digest: b"group,filled\n")
    )
    out = tmp_path / "proof"
    made = CliRunner().invoke(
        main,
        [
            "proof",
            "--config",
            str(config),
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-05",
            "--out",
            str(out),
        ],
        env=NOW,
    )
    assert made.exit_code == 0, made.output
    assert (out / "proof.csv").read_bytes() == b"group,filled\n"
    checked = CliRunner().invoke(main, ["proof", "check", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "recorded in proof.html (" in checked.output


def test_a_period_before_the_history_is_no_silent_pass(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "proof"
    args = ["proof", "--config", str(config), "--from", "2025-12-28", "--to", "2026-01-05"]
    made = CliRunner().invoke(main, [*args, "--out", str(out)], env=NOW)
    assert made.exit_code == 3, made.output
    finding = "server: 4 day(s) of the period (2025-12-28 to 2025-12-31) are not covered"
    assert finding in made.output
    page = (out / "proof.html").read_text()
    assert "Not covered: 4 day(s), 2025-12-28 to 2025-12-31" in page
    assert CliRunner().invoke(main, ["proof", "check", str(out)]).exit_code == 0
