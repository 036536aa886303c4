"""Read ``restic snapshots --json`` output into retention Snapshots.

restic writes either a flat list of snapshots or, with ``--group-by``, a list of
``{"group_key": ..., "snapshots": [...]}`` groups; both are accepted. Times keep their
own recorded offset (restic's nanoseconds are truncated to microseconds).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from backupctl import untrusted
from backupctl.errors import UsageError
from retention import Snapshot

__all__ = ["load_restic_snapshots", "parse_restic_snapshots", "parse_restic_time"]

_TIME = re.compile(  # re.ASCII: \d would take any Unicode digit
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?(?P<zone>Z|[+-]\d{2}:\d{2})$",
    re.ASCII,
)
_HEX_ID = re.compile(r"^[0-9a-fA-F]{8,64}$")
# a day inside Python's datetime range, so that a time can be placed in any zone (--restic-tz)
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)


def load_restic_snapshots(source: str, zone: tzinfo | None = None) -> list[Snapshot]:
    """Read and parse restic's JSON from the file ``source`` (``-`` = standard input).

    ``zone``: see :func:`parse_restic_snapshots`.

    Raises:
        UsageError: the file cannot be read, or its content is not restic snapshot JSON.
    """
    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"{source}: cannot read restic snapshots: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                f"{source}: not UTF-8 text (expected `restic snapshots --json` output)"
            ) from None
    return parse_restic_snapshots(text, source, zone)


def parse_restic_snapshots(text: str, source: str, zone: tzinfo | None = None) -> list[Snapshot]:
    """Parse the text of ``restic snapshots --json``; ``source`` names the input in errors.

    ``zone`` emulates restic running with ``TZ=zone``: Go places a parsed time in the local
    zone when its offset is the zone's offset at that instant (otherwise in a fixed offset),
    and then does its calendar arithmetic (within cut-offs) with that zone's DST rules.
    Without ``zone`` every time keeps a fixed offset (restic run with ``TZ=UTC``).

    Returns:
        Snapshots in the order restic listed them (groups flattened in order).

    Raises:
        UsageError: malformed JSON, not a list, or a snapshot with a missing or bad field.
    """
    try:  # bounded: nesting, digits, NaN (a 100000-deep array was a RecursionError traceback)
        data = untrusted.loads(text, source, max_bytes=sys.maxsize)
    except untrusted.UntrustedInput as bad:
        try:
            json.loads(text)  # only to say where the syntax breaks
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{source}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
                "expected the output of `restic snapshots --json`"
            ) from None
        except (RecursionError, ValueError):
            pass
        raise UsageError(f"{bad}; expected the output of `restic snapshots --json`") from None
    if not isinstance(data, list):
        raise UsageError(
            f"{source}: expected a JSON list of snapshots (`restic snapshots --json`), "
            f"got a JSON {_json_type(data)}"
        )
    snapshots: list[Snapshot] = []
    for index, raw in enumerate(_flatten(data, source)):
        snapshots.append(_snapshot(raw, index, source))
    if zone is not None:
        snapshots = [replace(s, time=_in_zone(s.time, zone)) for s in snapshots]
    return snapshots


def _in_zone(t: datetime, zone: tzinfo) -> datetime:
    """``t`` placed in ``zone`` when ``zone``'s offset at that instant equals ``t``'s.

    That is Go's rule.
    """
    local = t.astimezone(zone)
    return local if local.utcoffset() == t.utcoffset() else t


def _flatten(data: list[Any], source: str) -> list[Any]:
    """Flatten ``--group-by`` output (groups with ``snapshots``) into one list."""
    out: list[Any] = []
    for index, item in enumerate(data):
        if isinstance(item, dict) and "group_key" in item:
            inner = item.get("snapshots")
            if not isinstance(inner, list):
                raise UsageError(f'{source}: group {index}: expected a list under "snapshots"')
            out.extend(inner)
        else:
            out.append(item)
    return out


def _snapshot(raw: Any, index: int, source: str) -> Snapshot:
    where = f"{source}: snapshot {index}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a JSON object, got a JSON {_json_type(raw)}")
    sid = raw.get("id")
    if not isinstance(sid, str) or not _HEX_ID.match(sid):
        raise UsageError(
            f'{where}: expected "id" to be a restic snapshot id (hex string), got {sid!r}'
        )
    where = f"{source}: snapshot {index} ({sid[:8]})"
    if "time" not in raw:
        raise UsageError(f'{where}: missing "time" (expected an RFC 3339 time with offset)')
    when = parse_restic_time(raw["time"], where)
    host = raw.get("hostname", "")
    if not isinstance(host, str):
        raise UsageError(f'{where}: expected "hostname" to be a string, got {host!r}')
    paths = _strings(raw, "paths", where, required=True)
    tags = _strings(raw, "tags", where, required=False)
    return Snapshot(id=sid, time=when, host=host, paths=paths, tags=tags)


def _strings(raw: dict[str, Any], key: str, where: str, *, required: bool) -> tuple[str, ...]:
    if key not in raw or raw[key] is None:
        if required:
            raise UsageError(f'{where}: missing "{key}" (expected a list of strings)')
        return ()
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f'{where}: expected "{key}" to be a list of strings, got {value!r}')
    return tuple(value)


def parse_restic_time(value: object, where: str) -> datetime:
    """Parse restic's RFC 3339 time (up to nanoseconds, offset required) keeping its offset.

    Fractions beyond microseconds are truncated.

    Raises:
        UsageError: naming ``where``, for a non-string, naive or unparseable time, or one
            outside 0001-01-02..9999-12-30 UTC (which no zone could place: ``--restic-tz``).
    """
    expected = "expected an RFC 3339 time with offset such as 2026-03-29T01:59:00.123456789+01:00"
    if not isinstance(value, str):
        raise UsageError(f'{where}: "time" is {value!r}; {expected}')
    match = _TIME.match(value.strip())
    if match is None:
        raise UsageError(f'{where}: "time" {value!r} is not a time with offset; {expected}')
    frac = (match.group("frac") or "")[:6].ljust(6, "0")
    zone = match.group("zone").replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(f"{match.group('base')}.{frac}{zone}")
    except ValueError as exc:
        raise UsageError(
            f'{where}: "time" {value!r} is not a valid time ({exc}); {expected}'
        ) from None
    try:
        in_utc = when.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not _EARLIEST <= in_utc <= _LATEST:
        raise UsageError(
            f'{where}: "time" {value!r} is outside the supported range: expected a time between '
            f"{_EARLIEST.isoformat()} and {_LATEST.isoformat()} (in UTC)"
        )
    return when


def _json_type(value: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
