"""Verify restored files against a manifest (size + sha256) with a thread pool.

hashlib releases the GIL while hashing large buffers, so reading 1 MiB chunks into a reused
buffer and hashing them scales across cores with plain threads.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from restore.protocol import ManifestEntry

__all__ = [
    "CHUNK",
    "VerifyReport",
    "crc32_file",
    "hash_fd",
    "hash_file",
    "safe_path",
    "sample_entries",
    "verify_tree",
]

CHUNK = 1 << 20


@dataclass
class VerifyReport:
    """Objects checked, their bytes, the seconds taken and one line per failing object."""

    objects: int = 0
    bytes: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    total_objects: int = 0
    size_only: int = 0  # objects with nothing but their size to compare with


def hash_file(path: Path, chunk: int = CHUNK) -> tuple[int, str]:
    """Return (size read, sha256 hex) of a file, read in ``chunk``-byte pieces.

    Raises:
        OSError: the file cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        return hash_fd(fd, chunk)
    finally:
        os.close(fd)


def crc32_file(path: Path, chunk: int = CHUNK) -> tuple[int, str]:
    """Return (size read, CRC32 as S3 shows it: base64 of the 4 big-endian bytes) of a file.

    Raises:
        OSError: the file cannot be opened or read.
    """
    crc, size = 0, 0
    with open(path, "rb", buffering=0) as f:
        while data := f.read(chunk):
            crc = zlib.crc32(data, crc)
            size += len(data)
    return size, base64.b64encode(crc.to_bytes(4, "big")).decode()


def hash_fd(fd: int, chunk: int = CHUNK) -> tuple[int, str]:
    """Return (size read, sha256 hex) of what an open file descriptor reads to its end.

    Raises:
        OSError: the read failed.
    """
    digest = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    size = 0
    while n := os.readv(fd, [buf]):
        digest.update(view[:n])
        size += n
    return size, digest.hexdigest()


def safe_path(root: Path, key: str) -> Path | None:
    """``root / key`` when ``key`` is a plain relative path; None for absolute or ``..`` keys."""
    p = PurePosixPath(key)
    if not key or p.is_absolute() or ".." in p.parts or "\\" in key:
        return None
    return root.joinpath(*p.parts)


def sample_entries(
    entries: Sequence[ManifestEntry], percent: float, seed: int
) -> list[ManifestEntry]:
    """A seeded share of ``entries`` (at least one when any exist), in manifest order.

    Raises:
        ValueError: ``percent`` outside (0, 100].
    """
    if not 0 < percent <= 100:
        raise ValueError(f"sample: expected a percentage in (0, 100], got {percent!r}")
    if percent >= 100 or not entries:
        return list(entries)
    k = max(1, round(len(entries) * percent / 100))
    chosen = set(random.Random(seed).sample(range(len(entries)), k))
    return [e for i, e in enumerate(entries) if i in chosen]


def _check(root: Path, entry: ManifestEntry) -> tuple[int, str | None]:
    path = safe_path(root, entry.key)
    if path is None:
        return 0, f"{entry.key}: unsafe key in the manifest (absolute or '..'), not read"
    try:
        if entry.reference == "sha256":
            size, digest = hash_file(path)
            problem = entry.mismatch(size, digest)
        elif entry.reference == "crc32":
            size, crc = crc32_file(path)
            problem = entry.mismatch(size, "", crc)
        else:  # nothing recorded for this object but its size
            size = path.stat().st_size
            problem = entry.mismatch(size, "")
    except FileNotFoundError:
        return 0, f"{entry.key}: missing from the restore"
    except OSError as exc:
        return 0, f"{entry.key}: unreadable ({exc.strerror or exc})"
    return size, f"{entry.key}: {problem}" if problem else None


def verify_tree(
    root: Path,
    entries: Sequence[ManifestEntry],
    *,
    workers: int = 4,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check every entry's file under ``root``: present, the manifest's size and sha256.

    Returns a report whose ``problems`` name each failing object (missing, unreadable,
    wrong size, wrong hash, unsafe key), sorted by key. Never raises for bad files.
    """
    report = VerifyReport(total_objects=len(entries))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        for entry, (size, problem) in zip(
            entries, pool.map(lambda e: _check(root, e), entries), strict=True
        ):
            report.objects += 1
            report.size_only += entry.reference == "size"
            report.bytes += size
            if problem:
                report.problems.append(problem)
            if progress:
                progress(size)
    report.seconds = time.perf_counter() - started
    report.problems.sort()
    return report
