"""One botocore data loader for the whole fleet process.

Every S3 store builds its own boto3 session (``backupctl.stores.s3client.make_s3_client``), and
each new botocore session reads and parses the S3 service model again: measured here, ~130 ms
of CPU and ~12 MiB per client, two clients a store (the store and its audit log), which made a
200-store fleet CPU-bound on parsing the same JSON. The loader is a read-only cache of those
models, so the fleet gives every session the same one: sessions, credentials and clients stay
per store; only the parsed service descriptions are shared (~18 ms and ~0.1 MiB a client).

This reaches into botocore (``botocore.session.create_loader``, the factory a session's
``data_loader`` component is built with, present since botocore 1.x); when the name is absent,
nothing changes and the fleet is only slower.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["share_model_loader"]


def share_model_loader() -> bool:
    """Make every botocore session of this process share one data loader (per data path).
    Idempotent; returns whether the sharing is in place (False: botocore missing or changed)."""
    try:
        import botocore.session
    except ImportError:
        return False
    original: Any = getattr(botocore.session, "create_loader", None)
    if original is None:
        return False
    if getattr(original, "_backupctl_shared", False):
        return True
    loaders: dict[Any, Any] = {}
    lock = threading.Lock()

    def create_loader(search_path_string: Any = None) -> Any:
        with lock:
            loader = loaders.get(search_path_string)
            if loader is None:
                loader = loaders[search_path_string] = original(search_path_string)
        return loader

    create_loader._backupctl_shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = create_loader
    return True
