"""Prometheus textfile metrics of ``verify`` and ``drill`` (``--metrics-file``), beside
prune's (backupctl/evidence/metrics.py, whose label escaping and number format this reuses).

Each command writes its own file (node_exporter's textfile collector reads every ``*.prom``
in its folder): give each command its own path, e.g. ``backupctl-verify.prom``. The file is
written atomically; ``backupctl_<job>_last_success_timestamp_seconds`` keeps its previous value
when the run fails, so an alert on "no successful verify for 2 days" keeps working.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backupctl.errors import UsageError
from backupctl.evidence.metrics import _escape, _number, write_atomic

__all__ = ["JobMetrics", "check_target", "drill_metrics", "render", "verify_metrics", "write"]


@dataclass
class JobMetrics:
    """One run of ``job`` (``verify`` or ``drill``): gauges as ``(name, help, labels, value)``
    and the run's end time when it succeeded (None: it found a violation or failed)."""

    job: str
    gauges: list[tuple[str, str, Mapping[str, str], float]] = field(default_factory=list)
    success_time: float | None = None


def verify_metrics(report: Any, duration_s: float) -> JobMetrics:
    """The metrics of a verify report: violations per kind and group, notes, duration, ok."""
    m = JobMetrics("verify", success_time=time.time() if report.ok else None)
    counts: dict[tuple[str, str], int] = {}
    for v in report.violations:
        counts[(v.kind, v.group)] = counts.get((v.kind, v.group), 0) + 1
    m.gauges.append(
        (
            "backupctl_verify_ok",
            "1 when the last verify found no violation.",
            {},
            1.0 if report.ok else 0.0,
        )
    )
    for (kind, group), n in sorted(counts.items()):
        m.gauges.append(
            (
                "backupctl_verify_violations",
                "Violations the last verify found, per kind and group.",
                {"kind": kind, "group": group},
                float(n),
            )
        )
    m.gauges.append(
        (
            "backupctl_verify_notes",
            "Notes (not violations) of the last verify.",
            {},
            float(len(report.notes)),
        )
    )
    m.gauges.append(
        ("backupctl_verify_duration_seconds", "Wall time of the last verify.", {}, duration_s)
    )
    return m


def drill_metrics(record: Mapping[str, Any], passed: bool) -> JobMetrics:
    """The metrics of a drill record: passed, wall time against the target, bytes restored."""
    m = JobMetrics("drill", success_time=time.time() if passed else None)
    m.gauges += [
        ("backupctl_drill_ok", "1 when the last drill passed.", {}, 1.0 if passed else 0.0),
        (
            "backupctl_drill_wall_seconds",
            "Wall time of the last drill.",
            {},
            float(record.get("wall_seconds") or 0.0),
        ),
        (
            "backupctl_drill_bytes",
            "Bytes the last drill restored.",
            {},
            float(
                sum(
                    p.get("bytes", 0)
                    for p in record.get("phases", [])
                    if p.get("name") == "restore"
                )
            ),
        ),
    ]
    return m


def render(m: JobMetrics, last_success: float | None) -> str:
    """The exposition text (Prometheus text format 0.0.4)."""
    lines: list[str] = []
    seen: set[str] = set()
    gauges = list(m.gauges)
    if last_success is not None:
        gauges.append(
            (
                f"backupctl_{m.job}_last_success_timestamp_seconds",
                f"Unix time of the last successful {m.job} (kept across failed runs).",
                {},
                last_success,
            )
        )
    for name, text, labels, value in gauges:
        if name not in seen:
            seen.add(name)
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(
            f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}"
        )
    return "\n".join(lines) + "\n"


def _last_success(path: Path, job: str) -> float | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(rf"^backupctl_{job}_last_success_timestamp_seconds\s+(\S+)", text, re.M)
    try:
        value = float(match.group(1)) if match else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_target(path: str) -> None:
    """Refuse a ``--metrics-file`` that cannot be written, before the run: its folder must
    exist and take a new file.

    Raises:
        UsageError: naming the path and why.
    """
    folder = Path(path).parent
    if Path(path).is_dir():
        raise UsageError(f"--metrics-file {path}: is a directory, expected a file path")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".backupctl-check-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"--metrics-file {path}: cannot write in {folder}: {exc.strerror or exc}"
        ) from None


def write(path: str, m: JobMetrics) -> None:
    """Write ``m`` to ``path`` atomically (temp file, fsync, rename).

    Raises:
        UsageError: the file cannot be written.
    """
    target = Path(path)
    last = m.success_time if m.success_time is not None else _last_success(target, m.job)
    try:
        write_atomic(target, render(m, last).encode())
    except OSError as exc:
        raise UsageError(f"--metrics-file {path}: cannot write it: {exc.strerror or exc}") from None
