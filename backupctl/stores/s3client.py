"""One way to build an S3 client (botocore, which boto3 wraps): any endpoint, standard retries.

botocore is imported inside :func:`make_s3_client`: importing this module (for
:func:`split_s3_url`) costs nothing, and runs that never touch S3 never load botocore.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit


def split_endpoint_credentials(
    endpoint_url: str | None,
) -> tuple[str | None, tuple[str, str] | None]:
    """``http://KEY:SECRET@host:9000`` -> ``("http://host:9000", ("KEY", "SECRET"))``.

    The userinfo never reaches botocore (whose errors and debug logs show the endpoint URL):
    a ``key:secret`` pair (percent-decoded) is the client's access key and secret key; a
    userinfo without a password is dropped. An endpoint without userinfo is returned unchanged.
    """
    if not endpoint_url or "@" not in endpoint_url:
        return endpoint_url, None
    parts = urlsplit(endpoint_url)
    if "@" not in parts.netloc:
        return endpoint_url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, ((unquote(user), unquote(password)) if has_password and user else None)


_scope = threading.local()  # .clients: settings -> client, while a shared_clients() block runs


@contextmanager
def shared_clients() -> Iterator[None]:
    """Within this block, in this thread, :func:`make_s3_client` builds one client per set of S3
    settings and hands the same one out again.

    One job of a fleet opens a store and then its audit log, lock and proof locations: without
    the block, each is a new boto3 session and client (~40 ms of CPU each, measured), which made
    a fleet of small stores CPU-bound on building clients. A client is thread-safe, so the
    store's inner pools may share it; the block is per thread so that two stores of a fleet
    never share one (each store counts its own requests on its client). Nested blocks share the
    outer block's clients.
    """
    outer = getattr(_scope, "clients", None)
    if outer is None:
        _scope.clients = {}
    try:
        yield
    finally:
        if outer is None:
            _scope.clients = None


_sessions: dict[str | None, Any] | None = None  # profile -> session, in a shared_sessions() block
_sessions_lock = threading.Lock()


@contextmanager
def shared_sessions() -> Iterator[None]:
    """Within this block, in every thread, :func:`make_s3_client` builds its clients from one
    botocore session per profile instead of a new session each.

    For a fleet (``backupctl fleet …``): a new session registers botocore's ~120 built-in
    handlers and resolves credentials again, ~30 ms of CPU a store (measured) that 200 stores in
    one process pay for nothing, since they share the environment. Clients are still one per
    store (see :func:`shared_clients`), built under a lock (a session is not thread-safe;
    its clients are).
    """
    global _sessions
    outer = _sessions
    if outer is None:
        _sessions = {}
    try:
        yield
    finally:
        if outer is None:
            _sessions = None


def _session(profile: str | None) -> tuple[Any, bool]:
    """A botocore session for ``profile`` and whether it is shared (see :func:`shared_sessions`)."""
    import botocore.session

    sessions = _sessions
    if sessions is None:
        return botocore.session.Session(profile=profile), False
    with _sessions_lock:
        if profile not in sessions:
            sessions[profile] = botocore.session.Session(profile=profile)
        return sessions[profile], True


# connections each client keeps for reuse: botocore's default is 10, and a backup has up to 16
# requests in flight (8 data requests, 8 objects' own); every command's clients share this one
# size so that one client per endpoint serves the store, the audit log and the backup alike
POOL_CONNECTIONS = 20


def make_s3_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int = 5,
    max_pool_connections: int = POOL_CONNECTIONS,
) -> Any:
    """A botocore S3 client (what ``boto3.client("s3")`` builds) with standard retry mode
    (throttling, 5xx, connection errors).

    Args:
        endpoint_url: an S3-compatible endpoint; None for AWS. A ``key:secret@`` userinfo is
            taken out of the URL and used as the client's credentials
            (:func:`split_endpoint_credentials`).
        region: the region; None takes the environment's or ``us-east-1``.
        profile: an AWS shared-credentials profile.
        max_attempts: total attempts per request, including the first.
        max_pool_connections: connections kept open for reuse; a caller with more requests
            in flight at once asks for that many (and gets a client of its own).
    """
    clients: dict[tuple[Any, ...], Any] | None = getattr(_scope, "clients", None)
    settings = (endpoint_url, region, profile, max_attempts, max_pool_connections)
    if clients is not None and settings in clients:
        return clients[settings]
    # botocore, not boto3: the client is the same, and a command skips importing boto3's
    # resources and s3transfer (~65 ms of every S3 command's start-up, measured)
    from botocore.config import Config as BotoConfig

    endpoint_url, keys = split_endpoint_credentials(endpoint_url)
    session, shared = _session(profile)
    session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    config = BotoConfig(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max_pool_connections,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    with _sessions_lock if shared else contextlib.nullcontext():
        client = session.create_client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or session.get_config_variable("region") or "us-east-1",
            config=config,
            aws_access_key_id=keys[0] if keys else None,
            aws_secret_access_key=keys[1] if keys else None,
        )
    if clients is not None:
        clients[settings] = client
    return client


def parse_timestamp(value: Any) -> Any:
    """A timestamp of an S3 response as botocore parses it, but ISO 8601 ones (``LastModified``
    of every listed key: ``2026-11-23T02:00:00.000Z``) without dateutil: ~0.2 us instead of
    ~47 us each (measured), which was about 5 s of CPU for a listing of 100k keys. Anything
    else (HTTP dates in headers, epoch seconds) goes to botocore's own parser."""
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b/")``; the prefix is empty or ends in '/'."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")
