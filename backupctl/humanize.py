"""The one home of how human output shows times, sizes and durations.

Human output (tables, summaries, console log lines) shows:

* times in the config's timezone, to the second, with the zone's abbreviation:
  ``2026-11-23 09:30:00 CET`` (:func:`when`); a day as ``2026-11-23`` (:func:`day`);
* sizes in decimal units with one decimal: ``5.1 MB`` (:func:`size`);
* durations the way people say them: ``28 ms``, ``4.2 s``, ``3 h 12 min`` (:func:`duration`).

JSON output never comes here: it keeps ISO 8601 with an offset and sizes in bytes.

The zone is the config's: a command calls :func:`use_zone` once it has loaded its config
(:func:`backupctl.commands.options.load_config` does it), and every later :func:`when` uses it
(console log lines too). Before that, and without a config, the system's local zone is used.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

__all__ = ["count", "day", "duration", "size", "use_zone", "when", "zone"]

_zone: tzinfo | None = None  # None: the system's local zone


def use_zone(tz: tzinfo | None) -> None:
    """Show later times in ``tz`` (the config's timezone); None = the system's local zone."""
    global _zone
    _zone = tz


def zone() -> tzinfo | None:
    """The zone human output uses now (None: the system's local zone)."""
    return _zone


def when(t: datetime, tz: tzinfo | None = None) -> str:
    """``t`` as people read it: ``2026-11-23 09:30:00 CET``, in ``tz`` or the :func:`use_zone`
    zone, without microseconds. A naive ``t`` is shown as it is, without a zone."""
    if t.tzinfo is None:
        return t.replace(microsecond=0).isoformat(sep=" ")
    try:
        local = t.astimezone(tz or _zone)
    except (OverflowError, ValueError):  # the ends of the datetime range: as given
        local = t
    name = local.tzname() or local.strftime("%z")
    if not name or name[0] in "+-":  # an offset-only zone: show the offset as ±hh:mm
        offset = local.strftime("%z")
        name = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{local:%Y-%m-%d %H:%M:%S} {name}".rstrip()


def day(t: datetime, tz: tzinfo | None = None) -> str:
    """The local calendar day of ``t``: ``2026-11-23``."""
    if t.tzinfo is None:
        return t.date().isoformat()
    return t.astimezone(tz or _zone).date().isoformat()


_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def size(n: int | float) -> str:
    """A byte count in decimal units: ``0 B``, ``512 B``, ``5.1 MB``, ``1.2 TB``."""
    if n < 0:
        return "-" + size(-n)
    if n < 1000:
        return f"{int(n)} B"
    exp = min(int(math.log10(n) // 3), len(_UNITS) - 1)
    value = n / 1000**exp
    if round(value, 1) >= 1000 and exp < len(_UNITS) - 1:  # 999.96 kB shows as 1.0 MB
        exp, value = exp + 1, value / 1000
    return f"{value:.1f} {_UNITS[exp]}"


def duration(d: timedelta | float) -> str:
    """A duration (a timedelta or seconds) as people say it: ``28 ms``, ``4.2 s``, ``59 s``,
    ``3 min 5 s``, ``3 h 12 min``, ``2 d 4 h``. Rounded down to its last unit shown."""
    seconds = d.total_seconds() if isinstance(d, timedelta) else float(d)
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 1:
        return f"{math.floor(seconds * 1000)} ms"
    if seconds < 10:
        return f"{math.floor(seconds * 10) / 10:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 snapshot``, ``3 snapshots`` (``plural`` for irregular nouns)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
