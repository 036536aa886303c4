"""The one thing retention reasons about: a snapshot with a time and a group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A backup as retention sees it.

    ``time`` must be timezone-aware: calendar buckets (day, ISO week, month) are taken
    in that zone, so a restic snapshot keeps its own recorded offset and a store whose
    keys are UTC converts to the configured timezone before planning.
    ``group`` is the store's group (e.g. ``"app"``); ``host``, ``paths`` and ``tags``
    serve restic-style grouping and ``keep_tag``.
    """

    id: str
    time: datetime
    group: str = ""
    host: str = ""
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError(
                f"snapshot {self.id!r} has a time without timezone: {self.time.isoformat()}"
            )

    def has_tags(self, required: tuple[str, ...]) -> bool:
        """True when the snapshot carries every tag in ``required`` (restic's TagList).

        An empty-string tag matches a snapshot without any tags, as in restic.
        """
        for tag in required:
            if tag == "" and not self.tags:
                return True
            if tag not in self.tags:
                return False
        return True
