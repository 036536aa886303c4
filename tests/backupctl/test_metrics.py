"""Prometheus textfile: exposition format, atomic write, last success kept across failures."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from backupctl.evidence.metrics import (
    LAST_SUCCESS,
    PruneMetrics,
    read_last_success,
    render,
    write_textfile,
)

_SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="(?:[^"\\]|\\.)*"(,[a-z_]+="(?:[^"\\]|\\.)*")*\})? \S+$')


def _parse(text: str) -> dict[str, float]:
    out = {}
    for line in text.split("\n"):  # the format's only line break is \n
        if not line or line.startswith("#"):
            continue
        assert _SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_render_has_help_type_and_per_group_samples() -> None:
    m = PruneMetrics(
        kept={"app": 240, "server": 17},
        forgotten={"app": 4},
        refusals={"server": 1},
        bytes_freed=1024,
        duration_s=1.5,
        success_time=1_790_000_000.0,
    )
    text = render(m, m.success_time)
    samples = _parse(text)
    assert samples['backupctl_snapshots_kept{group="app"}'] == 240
    assert samples['backupctl_snapshots_forgotten{group="server"}'] == 0
    assert samples['backupctl_prune_refusals{group="server"}'] == 1
    assert samples["backupctl_bytes_freed"] == 1024
    assert samples["backupctl_prune_duration_seconds"] == 1.5
    assert samples[LAST_SUCCESS] == 1_790_000_000
    for name in ("backupctl_snapshots_kept", "backupctl_bytes_freed", LAST_SUCCESS):
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text


def test_failed_run_keeps_previous_last_success(tmp_path: Path) -> None:
    path = tmp_path / "backupctl.prom"
    write_textfile(path, PruneMetrics(kept={"app": 3}, success_time=1000.0))
    assert read_last_success(path) == 1000.0
    write_textfile(path, PruneMetrics(kept={"app": 3}, failed=2, success_time=None))
    samples = _parse(path.read_text())
    assert samples[LAST_SUCCESS] == 1000 and samples["backupctl_prune_failed_snapshots"] == 2
    write_textfile(path, PruneMetrics(success_time=2000.5))
    assert read_last_success(path) == 2000.5
    assert [p.name for p in tmp_path.iterdir()] == ["backupctl.prom"]  # no temp file left behind


def test_first_failed_run_has_no_last_success(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    path.write_text("garbage\n")
    write_textfile(path, PruneMetrics(failed=1))
    assert LAST_SUCCESS not in path.read_text()


@given(st.text(min_size=1, max_size=20))
def test_label_values_are_escaped(group: str) -> None:
    text = render(PruneMetrics(kept={group: 1}), None)
    _parse(text)  # every sample line still parses
