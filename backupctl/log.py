"""structlog set-up: readable on a TTY, JSON lines otherwise; credentials never logged.

structlog (with the asyncio it imports, ~35 ms) is imported at the first log event, not at
start-up: a command reaches its real work (e.g. the restic process of a drill) sooner, and the
import overlaps that work. :func:`configure` applies at once when structlog is loaded already.
"""

from __future__ import annotations

import re
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

_DEBUG, _INFO = 10, 20  # the stdlib logging levels structlog's filtering loggers use
_pending: tuple[bool, bool] | None = None  # (verbose, json_logs) not yet applied

_SECRET_KEYS = re.compile(r"(secret|password|token|credential|access_key|authorization|session)", re.I)
_SECRET_IN_TEXT = re.compile(
    r"((?:aws_secret_access_key|secret|password|token|RESTIC_PASSWORD)\s*[=:]\s*)\S+", re.I
)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask values of secret-looking keys and ``secret=...`` in strings."""
    for key in list(event):
        value = event[key]
        if _SECRET_KEYS.search(key):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = _SECRET_IN_TEXT.sub(r"\1***", value)
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
        renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
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


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``component=name`` (see :class:`_Logger`)."""
    return _Logger(name)
