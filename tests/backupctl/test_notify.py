"""[notify] (issue 14): healthchecks.io-style pings, a JSON webhook and Apprise URLs around prune,
verify and drill, against real HTTP servers on loopback (http.server in a thread).

A notification never changes the exit code, never waits longer than its timeout, and never
carries a credential; a bad [notify] key is one config line, exit 2.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.config import parse_config
from backupctl.configref import starter_config
from backupctl.notify import EVENTS, Message, _Ping, apprise_installed, event_for
from backupctl.seed import DirWriter, write_snapshot

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ENV = {"BACKUPCTL_NOW": NOW.isoformat()}
STORE_PASSWORD = "St0reSecretPw9"
PING_PASSWORD = "P1ngSecretPw7"
needs_apprise = pytest.mark.skipif(
    not apprise_installed(), reason="the optional apprise library (backupctl[notify])"
)


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A loopback HTTP server recording every request; ``status`` is what it answers."""

    url: str
    requests: list[Request] = field(default_factory=list)
    status: int = 200
    location: str = ""

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def at(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture()
def server() -> Iterator[Server]:
    state = Server(url="")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = urlsplit(self.path)
            with lock:
                state.requests.append(
                    Request(parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                )
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six daily snapshots of one group, the newest a day old."""
    root = tmp_path_factory.mktemp("store")
    for d in range(6, 0, -1):
        write_snapshot(DirWriter(root), "app", NOW - timedelta(days=d), {"db.sql": b"x"})
    return root


def config(tmp_path: Path, store: Path, notify: str, *, keep_last: int = 6) -> Path:
    """A file-store config: keep_last = 6 passes verify; 2 fails it (3 over-retained) and
    makes prune refuse (4 of 6 is more than max_delete_fraction)."""
    path = tmp_path / "backupctl.toml"
    path.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{store}"\n'
        f'[[policy]]\nname = "app"\nkeep_last = {keep_last}\n[notify]\n{notify}\n'
    )
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})})


def hooks(server: Server, **extra: str) -> str:
    lines = [
        f'ping_url = "{server.url}/ping/{{command}}"',
        f'webhook_url = "{server.url}/hook"',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines)


def warnings(result: Result) -> list[dict[str, Any]]:
    events = []
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("component") == "notify" and event.get("level") == "warning":
                events.append(event)
    return events


# ------------------------------------------------------------------------- the events


def test_a_passing_verify_sends_start_then_success(
    tmp_path: Path, store: Path, server: Server
) -> None:
    result = run("verify", "--config", str(config(tmp_path, store, hooks(server))))
    assert result.exit_code == 0, result.output
    assert [p for p in server.paths() if p.startswith("/ping")] == [
        "/ping/verify/start",
        "/ping/verify",
    ]
    start, end = server.at("/ping/verify/start")[0], server.at("/ping/verify")[0]
    assert start.query["rid"] == end.query["rid"]  # healthchecks pairs the two by run id
    assert start.body.decode().startswith("backupctl verify start on ")
    line = end.body.decode()
    assert "\n" not in line and line.startswith("backupctl verify success (exit 0, ")
    assert "violations 0" in line
    assert [r.json()["event"] for r in server.at("/hook")] == ["start", "success"]
    assert warnings(result) == []


def test_a_failing_verify_pings_fail_and_the_webhook_says_violation(
    tmp_path: Path, store: Path, server: Server
) -> None:
    result = run("verify", "--config", str(config(tmp_path, store, hooks(server), keep_last=2)))
    assert result.exit_code == 3, result.output
    assert [p for p in server.paths() if p.startswith("/ping")] == [
        "/ping/verify/start",
        "/ping/verify/fail",
    ]
    assert "verify violation (exit 3" in server.at("/ping/verify/fail")[0].body.decode()
    end = server.at("/hook")[-1].json()
    assert (end["event"], end["exit_code"], end["ok"]) == ("violation", 3, False)
    assert end["counts"]["violations"] == 3
    assert "3 violation(s) found" in end["summary"]


def test_a_refused_prune_pings_fail_or_its_exit_code(
    tmp_path: Path, store: Path, server: Server
) -> None:
    cfg = config(tmp_path, store, hooks(server), keep_last=2)
    result = run("prune", "--config", str(cfg))
    assert result.exit_code == 4, result.output
    assert [p for p in server.paths() if p.startswith("/ping")] == [
        "/ping/prune/start",
        "/ping/prune/fail",
    ]
    end = server.at("/hook")[-1].json()
    assert (end["event"], end["exit_code"]) == ("refusal", 4)
    assert "max_delete_fraction" in end["summary"] and end["counts"]["deleted"] == 0
    # with ping_exit_codes, the end ping carries the exit code instead
    server.requests.clear()
    cfg = config(tmp_path, store, hooks(server, ping_exit_codes="true"), keep_last=2)
    assert run("prune", "--config", str(cfg)).exit_code == 4
    assert [p for p in server.paths() if p.startswith("/ping")] == [
        "/ping/prune/start",
        "/ping/prune/4",
    ]


@pytest.mark.parametrize(
    ("live_check", "code", "event"), [("true", 0, "success"), ("false", 3, "violation")]
)
def test_a_drill_notifies_its_verdict(
    tmp_path: Path, store: Path, server: Server, live_check: str, code: int, event: str
) -> None:
    cfg = config(tmp_path, store, hooks(server))
    cfg.write_text(
        cfg.read_text()
        # a passing check gets time to start on a busy machine; a failing one gives up soon
        + f'[drill]\nlive_check = "{live_check}"\nlive_check_timeout = {30 if code == 0 else 0.2}\n'
        + "live_check_interval = 0.05\n"
    )
    result = run("drill", "--config", str(cfg))
    assert result.exit_code == code, result.output
    assert sorted(p for p in server.paths() if p.startswith("/ping")) == [
        "/ping/drill" if code == 0 else "/ping/drill/fail",
        "/ping/drill/start",
    ]
    end = server.at("/hook")[-1].json()
    assert (end["event"], end["exit_code"]) == (event, code)
    assert end["summary"].startswith("drill passed: app/" if code == 0 else "drill ")
    assert end["counts"]["failed_objects"] == 0


def test_the_webhook_document(tmp_path: Path, store: Path, server: Server) -> None:
    result = run("verify", "--config", str(config(tmp_path, store, hooks(server))))
    assert result.exit_code == 0, result.output
    start, end = (r.json() for r in server.at("/hook"))
    assert server.at("/hook")[0].headers["Content-Type"] == "application/json"
    assert start["event"] == "start" and start["exit_code"] is None and start["ok"] is None
    assert end["event"] == "success" and end["exit_code"] == 0 and end["ok"] is True
    for doc in (start, end):
        assert doc["command"] == "verify"
        assert doc["store"] == f"file://{store}"
        assert doc["version"] == version("backupctl")
        assert doc["run_id"] == server.at("/ping/verify")[0].query["rid"][0]
        when = datetime.fromisoformat(doc["time"])  # ISO 8601 with the config zone's offset
        assert when.utcoffset() == datetime.now(ZoneInfo("Europe/Amsterdam")).utcoffset()
        assert abs(when - datetime.now(UTC)) < timedelta(minutes=5)
    assert end["counts"] == {"violations": 0, "notes": end["counts"]["notes"], "snapshots": 6}
    assert end["duration_s"] >= 0 and end["started"] == start["time"]


def test_webhook_events_and_commands_choose_what_is_sent(
    tmp_path: Path, store: Path, server: Server
) -> None:
    notify = hooks(server, webhook_events='["violation", "failure"]', commands='["prune"]')
    cfg = config(tmp_path, store, notify, keep_last=2)
    assert run("verify", "--config", str(cfg)).exit_code == 3
    assert server.requests == []  # verify is not in notify.commands
    assert run("prune", "--config", str(cfg)).exit_code == 4
    assert server.at("/hook") == []  # a refusal is not in webhook_events; the ping gets all
    assert len([p for p in server.paths() if p.startswith("/ping")]) == 2


def test_a_dry_run_and_drill_deadline_send_nothing(
    tmp_path: Path, store: Path, server: Server
) -> None:
    cfg = config(tmp_path, store, hooks(server), keep_last=2)
    assert run("prune", "--config", str(cfg), "--dry-run").exit_code == 4  # refused, too
    deadline = ["drill", "deadline", "--config", str(cfg), "--from", "2026-12-01T10:00:00+01:00"]
    assert run(*deadline).exit_code == 0
    assert server.requests == []


# ---------------------------------------------------- failing hooks never fail the job


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("keep_last", [6, 2])
def test_a_dead_endpoint_is_a_warning_and_keeps_the_exit_code(
    tmp_path: Path, store: Path, keep_last: int
) -> None:
    port = _closed_port()
    notify = f'ping_url = "http://127.0.0.1:{port}/TOKEN1234abcd"\ntimeout = 0.2'
    result = run("verify", "--config", str(config(tmp_path, store, notify, keep_last=keep_last)))
    assert result.exit_code == (0 if keep_last == 6 else 3), result.output
    found = warnings(result)
    assert [w["notification"] for w in found] == [
        "start",
        "success" if keep_last == 6 else "violation",
    ]
    assert all("refused" in w["error"].lower() for w in found), found
    assert found[0]["hook"] == f"http://127.0.0.1:{port}/…"
    assert "TOKEN1234abcd" not in result.output + result.stderr  # a ping URL's token is not logged
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("status", "needle"),
    [(500, "HTTP 500 Internal Server Error"), (302, "HTTP 302 Found (redirects are not followed)")],
)
def test_an_error_answer_or_a_redirect_is_a_warning(
    tmp_path: Path, store: Path, server: Server, status: int, needle: str
) -> None:
    server.status, server.location = status, f"{server.url}/elsewhere"
    notify = f'webhook_url = "http://user:{PING_PASSWORD}@{server.url[7:]}/hook"'
    result = run("verify", "--config", str(config(tmp_path, store, notify)))
    assert result.exit_code == 0, result.output
    assert [w["error"] for w in warnings(result)] == [needle, needle]
    assert server.at("/elsewhere") == []  # a redirect would carry the Authorization header
    assert {w["hook"] for w in warnings(result)} == {f"{server.url}/…"}  # no userinfo, no path
    assert PING_PASSWORD not in result.output + result.stderr


def test_a_server_that_never_answers_is_bounded_by_the_timeout(tmp_path: Path, store: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0), backlog=8)  # accepts (kernel), never answers
    try:
        port = silent.getsockname()[1]
        plain = config(tmp_path, store, "")
        started = time.monotonic()
        assert run("verify", "--config", str(plain)).exit_code == 0
        baseline = time.monotonic() - started
        notify = (
            f'ping_url = "http://127.0.0.1:{port}/p"\nwebhook_url = "http://127.0.0.1:{port}/w"\n'
            "timeout = 0.2"
        )
        started = time.monotonic()
        result = run("verify", "--config", str(config(tmp_path, store, notify)))
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.exit_code == 0, result.output
    found = warnings(result)
    assert len(found) == 4  # two hooks, two events
    assert all(w["error"] == "timed out after 0.2 s" for w in found), found
    # two events, each waiting at most 0.2 s for both hooks at once (0.4 s), far below the
    # default 5 s; the rest is slack for a busy machine
    assert elapsed - baseline < 2.0, (elapsed, baseline)


# ------------------------------------------------------------------------ credentials


def test_no_password_reaches_a_body_or_a_log(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restic store whose URL holds a password (the job fails: no restic binary) and a ping
    URL with userinfo: the store's password is nowhere, the ping's only in its Authorization
    header."""
    (tmp_path / "audit").mkdir()
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "UTC"\n[store]\nurl = "restic:rest:http://backup:{STORE_PASSWORD}@127.0.0.1:9/r"\n'
        'restic_binary = "/nonexistent/restic"\nrestic_password_env = "NOTIFY_TEST_PW"\n'
        f'[audit]\nurl = "file://{tmp_path}/audit"\n[[policy]]\nname = "app"\nkeep_last = 2\n'
        f'[notify]\nping_url = "http://hc:{PING_PASSWORD}@{server.url[7:]}/ping"\n'
        f'webhook_url = "{server.url}/hook"\n'
    )
    result = run("verify", "--config", str(cfg), env={"NOTIFY_TEST_PW": "x"})
    assert result.exit_code == 1, result.output
    assert sorted(server.paths()) == ["/hook", "/hook", "/ping/fail", "/ping/start"]
    end = server.at("/hook")[-1].json()
    assert (
        end["event"] == "failure" and end["store"] == "restic:rest:http://backup:***@127.0.0.1:9/r"
    )
    everything = result.output + result.stderr
    for r in server.requests:
        everything += r.body.decode() + r.path + json.dumps(r.query)
        if r.path.startswith("/ping"):
            auth = base64.b64decode(r.headers["Authorization"].split()[1]).decode()
            assert auth == f"hc:{PING_PASSWORD}"  # the ping's own credential, in the request only
        else:
            assert "Authorization" not in r.headers
    assert STORE_PASSWORD not in everything and PING_PASSWORD not in everything


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("line", "needles"),
    [
        ('ping_url = "hc-ping.com/abcd-1234"', ["notify.ping_url", "http://"]),
        ('ping_url = "ftp://host/abcd-1234"', ["notify.ping_url", "got ftp://…"]),
        ('ping_url = "https://hc-ping.com/{cmd}"', ["notify.ping_url", "{command}"]),
        ('webhook_url = ""', ["notify.webhook_url", "non-empty string"]),
        ('webhook_url = "http://[::1/x"', ["notify.webhook_url", "http://"]),
        ('webhook_events = ["finish"]', ["notify.webhook_events", "'finish'", "start"]),
        ('apprise_events = "failure"', ["notify.apprise_events", "list of event names"]),
        ('commands = ["plan"]', ["notify.commands", "'plan'", "prune, verify, drill"]),
        ("timeout = 0", ["notify.timeout", "(0, 60]"]),
        ("timeout = 1e9", ["notify.timeout", "(0, 60]"]),
        ("timeout = true", ["notify.timeout", "seconds"]),
        ("ping_exit_codes = 1", ["notify.ping_exit_codes", "true or false"]),
        ('pings = "x"', ["notify.pings", "unknown key", "ping_url"]),
    ],
)
def test_a_bad_notify_key_is_one_line_and_exit_2(
    tmp_path: Path, store: Path, server: Server, line: str, needles: list[str]
) -> None:
    result = run("verify", "--config", str(config(tmp_path, store, line)))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [x for x in result.stderr.splitlines() if all(n in x for n in needles)]
    assert len(lines) == 1, (needles, result.stderr)
    assert "abcd-1234" not in result.stderr  # a ping URL (its token) is not echoed
    assert server.requests == []


def test_every_bad_notify_key_is_listed_at_once(tmp_path: Path, store: Path) -> None:
    notify = 'ping_url = "nope"\ntimeout = -1\ncommands = ["x"]'
    result = run("verify", "--config", str(config(tmp_path, store, notify)))
    assert result.exit_code == 2
    for key in ("notify.ping_url", "notify.timeout", "notify.commands"):
        assert key in result.stderr


def test_apprise_urls_without_apprise_installed_is_a_config_error_at_load(
    tmp_path: Path, store: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if not installed: import fails
    notify = hooks(server) + '\napprise_urls = ["json://127.0.0.1:9/x"]'
    result = run("prune", "--config", str(config(tmp_path, store, notify, keep_last=2)))
    assert result.exit_code == 2, result.output
    [line] = [x for x in result.stderr.splitlines() if "notify.apprise_urls" in x]
    assert "pip install 'backupctl[notify]'" in line
    assert server.requests == []  # refused at load: no start ping, nothing pruned


# ----------------------------------------------------------------------------- Apprise


@needs_apprise
def test_apprise_gets_the_events_it_is_configured_for(
    tmp_path: Path, store: Path, server: Server
) -> None:
    notify = f'apprise_urls = ["json://{server.url[7:]}/apprise"]'
    assert run("verify", "--config", str(config(tmp_path, store, notify))).exit_code == 0
    assert server.requests == []  # default apprise_events: violation, refusal, failure
    result = run("verify", "--config", str(config(tmp_path, store, notify, keep_last=2)))
    assert result.exit_code == 3, result.output
    [sent] = server.at("/apprise")
    doc = sent.json()
    assert doc["title"] == "backupctl verify: violation" and doc["type"] == "warning"
    assert doc["message"].startswith("backupctl verify violation (exit 3")


@needs_apprise
def test_an_unsupported_apprise_url_is_a_config_error(tmp_path: Path, store: Path) -> None:
    notify = 'apprise_urls = ["json://localhost/x", "nosuchservice://tok3n-abcd-1234/x"]'
    result = run("verify", "--config", str(config(tmp_path, store, notify)))
    assert result.exit_code == 2
    [line] = [x for x in result.stderr.splitlines() if "notify.apprise_urls" in x]
    assert "URL 2 of 2" in line and "nosuchservice://…" in line and "abcd-1234" not in line


# ------------------------------------------------------------------------------- units


def test_event_for_follows_the_exit_codes() -> None:
    assert [event_for(c) for c in (0, 1, 2, 3, 4, 130)] == [
        "success",
        "failure",
        "failure",
        "violation",
        "refusal",
        "failure",
    ]
    assert set(EVENTS) == {"start", *(event_for(c) for c in range(6))}


@pytest.mark.parametrize(
    ("event", "code", "exit_codes", "path"),
    [
        ("start", None, False, "/p/start"),
        ("success", 0, False, "/p"),
        ("failure", 1, False, "/p/fail"),
        ("refusal", 4, True, "/p/4"),
        ("success", 0, True, "/p/0"),
    ],
)
def test_ping_targets_keep_the_query(
    event: str, code: int | None, exit_codes: bool, path: str
) -> None:
    message = Message(
        event=event,
        command="prune",
        run_id="r-1",
        time=NOW,
        started=NOW,
        store="",
        config="",
        host="h",
        version="0",
        exit_code=code,
    )
    target = urlsplit(_Ping("https://hc.example/p/?create=1", exit_codes).target(message))
    assert target.path == path
    assert parse_qs(target.query) == {"create": ["1"], "rid": ["r-1"]}


PASSWORDS = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@:%!$&*", min_size=8
).filter(
    lambda p: any(c.isdigit() for c in p) and any(c.isupper() for c in p) and "@" not in p[-1:]
)


@given(password=PASSWORDS, event=st.sampled_from(EVENTS), code=st.integers(0, 255))
def test_no_body_carries_a_url_password(password: str, event: str, code: int) -> None:
    """Whatever the password and wherever a URL with it appears (the store, the error line),
    neither the one-line body nor the webhook document holds it."""
    url = f"restic:rest:https://backup:{password}@repo.example:8000/r"
    message = Message(
        event=event,
        command="prune",
        run_id="r-1",
        time=NOW,
        started=NOW,
        store=url,
        config="/etc/backupctl.toml",
        host="h",
        version="0",
        exit_code=None if event == "start" else code,
        summary=f"cannot list {url}: connection reset; s3://AKIA{password}@bucket/x",
        counts={"deleted": 1},
    )
    assert password not in message.line()
    assert password not in json.dumps(message.to_json())


def test_the_starters_notify_example_is_a_valid_config() -> None:
    text = starter_config()
    block = text[text.index("# [notify]") :]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    data = tomllib.loads(text + "\n" + uncommented)
    notify = parse_config(data).notify
    assert notify.ping_url == "https://hc-ping.com/YOUR-PING-KEY/backupctl-{command}"
    assert notify.webhook_url == "https://hooks.example.com/backupctl"
