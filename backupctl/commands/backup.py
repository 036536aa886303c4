"""``backupctl backup``: upload files, directories or standard input as one snapshot.

Data objects first, each with a conditional write (never onto an existing key), then
``manifest.json`` with a conditional put, into the folder the
config's ``store.key_template`` names for ``--group`` and the time (now, UTC, whole seconds,
unless ``--time``). Exit codes: 0 written, 1 the upload failed (the folder is incomplete and
says so), 2 bad usage or config, 4 the snapshot already exists or another run wrote one of its
objects meanwhile (nothing overwritten, no manifest).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from backupctl import clock, humanize
from backupctl.commands.options import config_option, load_config
from backupctl.config import Config
from backupctl.errors import UsageError
from backupctl.log import get_logger, is_quiet
from backupctl.produce.backup import DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_SIZE, MAX_SINGLE_PUT
from backupctl.produce.backup import DEFAULT_WORKERS as DEFAULT_JOBS
from backupctl.progress import progress as progress_bar

__all__ = ["command", "open_writer", "snapshot_time"]

log = get_logger("backup")


@click.command("backup")
@config_option()
@click.option("--group", required=True, metavar="G", help="The snapshot's group (its folder).")
@click.option(
    "--time",
    "time_text",
    metavar="TIME",
    default=None,
    help="The snapshot's time: now (default), 2026-11-23T02:00 (the config's timezone) or an "
    "ISO time with offset; kept to whole seconds, UTC in the key.",
)
@click.option(
    "--name", metavar="NAME", default=None, help="With '-': the object name for standard input."
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=DEFAULT_JOBS,
    show_default=True,
    help="S3: requests carrying data in flight at once (small objects and parts of big ones "
    "together; the aws CLI's max_concurrent_requests is 10).",
)
@click.option(
    "--multipart-threshold",
    "threshold",
    metavar="SIZE",
    default=None,
    callback=lambda _ctx, _param, value: _threshold(value),
    help="S3: a file smaller than this goes up in one request, larger ones in parallel 8 MiB "
    'parts (default "100MiB"; "8MiB" to "5GiB"). Piped standard input goes in parts past 8 MiB.',
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.argument("paths", nargs=-1, metavar="PATH... | -")
def command(
    config_path: str | None,
    group: str,
    time_text: str | None,
    name: str | None,
    jobs: int,
    threshold: int,
    as_json: bool,
    paths: tuple[str, ...],
) -> None:
    """Upload files and directories (or standard input, with --name and '-') as one snapshot.

    Each PATH is stored under its own name (a directory with everything in it, symlinks and
    special files refused). A second backup of the same group and time is refused and the
    first kept.

    Exit codes: 0 ok, 1 upload failed (snapshot left incomplete, no manifest),
    2 bad usage or config, 4 the snapshot already exists.
    """
    from backupctl.evidence.audit import audit_log_for
    from backupctl.produce.backup import Producer, stdin_source, walk_paths
    from backupctl.stores.layout import KeyTemplate, LayoutError, group_problem, snapshot_id

    config = load_config(config_path)
    problem = group_problem(group)
    if problem:
        raise UsageError(f"--group: {problem}")
    if not paths:
        raise UsageError("backup: expected PATH... or '-' (standard input, with --name)")
    if "-" in paths:
        if len(paths) != 1 or not name:
            raise UsageError(
                "backup: '-' reads standard input: expected it alone and --name NAME "
                "(e.g. pg_dump … | backupctl backup --group app --name db.sql.gz -)"
            )
        sources = [stdin_source(name, sys.stdin.buffer)]
        total = None
    else:
        if name:
            raise UsageError("backup: --name names standard input; expected '-' as the PATH")
        sources = walk_paths(paths)
        total = sum(s.size or 0 for s in sources)
    if group not in {p.group for p in config.policies}:
        log.warning("backup_group_without_policy", group=group, note="plan/prune will not see it")
        if not is_quiet():
            click.echo(
                f"warning: no policy has group {group!r}: plan, prune and verify ignore it",
                err=True,
            )
    when = snapshot_time(time_text, config)
    try:
        template = KeyTemplate.compile(config.store.key_template)
    except LayoutError as exc:
        raise UsageError(f"store.key_template: {exc}") from None
    if not template.text.endswith("/"):
        raise UsageError(
            f"store.key_template {template.text!r}: backup writes folder snapshots; "
            "expected a template ending in '/'"
        )
    folder = template.folder(group, when)
    sid = snapshot_id(group, when)
    audit = audit_log_for(config)  # a bad signing key stops here, before anything is written
    writer = open_writer(config, jobs, threshold)
    started = time.monotonic()
    try:
        with progress_bar(f"backup {sid}", total, unit="B") as advance:
            result = Producer(writer, workers=jobs).run(
                sources,
                group=group,
                time_utc=when,
                folder=folder,
                snapshot_id=sid,
                progress=advance,
            )
    finally:
        writer.close()
    record = {**result.as_json(), "store": config.store.url, "folder": folder}
    audit.append("backup", record, now=clock.now())
    log.info("backup_done", id=sid, objects=len(result.objects), bytes=result.bytes)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=1))
        return
    seconds = time.monotonic() - started
    click.echo(
        f"backed up {sid} ({humanize.when(when)}): "
        f"{humanize.count(len(result.objects), 'object')}, {humanize.size(result.bytes)} "
        f"in {humanize.duration(seconds)}"
    )


def snapshot_time(text: str | None, config: Config) -> datetime:
    """The snapshot's UTC time: ``--time`` (or now), truncated to the second.

    Raises:
        UsageError: a time that cannot be read.
    """
    t = clock.parse_at(text, config.timezone, "--time") if text else clock.now()
    return t.astimezone(UTC).replace(microsecond=0)


def _threshold(value: str | None) -> int:
    """``--multipart-threshold``: bytes, from one part (8 MiB: a smaller file is always one
    request) to 5 GiB (S3's largest PutObject).

    Raises:
        click.BadParameter: another value.
    """
    from backupctl.config import parse_byte_size

    if value is None:
        return DEFAULT_MULTIPART_THRESHOLD
    try:
        n = parse_byte_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not DEFAULT_PART_SIZE <= n <= MAX_SINGLE_PUT:
        raise click.BadParameter(f'expected a size from "8MiB" to "5GiB", got {value!r:.40}')
    return n


def open_writer(
    config: Config, jobs: int = DEFAULT_JOBS, threshold: int = DEFAULT_MULTIPART_THRESHOLD
) -> Any:
    """The :class:`SnapshotWriter` for the configured s3:// or file:// store; on S3 with
    ``jobs`` data requests in flight at most (and a connection for each, plus the object
    threads' own requests: creating and completing uploads), and files smaller than
    ``threshold`` bytes in one PutObject each.

    Raises:
        UsageError: another kind of store (restic makes its own snapshots).
    """
    from backupctl.produce.backup import FileSnapshotWriter, S3SnapshotWriter

    url = config.store.url
    if url.startswith("file://"):
        return FileSnapshotWriter(url.removeprefix("file://"))
    if url.startswith("s3://"):
        from backupctl.stores.s3client import POOL_CONNECTIONS, make_s3_client, split_s3_url

        bucket, prefix = split_s3_url(url)
        client = make_s3_client(
            endpoint_url=config.store.endpoint_url,
            region=config.store.region,
            profile=config.store.profile,
            max_pool_connections=max(POOL_CONNECTIONS, 2 * jobs),
        )
        return S3SnapshotWriter(client, bucket, prefix, workers=jobs, multipart_threshold=threshold)
    raise UsageError(
        f"store.url {url!r}: backup writes to s3:// or file:// stores "
        f"(a {config.store.kind} repository makes its own snapshots)"
    )
