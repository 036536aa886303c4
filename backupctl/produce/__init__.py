"""Producing snapshots in the S3/file layout: ``backup`` and ``adopt``."""
