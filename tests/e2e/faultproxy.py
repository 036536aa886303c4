"""A small threaded HTTP proxy that injects S3 faults in front of a (moto) S3 server.

Faults, chosen per request with a seeded RNG (``FaultProxy.configure(seed, rate)``):

* ``500``: an InternalError answer, the request never reaches the server;
* ``503``: a SlowDown answer, the request never reaches the server;
* ``reset_before``: the connection is reset before forwarding (nothing happened upstream);
* ``reset_after``: the request is forwarded and applied, then the connection is reset
  (the client does not know it succeeded: the nastiest case for idempotence);
* ``partial``: DeleteObjects is forwarded, then the answer claims some keys failed
  (``<Deleted>`` entries turned into ``<Error>``, or errors added in Quiet mode).

Besides the random faults, ``ignore_if_none_match = True`` makes the proxy behave like a
service (or proxy) that does not honour conditional writes: it strips ``If-None-Match``
from every request, so a conditional PUT over an existing key succeeds and overwrites it.

Only loopback; every socket has a timeout; ``stop()`` shuts the server down.
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("500", "503", "reset_before", "reset_after", "partial")
_KEY_RE = re.compile(rb"<Key>(.*?)</Key>", re.S)
_DELETED_RE = re.compile(rb"<Deleted>\s*<Key>(.*?)</Key>.*?</Deleted>", re.S)
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


def _s3_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>faultproxy</RequestId></Error>"
    ).encode()


class _QuietServer(ThreadingHTTPServer):
    """Clients that vanish (killed, reset) are part of the game: no tracebacks for them."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FaultProxy:
    """Forwards to ``upstream`` (``http://127.0.0.1:PORT``); ``url`` is the proxy's address."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rng = random.Random(0)
        self._rng_lock = threading.Lock()
        self.rate = 0.0
        self.latency = 0.0  # seconds added to every forwarded request
        self.faults: tuple[str, ...] = FAULTS
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.ignore_if_none_match = False  # strip If-None-Match: conditional PUTs overwrite
        self.stripped = 0  # requests whose If-None-Match was dropped
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faultproxy", daemon=True
        )

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def configure(
        self, seed: int, rate: float, faults: tuple[str, ...] = FAULTS, latency: float = 0.0
    ) -> None:
        """Reset the RNG: with probability ``rate`` a request gets one of ``faults``; every
        forwarded request is delayed by ``latency`` seconds."""
        with self._rng_lock:
            self._rng = random.Random(seed)
            self.rate = rate
            self.faults = faults
            self.latency = latency

    def choose(self, is_delete_objects: bool) -> str | None:
        """The fault for the next request, or None."""
        with self._rng_lock:
            self.requests += 1
            if self._rng.random() >= self.rate:
                return None
            options = [f for f in self.faults if f != "partial" or is_delete_objects]
            if not options:
                return None
            fault = self._rng.choice(options)
            self.injected[fault] += 1
            return fault

    def pick_keys(self, keys: list[bytes]) -> list[bytes]:
        """A non-empty random subset of ``keys`` to report as failed."""
        with self._rng_lock:
            n = self._rng.randint(1, max(1, len(keys) // 2))
            return self._rng.sample(keys, min(n, len(keys)))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reset(self) -> None:
                sock = self.connection
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                self.close_connection = True

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response_only(status)
                for name, value in headers:
                    if name.lower() not in _HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    if proxy.ignore_if_none_match:
                        kept = {k: v for k, v in headers.items() if k.lower() != "if-none-match"}
                        if len(kept) != len(headers):
                            with proxy._rng_lock:
                                proxy.stripped += 1
                        headers = kept
                    if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                        headers["Content-Length"] = str(len(body))
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    return resp.status, resp.getheaders(), resp.read()
                finally:
                    conn.close()

            def _handle(self) -> None:
                body = self._body()
                is_delete_objects = self.command == "POST" and "delete" in self.path.split("?", 1)[
                    -1
                ].split("&")
                fault = proxy.choose(is_delete_objects)
                if fault == "reset_before":
                    return self._reset()
                if fault in ("500", "503"):
                    code, msg = (
                        ("InternalError", "injected")
                        if fault == "500"
                        else ("SlowDown", "Please reduce")
                    )
                    return self._reply(
                        int(fault), [("Content-Type", "application/xml")], _s3_error(code, msg)
                    )
                if proxy.latency:
                    time.sleep(proxy.latency)
                status, headers, payload = self._forward(body)
                if fault == "reset_after":
                    return self._reset()
                if fault == "partial" and status == 200:
                    payload = self._partial(body, payload)
                self._reply(status, headers, payload)

            def _partial(self, request: bytes, payload: bytes) -> bytes:
                deleted = _DELETED_RE.findall(payload)
                keys = deleted or _KEY_RE.findall(request)
                if not keys:
                    return payload
                failed = set(proxy.pick_keys(keys))
                errors = b"".join(
                    b"<Error><Key>" + k + b"</Key><Code>InternalError</Code>"
                    b"<Message>injected partial failure</Message></Error>"
                    for k in failed
                )
                payload = _DELETED_RE.sub(
                    lambda m: b"" if m.group(1) in failed else m.group(0), payload
                )
                return payload.replace(b"</DeleteResult>", errors + b"</DeleteResult>")

            def do_GET(self) -> None:
                self._handle()

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

        return Handler
