"""The one wrapper through which backupctl runs every subprocess (restic, live checks …).

Every run is logged with the command (secrets masked), its duration and exit code.
Environment values are never logged, only the names of the variables that were added.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backupctl.errors import StoreError
from backupctl.log import get_logger
from backupctl.secrets import env_secrets, redact_text

__all__ = [
    "BinaryNotFound",
    "CommandFailed",
    "CommandTimeout",
    "Completed",
    "OutputError",
    "ProcError",
    "describe",
    "parse_json",
    "redact_text",
    "run",
    "run_json",
]

log = get_logger("proc")

_SECRET_FLAG = re.compile(r"^(--?[\w-]*(?:secret|password|passwd|token|key)[\w-]*)(=.*)?$", re.I)
_NOT_SECRET_FLAGS = {"--password-file", "--password-command", "-p"}

_INSTALL_HINTS = {
    "restic": "install it with `apt-get install restic` "
    "(or from https://github.com/restic/restic/releases) "
    "or set store.restic_binary to its path",
    "rclone": "install it with `apt-get install rclone`",
    "aws": "install it with `pip install awscli` or `apt-get install awscli`",
}


class ProcError(StoreError):
    """A subprocess could not be run or misbehaved; ``command`` is the redacted command line."""

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.command = command


class BinaryNotFound(ProcError):
    """The program to run does not exist or is not executable."""


class CommandTimeout(ProcError):
    """The command ran longer than its limit and was killed."""


class CommandFailed(ProcError):
    """The command exited non-zero (raised only by :func:`run_json` with ``check=True``)."""


class OutputError(ProcError):
    """The command's output was not what the caller expected (e.g. not JSON)."""


@dataclass(frozen=True)
class Completed:
    """A finished command: exit code, raw output and wall-clock duration in seconds."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    duration: float

    @property
    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stderr.decode("utf-8", "replace")


def _secret_values(env_extra: Mapping[str, str] | None) -> list[str]:
    """Values that must never be logged.

    Those are secret-looking env_extra entries and known secret env vars.
    """
    return env_secrets(env_extra)


def _redact_args(args: Sequence[str], secrets: Sequence[str]) -> list[str]:
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag = _SECRET_FLAG.match(arg)
        if flag and flag[1] not in _NOT_SECRET_FLAGS:
            out.append(f"{flag[1]}=***" if flag[2] else arg)
            hide_next = flag[2] is None
            continue
        out.append(redact_text(arg, secrets))
    return out


def describe(args: Sequence[str], env_extra: Mapping[str, str] | None = None) -> str:
    """The command line as it may be shown to a user or written to a log: secrets masked."""
    return shlex.join(_redact_args(args, _secret_values(env_extra)))


def run(
    args: Sequence[str],
    *,
    env_extra: Mapping[str, str] | None = None,
    timeout: float | None = None,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    nice: int = 0,
) -> Completed:
    """Run ``args`` (no shell) and wait for it.

    Args:
        args: the program and its arguments.
        env_extra: variables added to (or overriding) the current environment; an empty
            value unsets nothing but is passed as empty. Values are never logged.
        timeout: seconds before the command (and its process group) is killed.
        input: bytes fed to stdin; without it stdin is /dev/null, so nothing can prompt.
        cwd: working directory.
        nice: run at this lower CPU priority (through ``nice -n``, so every thread of the
            program has it), for work that must yield to a command running beside it.

    Returns:
        A :class:`Completed`, whatever the exit code (the caller decides what it means).

    Raises:
        BinaryNotFound: the program does not exist or cannot be executed.
        CommandTimeout: the command ran longer than ``timeout``.
        ProcError: ``cwd`` does not exist.
    """
    if not args:
        raise ProcError("no command given to run")
    shown = describe(args, env_extra)
    if cwd is not None and not os.path.isdir(cwd):
        raise ProcError(
            f"cannot run {shown}: working directory {os.fspath(cwd)} does not exist", shown
        )
    env = {**os.environ, **(env_extra or {})}
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            _niced(args, nice),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise _not_found(args[0], shown, exc) from None
    stdout, stderr = _communicate(proc, input, timeout, shown, started)
    result = Completed(tuple(args), proc.returncode, stdout, stderr, time.monotonic() - started)
    _log_result(result, shown, _secret_values(env_extra), sorted(env_extra or {}))
    return result


def _niced(args: Sequence[str], nice: int) -> list[str]:
    """``args`` behind ``nice -n <nice>`` when asked and ``nice`` exists (else unchanged)."""
    tool = shutil.which("nice") if nice else None
    if (
        tool is None or shutil.which(args[0]) is None
    ):  # a missing program must be reported as itself
        return list(args)
    return [tool, "-n", str(nice), *args]


def _not_found(binary: str, shown: str, exc: OSError) -> BinaryNotFound:
    name = os.path.basename(binary)
    hint = _INSTALL_HINTS.get(name, "install it or put it on PATH")
    why = "is not executable" if isinstance(exc, PermissionError) else "was not found"
    return BinaryNotFound(f"cannot run {shown}: the program {binary!r} {why}; {hint}", shown)


def _communicate(
    proc: subprocess.Popen[bytes],
    input: bytes | None,
    timeout: float | None,
    shown: str,
    started: float,
) -> tuple[bytes, bytes]:
    try:
        return proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        # Bounded: the group is dead, pipes close; a grandchild that escaped the group cannot
        # hold us.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)
        log.warning(
            "command timed out",
            command=shown,
            limit_s=timeout,
            duration_s=round(time.monotonic() - started, 3),
        )
        raise CommandTimeout(
            f"{shown} did not finish within the limit of {timeout:g} s and was killed", shown
        ) from None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _log_result(
    result: Completed, shown: str, secrets: Sequence[str], env_names: list[str]
) -> None:
    fields: dict[str, Any] = {
        "command": shown,
        "exit_code": result.returncode,
        "duration_s": round(result.duration, 3),
    }
    if env_names:
        fields["env_added"] = env_names
    if result.returncode != 0:
        fields["stderr_tail"] = redact_text(_tail(result.stderr_text), secrets)
        log.info("command failed", **fields)
    else:
        log.debug("command ran", **fields)


def _tail(text: str, lines: int = 5, chars: int = 800) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def parse_json(result: Completed, *, expected: str = "JSON", lines: bool = False) -> Any:
    """Parse a command's stdout as one JSON document, or (``lines``) as JSON Lines.

    Args:
        result: the finished command.
        expected: what the output should be, for the error message (e.g. "a JSON list of
            snapshots").
        lines: parse each non-empty line as one JSON value and return them as a list.

    Raises:
        OutputError: naming the command, what was expected and what came instead.
    """
    shown = describe(result.args)
    text = result.stdout_text
    if not lines:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad_output(shown, expected, text, str(exc)) from None
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise _bad_output(shown, expected, line, f"line {number}: {exc}") from None
    return values


def _bad_output(shown: str, expected: str, text: str, why: str) -> OutputError:
    sample = text.strip()[:200] or "(no output)"
    return OutputError(f"{shown}: expected {expected} on stdout, got {sample!r} ({why})", shown)


def run_json(
    args: Sequence[str],
    *,
    env_extra: Mapping[str, str] | None = None,
    timeout: float | None = None,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    expected: str = "JSON",
    lines: bool = False,
    check: bool = True,
) -> Any:
    """:func:`run` the command and parse its stdout with :func:`parse_json`.

    Raises:
        CommandFailed: (``check``) the command exited non-zero; the message has stderr's tail.
        OutputError, BinaryNotFound, CommandTimeout: as in :func:`parse_json` and :func:`run`.
    """
    result = run(args, env_extra=env_extra, timeout=timeout, input=input, cwd=cwd)
    if check and result.returncode != 0:
        shown = describe(args, env_extra)
        detail = (
            redact_text(_tail(result.stderr_text), _secret_values(env_extra)) or "(no error output)"
        )
        raise CommandFailed(f"{shown} failed with exit code {result.returncode}: {detail}", shown)
    return parse_json(result, expected=expected, lines=lines)
