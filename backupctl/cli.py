"""The ``backupctl`` command line: one click group; each command lives in backupctl/commands/."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import click

from backupctl import log
from backupctl.errors import EXIT_USAGE, BackupctlError
from backupctl.secrets import redact_text, redact_urls

COMMAND_MODULES = (
    "init",
    "plan",
    "prune",
    "verify",
    "proof",
    "simulate",
    "drill",
    "audit",
    "unlock",
    "keygen",
    "fleet",
)


class _RedactedStream:
    """The CLI's stdout or stderr, masking the userinfo of every URL written through it.

    Commands print documents built from what stores and programs said (a drill's message,
    verify's integrity problems), and a store names its URL in its messages: this is the one
    place where no such password can get past. Only URL userinfo is masked here (data such as
    snapshot ids is printed unchanged otherwise); logs and the error line get the full rule.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: Any) -> int:
        return self._stream.write(redact_urls(text) if isinstance(text, str) else text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _redacted(stream: TextIO | None) -> Any:
    return (
        stream if stream is None or isinstance(stream, _RedactedStream) else _RedactedStream(stream)
    )


class _Group(click.Group):
    """Loads a command's module only when that command runs (start-up stays fast: boto3 is
    imported by S3 work only), and turns BackupctlError into one clear line on stderr and
    its exit code (no traceback); the line is redacted (:func:`backupctl.secrets.redact_text`),
    whatever a store or a program put into the message, and so is every URL a command prints
    (:class:`_RedactedStream`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_MODULES:
            return None
        import importlib

        command = importlib.import_module(f"backupctl.commands.{cmd_name}").command
        assert isinstance(command, click.Command)
        from backupctl.notify import COMMANDS as NOTIFIED

        if cmd_name in NOTIFIED:  # [notify] start / end events around the job
            from backupctl.commands import with_notifications

            return with_notifications(command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _redacted(sys.stdout), _redacted(sys.stderr)
        try:
            return super().invoke(ctx)
        except BackupctlError as exc:
            click.echo(f"backupctl: error: {redact_text(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        finally:
            sys.stdout, sys.stderr = saved


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option(
    "--log-json/--log-console",
    default=None,
    help="Force JSON or console logs (default: console on a TTY).",
)
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
