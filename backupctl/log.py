"""structlog set-up: readable on a TTY, JSON lines otherwise; credentials never logged."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

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
    """Configure structlog for the CLI: logs go to stderr, JSON unless stderr is a TTY."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``component=name``.

    Lazy: module-level loggers pick up :func:`configure` (called later, by the CLI) on each use;
    ``.bind()`` here would freeze structlog's default (stdout) configuration at import time.
    """
    return structlog.get_logger(component=name)
