"""backupctl.proc: the one subprocess wrapper (errors, timeouts, JSON parsing, secret redaction)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from backupctl import log, proc
from backupctl.errors import StoreError

SECRET = "hunter2-Zq9-secret-value"


def test_run_returns_exit_code_output_and_duration(tmp_path: Path) -> None:
    result = proc.run(
        [
            sys.executable,
            "-c",
            "import sys,os; print(os.getcwd()); print('err', file=sys.stderr); sys.exit(3)",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert result.stdout_text.strip() == str(tmp_path)
    assert result.stderr_text.strip() == "err"
    assert 0 < result.duration < 30


def test_input_goes_to_stdin_and_without_input_stdin_is_empty() -> None:
    assert proc.run(["cat"], input=b"abc").stdout == b"abc"
    started = time.monotonic()
    assert proc.run(["cat"], timeout=10).stdout == b""  # /dev/null: nothing can wait for a prompt
    assert time.monotonic() - started < 5


def test_env_extra_reaches_the_child_and_overrides() -> None:
    result = proc.run(
        [
            sys.executable,
            "-c",
            "import os; print(os.environ['BACKUPCTL_T'], os.environ['PATH'] != '')",
        ],
        env_extra={"BACKUPCTL_T": "v1"},
    )
    assert result.stdout_text.split() == ["v1", "True"]


def test_missing_binary_names_it_and_how_to_install() -> None:
    with pytest.raises(proc.BinaryNotFound) as err:
        proc.run(["/nonexistent/bin/restic", "snapshots"])
    message = str(err.value)
    assert "/nonexistent/bin/restic" in message
    assert "apt-get install restic" in message
    assert isinstance(err.value, StoreError) and err.value.exit_code == 1


def test_nice_lowers_the_priority_of_every_thread_of_the_program() -> None:
    script = (
        "import os, threading; out = []; "
        "t = threading.Thread(target=lambda: out.append(os.nice(0))); "
        "t.start(); t.join(); print(os.nice(0), out[0])"
    )
    base = os.nice(0)
    want = min(base + 7, 19)
    result = proc.run([sys.executable, "-c", script], nice=7)
    assert result.stdout_text.split() == [str(want), str(want)]
    assert result.args[0] == sys.executable  # the caller's command, not the nice wrapper
    assert proc.run([sys.executable, "-c", script]).stdout_text.split() == [str(base), str(base)]


def test_a_missing_binary_run_niced_is_still_reported_as_itself() -> None:
    with pytest.raises(proc.BinaryNotFound) as err:
        proc.run(["restic-does-not-exist-here", "version"], nice=5)
    assert "'restic-does-not-exist-here' was not found" in str(err.value)


def test_unknown_binary_gets_generic_hint() -> None:
    with pytest.raises(
        proc.BinaryNotFound, match=r"'no-such-tool-xyz' was not found; install it or put it on PATH"
    ):
        proc.run(["no-such-tool-xyz"])


def test_non_executable_file_is_reported(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(proc.BinaryNotFound, match="is not executable"):
        proc.run([str(script)])


def test_missing_cwd_is_not_mistaken_for_a_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(proc.ProcError, match=r"working directory .* does not exist") as err:
        proc.run(["true"], cwd=tmp_path / "gone")
    assert not isinstance(err.value, proc.BinaryNotFound)


def test_timeout_kills_the_whole_process_group_and_names_command_and_limit() -> None:
    started = time.monotonic()
    # The background sleep keeps stdout open: only killing the group ends the wait.
    with pytest.raises(proc.CommandTimeout) as err:
        proc.run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.3)
    assert time.monotonic() - started < 10
    assert "sh -c 'sleep 30 & sleep 30'" in str(err.value)
    assert "0.3 s" in str(err.value)


def test_run_json_parses_a_document_and_json_lines() -> None:
    assert proc.run_json(["echo", '[{"id": 1}]']) == [{"id": 1}]
    lines = proc.run_json(["printf", '{"a":1}\\n\\n{"b":2}\\n'], lines=True)
    assert lines == [{"a": 1}, {"b": 2}]


def test_run_json_names_command_and_expectation_on_bad_output() -> None:
    with pytest.raises(proc.OutputError) as err:
        proc.run_json(["echo", "not json"], expected="a JSON list of snapshots")
    assert "echo 'not json'" in str(err.value)
    assert "expected a JSON list of snapshots" in str(err.value)
    with pytest.raises(proc.OutputError, match="line 2"):
        proc.run_json(["printf", '{"a":1}\\ngarbage\\n'], lines=True)
    with pytest.raises(proc.OutputError, match=r"\(no output\)"):
        proc.run_json(["true"])


def test_run_json_raises_on_failure_with_stderr_and_without_secrets() -> None:
    script = f"import sys; print('boom password={SECRET}', file=sys.stderr); sys.exit(2)"
    with pytest.raises(proc.CommandFailed) as err:
        proc.run_json([sys.executable, "-c", script], env_extra={"RESTIC_PASSWORD": SECRET})
    assert "exit code 2" in str(err.value) and "boom" in str(err.value)
    assert SECRET not in str(err.value)
    assert proc.run_json([sys.executable, "-c", "print(1); exit(1)"], check=False) == 1


def _leaky_command() -> list[str]:
    """A failing command that echoes every secret it can see to stderr and has one in its args."""
    code = (
        "import os, sys; print(os.environ.get('RESTIC_PASSWORD'), "
        "os.environ.get('AWS_SECRET_ACCESS_KEY'), file=sys.stderr); sys.exit(1)"
    )
    return [
        sys.executable,
        "-c",
        code,
        "--password",
        SECRET,
        f"https://user:{SECRET}@example.org/x",
    ]


def test_secrets_never_reach_the_captured_log_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET + "-aws")
    with capture_logs() as events:
        result = proc.run(_leaky_command(), env_extra={"RESTIC_PASSWORD": SECRET})
    assert SECRET in result.stderr_text  # the child really saw and printed it
    assert len(events) == 1
    event = events[0]
    assert event["exit_code"] == 1 and event["env_added"] == ["RESTIC_PASSWORD"]
    assert "duration_s" in event and "python" in event["command"]
    assert SECRET not in repr(events)
    assert "***" in event["command"] and "***" in event["stderr_tail"]


def test_secrets_never_reach_the_rendered_json_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET + "-aws")
    log.configure(verbose=True, json_logs=True)
    try:
        proc.run(_leaky_command(), env_extra={"RESTIC_PASSWORD": SECRET})
        proc.run(["echo", "ok"], env_extra={"RESTIC_PASSWORD": SECRET})
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [e["exit_code"] for e in lines] == [1, 0]
    assert all(e["env_added"] == ["RESTIC_PASSWORD"] for e in lines)
    assert SECRET not in json.dumps(lines)


def test_timeout_log_has_limit_and_no_secret() -> None:
    with capture_logs() as events, pytest.raises(proc.CommandTimeout):
        proc.run(
            ["sh", "-c", "sleep 5", SECRET], env_extra={"RESTIC_PASSWORD": SECRET}, timeout=0.2
        )
    assert events[0]["limit_s"] == 0.2
    assert SECRET not in repr(events)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_", min_size=4, max_size=30
    ),
    before=st.text(alphabet="abcxyz /=:@", max_size=10),
    after=st.text(alphabet="abcxyz /=:@", max_size=10),
)
def test_describe_and_redact_never_show_a_known_secret(
    secret: str, before: str, after: str
) -> None:
    args = ["restic", f"{before}{secret}{after}", "--password", secret, f"x={secret}"]
    shown = proc.describe(args, {"RESTIC_PASSWORD": secret})
    assert secret not in shown
    assert secret not in proc.redact_text(f"{before}{secret}{after}", [secret])


def test_non_secret_arguments_are_shown_as_they_are() -> None:
    shown = proc.describe(
        [
            "restic",
            "--repo",
            "s3:http://127.0.0.1:9000/b/r",
            "--password-file",
            "/etc/pw",
            "forget",
            "abc",
        ],
        {"RESTIC_PASSWORD": "zzz-secret", "TZ": "UTC"},
    )
    assert shown == "restic --repo s3:http://127.0.0.1:9000/b/r --password-file /etc/pw forget abc"
    assert os.environ.get("RESTIC_PASSWORD") != "zzz-secret"
