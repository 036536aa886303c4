"""``backupctl init``: write a commented starter config."""

from __future__ import annotations

from pathlib import Path

import click

from backupctl.config import load_config
from backupctl.configref import starter_config
from backupctl.errors import UsageError


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
    "--live-check",
    "live_check",
    metavar="COMMAND",
    default=None,
    help="The drill's live check: a shell command that exits 0 once the restored system "
    "(in {dir}) is usable, e.g. 'test -s {dir}/server/etc/hostname'.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def command(path: str, url: str, live_check: str | None, force: bool) -> None:
    """Write a commented starter config with the SLA's two policies.

    The file is validated after writing; edit it, then run `backupctl plan` to see what
    it would keep and remove before anything is deleted. Give --live-check: without one,
    a drill proves the restore, not that the service runs.
    """
    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    target.write_text(starter_config(url, live_check=live_check), encoding="utf-8")
    load_config(target)
    click.echo(f"wrote {target}: edit [store] url, then run `backupctl plan --config {target}`")
    if not live_check:
        click.echo(
            "next: set [drill] live_check (or rerun with --live-check COMMAND): a command that "
            "exits 0 once the restored system is usable. Without it, `backupctl drill` proves "
            "the restore, not that the service runs."
        )
