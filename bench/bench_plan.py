"""Plan a long history with the SLA server policy, against the floor: ``sorted()`` of the same times.

One group, a snapshot every 5 minutes (aware UTC datetimes), given in a shuffled order (as
restic lists snapshots: by id) and, separately, already in time order (as S3 lists keys). The
floor is ``sorted()`` of the same datetimes in the same input order.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.table import Row
from retention import SLA_SERVER, Snapshot, plan

TARGET = 2.0


def _history(n: int) -> list[Snapshot]:
    start = datetime(2026, 11, 23, tzinfo=UTC) - timedelta(minutes=5 * n)
    return [Snapshot(f"{i:08d}", start + timedelta(minutes=5 * i), group="server") for i in range(n)]


def _best(func: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
        del result  # freeing the result is not part of the measurement (for neither side)
    return best


def _row(n: int, order: str, snaps: list[Snapshot], now: datetime) -> Row:
    times = [s.time for s in snaps]
    repeat = 3 if n <= 100_000 else 1
    floor = _best(lambda: sorted(times), repeat)
    ours = _best(lambda: plan(snaps, SLA_SERVER, now=now), repeat)
    ratio = ours / floor
    return Row(
        benchmark=f"plan sla-server ({order})", size=f"{n:,} snapshots", ours=f"{ours:.3f} s",
        peer=f"sorted() times: {floor:.3f} s", ratio=f"{ratio:.2f}x",
        target=f"< {TARGET:g}x" if order == "shuffled" else "-", ok=(ratio < TARGET) if order == "shuffled" else None,
    )


def run(quick: bool) -> list[Row]:
    """Time plan() for 10k, 100k and (unless quick) 1M snapshots, shuffled and in time order."""
    rows: list[Row] = []
    now = datetime(2026, 11, 23, 1, tzinfo=UTC)
    for n in (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000):
        snaps = _history(n)
        rows.append(_row(n, "in time order", snaps, now))
        random.Random(n).shuffle(snaps)
        rows.append(_row(n, "shuffled", snaps, now))
    return rows


if __name__ == "__main__":
    from bench.table import print_table

    print_table(run(quick=False))
