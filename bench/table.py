"""One row per measurement; every row names its peer so figures are ratios, side by side."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    benchmark: str  # e.g. "plan server SLA"
    size: str  # e.g. "1M snapshots"
    ours: str  # e.g. "1.23 s"
    peer: str  # e.g. "sort timestamps: 0.80 s"
    ratio: str  # e.g. "1.54x"
    target: str  # e.g. "< 2x"
    ok: bool | None = None


def print_table(rows: list[Row]) -> None:
    """Print rows as one aligned plain-text table on stdout."""
    header = ("benchmark", "size", "ours", "peer", "ratio", "target", "met")
    cells = [header] + [
        (
            r.benchmark,
            r.size,
            r.ours,
            r.peer,
            r.ratio,
            r.target,
            {True: "yes", False: "NO", None: "-"}[r.ok],
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for n, line in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
