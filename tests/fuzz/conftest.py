"""Prints how many hypothesis examples each fuzz test ran.

``make test`` and ``make soak`` quote these counts. They are ``BACKUPCTL_FUZZ_EXAMPLES``
(default 300) spread by weight; under the ``dev`` hypothesis profile (a local run, see
tests/conftest.py) a fifth of them unless ``BACKUPCTL_FUZZ_EXAMPLES`` is set, as ``make soak``
does.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings

from tests.fuzz import COUNTS, DELETIONS, EXITS, SECONDS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    terminalreporter.section("backupctl fuzz: examples run")
    terminalreporter.write_line(f"hypothesis profile: {settings.get_current_profile_name()}")
    for name in sorted(COUNTS):
        terminalreporter.write_line(
            f"fuzz {name}: {COUNTS[name]} examples in {SECONDS[name]:.1f} s"
        )
    terminalreporter.write_line(
        f"fuzz total: {sum(COUNTS.values())} examples in {sum(SECONDS.values()):.1f} s"
    )
    exits = ", ".join(f"{cmd} exit {code}: {n}" for (cmd, code), n in sorted(EXITS.items()))
    terminalreporter.write_line(f"fuzz commands: {exits}")
    terminalreporter.write_line(
        f"fuzz prunes that deleted something: {DELETIONS['prunes']}, "
        f"entries deleted (all inside the plan): {DELETIONS['entries']}"
    )
