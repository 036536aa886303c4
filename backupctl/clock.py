"""The wall clock, overridable for tests and the demo with BACKUPCTL_NOW (ISO 8601 with offset)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from backupctl.errors import UsageError


def now() -> datetime:
    """The current time, aware. ``BACKUPCTL_NOW`` (e.g. ``2026-11-23T10:00:00+01:00``) overrides it.

    Raises:
        UsageError: BACKUPCTL_NOW is set but not an ISO time with an offset.
    """
    fixed = os.environ.get("BACKUPCTL_NOW")
    if not fixed:
        return datetime.now(UTC)
    return parse_time(fixed, "BACKUPCTL_NOW")


def parse_time(text: str, what: str) -> datetime:
    """Parse an ISO 8601 time that carries an offset (``Z`` allowed).

    Raises:
        UsageError: naming ``what``, when the text is not such a time.
    """
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what}: {text!r} is not an ISO 8601 time (expected e.g. 2026-11-23T10:00:00+01:00)"
        ) from None
    if t.tzinfo is None:
        raise UsageError(
            f"{what}: {text!r} has no UTC offset (expected e.g. 2026-11-23T10:00:00+01:00 or …Z)"
        )
    return t
