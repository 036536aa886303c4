"""Issue 11 part 8: outputs are validated before anything is deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.seed import DirWriter, write_snapshot

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def store_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "_backupctl" not in p.parts
    }


@pytest.mark.parametrize("target", ["/nonexistent/m.prom", "{tmp}", "{tmp}/file.txt/m.prom"])
def test_an_unwritable_metrics_file_is_refused_before_any_deletion(
    tmp_path: Path, target: str
) -> None:
    root = tmp_path / "store"
    for d in range(6, 0, -1):
        write_snapshot(DirWriter(root), "app", NOW - timedelta(days=d), {"db.sql": b"x"})
    (tmp_path / "file.txt").write_text("a file, not a folder")
    config = tmp_path / "backupctl.toml"
    config.write_text(
        f'timezone = "UTC"\n[store]\nurl = "file://{root}"\n[safety]\nmax_delete_fraction = 1.0\n'
        '[[policy]]\nname = "app"\nkeep_last = 2\n'
    )
    before = store_files(root)
    result = CliRunner().invoke(
        main,
        ["prune", "--config", str(config), "--metrics-file", target.format(tmp=tmp_path)],
        env={"BACKUPCTL_NOW": NOW.isoformat()},
    )
    assert result.exit_code == 2, result.output
    assert "--metrics-file" in result.output and "Traceback" not in result.output
    if target != "{tmp}":  # (a directory is refused by click itself, with its usage lines)
        assert (
            "nothing was changed" in result.output and len(result.output.strip().splitlines()) == 1
        )
    assert store_files(root) == before
