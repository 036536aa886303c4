"""Backup stores: ``s3://`` (S3Store), ``file://`` (FileStore), ``restic:`` (ResticStore); which
class serves which URL is :mod:`backupctl.stores.registry`'s table."""

from __future__ import annotations

from backupctl.stores.registry import open_store

__all__ = ["open_store"]
