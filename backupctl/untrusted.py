"""Bounded parsing of bytes read from a store (manifests, journals, locks, audit records,
heads) or from another program (restic's JSON).

Everything in a store may have been written by someone without a backupctl key (see
docs/safety.md). ``json.loads`` alone is not safe on such bytes: deeply nested arrays raise
``RecursionError`` (and later walks of the value recurse too), a 5000-digit number raises a
``ValueError`` from Python's integer-string limit (or, a little shorter, passes and overflows
``timedelta`` later), and ``NaN``/``Infinity`` are not JSON at all. :func:`loads` refuses all of
these with one :class:`UntrustedInput` error that names the object, so a caller reports that
one object and goes on with the rest.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "UntrustedInput", "loads"]

MAX_DEPTH = 64  # no document backupctl writes nests deeper than ~10
MAX_DIGITS = 20  # sizes, seqs and counts fit in 64 bits (19-20 digits)
_MAX_FLOAT_CHARS = 40


class UntrustedInput(ValueError):
    """Bytes from a store or a program that are not the bounded JSON expected."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise UntrustedInput(f"a number of {len(text)} digits (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    if len(text) > _MAX_FLOAT_CHARS:
        raise UntrustedInput(f"a number of {len(text)} characters (at most {_MAX_FLOAT_CHARS})")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise UntrustedInput(f"the number {text[:20]} is out of range")
    return value


def _constant(text: str) -> Any:
    raise UntrustedInput(f"{text} is not JSON")


def _depth_ok(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth > limit:
            return False
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def loads(
    data: bytes | str, what: str, *, max_bytes: int = 64 << 20, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse untrusted JSON with bounds.

    Args:
        data: the bytes (UTF-8) or text.
        what: names the object in the error, e.g. ``"manifest.json of app/20261120T060000Z"``.
        max_bytes: refuse larger input without parsing it.
        max_depth: refuse values nested deeper than this.

    Returns:
        The parsed value: dicts, lists, str, int (at most :data:`MAX_DIGITS` digits), finite
        float, bool, None.

    Raises:
        UntrustedInput: too large, not UTF-8, not JSON, too deep, an oversized number, or
            ``NaN``/``Infinity``; the message starts with ``what``.
    """
    if len(data) > max_bytes:
        raise UntrustedInput(f"{what}: {len(data)} bytes, more than the {max_bytes} accepted")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except UnicodeDecodeError:
        raise UntrustedInput(f"{what}: not UTF-8 text") from None
    except RecursionError:
        raise UntrustedInput(f"{what}: nested more than {max_depth} levels deep") from None
    except UntrustedInput as exc:
        raise UntrustedInput(f"{what}: {exc}") from None
    except ValueError as exc:  # json.JSONDecodeError, and int() limits
        raise UntrustedInput(f"{what}: not valid JSON ({exc})") from None
    if not _depth_ok(value, max_depth):
        raise UntrustedInput(f"{what}: nested more than {max_depth} levels deep")
    return value
