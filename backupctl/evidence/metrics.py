"""Prometheus textfile metrics for node_exporter's textfile collector.

The file is written atomically (temp file in the same directory, fsync, rename), so the
collector never reads half a file. ``backupctl_last_success_timestamp_seconds`` keeps its
previous value when a run fails: the old file is read back for it, so an alert on
"no success for 2 days" keeps working across failed runs.

The audit log's head after the run (``backupctl_audit_head_seq`` and
``backupctl_audit_head_info{head="<sha256>"} 1``) is published too, so a system outside the
bucket can keep the heads and later check that the log still extends them
(``backupctl audit verify --head``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backupctl.secrets import redact_text

__all__ = ["LAST_SUCCESS", "PruneMetrics", "read_last_success", "render", "write_textfile"]

LAST_SUCCESS = "backupctl_last_success_timestamp_seconds"
_LAST_SUCCESS_LINE = re.compile(rf"^{LAST_SUCCESS}(?:\{{[^}}]*\}})?\s+(\S+)", re.M)


@dataclass
class PruneMetrics:
    """The figures of one prune run. ``success_time`` is the run's end (Unix seconds) when it
    succeeded, None when it failed or was refused."""

    kept: Mapping[str, int] = field(default_factory=dict)
    forgotten: Mapping[str, int] = field(default_factory=dict)
    refusals: Mapping[str, int] = field(default_factory=dict)
    bytes_freed: int = 0
    duration_s: float = 0.0
    failed: int = 0
    success_time: float | None = None
    audit_seq: int | None = None  # the newest audit record this run wrote (None: it wrote none)
    audit_head: str | None = None  # that record's hash (the next record's prev)


_HELP = {
    "backupctl_snapshots_kept": ("gauge", "Snapshots the last prune kept, per group."),
    "backupctl_snapshots_forgotten": ("gauge", "Snapshots the last prune deleted, per group."),
    "backupctl_prune_refusals": ("gauge", "Safety refusals in the last prune, per group."),
    "backupctl_prune_failed_snapshots": (
        "gauge",
        "Snapshots whose deletion failed in the last prune.",
    ),
    "backupctl_bytes_freed": ("gauge", "Bytes freed by the last prune."),
    "backupctl_prune_duration_seconds": ("gauge", "Wall time of the last prune in seconds."),
    LAST_SUCCESS: ("gauge", "Unix time of the last successful prune (kept across failed runs)."),
    "backupctl_audit_head_seq": ("gauge", "Seq of the newest audit record the last prune wrote."),
    "backupctl_audit_head_info": (
        "gauge",
        "Always 1; the label head is the SHA-256 of the newest audit record the last prune wrote.",
    ),
}


def _escape(value: str) -> str:
    value = redact_text(value)  # a label never carries a credential (docs/safety.md)
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return (
        repr(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))
    )


def _family(name: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    kind, text = _HELP[name]
    lines = [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(
            f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}"
        )
    return lines


def _per_group(values: Mapping[str, int]) -> list[tuple[dict[str, str], float]]:
    return [({"group": g}, float(n)) for g, n in sorted(values.items())]


def render(metrics: PruneMetrics, last_success: float | None) -> str:
    """The exposition text (Prometheus text format 0.0.4) for ``metrics``.

    ``last_success`` is the value to publish for the last success; omitted when None.
    """
    groups = set(metrics.kept) | set(metrics.forgotten) | set(metrics.refusals)
    lines = [
        *_family(
            "backupctl_snapshots_kept", _per_group({g: metrics.kept.get(g, 0) for g in groups})
        ),
        *_family(
            "backupctl_snapshots_forgotten",
            _per_group({g: metrics.forgotten.get(g, 0) for g in groups}),
        ),
        *_family(
            "backupctl_prune_refusals", _per_group({g: metrics.refusals.get(g, 0) for g in groups})
        ),
        *_family("backupctl_prune_failed_snapshots", [({}, float(metrics.failed))]),
        *_family("backupctl_bytes_freed", [({}, float(metrics.bytes_freed))]),
        *_family("backupctl_prune_duration_seconds", [({}, metrics.duration_s)]),
    ]
    if last_success is not None:
        lines += _family(LAST_SUCCESS, [({}, last_success)])
    if metrics.audit_seq is not None and metrics.audit_head is not None:
        lines += _family("backupctl_audit_head_seq", [({}, float(metrics.audit_seq))])
        lines += _family("backupctl_audit_head_info", [({"head": metrics.audit_head}, 1.0)])
    return "\n".join(lines) + "\n"


def read_last_success(path: Path) -> float | None:
    """The last-success value in an existing textfile.

    None when the file is absent or unreadable, or has no such line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = _LAST_SUCCESS_LINE.search(text)
    if match is None:
        return None
    try:
        value = float(match.group(1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def write_textfile(path: str | Path, metrics: PruneMetrics) -> None:
    """Write ``metrics`` to ``path`` atomically, keeping the old last-success on failure.

    Raises:
        OSError: the directory is not writable (the caller turns it into a clear error).
    """
    target = Path(path)
    last = metrics.success_time if metrics.success_time is not None else read_last_success(target)
    write_atomic(target, render(metrics, last).encode())


def write_atomic(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` atomically (temp file beside it, fsync, rename), mode
    0644; the temp file never stays behind.

    Raises:
        OSError: the directory is not writable.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # node_exporter often runs as another user
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
