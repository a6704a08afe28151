"""The LocalDashboard deployed on the local runtime as a real component, fed through IPC."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

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
