"""The head ``audit verify`` last verified, remembered per audit log on this host.

Someone who can write to the bucket can empty the log, cut its end, or rewrite it: each
leaves a log that is consistent in itself. What they cannot change is what this host saw
before. After each clean verification ``audit verify`` stores the newest record's seq and
hash here; the next one requires the log to still hold that record, unchanged (the log may
grow, never shrink or fork).

Where: ``$XDG_STATE_HOME/backupctl/audit-heads/<id>.json`` (``~/.local/state`` when the
variable is unset, empty or relative, as the XDG spec says); ``<id>`` is the first 32 hex
digits of the SHA-256 of the log's location with credentials redacted. One small JSON file
per log: ``{"version": 1, "source", "seq", "head", "verified_at"}``.

The first verification on a host has nothing to compare with: it only starts the memory
(docs/audit-and-lock.md, "Anchored heads").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from backupctl.errors import BackupctlError
from backupctl.secrets import redact_url
from backupctl.untrusted import UntrustedInput, loads

__all__ = ["Anchor", "AnchorError", "anchor_path", "read_anchor", "save_anchor", "state_dir"]

_MAX_BYTES = 64 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AnchorError(BackupctlError):
    """The remembered head cannot be read or written (exit 1); the message names the file."""


@dataclass(frozen=True)
class Anchor:
    """A head verified earlier: the newest record's ``seq`` and ``head`` hash, and when."""

    source: str
    seq: int
    head: str
    verified_at: str

    def to_json(self) -> dict[str, object]:
        """``{"source", "seq", "head", "verified_at"}``."""
        return {
            "source": self.source,
            "seq": self.seq,
            "head": self.head,
            "verified_at": self.verified_at,
        }


def state_dir() -> Path:
    """``$XDG_STATE_HOME/backupctl`` (``~/.local/state/backupctl`` by default)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "backupctl"


def anchor_path(source: str) -> Path:
    """The file that remembers the head of the log at ``source`` (a URL; redacted first)."""
    digest = hashlib.sha256(redact_url(source).encode()).hexdigest()[:32]
    return state_dir() / "audit-heads" / f"{digest}.json"


def read_anchor(source: str) -> Anchor | None:
    """The head remembered for ``source``, or None (never verified on this host).

    Raises:
        AnchorError: the file exists but is unreadable, too large or malformed.
    """
    path = anchor_path(source)
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):  # never verified here (or nowhere to keep it)
        return None
    except OSError as exc:
        raise AnchorError(
            f"remembered audit head {path}: cannot read it ({exc.strerror})"
        ) from None
    fix = f"check it; delete it only if you know why (the next verify starts anew): {path}"
    try:
        data = loads(raw, f"remembered audit head {path}", max_bytes=_MAX_BYTES)
    except UntrustedInput as exc:
        raise AnchorError(f"{exc}; {fix}") from None
    seq = data.get("seq") if isinstance(data, dict) else None
    head = data.get("head") if isinstance(data, dict) else None
    when = data.get("verified_at") if isinstance(data, dict) else None
    if (
        isinstance(seq, bool)
        or not isinstance(seq, int)
        or seq < 0
        or not isinstance(head, str)
        or not _HEX64.match(head)
        or not isinstance(when, str)
    ):
        raise AnchorError(
            f'remembered audit head {path}: malformed (expected {{"seq": an integer, "head": '
            f'64 hex digits, "verified_at": a time}}); {fix}'
        )
    return Anchor(redact_url(source), seq, head, when)


def save_anchor(source: str, seq: int, head: str, now: datetime) -> Anchor:
    """Remember ``(seq, head)`` as the head verified for ``source`` at ``now`` (atomically:
    a temporary file in the same directory, fsync, rename; directory mode 0700).

    Raises:
        AnchorError: the state directory cannot be written.
    """
    path = anchor_path(source)
    anchor = Anchor(redact_url(source), seq, head, now.isoformat())
    data = (json.dumps({"version": 1, **anchor.to_json()}, indent=2) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise AnchorError(
            f"cannot remember the verified audit head in {path} ({exc.strerror or exc}): "
            "set XDG_STATE_HOME to a writable directory"
        ) from None
    return anchor
