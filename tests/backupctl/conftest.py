"""Fixtures shared by the backupctl unit tests. The in-memory FakeStore is in fakes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupctl.stores.base import BlobStore
from backupctl.stores.blobs import FileBlobs, S3Blobs


@pytest.fixture(params=["file", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Each test runs twice: on a FileBlobs in a temporary directory and on an S3Blobs under
    ``backups/salure/`` in a fresh bucket of the moto server (tests/conftest.py)."""
    if request.param == "file":
        return FileBlobs(tmp_path / "store")
    return S3Blobs(
        request.getfixturevalue("s3_client"), request.getfixturevalue("bucket"), "backups/salure"
    )
