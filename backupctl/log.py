"""structlog set-up: readable on a TTY, JSON lines otherwise; credentials never logged.

Levels: on a terminal only warnings and errors are shown unless ``-v`` (debug and info too);
JSON logs (not a TTY, or ``--log-json``) keep info and up, as before. ``-q`` (for cron) shows
only warnings and errors in either form. A console line's time is in the config's timezone,
without microseconds (:func:`backupctl.humanize.when`); JSON keeps ISO 8601 UTC.

structlog (with the asyncio it imports, ~35 ms) is imported at the first log event, not at
start-up: a command reaches its real work (e.g. the restic process of a drill) sooner, and the
import overlaps that work. :func:`configure` applies at once when structlog is loaded already.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from backupctl.secrets import MASK, is_secret_name, redact_data, redact_text

if TYPE_CHECKING:
    from types import ModuleType

    from structlog.typing import FilteringBoundLogger

_DEBUG, _INFO, _WARNING = 10, 20, 30  # the stdlib levels structlog's filtering loggers use
_pending: tuple[int, bool] | None = None  # (level, json_logs) not yet applied
_quiet = False
_verbose = False

_PLAIN = (str, int, float, bool, type(None), Mapping, list, tuple)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask every secret an event could carry (:mod:`backupctl.secrets`):
    values of secret-looking keys at any depth, URL userinfo and ``secret=...`` in every
    string (nested dicts and lists too); other objects are logged as their redacted ``str``."""
    for key in list(event):
        value = event[key]
        if is_secret_name(key, field=True):
            event[key] = MASK
        elif not isinstance(value, _PLAIN):
            event[key] = redact_text(str(value))
        else:
            event[key] = redact_data(value, mask_keys=True)
    return event


def configure(verbose: bool = False, json_logs: bool | None = None, quiet: bool = False) -> None:
    """Configure structlog for the CLI: logs go to stderr, JSON unless stderr is a TTY.

    Args:
        verbose: debug and info lines too (``-v``).
        json_logs: force JSON (True) or console (False) lines; None: console on a TTY.
        quiet: warnings and errors only, JSON too (``-q``); wins over ``verbose``.

    Applied now if structlog is loaded, else at the first log event."""
    global _pending, _quiet, _verbose
    as_json = not sys.stderr.isatty() if json_logs is None else json_logs
    if quiet:
        level = _WARNING
    elif verbose:
        level = _DEBUG
    else:
        level = _INFO if as_json else _WARNING
    _pending, _quiet, _verbose = (level, as_json), quiet, verbose and not quiet
    if "structlog" in sys.modules:
        _structlog()


def is_quiet() -> bool:
    """True under ``-q``: commands then draw no progress bar and print nothing on success."""
    return _quiet


TOLD_BY_COMMAND = frozenset({"prune.refused"})
"""Warnings whose whole content the command prints itself (its error line): a terminal shows
them once, there, and not as a log line too (unless ``-v``). JSON logs keep them."""


def _drop_told(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor (console, without -v): drop the events of :data:`TOLD_BY_COMMAND`."""
    if event.get("event") in TOLD_BY_COMMAND:
        import structlog

        raise structlog.DropEvent
    return event


def is_verbose() -> bool:
    """True under ``-v``: commands then print their long lists in full (verify's notes …)."""
    return _verbose


def _console_time(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the event's time as human output shows times (config timezone)."""
    from datetime import UTC, datetime

    from backupctl.humanize import when

    event["timestamp"] = when(datetime.now(UTC))
    return event


def _structlog() -> ModuleType:
    """The structlog module, with a pending :func:`configure` applied."""
    global _pending
    import structlog

    if _pending is not None:
        (level, json_logs), _pending = _pending, None
        renderer: Any = (
            structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
        )
        stamp: Any = (
            structlog.processors.TimeStamper(fmt="iso", utc=True) if json_logs else _console_time
        )
        told: list[Any] = [] if json_logs or level <= _DEBUG else [_drop_told]
        structlog.configure(
            processors=[
                *told,
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                stamp,
                redact,
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(level),
            logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
            cache_logger_on_first_use=False,
        )
    return structlog


class _Logger:
    """Stands for ``structlog.get_logger(component=name)``; resolved on each use, so it follows
    :func:`configure` (called later, by the CLI) and imports structlog only when it logs."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(_structlog().get_logger(component=self._name), attr)


def get_logger(name: str) -> FilteringBoundLogger:
    """A structlog logger bound to ``component=name`` (see :class:`_Logger`): one per module,
    ``log = get_logger(__name__)``-style, safe at import time."""
    logger: FilteringBoundLogger = _Logger(name)  # a lazy stand-in (its attributes are structlog's)
    return logger
