"""The ``backupctl`` command line: one click group; each command lives in backupctl/commands/."""

from __future__ import annotations

import sys

import click

from backupctl import log
from backupctl.errors import EXIT_USAGE, BackupctlError

COMMAND_MODULES = ("init", "plan", "prune", "verify", "proof", "simulate", "drill", "audit", "unlock")


class _Group(click.Group):
    """Loads a command's module only when that command runs (start-up stays fast: boto3 is
    imported by S3 work only), and turns BackupctlError into one clear line on stderr and
    its exit code (no traceback)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_MODULES:
            return None
        import importlib

        command = importlib.import_module(f"backupctl.commands.{cmd_name}").command
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BackupctlError as exc:
            click.echo(f"backupctl: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--log-json/--log-console", default=None, help="Force JSON or console logs (default: console on a TTY).")
@click.version_option(package_name="backupctl")
def main(verbose: bool, log_json: bool | None) -> None:
    """backupctl: retention you can prove.

    Plans and prunes backups with restic-exact rules (S3-compatible storage, restic
    repositories, local directories), verifies that the SLA's backups exist and nothing
    is kept too long, writes auditor's proofs and runs timed restore drills.

    Exit codes: 0 ok, 1 error, 2 bad usage or config, 3 a check found a violation,
    4 a safety refusal.
    """
    log.configure(verbose=verbose, json_logs=log_json)



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["EXIT_USAGE", "main"]
