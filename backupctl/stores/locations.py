"""Where backupctl keeps its own objects (the prune lock, the audit log) for a config.

S3 and file stores keep them beside the backups (``_backupctl/`` under the store's root); a
restic repository has no room for them, so they live in the repository's bucket when it is on
S3, else at ``[audit] url``. Which kinds have a blob store is the store registry's knowledge
(:mod:`backupctl.stores.registry`); this module only applies it. (It is its own module so that
the audit log and the lock do not import each other.)
"""

from __future__ import annotations

from backupctl.config import Config
from backupctl.errors import ConfigError
from backupctl.stores.base import BlobStore
from backupctl.stores.registry import expected_urls, kind_of, open_blobs

__all__ = ["audit_blobs_for", "lock_blobs_for", "store_blobs_for"]


def _restic_s3_blobs(config: Config) -> BlobStore | None:
    """For ``restic:s3:http(s)://host/bucket/path`` (or ``restic:s3:host/bucket/path``): the
    repository's bucket, root ``path/``; None for other restic repositories."""
    repo = config.store.url.removeprefix("restic:")
    if not repo.startswith("s3:"):
        return None
    rest = repo.removeprefix("s3:")
    scheme = "https"
    if rest.startswith(("http://", "https://")):
        scheme, _, rest = rest.partition("://")
    host, _, path = rest.partition("/")
    bucket, _, prefix = path.partition("/")
    if not host or not bucket:
        raise ConfigError(
            config.path,
            [
                f"store.url: cannot find host and bucket in restic repository {repo!r} "
                "(expected s3:http(s)://host/bucket/path)"
            ],
        )
    return open_blobs(
        f"s3://{bucket}/{prefix}",
        endpoint_url=f"{scheme}://{host}",
        region=config.store.region,
        profile=config.store.profile,
    )


def store_blobs_for(config: Config) -> BlobStore:
    """The blob store beside the backups (``_backupctl/`` under the store's root).

    s3/file stores: the store URL; ``restic:s3:…`` repositories: the repository's bucket and
    path; other restic repositories: ``[audit] url`` (which must then be set).

    Raises:
        ConfigError: a restic repository that is not on S3 and no ``[audit] url``.
    """
    store = config.store
    if _has_blobs(store.url):
        return open_blobs(
            store.url, endpoint_url=store.endpoint_url, region=store.region, profile=store.profile
        )
    blobs = _restic_s3_blobs(config)
    if blobs is not None:
        return blobs
    if config.audit_url and _has_blobs(config.audit_url):
        return open_blobs(
            config.audit_url,
            endpoint_url=store.endpoint_url,
            region=store.region,
            profile=store.profile,
        )
    kind = kind_of(store.url)
    where = (
        f"the {kind.name} repository {store.url.removeprefix(kind.prefix)!r}"
        if kind
        else repr(store.url)
    )
    raise ConfigError(
        config.path,
        [
            f"audit.url: required for {where}, where backupctl cannot keep its lock and audit log "
            f"(expected [audit] url = {expected_urls(blobs_only=True)})"
        ],
    )


def audit_blobs_for(config: Config) -> BlobStore:
    """The blob store holding the audit log: ``[audit] url`` if set, else beside the backups.

    Raises:
        ConfigError: ``[audit] url`` is a restic URL, or no location can be derived.
    """
    if config.audit_url:
        if not _has_blobs(config.audit_url):
            raise ConfigError(
                config.path,
                [
                    f"audit.url: {config.audit_url!r} cannot hold the audit log; "
                    f"expected {expected_urls(blobs_only=True)}"
                ],
            )
        store = config.store
        return open_blobs(
            config.audit_url,
            endpoint_url=store.endpoint_url,
            region=store.region,
            profile=store.profile,
        )
    return store_blobs_for(config)


def lock_blobs_for(config: Config) -> BlobStore:
    """Where the prune lock lives for ``config``: beside the backups for stores with a blob
    store (s3, file); for others (restic) the audit location (:func:`audit_blobs_for`).

    Raises:
        ConfigError: a store whose lock location cannot be derived.
        UsageError: a malformed store URL.
    """
    if not _has_blobs(config.store.url):
        return audit_blobs_for(config)
    return store_blobs_for(config)


def _has_blobs(url: str) -> bool:
    """Whether ``url`` is of a kind that can hold backupctl's own objects."""
    kind = kind_of(url)
    return kind is not None and kind.blobs is not None
