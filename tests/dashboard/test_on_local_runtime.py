"""The LocalDashboard deployed on the local runtime as a real component, fed through IPC."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from typing import Any

import aiohttp
import psutil

from edgewatch.local.testing import wait_until
from tests.dashboard.conftest import DashboardHandle, metric_doc


async def _login(session: aiohttp.ClientSession, handle: DashboardHandle) -> None:
    async with session.post(handle.url + "/login", data={"password": handle.password},
                            headers={"Origin": handle.url}, allow_redirects=False) as response:  # fmt: skip
        assert response.status == 303 and response.headers["Location"] == "/"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_metric_published_on_ipc_reaches_api_and_websocket(dashboard_on_runtime: DashboardHandle) -> None:
    handle = dashboard_on_runtime

    async def scenario() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            await _login(session, handle)
            async with session.ws_connect(handle.url + "/ws", headers={"Origin": handle.url}) as ws:
                snapshot = await ws.receive_json(timeout=5)
                assert snapshot["type"] == "snapshot" and snapshot["thing"] == handle.thing
                loop = asyncio.get_running_loop()
                started = loop.time()
                await loop.run_in_executor(None, handle.publish, "edgewatch/metrics",
                                           metric_doc("cpu.percent", 42.5, {"cpu": "total"}))  # fmt: skip
                while True:
                    frame = await ws.receive_json(timeout=2)
                    keys = [s["key"] for s in frame.get("series", [])]
                    if "cpu.percent{cpu=total}" in keys:
                        break
                assert loop.time() - started < 2.0
                series = next(s for s in frame["series"] if s["key"] == "cpu.percent{cpu=total}")
                assert series["points"][-1][1] == 42.5 and series["labels"] == {"cpu": "total"}
            async with session.get(handle.url + "/api/v1/series?range=5m") as response:
                body = await response.json()
            assert any(s["key"] == "cpu.percent{cpu=total}" and s["points"][-1][1] == 42.5 for s in body["series"])

    run(scenario())
    wait_until(lambda: "dashboard listening on http://127.0.0.1" in handle.log(), what="the listening line")
    assert handle.password not in handle.log()


CONTROL = "gw-control"


def _firing(alerts: list[Any], thing: str) -> list[Any]:
    return [n for n in alerts if n.get("status") == "firing" and any(
        a["labels"].get("alertname") == "HighCpu" and a["labels"].get("thing") == thing for a in n["alerts"])]


def _publish_cpu_until(handle: DashboardHandle, alerts: list[Any], thing: str, timeout: float = 20.0) -> list[Any]:
    """Publish cpu.percent=97 for `thing` and the control thing every 0.2 s until `thing` fires (or time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in {thing, CONTROL}:
            handle.publish("edgewatch/metrics", metric_doc("cpu.percent", 97.0, {"cpu": "total"}, thing=name))
        if firing := _firing(alerts, thing):
            return firing
        time.sleep(0.2)  # the sample interval of this scripted feed, not a wait for a result
    return []


def test_silence_from_the_dashboard_mutes_the_real_router_and_expiry_unmutes(
    dashboard_with_router: DashboardHandle,
) -> None:
    handle = dashboard_with_router
    alerts = handle.subscribe("edgewatch/alerts")
    router_log = lambda: handle.component_log("com.edgewatch.AlertRouter")  # noqa: E731
    body = {"matchers": [{"name": "alertname", "op": "=", "value": "HighCpu"},
                         {"name": "thing", "op": "=", "value": handle.thing}],
            "durationSeconds": 3600, "author": "ana", "comment": "maintenance"}  # fmt: skip

    async def post(method: str, path: str, json_body: Any = None) -> Any:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            await _login(session, handle)
            async with session.request(method, handle.url + path, json=json_body, headers={"Origin": handle.url}) as r:
                assert r.status in (200, 201), await r.text()
                return await r.json()

    silence = run(post("POST", "/api/v1/silences", body))
    wait_until(lambda: "silence command applied" in router_log(), timeout=10, what="the router applying the silence")
    # The control thing (not silenced) fires: the router has evaluated both, and announced only the control.
    assert _publish_cpu_until(handle, alerts, CONTROL)
    assert _firing(alerts, handle.thing) == []
    run(post("DELETE", f"/api/v1/silences/{silence['id']}"))
    wait_until(lambda: router_log().count("silence command applied") >= 2, timeout=10, what="the expire")
    assert _publish_cpu_until(handle, alerts, handle.thing), "HighCpu was not announced after the silence expired"

    async def dashboard_alerts() -> list[Any]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            await _login(session, handle)
            async with session.get(handle.url + "/api/v1/alerts") as r:
                return list((await r.json())["alerts"])

    shown = wait_until(lambda: [a for a in run(dashboard_alerts())
                                if a["alertname"] == "HighCpu" and a["labels"]["thing"] == handle.thing],
                       what="the alert in the dashboard")  # fmt: skip
    assert shown[0]["state"] == "firing" and shown[0]["silenced"] is False


def _raw_websocket(handle: DashboardHandle, cookie: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", handle.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{handle.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Origin: {handle.url}\r\nCookie: edgewatch_session={cookie}\r\n\r\n").encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _dashboard_rss(handle: DashboardHandle) -> int:
    for proc in psutil.Process().children(recursive=True):
        try:
            if "local_dashboard" in " ".join(proc.cmdline()):
                return int(proc.memory_info().rss)
        except psutil.Error:
            continue
    raise AssertionError("dashboard process not found")


def test_a_websocket_client_that_does_not_read_does_not_grow_server_memory(
    dashboard_factory: Any,
) -> None:
    handle = dashboard_factory(config={"pushIntervalSeconds": 0.05, "clientQueueBytes": 65536})

    async def login_cookie() -> str:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            await _login(session, handle)
            return next(c.value for c in session.cookie_jar if c.key == "edgewatch_session")

    cookie = run(login_cookie())
    # 200 alerts with 1,000-character summaries: every change re-sends ~250 KB to each client.
    labels = {"alertname": "Big", "severity": "warning"}
    doc = {"schema": "edgewatch.alerts/1", "id": "n", "receiver": "default", "groupKey": "g", "status": "firing",
           "thing": handle.thing, "groupLabels": {}, "commonLabels": {}, "createdAt": 0, "repeat": False,
           "alerts": [{"fingerprint": f"fp{i}", "status": "firing", "labels": {**labels, "i": str(i)},
                       "value": 1.0, "annotations": {"summary": "s" * 1000}, "startsAt": 1, "endsAt": None}
                      for i in range(200)]}  # fmt: skip
    handle.publish("edgewatch/alerts", doc)
    slow = _raw_websocket(handle, cookie)
    try:
        baseline = _dashboard_rss(handle)
        sent = 0
        for i in range(120):  # ~30 MB of frames that a non-reading client would otherwise pile up
            doc["alerts"][0]["value"] = float(i)
            handle.publish("edgewatch/alerts", doc)
            sent += 1
            time.sleep(0.05)  # paces the scripted feed at the push interval
        counters = wait_until(lambda: (c := run(_info(handle, cookie)))["wsDroppedFrames"] > 0 and c,
                              what="frames dropped for the slow client")  # fmt: skip
        growth = _dashboard_rss(handle) - baseline
    finally:
        slow.close()
    assert counters["wsResyncs"] > 0
    assert growth < 40 * 1024 * 1024, f"RSS grew {growth / 2**20:.1f} MiB with a client that does not read"
    print(f"slow client: {sent} x 250 KB changes, RSS growth {growth / 2**20:.1f} MiB, counters {counters}")


async def _info(handle: DashboardHandle, cookie: str) -> Any:
    async with aiohttp.ClientSession(cookies={"edgewatch_session": cookie}) as session, \
            session.get(handle.url + "/api/v1/info") as r:
        return (await r.json())["counters"]


def test_silences_survive_a_restart_of_the_component(dashboard_on_runtime: DashboardHandle) -> None:
    handle = dashboard_on_runtime
    body = {"matchers": ["alertname=DiskFull"], "durationSeconds": 600, "author": "ana", "comment": "swap disk"}

    async def create_then_list(create: bool) -> list[Any]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            await _login(session, handle)
            if create:
                async with session.post(handle.url + "/api/v1/silences", json=body,
                                        headers={"Origin": handle.url}) as r:  # fmt: skip
                    assert r.status == 201
            async with session.get(handle.url + "/api/v1/silences") as r:
                return list((await r.json())["silences"])

    (created,) = run(create_then_list(True))
    stored = handle.root / "work" / "com.edgewatch.LocalDashboard" / "dashboard-silences.json"
    wait_until(stored.exists, what="the silence file")
    handle.runtime.run(handle.runtime.runtime.restart_component("com.edgewatch.LocalDashboard"))
    wait_until(lambda: handle.log().count("dashboard listening on") == 2, timeout=20, what="the restart")
    (restored,) = run(create_then_list(False))
    assert restored == created
