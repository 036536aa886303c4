"""Backup stores: ``s3://`` (S3Store), ``file://`` (FileStore), ``restic:`` (ResticStore).

Which class serves which URL is :mod:`backupctl.stores.registry`'s table. Beside the stores
live the blob stores they and the audit log and lock are written through (:mod:`.blobs`,
:mod:`.blobs_s3`), the S3 client factory (:mod:`.s3client`), where the lock and audit log live
(:mod:`.locations`), the folder layout (:mod:`.layout`) and restic's snapshot JSON
(:mod:`.restic_input`).
"""

from __future__ import annotations

from backupctl.stores.registry import open_store

__all__ = ["open_store"]
