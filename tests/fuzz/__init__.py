"""Hypothesis fuzz of the real CLI against hostile stores, configs and restic JSON (issue 11).

``COUNTS`` holds how many examples each fuzz test ran in this session; tests/fuzz/conftest.py
prints them at the end of the run."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()
EXITS: Counter[tuple[str, int]] = Counter()  # (command, exit code) -> how often
DELETIONS: Counter[str] = Counter()  # "prunes that deleted", "entries deleted"
