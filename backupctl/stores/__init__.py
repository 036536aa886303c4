"""Backup stores: ``s3://`` (S3Store), ``file://`` (FileStore), ``restic:`` (ResticStore)."""

from __future__ import annotations

from backupctl.config import Config
from backupctl.errors import ConfigError
from backupctl.stores.base import Store

__all__ = ["open_store"]


def open_store(config: Config) -> Store:
    """The store for ``config.store.url``, imported lazily (boto3 only for S3).

    Raises:
        ConfigError: an unsupported URL scheme or an unusable key template.
    """
    kind = config.store.kind
    if kind == "s3":
        from backupctl.stores.s3 import S3Store

        return S3Store(config)
    if kind == "file":
        from backupctl.stores.file import FileStore

        return FileStore(config)
    if kind == "restic":
        from backupctl.stores.restic import ResticStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = ResticStore(config)
        return store
    raise ConfigError(config.path, [f"store.url: unsupported scheme {kind!r} (expected s3://, file:// or restic:)"])
