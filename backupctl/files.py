"""One way to give a finished temp file its final name only if nothing has that name yet.

Used wherever backupctl must never replace a file: a blob written with ``if_absent`` (the lock,
audit records, manifests on a file store), each object of ``backupctl backup`` on a file
store, and the config ``backupctl init`` writes without ``--force``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["publish_new"]

_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV)


def publish_new(tmp: str, path: Path) -> None:
    """Give the finished (written and fsynced) temp file ``tmp`` the name ``path`` only if
    nothing has it, then drop the temp name.

    ``link()`` fails with EEXIST when the name exists (a file, a directory, a symlink: none is
    followed or replaced), so of two writers exactly one wins, and a reader never sees a
    partial file. On a filesystem without hard links the name is reserved with
    ``O_CREAT | O_EXCL | O_NOFOLLOW`` (one winner) and the temp file renamed onto that empty
    placeholder.

    Raises:
        FileExistsError: ``path`` exists (``tmp`` is left to the caller).
        OSError: another failure (``tmp`` is left to the caller).
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        os.replace(tmp, path)
        return
    os.unlink(tmp)
