"""The aiohttp adapter: HTTP routes, login, WebSocket pushes. The decisions live in the pure modules
(auth, push, state, books); this file only maps them onto requests and sockets. See PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from edgewatch_shared import silence_message
from local_dashboard import prometheus
from local_dashboard.auth import LoginLimiter, Sessions, password_matches
from local_dashboard.books import InputError, silence_request
from local_dashboard.config import RANGES, DashboardConfig
from local_dashboard.push import ClientFeed
from local_dashboard.state import DashboardState

logger = logging.getLogger(__name__)

# One push cycle: its time (ms) and the frames made in it, by client position (see ClientFeed.plan).
PushCycle = tuple[int, dict[Any, str | None]]

COMPONENT = "com.edgewatch.LocalDashboard"
VERSION = "0.1.0"
COOKIE = "edgewatch_session"
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
MAX_BODY_BYTES = 64 * 1024
MAX_WS_MESSAGE_BYTES = 4096
SEND_TIMEOUT_S = 30.0
# A frame may go out this much before a full push interval has passed: samples that arrive exactly once
# per interval would otherwise each wait for the last frame's timing jitter, adding latency for nothing.
PUSH_TOLERANCE = 0.1
_STATIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                  ".ico": "image/x-icon", ".json": "application/json"}  # fmt: skip
PLACEHOLDER = {
    "index.html": "<!doctype html><title>EdgeWatch</title><p>The dashboard assets are not built "
                  "(components/local-dashboard/web/build_assets.py).</p>",
    "fleet.html": "<!doctype html><title>EdgeWatch fleet</title><p>The dashboard assets are not built "
                  "(components/local-dashboard/web/build_assets.py).</p>",
    "login.html": "<!doctype html><title>EdgeWatch login</title><form method=post action=/login>"
                  "<input type=password name=password autofocus><button>Log in</button></form>",
}  # fmt: skip

PublishSilence = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(eq=False)  # identity-hashed: clients live in a set
class _Client:
    ws: web.WebSocketResponse
    feed: ClientFeed
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    next_allowed: float = 0.0
    sending: bool = False


class DashboardServer:
    def __init__(self, state: DashboardState, config: DashboardConfig, *, publish_silence: PublishSilence,
                 static_dir: Path, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.state = state
        self.config = config
        self.static_dir = static_dir
        self.password: str | None = None
        self.prometheus_token: str | None = None
        self._publish_silence = publish_silence
        self._clock = clock
        self._monotonic = monotonic
        self.sessions = Sessions(config.session_ttl, monotonic)
        self.limiter = LoginLimiter(monotonic, free_failures=config.max_login_failures)
        self.clients: set[_Client] = set()
        self._closed_dropped = 0
        self._closed_resyncs = 0
        self._poke = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.app = self._make_app()

    # -- wiring
    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/", self.index)
        app.router.add_get("/fleet", self.fleet_page)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/v1/series", self.api_series)
        app.router.add_get("/api/v1/alerts", self.api_alerts)
        app.router.add_get("/api/v1/silences", self.api_silences)
        app.router.add_post("/api/v1/silences", self.api_create_silence)
        app.router.add_delete("/api/v1/silences/{id}", self.api_expire_silence)
        app.router.add_get("/api/v1/health", self.api_health)
        app.router.add_get("/api/v1/info", self.api_info)
        app.router.add_get("/api/v1/fleet", self.api_fleet)
        app.router.add_get("/api/v1/fleet/{thing}", self.api_fleet_device)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/ws", self.websocket)
        app.on_startup.append(self._start_flusher)
        app.on_shutdown.append(self._close_clients)
        return app

    def reconfigure(self, config: DashboardConfig) -> None:
        self.config = config
        self.sessions.ttl_s = config.session_ttl
        self.limiter.free_failures = config.max_login_failures
        for client in self.clients:
            client.feed.limit_bytes = config.client_queue_bytes

    def set_password(self, password: str | None) -> None:
        if self.password is not None and password != self.password:
            self.sessions.drop_all()  # a rotated password ends every session
        self.password = password

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def changed(self) -> None:
        """New data arrived: let the flusher push it (coalesced per client)."""
        self._poke.set()

    # -- middleware and helpers
    @web.middleware
    async def _headers(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:  # fmt: skip
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        if not request.path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"
        if self.config.tls:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if isinstance(response, web.HTTPException):
            raise response
        return response

    def _logged_in(self, request: web.Request) -> bool:
        return self.sessions.valid(request.cookies.get(COOKIE))

    def _own_origin(self, request: web.Request) -> str:
        return f"{'https' if self.config.tls else 'http'}://{request.host}"

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is not None and (origin == self._own_origin(request) or origin in self.config.allowed_origins)

    def _guard(self, request: web.Request, *, state_changing: bool = False) -> web.Response | None:
        """401 without a session; 403 for a state-changing request from another origin (CSRF)."""
        if not self._logged_in(request):
            return _error(401, "login required")
        if state_changing and not self._origin_ok(request):
            return _error(403, "cross-origin request refused")
        return None

    def _page(self, name: str) -> web.Response:
        path = self.static_dir / name
        body = path.read_bytes() if path.is_file() else PLACEHOLDER[name].encode()
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    # -- pages
    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def login_page(self, request: web.Request) -> web.Response:
        return self._page("login.html")

    async def index(self, request: web.Request) -> web.StreamResponse:
        if not self._logged_in(request):
            raise web.HTTPFound("/login")
        return self._page("index.html")

    async def fleet_page(self, request: web.Request) -> web.StreamResponse:
        if not self._logged_in(request):
            raise web.HTTPFound("/login")
        return self._page("fleet.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self.static_dir / name
        if not _STATIC_NAME.match(name) or name.endswith(".gz") or not path.is_file():
            return _error(404, "not found")
        content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        gz = path.with_name(name + ".gz")
        headers = {"Content-Type": content_type, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", "") and gz.is_file():
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=gz.read_bytes(), headers=headers)
        return web.Response(body=path.read_bytes(), headers=headers)

    async def login(self, request: web.Request) -> web.StreamResponse:
        client = request.remote or "?"
        wait = self.limiter.retry_after(client)
        if wait > 0:
            return _error(429, "too many failed logins; try again later",
                          {"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip
        if not self._origin_ok(request):
            return _error(403, "cross-origin request refused")
        try:
            form = await request.post()
        except Exception:
            return _error(400, "password: expected a form field")
        given = form.get("password")
        if self.password is None:
            return _error(503, "the password is not available yet (see the component log)")
        if not isinstance(given, str) or not password_matches(self.password, given):
            delay = self.limiter.failed(client)
            logger.warning("failed login from %s%s", client, f"; next attempt allowed in {delay:g} s" if delay else "")
            raise web.HTTPSeeOther("/login?error=1")
        self.limiter.succeeded(client)
        token = self.sessions.create()
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, token, max_age=int(self.config.session_ttl), path="/", httponly=True,
                            samesite="Strict", secure=self.config.tls)  # fmt: skip
        logger.info("login from %s", client)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_ok(request):
            return _error(403, "cross-origin request refused")
        self.sessions.drop(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # -- API
    async def api_series(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        range_name = request.query.get("range", "5m")
        if range_name not in RANGES:
            return _error(400, f"range: must be one of {', '.join(RANGES)}")
        now = self.now_ms()
        return web.json_response({"range": range_name, "series": self.state.store.snapshot(RANGES[range_name], now)})

    async def api_alerts(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return web.json_response({"alerts": self.state.alert_list(self.now_ms())})

    async def api_silences(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return web.json_response({"silences": self.state.silences.to_list(self.now_ms())})

    async def api_health(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return web.json_response({"components": self.state.health.to_list(self._clock())})

    async def api_info(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        counters = {**self.state.counters(), **self.client_counters()}
        return web.json_response({"thing": self.state.thing, "component": COMPONENT, "version": VERSION,
                                  "ranges": list(RANGES), "counters": counters})  # fmt: skip

    async def api_fleet(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return web.json_response(self.state.fleet_list(self.now_ms()))

    async def api_fleet_device(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        thing = request.match_info["thing"]
        device = self.state.fleet.device(thing, self.now_ms())
        if device is None:
            return _error(404, f"thing: no device {thing[:128]!r} in the fleet view")
        return web.json_response(device)

    def client_counters(self) -> dict[str, int]:
        feeds = [c.feed for c in self.clients]
        return {"wsClients": len(feeds), "wsDroppedFrames": self._closed_dropped + sum(f.dropped_frames for f in feeds),
                "wsResyncs": self._closed_resyncs + sum(f.resyncs for f in feeds)}

    async def api_create_silence(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, state_changing=True)) is not None:
            return denied
        try:
            body = await request.json()
        except Exception:
            return _error(400, "body: must be JSON")
        now = self.now_ms()
        try:
            doc = silence_request(body, now, str(uuid.uuid4()))
        except InputError as err:
            return _error(400, str(err))
        if (failed := await self._publish(doc)) is not None:
            return failed
        silence = self.state.silences.apply(doc, now)
        assert silence is not None
        logger.info("silence %s created by %s for %d s", silence.id, silence.author, (silence.ends_at - now) // 1000)
        self.changed()
        return web.json_response(silence.to_dict(now), status=201)

    async def api_expire_silence(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, state_changing=True)) is not None:
            return denied
        silence_id = request.match_info["id"]
        if self.state.silences.get(silence_id) is None:
            return _error(404, f"id: no silence {silence_id[:100]!r}")
        doc = silence_message.expire(silence_id)
        if (failed := await self._publish(doc)) is not None:
            return failed
        self.state.silences.apply(doc, self.now_ms())
        logger.info("silence %s expired from the dashboard", silence_id)
        self.changed()
        return web.json_response({"id": silence_id, "state": "expired"})

    async def _publish(self, doc: dict[str, Any]) -> web.Response | None:
        try:
            await self._publish_silence(doc)
        except Exception as err:
            logger.error("could not publish the silence command on %s: %s", self.config.silences_topic, err)
            return _error(503, f"could not publish on {self.config.silences_topic}: {type(err).__name__}")
        return None

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.config.prometheus_enabled:
            return _error(404, "not found (prometheusEnabled is false)")
        auth = request.headers.get("Authorization", "")
        token_ok = bool(self.prometheus_token) and password_matches(f"Bearer {self.prometheus_token}", auth)
        if not token_ok and not self._logged_in(request):
            return _error(401, "bearer token or login required")
        text = prometheus.render(self.state.store.latest(), self.state.thing)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})  # fmt: skip

    # -- WebSocket
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._logged_in(request):
            return _error(401, "login required")
        if not self._origin_ok(request):
            return _error(403, "WebSocket from another origin refused")
        if len(self.clients) >= self.config.max_clients:
            return _error(503, f"too many clients (maxClients {self.config.max_clients})")
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_WS_MESSAGE_BYTES)
        await ws.prepare(request)
        client = _Client(ws, ClientFeed(self.config.client_queue_bytes, request.query.get("range", "5m")))
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        self._offer(client, self._monotonic(), force=True)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                self._on_client_message(client, message.data)
        finally:
            self.clients.discard(client)
            self._closed_dropped += client.feed.dropped_frames
            self._closed_resyncs += client.feed.resyncs
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    def _on_client_message(self, client: _Client, data: str) -> None:
        try:
            doc = json.loads(data)
        except ValueError:
            return
        if isinstance(doc, dict) and doc.get("type") == "range" and client.feed.set_range(str(doc.get("range"))):
            self._offer(client, self._monotonic(), force=True)

    def _offer(
        self, client: _Client, now: float, *, force: bool = False, cycle: PushCycle | None = None
    ) -> bool:
        """Plan and queue this client's next frame if its push interval allows; True when it was due.
        `cycle`: this push cycle's time and the frames made in it, shared between clients."""
        if not force and now < client.next_allowed:
            return False
        now_ms, shared = cycle if cycle is not None else (self.now_ms(), None)
        text = client.feed.plan(self.state, now_ms, sending=client.sending, shared=shared)
        if text is not None:
            client.feed.enqueue(text)
            client.next_allowed = now + self.config.push_interval * (1 - PUSH_TOLERANCE)
            client.wake.set()
        return True

    async def _send_loop(self, client: _Client) -> None:
        while not client.ws.closed:
            text = client.feed.take()
            if text is None:
                client.wake.clear()
                await client.wake.wait()
                continue
            client.sending = True
            try:
                await asyncio.wait_for(client.ws.send_str(text), SEND_TIMEOUT_S)
            except (TimeoutError, ConnectionError, RuntimeError) as err:
                logger.info("closing a WebSocket client that does not read: %s", type(err).__name__)
                await client.ws.close()
                return
            finally:
                client.sending = False

    async def _start_flusher(self, app: web.Application) -> None:
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.config.push_interval)
            self._poke.clear()
            now = self._monotonic()
            try:
                now_ms = self.now_ms()
                self.state.tick(now_ms)
                cycle: PushCycle = (now_ms, {})
                waiting = [c for c in list(self.clients) if not self._offer(c, now, cycle=cycle)]
            except Exception:  # a bug must not end every client's pushes for the life of the process
                logger.exception("push cycle failed; clients will be resynchronised")
                for client in self.clients:
                    client.feed.need_snapshot = True
                continue
            if waiting:
                # Some clients got a frame less than an interval ago: come back when the first may have another.
                delay = min(c.next_allowed for c in waiting) - now
                await asyncio.sleep(max(0.0, delay))
                self._poke.set()

    async def _close_clients(self, app: web.Application) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for client in list(self.clients):
            await client.ws.close()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)
