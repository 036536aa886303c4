"""The ``backupctl`` command line: one click group; each command lives in backupctl/commands/."""

from __future__ import annotations

import io
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
    "adopt",
    "backup",
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
        from backupctl import humanize
        from backupctl.stores.s3client import shared_clients

        humanize.use_zone(None)  # until the command loads its config (then: its timezone)
        saved = sys.stdout, sys.stderr
        held = _held_output(ctx)
        sys.stdout, sys.stderr = _redacted(held or sys.stdout), _redacted(sys.stderr)
        code = 0
        try:
            with shared_clients():  # one S3 client for the store, its lock and audit log
                return super().invoke(ctx)
        except BackupctlError as exc:
            code = exc.exit_code
            _release(held, saved[0])
            click.echo(f"backupctl: error: {redact_text(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:  # one line, not the usage block and its help pointer
            code = EXIT_USAGE
            _release(held, saved[0])
            click.echo(f"backupctl: error: {_usage_line(exc)}", err=True)
            sys.exit(EXIT_USAGE)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            raise
        finally:
            if code:
                _release(held, saved[0])
            sys.stdout, sys.stderr = saved


def _usage_line(exc: click.UsageError) -> str:
    """Click's usage error as one line: the command, what is wrong or missing (with the
    option's help: what was expected) and where the help is."""
    names: list[str] = []
    node = exc.ctx
    while node is not None and node.parent is not None:  # the root's name is the program's
        names.insert(0, node.info_name or "")
        node = node.parent
    sub = " ".join(names) or "backupctl"
    path = " ".join(["backupctl", *names])
    if isinstance(exc, click.exceptions.NoArgsIsHelpError) and exc.ctx is not None:
        subs = ", ".join(exc.ctx.command.list_commands(exc.ctx))  # type: ignore[attr-defined]
        what = f"expected a subcommand: {subs}"
    else:
        what = exc.format_message().rstrip(".")
        param = getattr(exc, "param", None)
        if isinstance(exc, click.MissingParameter) and isinstance(param, click.Option):
            expected = (param.help or "").split(". ")[0].rstrip(".")
            what += f": {expected[:1].lower()}{expected[1:]}" if expected else ""
    return redact_text(f"{sub}: {what} (see: {path} --help)")


def _held_output(ctx: click.Context) -> io.StringIO | None:
    """Under ``-q`` (for cron), a buffer for the command's human stdout: it is printed only
    when the command fails, so a successful run prints nothing. ``--json`` output is never held
    back (it was asked for)."""
    from backupctl import log

    args = [*getattr(ctx, "_protected_args", ()), *ctx.args]
    if not (ctx.params.get("quiet") or log.is_quiet()) or "--json" in args:
        return None
    return io.StringIO()


def _release(held: io.StringIO | None, stdout: TextIO) -> None:
    """Print what ``-q`` held back (the command failed: its report explains why), once."""
    if held is not None and held.getvalue():
        stdout.write(redact_urls(held.getvalue()))
        stdout.flush()
        held.truncate(0)
        held.seek(0)


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Details: info and debug log lines on a terminal, the full lists in verify's notes.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="For cron: only warnings and errors; no progress bar; "
    "a command's report is printed only when it fails (--json output always).",
)
@click.option(
    "--log-json/--log-console",
    default=None,
    help="Force JSON or console logs (default: console on a TTY, warnings and errors "
    "only unless -v; JSON logs elsewhere, info and up).",
)
@click.version_option(package_name="backupctl")
def main(verbose: bool, quiet: bool, log_json: bool | None) -> None:
    """backupctl: retention you can prove.

    Plans and prunes backups with restic-exact rules (S3-compatible storage, restic
    repositories, local directories), verifies that the SLA's backups exist and nothing
    is kept too long, writes auditor's proofs and runs timed restore drills.

    Exit codes: 0 ok, 1 error, 2 bad usage or config, 3 a check found a violation,
    4 a safety refusal.
    """
    if verbose and quiet:
        raise click.UsageError("give -v or -q, not both")
    log.configure(verbose=verbose, json_logs=log_json, quiet=quiet)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["EXIT_USAGE", "main"]
