"""A real local HTTP server that behaves like Slack's incoming webhook and chat.postMessage.

Behaviour is scripted per request: push responses with `script(...)`; once the script is empty every
request succeeds. Kinds: "ok", "429" (Retry-After), "500", "timeout" (answers late), "invalid_auth",
"channel_not_found", "404" (webhook gone). Every request is recorded with its arrival time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_PATH = "/services/T000/B000/XXXXSECRETXXXX"
TOKEN = "xoxb-test-secret-token-1234"


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    answered: str


@dataclass
class FakeSlack:
    retry_after: int = 1
    late_seconds: float = 3.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()  # set at stop so "late" answers do not hold the server
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    from urllib.parse import parse_qsl

                    body: dict[str, Any] = dict(parse_qsl(raw))
                    if "blocks" in body:
                        body["blocks"] = json.loads(body["blocks"])
                else:
                    body = json.loads(raw or "{}")
                kind = fake._next()
                fake.received.append(Received(self.path, body, dict(self.headers), time.monotonic(), kind))
                fake._answer(self, kind)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *kinds: str) -> None:
        with self._lock:
            self._script.extend(kinds)

    def _next(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else "ok"

    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.answered == "ok"]

    def _answer(self, h: BaseHTTPRequestHandler, kind: str) -> None:
        api = h.path.startswith("/api/")
        if api and h.path != "/api/chat.postMessage":
            return self._send(h, 404, "text/plain", "unknown method")
        if api and h.headers.get("Authorization") != f"Bearer {TOKEN}" and kind == "ok":
            kind = "invalid_auth"
        if not api and h.path != WEBHOOK_PATH and kind == "ok":
            kind = "404"
        if kind == "timeout":
            self._release.wait(self.late_seconds)
            kind = "ok"
        if kind == "ok":
            if api:
                return self._send(h, 200, "application/json", json.dumps({"ok": True, "channel": "C1", "ts": "1.2"}))
            return self._send(h, 200, "text/html", "ok")
        if kind == "429":
            if api:
                return self._send(h, 429, "application/json", json.dumps({"ok": False, "error": "ratelimited"}),
                                  {"Retry-After": str(self.retry_after)})  # fmt: skip
            return self._send(h, 429, "text/plain", "rate_limited", {"Retry-After": str(self.retry_after)})
        if kind == "500":
            return self._send(h, 500, "text/html", "<html>server error</html>")
        if kind in ("invalid_auth", "channel_not_found"):
            if api:
                return self._send(h, 200, "application/json", json.dumps({"ok": False, "error": kind}))
            return self._send(h, 403 if kind == "invalid_auth" else 404, "text/plain", kind)
        if kind == "404":
            return self._send(h, 404, "text/plain", "no_service")
        raise AssertionError(f"unknown scripted kind {kind}")

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, ctype: str, body: str, headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout test)
            h.wfile.write(data)
