"""``--shard K/N``: a stable split of a fleet by store name, for N parallel jobs anywhere.

A store's shard is the first 8 bytes of SHA-256 of its name (UTF-8), as a big-endian integer,
modulo N. It depends on the name and N only: not on the store's position in the fleet file, the
other stores, the Python version or the host, so N jobs on N machines agree without talking,
and adding or removing a store never moves another one. Shards are numbered 0 to N-1, as
Kubernetes numbers an Indexed Job's pods (``JOB_COMPLETION_INDEX``); ``auto/N`` reads that
variable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from backupctl.errors import UsageError

__all__ = ["INDEX_ENV", "MAX_SHARDS", "Shard", "parse_shard", "shard_of"]

INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_SHARDS = 10_000


def shard_of(name: str, count: int) -> int:
    """The shard (0 to ``count - 1``) that store ``name`` belongs to."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        """Whether store ``name`` is in this shard."""
        return shard_of(name, self.count) == self.index

    def to_json(self) -> dict[str, int]:
        """``{"index", "count"}``."""
        return {"index": self.index, "count": self.count}


def parse_shard(text: str, env: Mapping[str, str] | None = None) -> Shard:
    """Parse ``K/N`` (0 <= K < N <= 10000) or ``auto/N`` (K from ``$JOB_COMPLETION_INDEX``).

    Raises:
        UsageError: naming ``--shard`` and what was expected.
    """
    env = os.environ if env is None else env
    expected = f"expected K/N with 0 <= K < N <= {MAX_SHARDS} (e.g. 0/3), or auto/N"
    index_text, sep, count_text = text.strip().partition("/")
    if not sep or not count_text.isdigit() or not count_text.isascii():
        raise UsageError(f"--shard: {text!r} is not a shard: {expected}")
    count = int(count_text)
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"--shard: {text!r} has N = {count}: {expected}")
    if index_text == "auto":
        value = env.get(INDEX_ENV)
        if value is None or not value.strip():
            raise UsageError(
                f"--shard {text}: ${INDEX_ENV} is not set (it is set in the pods of a Kubernetes "
                "Indexed Job); give --shard K/N instead"
            )
        if not value.strip().isdigit() or not value.strip().isascii():
            raise UsageError(f"--shard {text}: ${INDEX_ENV} = {value!r} is not a whole number")
        index, what = int(value.strip()), f"${INDEX_ENV} = {value.strip()}"
    elif index_text.isdigit() and index_text.isascii():
        index, what = int(index_text), f"K = {index_text}"
    else:
        raise UsageError(f"--shard: {text!r} is not a shard: {expected}")
    if index >= count:
        raise UsageError(
            f"--shard {text}: {what} is not below N = {count} "
            f"(shards are numbered 0 to {count - 1})"
        )
    return Shard(index, count)
