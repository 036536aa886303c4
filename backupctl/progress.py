"""Progress bars on a TTY, silence elsewhere (cron, CI, pipes)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def progress(label: str, total: int | None, unit: str = "") -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a click progress bar on stderr only when it is a TTY."""
    if not sys.stderr.isatty() or not total:
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=not unit) as bar:
        yield bar.update
