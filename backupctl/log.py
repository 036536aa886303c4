"""structlog set-up: readable on a TTY, JSON lines otherwise; credentials never logged.

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

_DEBUG, _INFO = 10, 20  # the stdlib logging levels structlog's filtering loggers use
_pending: tuple[bool, bool] | None = None  # (verbose, json_logs) not yet applied

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


def configure(verbose: bool = False, json_logs: bool | None = None) -> None:
    """Configure structlog for the CLI: logs go to stderr, JSON unless stderr is a TTY.

    Applied now if structlog is loaded, else at the first log event."""
    global _pending
    _pending = (verbose, not sys.stderr.isatty() if json_logs is None else json_logs)
    if "structlog" in sys.modules:
        _structlog()


def _structlog() -> ModuleType:
    """The structlog module, with a pending :func:`configure` applied."""
    global _pending
    import structlog

    if _pending is not None:
        (verbose, json_logs), _pending = _pending, None
        renderer: Any = (
            structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
        )
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                redact,
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(_DEBUG if verbose else _INFO),
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
