"""The bounded pool a fleet runs in: at most ``workers`` stores at once, in threads.

Threads, not processes: a store's run waits on the network or the disk nearly all the time,
and one process pays Python's and boto3's start-up once for the whole fleet. No more than
``workers`` stores are submitted at a time, so what is held (a store's listing, its plan, its
JSON result until the caller has written it) is bounded by the pool, not by the fleet's size.
Each store's log events carry ``fleet_store=NAME`` (structlog context variables, per thread).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from backupctl.fleet.jobs import Outcome
from backupctl.fleet.spec import StoreEntry

__all__ = ["DEFAULT_WORKERS", "run_pool"]

DEFAULT_WORKERS = 8
T = TypeVar("T")


def _bound(entry: StoreEntry, work: Callable[[StoreEntry], Outcome]) -> Outcome:
    import structlog

    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(fleet_store=entry.name):
        try:
            return work(entry)
        except Exception as exc:  # work should not raise; if it does, it is this store's error
            return Outcome(
                1, "error", error=f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - started
            )


def run_pool(
    entries: Iterable[StoreEntry],
    work: Callable[[StoreEntry], Outcome],
    workers: int = DEFAULT_WORKERS,
) -> Iterator[tuple[StoreEntry, Outcome]]:
    """Run ``work`` on each entry, at most ``workers`` at a time; yield ``(entry, outcome)``
    as each finishes (completion order). Stopping the iteration (or Ctrl-C) lets the running
    stores finish and starts no more."""
    it = iter(entries)
    pending: dict[Future[Outcome], StoreEntry] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fleet") as pool:
        try:
            for entry in it:
                pending[pool.submit(_bound, entry, work)] = entry
                if len(pending) >= workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    entry = pending.pop(future)
                    for nxt in it:  # keep the pool full, never more than `workers` submitted
                        pending[pool.submit(_bound, nxt, work)] = nxt
                        break
                    yield entry, future.result()
        finally:
            for future in pending:
                future.cancel()
