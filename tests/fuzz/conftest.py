"""Prints how many hypothesis examples each fuzz test ran (``make test`` / ``make soak`` quote these)."""

from __future__ import annotations

from typing import Any

from tests.fuzz import COUNTS, SECONDS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    terminalreporter.section("backupctl fuzz: examples run")
    for name in sorted(COUNTS):
        terminalreporter.write_line(f"fuzz {name}: {COUNTS[name]} examples in {SECONDS[name]:.1f} s")
    terminalreporter.write_line(f"fuzz total: {sum(COUNTS.values())} examples in {sum(SECONDS.values()):.1f} s")
