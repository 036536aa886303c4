"""Which keys go in which S3 DeleteObjects request (pure: no I/O).

A DeleteObjects request holds at most :data:`MAX_DELETE_BATCH` keys and S3 applies it in no
particular order, so a request that held a snapshot's manifest.json and its data could delete
data while the manifest still stands: the snapshot would look whole with data gone.
:func:`schedule` therefore sends the keys in three rounds, each only after every request of
the round before is answered:

1. the manifests in full batches (:func:`manifest_rounds`);
2. the last, partial manifest batch, topped up with data of snapshots whose manifest went in
   round 1 (:func:`take`);
3. the rest of the data, packed across snapshots (:func:`pack`).

``S3Store`` runs these same functions and, between rounds, drops the snapshots whose
manifest was refused (their data is never sent) and lists the folders whose data keys it
does not know. One request the service refuses as a whole is split (:func:`send_splitting`);
a key XML 1.0 cannot carry is sent alone, outside any DeleteObjects body
(:func:`split_sendable`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "MALFORMED",
    "MAX_DELETE_BATCH",
    "Refusal",
    "fewest_delete_requests",
    "manifest_rounds",
    "pack",
    "schedule",
    "send_splitting",
    "split_sendable",
    "take",
    "xml_safe",
]

T = TypeVar("T")
J = TypeVar("J")
K = TypeVar("K")
E = TypeVar("E")

MAX_DELETE_BATCH = 1000  # S3 DeleteObjects refuses more keys per request

# DeleteObjects answers that refuse the request's body as a whole (one odd key can cause them)
MALFORMED = frozenset(
    {"MalformedXML", "InvalidArgument", "InvalidRequest", "InvalidURI", "UserKeyMustBeSpecified"}
)
# characters XML 1.0 cannot carry, even escaped: such a key cannot be named in a DeleteObjects body
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(key: str) -> bool:
    """Whether ``key`` can be named in a DeleteObjects XML body."""
    return _XML_INVALID.search(key) is None


def manifest_rounds(
    manifests: Sequence[T], size: int = MAX_DELETE_BATCH
) -> tuple[list[list[T]], list[T]]:
    """Round 1 and the manifests of round 2: ``manifests`` cut into full batches of ``size``,
    and the rest (fewer than ``size``, maybe none), which round 2 tops up with data."""
    cut = len(manifests) - len(manifests) % size
    return pack(manifests[:cut], size), list(manifests[cut:])


def take(
    pools: Sequence[tuple[J, Sequence[K]]], n: int
) -> tuple[list[tuple[J, K]], list[tuple[J, list[K]]]]:
    """Up to ``n`` items from the pools, in order, each with its pool's owner; and what is
    left of every pool (all of it for pools not reached)."""
    taken: list[tuple[J, K]] = []
    left: list[tuple[J, list[K]]] = []
    for owner, items in pools:
        k = max(0, n - len(taken))
        taken += [(owner, item) for item in items[:k]]
        left.append((owner, list(items[k:])))
    return taken, left


def pack(items: Sequence[T], size: int = MAX_DELETE_BATCH) -> list[list[T]]:
    """``items`` in consecutive batches of ``size`` (the last one maybe shorter)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def schedule(
    jobs: Sequence[tuple[J, K | None, Sequence[K]]], size: int = MAX_DELETE_BATCH
) -> list[list[list[tuple[J, K]]]]:
    """The rounds of batches of a deletion that no request refuses and whose data keys are
    all known: each round a list of batches of (snapshot, key).

    Args:
        jobs: per snapshot, in deletion order: the snapshot, its manifest key (None when it
            is already gone: an interrupted deletion to finish) and its data keys.

    With M manifests and D data keys that is 1 + ceil(D/size) requests when 0 < M < size, and
    ceil((M+D)/size) when M >= size and the snapshots of round 1 hold enough data to fill
    round 2 (:func:`fewest_delete_requests`).
    """
    head, last = manifest_rounds([(j, m) for j, m, _ in jobs if m is not None], size)
    rounds = [head] if head else []
    left = {j: list(data) for j, _, data in jobs}
    if last:
        owners = [j for batch in head for j, _ in batch]
        topup, rest = take([(j, left[j]) for j in owners], size - len(last))
        left.update(rest)
        rounds.append([[*last, *topup]])
    tail = [(j, k) for j, _, _ in jobs for k in left[j]]
    if tail:
        rounds.append(pack(tail, size))
    return rounds


def fewest_delete_requests(manifests: int, data: int, size: int = MAX_DELETE_BATCH) -> int:
    """DeleteObjects of at most ``size`` keys for ``manifests`` manifest.json keys and ``data``
    data keys when no request may hold a manifest with its own snapshot's data: the first
    request holds manifests only, so it is ceil(N/size) from ``size`` manifests on, else
    1 + ceil(data/size). What :func:`schedule` sends when nothing
    is refused and, from ``size`` manifests on, the snapshots of the full manifest batches
    hold enough data to fill the last one (every snapshot with data, say); else one more at
    most (see docs/stores.md)."""
    if manifests >= size:
        return -(-(manifests + data) // size)
    return (1 if manifests else 0) + -(-data // size)


def split_sendable(keys: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], list[T]]:
    """(the items whose key a DeleteObjects body can carry, the ones to delete one by one
    with DeleteObject, whose key travels in the URL), each in the given order."""
    safe = [k for k in keys if xml_safe(key(k))]
    return safe, [k for k in keys if not xml_safe(key(k))]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the service refused as a whole (``code`` in :data:`MALFORMED`)."""

    code: str
    message: str


def send_splitting(
    batch: Sequence[T],
    send: Callable[[Sequence[T]], Sequence[E] | Refusal],
    refused: Callable[[T, Refusal], E],
) -> list[E]:
    """Send ``batch``; when the service refuses it as a whole, send each half the same way,
    down to single items, so one bad key fails alone: the per-item errors of every request
    sent, plus ``refused(item, refusal)`` for each single item still refused.

    Args:
        send: one request: its per-item errors, or the :class:`Refusal` of the whole request.
    """
    if not batch:
        return []
    answer = send(batch)
    if not isinstance(answer, Refusal):
        return list(answer)
    if len(batch) == 1:
        return [refused(batch[0], answer)]
    half = len(batch) // 2
    return send_splitting(batch[:half], send, refused) + send_splitting(batch[half:], send, refused)
