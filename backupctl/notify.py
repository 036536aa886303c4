"""Notifications for prune, verify and drill (``[notify]``; the user's page: docs/notifications.md).

A job sends ``start`` when it begins and, when it ends, the event its exit code means
(:func:`event_for`, the exit codes of backupctl/errors.py): ``success`` (0), ``violation`` (3),
``refusal`` (4) or ``failure`` (anything else). Three kinds of hook:

* a healthchecks.io-style **ping URL**: ``<url>/start``, then ``<url>`` on success and
  ``<url>/fail`` otherwise (or ``<url>/<exit code>`` with ``ping_exit_codes``), each a POST with
  a one-line body and a ``rid`` run id that pairs the start with its end;
* a **webhook**: a POST of a JSON document (:meth:`Message.to_json`);
* **Apprise URLs** (the optional ``apprise`` library, ``pip install 'backupctl[notify]'``,
  imported only when configured).

Every hook is best effort: each runs in its own thread and is abandoned after ``notify.timeout``
seconds; a hook that fails or times out is a logged warning, and the command's exit code never
changes. Nothing sent or logged carries a credential: bodies are redacted with
:mod:`backupctl.secrets`; a hook is logged by its scheme and host only (a ping URL's path is its
token); URL userinfo is sent as an ``Authorization: Basic`` header, and redirects are not
followed (they would carry that header elsewhere).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from backupctl.errors import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, EXIT_VIOLATION, BackupctlError
from backupctl.log import get_logger
from backupctl.secrets import env_secrets, redact_data, redact_text, redact_url

if TYPE_CHECKING:
    from backupctl.config import Config

__all__ = [
    "COMMANDS",
    "DEFAULT_APPRISE_EVENTS",
    "EVENTS",
    "MAX_TIMEOUT",
    "Job",
    "Message",
    "Notifier",
    "apprise_installed",
    "apprise_problem",
    "event_for",
    "exit_code_of",
    "http_url_problem",
    "report",
]

log = get_logger("notify")

EVENTS = ("start", "success", "violation", "refusal", "failure")
COMMANDS = ("prune", "verify", "drill")  # the jobs that notify (`drill deadline` and dry runs not)
DEFAULT_APPRISE_EVENTS = ("violation", "refusal", "failure")  # people: what needs a look
MAX_TIMEOUT = 60.0  # a hook that needs longer is not "quick"; the job waits for it twice
_SUMMARY_MAX = 500  # characters of the one-line summary (healthchecks logs 100 kB of body)
_APPRISE_TYPES = {
    "start": "info",
    "success": "success",
    "violation": "warning",
    "refusal": "warning",
    "failure": "failure",
}


def event_for(exit_code: int) -> str:
    """The end event of a job that exits with ``exit_code``: 0 ``success``, 3 ``violation``,
    4 ``refusal``, anything else ``failure``."""
    return {EXIT_OK: "success", EXIT_VIOLATION: "violation", EXIT_REFUSED: "refusal"}.get(
        exit_code, "failure"
    )


def exit_code_of(exc: BaseException | None) -> int:
    """The exit code the CLI gives for ``exc`` ending a command (None: it ended normally)."""
    import click

    if exc is None:
        return EXIT_OK
    if isinstance(exc, BackupctlError):
        return exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        return exc.exit_code
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 1)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return EXIT_ERROR


# ------------------------------------------------------------------ config checks (config.py)


def http_url_problem(url: str, *, placeholder: bool = False) -> str | None:
    """What is wrong with a hook's URL, or None: it must be ``http://`` or ``https://`` with a
    host; with ``placeholder``, ``{command}`` is the only placeholder allowed. The message never
    repeats the URL (its path or userinfo may be a token)."""
    expected = "expected an http:// or https:// URL with a host"
    if any(c.isspace() for c in url):
        return f"{expected} and no spaces (the value is not shown: it may hold a token)"
    if placeholder:
        try:
            url = url.format(command="prune")
        except (KeyError, IndexError, ValueError):
            return "the only placeholder allowed is {command} (write {{ and }} for braces)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"{expected} (the value is not shown: it may hold a token)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = f"{parts.scheme}://…" if parts.scheme else "a value without a scheme"
        return f"{expected}, got {shown}"
    return None


def apprise_installed() -> bool:
    """Whether the optional ``apprise`` library can be imported (without importing it: ~0.1 s)."""
    import importlib.util

    if "apprise" in sys.modules:
        return sys.modules["apprise"] is not None  # None: an import blocked on purpose
    try:
        return importlib.util.find_spec("apprise") is not None
    except (ImportError, ValueError):
        return False


def apprise_problem(url: str) -> str | None:
    """What is wrong with an Apprise URL (Apprise cannot parse it), or None. Needs apprise."""
    if _apprise_object([url]) is not None:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    shown = f"{scheme}://…" if scheme and len(scheme) <= 20 else "a value without a scheme"
    return (
        f"Apprise does not support {shown} (expected a URL such as mailto://… or slack://…; "
        "https://github.com/caronc/apprise/wiki lists them)"
    )


def _apprise_object(urls: Sequence[str]) -> Any:
    """An ``apprise.Apprise`` holding ``urls``, or None when one of them is not supported."""
    import logging
    import warnings

    # Apprise's e-mail plugin imports imghdr (deprecated since 3.11) when the first URL is
    # added; warnings filters are process-wide, so this runs before any thread sends
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        logging.getLogger("apprise").addHandler(logging.NullHandler())  # ours say enough
        logging.getLogger("apprise").propagate = False
        obj = apprise.Apprise()
        return obj if all(obj.add(u) for u in urls) else None


# --------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    """One event of one job, as every hook sends it (redacted when rendered)."""

    event: str
    command: str
    run_id: str
    time: datetime
    started: datetime
    store: str
    config: str
    host: str
    version: str
    exit_code: int | None = None
    summary: str = ""
    counts: Mapping[str, int | float] = field(default_factory=dict)
    duration_s: float | None = None

    def line(self) -> str:
        """The one-line summary (a ping's body, an Apprise body): what ran, how it ended, the
        counts; no credential (redacted)."""
        head = f"backupctl {self.command} {self.event}"
        if self.exit_code is not None:
            head += f" (exit {self.exit_code}"
            head += f", {self.duration_s:.1f} s)" if self.duration_s is not None else ")"
        text = f"{head} on {self.host}, store {self.store}"
        if self.summary:
            text += f": {self.summary}"
        if self.counts:
            text += " [" + ", ".join(f"{k} {_number(v)}" for k, v in self.counts.items()) + "]"
        return _redact(text)

    def title(self) -> str:
        """A short title (Apprise): ``backupctl prune: failure``."""
        return f"backupctl {self.command}: {self.event}"

    def to_json(self) -> dict[str, Any]:
        """The webhook's JSON document: event, command, exit code (None at start), ok, summary,
        counts, store (redacted), config, host, time and started (ISO 8601 with offset),
        duration_s, version and run_id; redacted."""
        doc: dict[str, Any] = {
            "source": "backupctl",
            "event": self.event,
            "command": self.command,
            "exit_code": self.exit_code,
            "ok": None if self.exit_code is None else self.exit_code == EXIT_OK,
            "summary": self.summary,
            "counts": dict(self.counts),
            "store": self.store,
            "config": self.config,
            "host": self.host,
            "time": self.time.isoformat(timespec="seconds"),
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "version": self.version,
            "run_id": self.run_id,
        }
        redacted: dict[str, Any] = redact_data(doc)
        redacted["summary"] = _redact(self.summary)  # the environment's secret values too
        return redacted


def _number(v: int | float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _redact(text: str) -> str:
    return redact_text(text, env_secrets())


def _one_line(text: str) -> str:
    """``text`` on one line (lines joined with "; "), at most :data:`_SUMMARY_MAX` characters."""
    line = "; ".join(part.strip(" -") for part in text.splitlines() if part.strip())
    line = line.replace(":;", ":")
    return line if len(line) <= _SUMMARY_MAX else line[: _SUMMARY_MAX - 1] + "…"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("backupctl")
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------------------------ hooks


class _Hook(Protocol):
    """What a hook does: which events it wants, how to send one, how it is logged."""

    @property
    def kind(self) -> str: ...

    @property
    def shown(self) -> str: ...

    def wants(self, event: str) -> bool: ...

    def send(self, message: Message, timeout: float) -> None: ...

    def secrets(self) -> list[str]: ...


def _shown(url: str) -> str:
    """How a hook's URL is logged: scheme and host only (the path of a ping or a Slack-style
    webhook URL is its token; userinfo never)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}" + ("/…" if parts.path not in ("", "/") or parts.query else "")


def _url_secrets(url: str) -> list[str]:
    """Parts of ``url`` that must not appear in a logged error: the URL, its path and query
    (a token) and its password."""
    parts = urlsplit(url)
    found = [url, redact_url(url)]
    found += [p for p in (parts.path, parts.query, parts.password or "") if len(p) > 3]
    found += [unquote(p) for p in found]
    return found


class _NoRedirects:
    """Lazily built urllib handler: a 3xx is an error, not followed (it would carry the
    Authorization header to wherever it points)."""

    _handler: Any = None

    @classmethod
    def handler(cls) -> Any:
        if cls._handler is None:
            import urllib.request

            class Handler(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                    return None  # urllib then raises HTTPError for the 3xx

            cls._handler = Handler
        return cls._handler()


def _post(url: str, body: bytes, content_type: str, timeout: float) -> None:
    """POST ``body`` to ``url`` within ``timeout`` seconds per socket operation; userinfo goes
    in an ``Authorization: Basic`` header, not in the request line.

    Raises:
        OSError: (urllib.error.URLError, HTTPError, TimeoutError) the request failed or the
            answer was not 2xx.
    """
    import base64
    import urllib.request

    parts = urlsplit(url)
    headers = {"Content-Type": content_type, "User-Agent": f"backupctl/{_version()}"}
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        url = urlunsplit(parts._replace(netloc=host))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirects.handler())
    with opener.open(request, timeout=timeout) as response:
        response.read(65536)


@dataclass(frozen=True)
class _Ping:
    """A healthchecks.io-style ping URL (``{command}`` replaced by the command's name)."""

    url: str
    exit_codes: bool = False
    kind: str = "ping"

    @property
    def shown(self) -> str:
        return _shown(self.url)

    def wants(self, event: str) -> bool:
        return True  # a start and an end each run: that is what the monitor counts on

    def target(self, message: Message) -> str:
        """The URL of ``message``: ``/start``; on the end ``""`` (success) or ``/fail``, or
        ``/<exit code>`` with ``exit_codes``; with ``rid=<run id>`` added to the query."""
        parts = urlsplit(self.url.format(command=message.command))
        if message.event == "start":
            suffix = "/start"
        elif self.exit_codes:
            suffix = f"/{min(max(message.exit_code or 0, 0), 255)}"
        else:
            suffix = "" if message.event == "success" else "/fail"
        query = urlencode(
            [*parse_qsl(parts.query, keep_blank_values=True), ("rid", message.run_id)]
        )
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix, query=query))

    def send(self, message: Message, timeout: float) -> None:
        body = message.line().encode()
        _post(self.target(message), body, "text/plain; charset=utf-8", timeout)

    def secrets(self) -> list[str]:
        return _url_secrets(self.url)


@dataclass(frozen=True)
class _Webhook:
    """A URL that gets each event's JSON document."""

    url: str
    events: frozenset[str]
    kind: str = "webhook"

    @property
    def shown(self) -> str:
        return _shown(self.url)

    def wants(self, event: str) -> bool:
        return event in self.events

    def send(self, message: Message, timeout: float) -> None:
        import json

        body = json.dumps(message.to_json()).encode()
        _post(self.url, body, "application/json", timeout)

    def secrets(self) -> list[str]:
        return _url_secrets(self.url)


@dataclass(frozen=True)
class _Apprise:
    """Apprise URLs (any service Apprise knows), one notification per event."""

    urls: tuple[str, ...]
    events: frozenset[str]
    target: Any = None  # the apprise.Apprise holding the URLs (built when the job starts)
    kind: str = "apprise"

    @property
    def shown(self) -> str:
        return "apprise: " + ", ".join(u.split("://", 1)[0] + "://…" for u in self.urls)

    def wants(self, event: str) -> bool:
        return event in self.events

    def send(self, message: Message, timeout: float) -> None:
        if self.target is None:
            raise ValueError("an Apprise URL is no longer supported")
        if not self.target.notify(
            body=message.line(), title=message.title(), notify_type=_APPRISE_TYPES[message.event]
        ):
            raise OSError("Apprise: at least one service did not take the notification")

    def secrets(self) -> list[str]:
        return [s for u in self.urls for s in (u, u.split("://", 1)[-1]) if len(s) > 3]


def _describe(exc: BaseException, timeout: float) -> str:
    """A short text for a hook's failure (scrubbed by the caller)."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        followed = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
        return f"HTTP {exc.code} {exc.reason}{followed}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
        if not isinstance(exc, TimeoutError):
            return str(getattr(exc, "reason", exc))
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------- notifier


_current: contextvars.ContextVar[Job | None] = contextvars.ContextVar(
    "backupctl_notify_job", default=None
)


def report(summary: str | None = None, **counts: int | float) -> None:
    """Tell the running job's notifications what it did (its summary line, counts such as
    ``deleted=3``); nothing happens when no job notifies. Called by the commands."""
    job = _current.get()
    if job is not None:
        job.report(summary, **counts)


class Job:
    """One notified run of a command; :meth:`report` adds what the end event says."""

    def __init__(self, base: Message) -> None:
        self._base = base
        self._started = time.monotonic()
        self.summary = ""
        self.counts: dict[str, int | float] = {}

    def report(self, summary: str | None = None, **counts: int | float) -> None:
        """Set the summary line (when given) and add counts."""
        if summary is not None:
            self.summary = _one_line(summary)
        self.counts.update(counts)

    def start(self) -> Message:
        """The ``start`` event."""
        return self._base

    def end(self, exit_code: int, error: BaseException | None) -> Message:
        """The end event for ``exit_code``; the summary is the error's message when the job
        failed (and reported none), else ``"ok"``."""
        summary = self.summary
        if error is not None and exit_code != EXIT_OK:
            text = str(error) or type(error).__name__
            summary = f"{summary}; {_one_line(text)}" if summary else _one_line(text)
        return replace(
            self._base,
            event=event_for(exit_code),
            exit_code=exit_code,
            summary=summary or "ok",
            counts=dict(self.counts),
            time=datetime.now(self._base.time.tzinfo),
            duration_s=time.monotonic() - self._started,
        )


class Notifier:
    """The hooks of a config's ``[notify]`` section; build with :meth:`from_config`."""

    def __init__(
        self,
        hooks: Sequence[_Hook],
        *,
        timeout: float = 5.0,
        commands: Sequence[str] = COMMANDS,
        store: str = "",
        config: str = "",
        zone: tzinfo | None = None,
    ) -> None:
        self._hooks = tuple(hooks)
        self.timeout = timeout
        self.commands = frozenset(commands)
        self._store = store
        self._config = config
        self._zone = zone

    @classmethod
    def from_config(cls, config: Config) -> Notifier:
        """The notifier of ``config.notify`` (no hooks when the section is empty)."""
        n = config.notify
        hooks: list[_Hook] = []
        if n.ping_url:
            hooks.append(_Ping(n.ping_url, exit_codes=n.ping_exit_codes))
        if n.webhook_url:
            hooks.append(_Webhook(n.webhook_url, frozenset(n.webhook_events)))
        if n.apprise_urls:
            urls = tuple(n.apprise_urls)
            hooks.append(_Apprise(urls, frozenset(n.apprise_events), _apprise_object(urls)))
        return cls(
            hooks,
            timeout=n.timeout,
            commands=n.commands,
            store=redact_url(config.store.url),
            config=config.path,
            zone=config.timezone,
        )

    def notifies(self, command: str) -> bool:
        """Whether a run of ``command`` sends anything."""
        return bool(self._hooks) and command in self.commands

    @contextmanager
    def job(self, command: str) -> Iterator[Job]:
        """Send ``start`` now and, when the block ends, the event of its exit code
        (:func:`exit_code_of`, :func:`event_for`); an exception goes on unchanged. Inside the
        block, :func:`report` reaches the yielded job."""
        import socket
        import uuid

        now = datetime.now(self._zone).astimezone(self._zone)
        job = Job(
            Message(
                event="start",
                command=command,
                run_id=str(uuid.uuid4()),
                time=now,
                started=now,
                store=self._store,
                config=self._config,
                host=socket.gethostname(),
                version=_version(),
            )
        )
        token = _current.set(job)
        try:
            self.send(job.start())
            try:
                yield job
            except BaseException as exc:
                self.send(job.end(exit_code_of(exc), exc))
                raise
            self.send(job.end(EXIT_OK, None))
        finally:
            _current.reset(token)

    def send(self, message: Message) -> None:
        """Send ``message`` to every hook that wants its event, all at once, and wait at most
        ``timeout`` seconds; a hook that fails or is still running then is a warning. Never
        raises."""
        try:
            self._send(message)
        except Exception as exc:  # a notification never fails the job
            with contextlib.suppress(Exception):
                log.warning(
                    "notify.error", notification=message.event, error=_redact(_describe(exc, 0))
                )

    def _send(self, message: Message) -> None:
        import threading

        hooks = [h for h in self._hooks if h.wants(message.event)]
        errors: dict[int, BaseException] = {}

        def run(i: int, hook: _Hook) -> None:
            try:
                hook.send(message, self.timeout)
            except BaseException as exc:  # reported by the waiting thread
                errors[i] = exc

        threads = [
            threading.Thread(target=run, args=(i, h), name=f"notify-{h.kind}", daemon=True)
            for i, h in enumerate(hooks)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + self.timeout
        for i, (hook, thread) in enumerate(zip(hooks, threads, strict=True)):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():  # abandoned: a daemon thread, it ends with the process
                error = f"timed out after {self.timeout:g} s"
            elif i in errors:
                error = _describe(errors[i], self.timeout)
            else:
                log.debug("notify.sent", hook=hook.shown, notification=message.event)
                continue
            log.warning(
                "notify.failed",
                hook=hook.shown,
                notification=message.event,
                command=message.command,
                error=redact_text(error, [*hook.secrets(), *env_secrets()]),
                note="the job's exit code is unchanged",
            )
