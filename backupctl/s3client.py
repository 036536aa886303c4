"""One way to build a boto3 S3 client: any endpoint, botocore standard retries.

boto3 is imported inside :func:`make_s3_client`: importing this module (for
:func:`split_s3_url`) costs nothing, and runs that never touch S3 never load botocore.
"""

from __future__ import annotations

from typing import Any


def make_s3_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int = 5,
) -> Any:
    """A boto3 S3 client with standard retry mode (throttling, 5xx, connection errors).

    Args:
        endpoint_url: an S3-compatible endpoint; None for AWS.
        region: the region; None takes the environment's or ``us-east-1``.
        profile: an AWS shared-credentials profile.
        max_attempts: total attempts per request, including the first.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    config = BotoConfig(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or session.region_name or "us-east-1",
        config=config,
    )


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b/")``; the prefix is empty or ends in '/'."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")
