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
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def command(path: str, url: str, force: bool) -> None:
    """Write a commented starter config with the SLA's two policies.

    The file is validated after writing; edit it, then run `backupctl plan` to see what
    it would keep and remove before anything is deleted.
    """
    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    target.write_text(starter_config(url), encoding="utf-8")
    load_config(target)
    click.echo(f"wrote {target}: edit [store] url, then run `backupctl plan --config {target}`")
