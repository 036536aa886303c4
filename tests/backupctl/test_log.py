"""backupctl.log: structlog loads at the first log event, with the CLI's configuration."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import sys
from backupctl import cli, log
from backupctl.commands import drill
from backupctl.stores import restic
log.configure(json_logs=True)
print("loaded before logging:", "structlog" in sys.modules)
log.get_logger("test").info("hello", password="hunter2", note="token=abc",
                            store="restic:rest:http://user:hunter2@127.0.0.1:8000/repo",
                            nested={"urls": ["s3:https://AKIA1:hunter2@h/b"], \
"secret_key": "hunter2"})
print("loaded after logging:", "structlog" in sys.modules)
"""


def test_structlog_loads_at_the_first_event_with_the_pending_configuration() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.splitlines() == [
        "loaded before logging: False",
        "loaded after logging: True",
    ]
    event = json.loads(proc.stderr)  # JSON on stderr, as configured before structlog was loaded
    assert event["event"] == "hello" and event["component"] == "test" and event["level"] == "info"
    assert event["password"] == "***" and event["note"] == "token=***"
    assert (
        event["store"] == "restic:rest:http://user:***@127.0.0.1:8000/repo"
    )  # URL userinfo, nested too
    assert event["nested"] == {"urls": ["s3:https://***@h/b"], "secret_key": "***"}
    assert "hunter2" not in proc.stderr


def test_configure_applies_at_once_when_structlog_is_loaded(capsys: object) -> None:
    import structlog

    from backupctl import log

    try:
        log.configure(verbose=True, json_logs=True)
        assert log._pending is None
        log.get_logger("now").debug("visible at debug")
        err = capsys.readouterr().err  # type: ignore[attr-defined]
        assert json.loads(err)["event"] == "visible at debug"
    finally:
        structlog.reset_defaults()
