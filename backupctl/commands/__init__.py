"""The CLI's commands, one module each (loaded on demand by backupctl/cli.py).

:func:`with_notifications` is the one place where ``[notify]`` (backupctl/notify.py) meets the
jobs it reports on: the CLI applies it to prune, verify and drill, so each command only says
what it did (``notify.report(...)``) and never sends anything itself.
"""

from __future__ import annotations

import functools
from typing import Any

import click

__all__ = ["with_notifications"]


def with_notifications(command: click.Command) -> click.Command:
    """``command`` with its callback run inside ``Notifier.job(command.name)`` when the config
    has hooks for it: a start event before, the event of its exit code after (the exit code is
    unchanged). A dry run (``--dry-run``), a subcommand (``drill deadline``) and a config that
    does not load (the command then reports it itself) send nothing. Applying it twice is the
    same as once; returns ``command`` (changed in place)."""
    callback = command.callback
    if callback is None or getattr(callback, "_backupctl_notifies", False):
        return command
    name = command.name or ""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from backupctl.config import load_cli_config
        from backupctl.errors import BackupctlError
        from backupctl.notify import Notifier

        ctx = click.get_current_context()
        if ctx.invoked_subcommand is not None or kwargs.get("dry_run"):
            return callback(*args, **kwargs)
        try:
            config = load_cli_config(kwargs.get("config_path"))
        except BackupctlError:
            return callback(*args, **kwargs)  # fails the same way, in the command's own words
        notifier = Notifier.from_config(config)
        if not notifier.notifies(name):
            return callback(*args, **kwargs)
        with notifier.job(name):
            return callback(*args, **kwargs)

    run._backupctl_notifies = True  # type: ignore[attr-defined]
    command.callback = run
    return command
