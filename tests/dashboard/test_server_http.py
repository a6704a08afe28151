"""The deployed dashboard over real HTTP/WebSocket (aiohttp client): login, 401/403/429, headers,
alerts, silences published on edgewatch/silences, health, malformed input, live configuration."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from edgewatch.local.testing import wait_until
from tests.dashboard.conftest import DashboardHandle, metric_doc

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(s: aiohttp.ClientSession, handle: DashboardHandle, password: str | None = None) -> Any:
    async with s.post(handle.url + "/login", data={"password": password or handle.password},
                      headers={"Origin": handle.url}, allow_redirects=False) as response:  # fmt: skip
        return response


def alert_doc(fingerprint: str, status: str, labels: dict[str, str], value: float = 97.0) -> dict[str, Any]:
    return {"schema": "edgewatch.alerts/1", "id": f"n-{fingerprint}-{status}", "receiver": "default",
            "groupKey": "g", "status": status, "thing": "gw-test", "groupLabels": {}, "commonLabels": labels,
            "alerts": [{"fingerprint": fingerprint, "status": status, "labels": labels, "value": value,
                        "annotations": {"summary": "CPU at 97%"}, "startsAt": 1_800_000_000_000,
                        "endsAt": None}], "createdAt": 1_800_000_000_000, "repeat": False}  # fmt: skip


def test_without_login_everything_but_healthz_is_refused_and_failures_are_slowed(
    dashboard_on_runtime: DashboardHandle,
) -> None:
    handle = dashboard_on_runtime

    async def scenario() -> None:
        async with session() as s:
            async with s.get(handle.url + "/healthz") as r:
                assert r.status == 200 and await r.json() == {"status": "ok"}
                assert all(r.headers[k] == v for k, v in SECURITY_HEADERS.items())
            async with s.get(handle.url + "/", allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "/login"
            for path in ("/api/v1/series", "/api/v1/alerts", "/api/v1/silences", "/api/v1/health", "/api/v1/info"):
                async with s.get(handle.url + path) as r:
                    assert r.status == 401 and "error" in await r.json(), path
                    assert r.headers["Cache-Control"] == "no-store"
            upgrade = {"Origin": handle.url, "Connection": "Upgrade", "Upgrade": "websocket",
                       "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
            async with s.get(handle.url + "/ws", headers=upgrade) as r:
                assert r.status == 401
            async with s.get(handle.url + "/metrics") as r:
                assert r.status == 404  # prometheusEnabled is false by default
            async with s.get(handle.url + "/login") as r:
                assert r.status == 200 and "password" in await r.text()
                assert all(r.headers[k] == v for k, v in SECURITY_HEADERS.items())
            # Wrong passwords: refused; after maxLoginFailures (5) the client must wait (429 + Retry-After).
            statuses = []
            for _ in range(7):
                r = await login(s, handle, "wrong")
                statuses.append((r.status, r.headers.get("Location")))
            assert statuses[0] == (303, "/login?error=1")
            assert statuses[-1][0] == 429
            r = await login(s, handle)  # even the right password waits out the delay
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
            assert "edgewatch_session" not in {c.key for c in s.cookie_jar}

    run(scenario())
    # The component's output reaches its log file through the runtime, a moment after the response.
    wait_until(lambda: "failed login from 127.0.0.1" in handle.log(), what="the failed-login line in the log")
    assert "wrong" not in handle.log()


def test_login_cookie_headers_origin_checks_and_static_gzip(dashboard_on_runtime: DashboardHandle) -> None:
    handle = dashboard_on_runtime

    async def scenario() -> None:
        async with session() as s:
            r = await login(s, handle)
            assert r.status == 303 and r.headers["Location"] == "/"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
            assert "Max-Age=43200" in cookie and "Secure" not in cookie  # Secure only under TLS
            async with s.get(handle.url + "/") as r:
                assert r.status == 200 and r.content_type == "text/html"
                assert all(r.headers[k] == v for k, v in SECURITY_HEADERS.items())
                assert r.headers["Cache-Control"] == "no-store"
            async with s.get(handle.url + "/api/v1/info") as r:
                info = await r.json()
                assert info["thing"] == handle.thing and info["component"] == "com.edgewatch.LocalDashboard"
                assert info["ranges"] == ["5m", "15m", "1h", "6h", "24h"]
            async with s.get(handle.url + "/static/app.js", headers={"Accept-Encoding": "gzip"}) as r:
                assert r.status == 200 and r.headers.get("Content-Encoding") == "gzip"
                assert r.headers["Content-Type"].startswith("text/javascript")
            async with s.get(handle.url + "/static/../index.html") as r:
                assert r.status in (400, 404)
            # A WebSocket or a state-changing request from another origin is refused (CSRF).
            for origin in ("http://evil.example", None):
                headers = {"Origin": origin} if origin else {}
                try:
                    async with s.ws_connect(handle.url + "/ws", headers=headers):
                        raise AssertionError("foreign-origin WebSocket accepted")
                except aiohttp.WSServerHandshakeError as err:
                    assert err.status == 403
                body = {"matchers": ["alertname=HighCpu"], "durationSeconds": 600, "author": "a", "comment": "c"}
                async with s.post(handle.url + "/api/v1/silences", json=body, headers=headers) as r:
                    assert r.status == 403
                async with s.delete(handle.url + "/api/v1/silences/x", headers=headers) as r:
                    assert r.status == 403
            async with s.post(handle.url + "/logout", headers={"Origin": handle.url}, allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/login"
            async with s.get(handle.url + "/api/v1/alerts") as r:
                assert r.status == 401

    run(scenario())


def test_alerts_silences_health_and_bad_input(dashboard_on_runtime: DashboardHandle) -> None:
    handle = dashboard_on_runtime
    published = handle.subscribe("edgewatch/silences")
    labels = {"alertname": "HighCpu", "severity": "warning", "thing": "gw-test", "cpu": "total"}
    handle.publish("edgewatch/alerts", alert_doc("fp1", "firing", labels))
    health = {"schema": "edgewatch.health/1", "component": "com.edgewatch.AlertRouter", "thing": "gw-test",
              "ts": 1_800_000_000_000, "intervalSeconds": 30, "status": "degraded", "reasons": ["slack: 401"],
              "counters": {"x": 1}}  # fmt: skip
    handle.publish("edgewatch/health", health)
    handle.publish("edgewatch/metrics", {"schema": "edgewatch.metrics/1", "thing": "gw-test"})  # malformed
    handle.publish_bytes("edgewatch/metrics", b"[" * 2_000_000)  # oversized: refused before parsing

    async def get(s: aiohttp.ClientSession, path: str) -> Any:
        async with s.get(handle.url + path) as r:
            assert r.status == 200, path
            return await r.json()

    async def scenario() -> None:
        async with session() as s:
            await login(s, handle)
            alerts: list[dict[str, Any]] = []
            for _ in range(200):
                alerts = (await get(s, "/api/v1/alerts"))["alerts"]
                if alerts:
                    break
                await asyncio.sleep(0.05)
            (alert,) = alerts
            assert alert["id"] == "fp1" and alert["state"] == "firing" and alert["alertname"] == "HighCpu"
            assert alert["severity"] == "warning" and alert["value"] == 97.0 and alert["silenced"] is False
            (health,) = (await get(s, "/api/v1/health"))["components"]
            assert health["component"] == "com.edgewatch.AlertRouter" and health["status"] == "degraded"
            assert health["reasons"] == ["slack: 401"]
            # A silence from the page: published on edgewatch/silences as edgewatch.silence/1 ...
            body = {"matchers": [{"name": "alertname", "op": "=", "value": "HighCpu"}], "durationSeconds": 600,
                    "author": "ana", "comment": "maintenance"}  # fmt: skip
            async with s.post(handle.url + "/api/v1/silences", json=body, headers={"Origin": handle.url}) as r:
                assert r.status == 201
                silence = await r.json()
            assert silence["state"] == "active" and silence["author"] == "ana"
            async with s.post(handle.url + "/api/v1/silences", json={**body, "durationSeconds": "x"},
                              headers={"Origin": handle.url}) as r:  # fmt: skip
                assert r.status == 400 and (await r.json())["error"].startswith("durationSeconds")
            # ... and the alert it matches now shows as silenced.
            assert (await get(s, "/api/v1/alerts"))["alerts"][0]["silenced"] is True
            async with s.delete(handle.url + f"/api/v1/silences/{silence['id']}", headers={"Origin": handle.url}) as r:
                assert r.status == 200 and await r.json() == {"id": silence["id"], "state": "expired"}
            (listed,) = (await get(s, "/api/v1/silences"))["silences"]
            assert listed["id"] == silence["id"] and listed["state"] == "expired"
            info = await get(s, "/api/v1/info")
            return info["counters"]

    counters = run(scenario())
    wait_until(lambda: len(published) >= 2, what="create and expire on edgewatch/silences")
    create, expire = published[0], published[-1]
    assert create["schema"] == "edgewatch.silence/1" and create["action"] == "create"
    assert create["matchers"] == [{"name": "alertname", "op": "=", "value": "HighCpu"}]
    assert create["endsAt"] - create["startsAt"] == 600_000 and create["author"] == "ana"
    assert expire == {"schema": "edgewatch.silence/1", "action": "expire", "id": create["id"]}
    assert counters["malformed"]["metrics"] == 2
    wait_until(lambda: "malformed metrics message" in handle.log(), what="the malformed-message line in the log")


def test_live_configuration_is_validated_with_path_and_applied(dashboard_on_runtime: DashboardHandle) -> None:
    handle = dashboard_on_runtime
    record = handle.deploy_config({"port": "eighty"})
    assert record.status == "FAILED" and "port: must be a number" in record.reason
    record = handle.deploy_config({"historySeconds": 5})
    assert record.status == "FAILED" and "historySeconds: must be at least 60" in record.reason
    # An accepted change applies without a restart: /metrics turns on.
    record = handle.deploy_config({"prometheusEnabled": True})
    assert record.status == "SUCCEEDED", record.reason
    handle.publish("edgewatch/metrics", metric_doc("cpu.percent", 12.0, {"cpu": "total"}))

    async def scrape() -> str:
        async with session() as s:
            await login(s, handle)
            for _ in range(200):
                async with s.get(handle.url + "/metrics") as r:
                    text = await r.text()
                    if r.status == 200 and "edgewatch_cpu_percent" in text:
                        return text
                await asyncio.sleep(0.05)
        raise AssertionError("the live configuration was not applied")

    assert 'edgewatch_cpu_percent{cpu="total",thing="gw-test"} 12.0' in run(scrape())
    assert handle.log().count("dashboard listening on") == 1  # applied in place, no restart


def test_websocket_range_switch_and_client_limit(dashboard_factory: Any) -> None:
    handle: DashboardHandle = dashboard_factory(config={"maxClients": 1})
    handle.publish("edgewatch/metrics", metric_doc("memory.percent", 40.0, unit="%"))

    async def scenario() -> None:
        async with session() as s:
            await login(s, handle)
            # The sample travels through the runtime to the dashboard's IPC thread: wait until it is in.
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                async with s.get(handle.url + "/api/v1/series?range=5m") as r:
                    if any(x["key"] == "memory.percent" for x in (await r.json())["series"]):
                        break
                assert asyncio.get_running_loop().time() < deadline, "the sample never reached the dashboard"
                await asyncio.sleep(0.05)
            async with s.ws_connect(handle.url + "/ws?range=1h", headers={"Origin": handle.url}) as ws:
                first = await ws.receive_json(timeout=5)
                assert first["type"] == "snapshot" and first["range"] == "1h"
                try:
                    async with s.ws_connect(handle.url + "/ws", headers={"Origin": handle.url}):
                        raise AssertionError("a client beyond maxClients was accepted")
                except aiohttp.WSServerHandshakeError as err:
                    assert err.status == 503
                await ws.send_json({"type": "range", "range": "24h"})
                while True:
                    frame = await ws.receive_json(timeout=5)
                    if frame["type"] == "snapshot":
                        break
                assert frame["range"] == "24h"
                keys = {x["key"] for x in frame["series"]}
                assert "memory.percent" in keys  # the open 1-minute bucket already shows
            async with s.get(handle.url + "/api/v1/series?range=2d") as r:
                assert r.status == 400 and (await r.json())["error"].startswith("range:")

    run(scenario())
