"""``backupctl init``: write a commented starter config that fits the store.

The text is rendered for the URL's kind of store (s3, file or restic: only the keys that apply),
optionally with the layout and policies ``--discover`` finds in the store
(:mod:`backupctl.discover`), validated in memory with the config loader, and only then written:
to a temporary file beside the target, then moved into place (``os.link`` without ``--force``, so
an existing file is never replaced; ``os.replace`` with it). A failure at any step leaves no file
behind and the old one untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from backupctl import discover
from backupctl.config import Config, endpoint_url_problem, parse_config
from backupctl.configref import starter_config
from backupctl.errors import ConfigError, StoreError, UsageError
from backupctl.files import publish_new
from backupctl.secrets import redact_url
from backupctl.stores import registry

LISTING_TIMEOUT = 120.0  # seconds for `restic snapshots --json` during --discover


@click.command("init")
@click.option(
    "--config",
    "path",
    default="backupctl.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the config.",
)
@click.option(
    "--url",
    default="file:///var/backups/backupctl",
    show_default=True,
    help="The store: s3://bucket/prefix, file:///path or restic:<repository>.",
)
@click.option(
    "--endpoint-url",
    "endpoint_url",
    metavar="URL",
    default=None,
    help="An S3-compatible endpoint (MinIO, Ceph, moto …) for an s3:// store, or for a restic "
    "repository's S3 [audit] url; AWS when absent.",
)
@click.option(
    "--discover",
    "discover_store",
    is_flag=True,
    help="List the store and propose its key_template and one policy per group found "
    "(restic: `restic snapshots --json`, restic_group_by and one policy per group).",
)
@click.option(
    "--timezone",
    default="Europe/Amsterdam",
    show_default=True,
    help="The config's timezone: schedules, calendar buckets and names without an offset.",
)
@click.option(
    "--audit-url",
    "audit_url",
    metavar="URL",
    default=None,
    help="restic: where backupctl keeps its lock and audit log (s3://… or file:///…); "
    "default: the repository's bucket for restic:s3:…, else file:///var/lib/backupctl/audit.",
)
@click.option(
    "--restic-password-file",
    "password_file",
    metavar="FILE",
    default=None,
    help="restic: the file holding the repository password (store.restic_password_file).",
)
@click.option(
    "--restic-password-env",
    "password_env",
    metavar="NAME",
    default=None,
    help="restic: the environment variable holding the password (store.restic_password_env).",
)
@click.option(
    "--live-check",
    "live_check",
    metavar="COMMAND",
    default=None,
    help="The drill's live check: a shell command that exits 0 once the restored system "
    "(in {dir}) is usable, e.g. 'test -s {dir}/server/etc/hostname'.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def command(
    path: str,
    url: str,
    endpoint_url: str | None,
    discover_store: bool,
    timezone: str,
    audit_url: str | None,
    password_file: str | None,
    password_env: str | None,
    live_check: str | None,
    force: bool,
) -> None:
    """Write a commented starter config that fits the store.

    Only the keys that apply to the URL's kind of store are written: S3 settings for s3://,
    none for file://, the password, restic_group_by and an [audit] url for restic:. Without
    --discover the policies are the SLA's two (app 4x a day kept 2 months; server daily,
    7 daily, 4 weekly, 6 monthly). With --discover the store is listed (at most 100,000 keys or
    2 minutes: a bigger store gives a proposal from a sample) and each group found gets a
    policy, with the key template detected for well-known names (folders or single objects
    such as db/2026-11-23T0200.sql.gz) and comments on what was found; see docs/init.md.

    The text is validated before anything is written; a failure leaves no file behind, and an
    existing file is replaced only with --force. Then run `backupctl plan` (or, for folders
    without manifest.json, `backupctl adopt --dry-run`) to see what it would do. Give
    --live-check: without one, a drill proves the restore, not that the service runs.
    """
    target = Path(path)
    problem = registry.url_problem(url)
    if problem is not None:
        raise UsageError(f"init --url: {problem}")
    kind = registry.kind_of(url)
    assert kind is not None
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"init --timezone: expected an IANA timezone such as 'Europe/Amsterdam', got "
            f"{timezone!r:.60}"
        ) from None
    bad_endpoint = endpoint_url_problem(endpoint_url) if endpoint_url is not None else None
    if bad_endpoint is not None:
        raise UsageError(f"init --endpoint-url: {bad_endpoint}")
    if audit_url is not None:
        if kind.name != "restic":
            raise UsageError(
                "init --audit-url: only for restic repositories (s3 and file stores keep the "
                "audit log beside the backups)"
            )
        bad = registry.url_problem(audit_url, blobs_only=True)
        if bad is not None:
            raise UsageError(f"init --audit-url: {bad}")
    if (password_file or password_env) and kind.name != "restic":
        raise UsageError(
            "init: --restic-password-file and --restic-password-env are only for restic "
            "repositories"
        )
    if password_file and password_env:
        raise UsageError("init: give --restic-password-file or --restic-password-env, not both")
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")

    def render(proposal: discover.Proposal | None) -> str:
        return starter_config(
            url,
            endpoint_url=endpoint_url,
            live_check=live_check,
            timezone=timezone,
            audit_url=audit_url,
            restic_password_file=password_file,
            restic_password_env=password_env,
            layout=discover.render_store_lines(proposal) if proposal else None,
            policies=discover.render_policies(proposal, tz) if proposal else None,
        )

    proposal = None
    if discover_store:
        proposal = _discover(render, url, kind.name, endpoint_url, tz, str(target))
    text = render(proposal)
    validate(text, target)
    write_atomically(target, text, overwrite=force)
    _report(target, url, kind.name, proposal, tz, live_check)


def validate(text: str, target: Path) -> Config:
    """Parse and validate the rendered config in memory, as ``load_config`` would read it.

    Raises:
        ConfigError: any problem (naming ``target``; nothing has been written).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(target), [f"the generated text is not valid TOML: {exc}"]) from None
    return parse_config(data, path=str(target))


def write_atomically(target: Path, text: str, *, overwrite: bool) -> None:
    """Write ``text`` to ``target`` whole or not at all: a temporary file in the same folder,
    flushed to disk, then moved into place. Without ``overwrite`` the move is ``os.link``, which
    fails if ``target`` appeared meanwhile (an existing file is never replaced).

    Raises:
        UsageError: the folder is not writable, or ``target`` exists (without ``overwrite``).
    """
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            publish_new(tmp, target)
    except FileExistsError:
        raise UsageError(f"{target} already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _discover(
    render: Callable[[discover.Proposal | None], str],
    url: str,
    kind: str,
    endpoint_url: str | None,
    tz: ZoneInfo,
    target: str,
) -> discover.Proposal:
    """List the store and propose a layout and policies.

    Raises:
        StoreError: the store cannot be listed, or holds nothing recognisable (exit 1).
        ConfigError: restic settings that cannot run restic (no password …, exit 2).
    """
    shown_url = redact_url(url)
    if kind == "restic":
        proposal = _discover_restic(render, tz, target)
    else:
        try:
            blobs = registry.open_blobs(url, endpoint_url=endpoint_url)
        except ValueError as exc:  # botocore: an endpoint or bucket it cannot use
            raise UsageError(f"init --url {shown_url}: {exc}") from None
        if kind == "file" and not Path(url.removeprefix("file://")).is_dir():
            raise StoreError(f"cannot list {shown_url}: no such directory")
        keys, sampled = discover.sample_keys(blobs)
        proposal = discover.propose(keys, tz, sampled=sampled)
    if not proposal.keys:
        raise StoreError(
            f"found nothing at {shown_url} to discover (an empty store); run `backupctl init` "
            "without --discover for the SLA's starter config"
        )
    if not proposal.covered:
        raise StoreError(
            f"found {proposal.keys} key(s) at {shown_url} but no snapshot names of a known shape "
            "under a group folder (docs/init.md lists them); nothing was written. Run "
            "`backupctl init` without --discover and set store.key_template yourself"
        )
    return proposal


def _discover_restic(
    render: Callable[[discover.Proposal | None], str], tz: ZoneInfo, target: str
) -> discover.Proposal:
    """``restic snapshots --json`` through the restic store (its password rules, its errors)."""
    from backupctl.stores.restic import ResticStore

    config = validate(render(None), Path(target))
    listing = ResticStore(config, timeout=LISTING_TIMEOUT).listing()
    return discover.propose_restic([s.snapshot for s in listing.snapshots], tz)


def _report(
    target: Path,
    url: str,
    kind: str,
    proposal: discover.Proposal | None,
    tz: ZoneInfo,
    live_check: str | None,
) -> None:
    """Say what was written and what to run next."""
    if proposal is not None:
        sample = " (a sample: the listing stopped early)" if proposal.sampled else ""
        what = "snapshot(s)" if kind == "restic" else "key(s)"
        click.echo(f"listed {proposal.keys} {what} at {redact_url(url)}{sample}")
        if proposal.template is not None:
            click.echo(f"key_template: {proposal.template}")
        if proposal.group_by is not None:
            click.echo(f"restic_group_by: {proposal.group_by}")
        for f in proposal.covered:
            schedule = f.cadence.schedule if f.cadence and f.cadence.schedule else "none"
            rules = ", ".join(f"{k} = {v}" for k, v in f.rules.items())
            matched = "" if kind == "restic" else f", {f.share:.0%} of its keys matched"
            click.echo(
                f"  policy {discover.shown(f.group)}: {f.snapshots} snapshot(s){matched}; "
                f"schedule {schedule}; {rules}"
            )
        for f in proposal.groups:
            if not f.covered:
                click.echo(f"  not covered: {discover.shown(f.group)}: {f.why_not}")
        if proposal.stray:
            click.echo(f"  {proposal.stray} key(s) outside any group folder: left alone")
    click.echo(f"wrote {target} for the {kind} store {redact_url(url)}")
    if proposal is not None and proposal.needs_adopt:
        click.echo(
            "next: folders without manifest.json are never touched until adopted: "
            f"`backupctl adopt --dry-run --config {target}`, then `backupctl adopt`, then "
            f"`backupctl plan --config {target}`"
        )
    else:
        click.echo(f"next: `backupctl plan --config {target}` shows what it would keep and remove")
    if not live_check:
        click.echo(
            "next: set [drill] live_check (or rerun with --live-check COMMAND): a command that "
            "exits 0 once the restored system is usable. Without it, `backupctl drill` proves "
            "the restore, not that the service runs."
        )
