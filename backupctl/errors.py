"""Errors that end a command, each carrying the exit code the CLI contract promises.

The contract is in docs/design.md. Exit codes: 0 ok, 1 error, 2 bad usage or config,
3 a check found a violation, 4 a safety refusal.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_VIOLATION = 3
EXIT_REFUSED = 4


class BackupctlError(Exception):
    """Base of every error the CLI turns into a clear message and an exit code."""

    exit_code = EXIT_ERROR


class UsageError(BackupctlError):
    """Bad flags, unreadable or malformed input given by the user (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A config file with problems; ``problems`` lists every one (exit 2)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{path}: {len(problems)} problem(s) in the config, nothing was changed:\n{lines}"
        )
        self.path = path
        self.problems = problems


class StoreError(BackupctlError):
    """The storage backend failed or answered something unexpected (exit 1)."""


class ViolationFound(BackupctlError):
    """A check found what it was looking for: a violation, tampering, a failed drill (exit 3)."""

    exit_code = EXIT_VIOLATION


class SafetyRefusal(BackupctlError):
    """A safety rule refused the run; ``--force --reason`` overrides (exit 4)."""

    exit_code = EXIT_REFUSED


class LockHeld(SafetyRefusal):
    """Another prune holds the store's lock, or a stale lock was found (exit 4)."""
