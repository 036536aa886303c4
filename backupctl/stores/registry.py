"""The kinds of store backupctl knows: one row per URL scheme, the one place that says which
class serves a URL, where its lock and audit log can live, and what a URL must look like.

Config validation, :func:`open_store`, :func:`open_blobs`, :mod:`backupctl.stores.locations`
and every "expected s3://, file:// or restic:" message read this table, so a new backend (SFTP,
say) is a store class, a blob class and one :class:`StoreKind` row. Classes are named by import
path and loaded on first use: a file-only run never imports boto3.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backupctl.config import Config
    from backupctl.stores.base import BlobStore, Store

__all__ = [
    "KINDS",
    "StoreKind",
    "expected_urls",
    "kind_of",
    "open_blobs",
    "open_store",
    "url_problem",
]


_BUCKET = re.compile(r"[A-Za-z0-9._-]+")


def _s3_problem(url: str) -> str | None:
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not bucket:
        return "expected a bucket name after s3://"
    if "@" in bucket:  # s3://KEY:SECRET@bucket: botocore would quote it, unmasked, in errors
        return (
            "expected s3://bucket/prefix without credentials (use the AWS environment, "
            "store.profile or endpoint_url's user:password@)"
        )
    if not _BUCKET.fullmatch(bucket):
        return "expected a bucket name of letters, digits, '.', '-' and '_' after s3://"
    return None


def _file_problem(url: str) -> str | None:
    return (
        None
        if url.removeprefix("file://").startswith("/")
        else "expected file:///absolute/path (three slashes)"
    )


def _restic_problem(url: str) -> str | None:
    return None if url.removeprefix("restic:") else "expected a repository after restic:"


@dataclass(frozen=True)
class StoreKind:
    """One URL scheme: ``name`` (``config.store.kind``), the URL ``prefix`` and an ``example``;
    the :class:`~backupctl.stores.base.Store` class and the blob class (``None``: the kind has no
    room for backupctl's own objects, which then live at ``[audit] url``), both as
    ``"module:Class"``; ``layout``: snapshots are folders named by ``store.key_template``;
    ``problem``: why a URL of this kind is malformed, or None."""

    name: str
    prefix: str
    example: str
    store: str
    blobs: str | None
    layout: bool
    problem: Callable[[str], str | None]

    def load(self, what: str) -> Any:
        """The class named by ``what`` (``"module:Class"``), imported now."""
        module, _, attr = what.partition(":")
        return getattr(importlib.import_module(module), attr)


KINDS: tuple[StoreKind, ...] = (
    StoreKind(
        "s3",
        "s3://",
        "s3://bucket/prefix",
        "backupctl.stores.s3:S3Store",
        "backupctl.stores.blobs_s3:S3Blobs",
        layout=True,
        problem=_s3_problem,
    ),
    StoreKind(
        "file",
        "file://",
        "file:///path",
        "backupctl.stores.file:FileStore",
        "backupctl.stores.blobs:FileBlobs",
        layout=True,
        problem=_file_problem,
    ),
    StoreKind(
        "restic",
        "restic:",
        "restic:<repository>",
        "backupctl.stores.restic:ResticStore",
        None,
        layout=False,
        problem=_restic_problem,
    ),
)


def kind_of(url: str) -> StoreKind | None:
    """The kind whose prefix ``url`` starts with, or None."""
    return next((k for k in KINDS if url.startswith(k.prefix)), None)


def expected_urls(blobs_only: bool = False) -> str:
    """``'s3://bucket/prefix', 'file:///path' or 'restic:<repository>'`` (only kinds with a blob
    class when ``blobs_only``), for error messages."""
    examples = [f"'{k.example}'" for k in KINDS if k.blobs or not blobs_only]
    return ", ".join(examples[:-1]) + f" or {examples[-1]}" if len(examples) > 1 else examples[0]


def url_problem(url: str, blobs_only: bool = False) -> str | None:
    """Why ``url`` names no store (or, with ``blobs_only``, no blob store), or None."""
    from backupctl.secrets import redact_url

    kind = kind_of(url)
    if kind is None or (blobs_only and kind.blobs is None):
        return f"expected {expected_urls(blobs_only)}, got {redact_url(url)!r}"
    problem = kind.problem(url)
    return f"{problem}, got {redact_url(url)!r}" if problem else None


def open_store(config: Config, *, planning: bool = False) -> Store:
    """The store for ``config.store.url``. With ``store.inventory`` (S3 only) and ``planning``
    (plan, prune, simulate), the S3 store that plans from an S3 Inventory report
    (:mod:`backupctl.stores.inventory`); verify, proof, drill and adopt always list the bucket
    live, since a report a day old is no evidence of what is there now.

    Raises:
        ConfigError: an unsupported or malformed URL, or an unusable key template.
    """
    from backupctl.errors import ConfigError

    problem = url_problem(config.store.url)
    if problem is not None:
        raise ConfigError(config.path, [f"store.url: {problem}"])
    kind = kind_of(config.store.url)
    assert kind is not None
    if config.store.inventory is not None and kind.name != "s3":
        raise ConfigError(
            config.path,
            [
                "store.inventory: plans from an S3 Inventory report, which needs an "
                f"s3:// store.url, got a {kind.name} store"
            ],
        )
    what = (
        "backupctl.stores.inventory:InventoryS3Store"
        if config.store.inventory is not None and planning
        else kind.store
    )
    store: Store = kind.load(what)(config)
    return store


def open_blobs(
    url: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
) -> BlobStore:
    """The blob store at ``url`` (a kind with a blob class: ``s3://bucket/prefix``,
    ``file:///absolute/path``); the S3 settings apply to S3 only.

    Raises:
        UsageError: any other URL form.
    """
    from backupctl.errors import UsageError

    problem = url_problem(url, blobs_only=True)
    if problem is not None:
        raise UsageError(f"blob store URL {url!r}: {problem.rsplit(', got ', 1)[0]}")
    kind = kind_of(url)
    assert kind is not None and kind.blobs is not None
    blobs: BlobStore = kind.load(kind.blobs).from_url(
        url, endpoint_url=endpoint_url, region=region, profile=profile
    )
    return blobs
