"""EdgeWatch (collector + dashboard) next to the Netdata agent, both at 1 s, one browser client each.

    bash bench/install-peers.sh                      # Debian: netdata (and the collector's peers)
    .venv/bin/python bench/dashboard_vs_netdata.py [--seconds 120] [--client browser|poll]

In one run, for the same wall-clock period:
- EdgeWatch: `python -m metrics_collector` (sampleIntervalSeconds 1) and `python -m local_dashboard`
  on the local IPC runtime (a subprocess standing in for the nucleus; not counted, as Netdata has
  none), the collector publishing every sample to the dashboard;
- Netdata: `netdata -D -W set global "update every" 1` with Debian's default configuration and
  plugins, every one of its processes counted (the daemon and the plugins it spawns).
One client is connected to each for the whole period: by default a headless Debian Chromium page
(Playwright) showing each dashboard (the browser itself is not counted); `--client poll` uses a
poller instead (EdgeWatch: one WebSocket; Netdata: /api/v1/data of 8 system charts once a second,
about what its page asks for on the overview). Prints CPU seconds per hour and the sum of RSS of
each side's processes (sampled every second; the mean and the maximum), and the sum of PSS (shared
pages such as libpython or libssl split between the processes that map them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from measure import free_port

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "components" / "local-dashboard" / "web"), str(REPO / "src")]

from edgewatch.local.testing import ComponentSpec, SubprocessIpcRuntime  # noqa: E402
from edgewatch.recipe import load_recipe  # noqa: E402

COLLECTOR = "com.edgewatch.MetricsCollector"
DASHBOARD = "com.edgewatch.LocalDashboard"
NETDATA_URL = "http://127.0.0.1:19999"
NETDATA_CHARTS = ("system.cpu", "system.load", "system.ram", "system.io", "system.net", "system.processes",
                  "system.uptime", "disk_space._")  # fmt: skip
CHROMIUM = "/usr/bin/chromium"




def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class Meter:
    """CPU (live processes plus children already reaped) and summed RSS of process trees, once a second."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.rss: list[int] = []
        self.pss: list[int] = []
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu_total(self) -> float:
        for root in self.roots:
            for proc in tree(root):
                with contextlib.suppress(psutil.Error):
                    t = proc.cpu_times()
                    self._cpu[proc.pid] = t.user + t.system + t.children_user + t.children_system
        # A process that exited keeps its last reading: its CPU was spent within the period.
        return sum(self._cpu.values())

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.cpu_total()
            total = pss = 0
            for root in self.roots:
                for proc in tree(root):
                    with contextlib.suppress(psutil.Error):
                        info = proc.memory_full_info()  # PSS splits shared pages (libpython, libssl) fairly
                        total += info.rss
                        pss += info.pss
            self.rss.append(total)
            self.pss.append(pss)

    def start(self) -> float:
        self._thread.start()
        return self.cpu_total()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self.cpu_total()


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).read()
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def browser_clients(dashboard_url: str, password: str, seconds: float, started: threading.Event) -> str:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="ew-bench-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=args)
        try:
            ours = context.new_page()
            ours.goto(dashboard_url + "/login")
            ours.fill("input[name=password]", password)
            ours.press("input[name=password]", "Enter")
            ours.wait_for_url(dashboard_url + "/")
            theirs = context.new_page()
            theirs.goto(NETDATA_URL + "/")
            started.set()
            ours.wait_for_timeout(seconds * 1000)
        finally:
            context.close()
    return "one headless Chromium page on each dashboard"


def poll_clients(dashboard_url: str, password: str, seconds: float, started: threading.Event) -> str:
    import aiohttp

    async def ours() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.post(dashboard_url + "/login", data={"password": password},
                                    headers={"Origin": dashboard_url}, allow_redirects=False):  # fmt: skip
                pass
            async with session.ws_connect(dashboard_url + "/ws", headers={"Origin": dashboard_url}) as ws:
                started.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(_drain(ws), seconds)

    def theirs() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for chart in NETDATA_CHARTS:
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"{NETDATA_URL}/api/v1/data?chart={chart}&after=-60&format=json",
                                           timeout=2).read()  # fmt: skip
            time.sleep(1.0)

    poller = threading.Thread(target=theirs, daemon=True)
    poller.start()
    asyncio.run(ours())
    poller.join(5)
    return "a WebSocket client on the dashboard; an HTTP poller of 8 charts/s on Netdata"


async def _drain(ws: Any) -> None:
    async for _ in ws:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--client", choices=("browser", "poll"), default="browser")
    args = parser.parse_args()
    netdata_bin = shutil.which("netdata") or ("/usr/sbin/netdata" if os.path.exists("/usr/sbin/netdata") else None)
    if args.client == "browser" and not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is absent: using --client poll")
        args.client = "poll"
    collector_cfg = dict(load_recipe(REPO / "recipes" / f"{COLLECTOR}.yaml").default_configuration)
    collector_cfg["sampleIntervalSeconds"] = 1
    dash_cfg = dict(load_recipe(REPO / "recipes" / f"{DASHBOARD}.yaml").default_configuration)
    port = free_port()
    dash_cfg["port"] = port
    with tempfile.TemporaryDirectory(prefix="ew-vs-netdata-") as tmp:
        base = Path(tmp)
        from build_assets import build_assets  # type: ignore[import-not-found]

        build_assets(base / "static")
        components = {COLLECTOR: ComponentSpec(collector_cfg["accessControl"], collector_cfg),
                      DASHBOARD: ComponentSpec(dash_cfg["accessControl"], dash_cfg)}  # fmt: skip
        processes: dict[str, subprocess.Popen[bytes]] = {}
        with SubprocessIpcRuntime(base / "root", components, thing_name="bench") as runtime:
            for name, module, src in ((COLLECTOR, "metrics_collector", "metrics-collector"),
                                      (DASHBOARD, "local_dashboard", "local-dashboard")):  # fmt: skip
                work = base / module
                work.mkdir()
                env = dict(os.environ, SVCUID=runtime.svcuid(name), AWS_IOT_THING_NAME="bench",
                           AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=runtime.socket_path,
                           EDGEWATCH_WORK_PATH=str(work), EDGEWATCH_LOG_LEVEL="WARNING",
                           EDGEWATCH_DASHBOARD_STATIC=str(base / "static"),
                           PYTHONPATH=f"{REPO / 'components' / src / 'src'}:{REPO / 'src'}")  # fmt: skip
                processes[name] = subprocess.Popen([sys.executable, "-m", module], env=env, cwd=work,
                                                   stdout=subprocess.DEVNULL)  # fmt: skip
            if netdata_bin:
                command = [netdata_bin, "-D", "-W", "set", "global", "update every", "1"]
                processes["netdata"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_http(url + "/healthz")
                password = (base / "local_dashboard" / "dashboard-password").read_text().strip()
                if netdata_bin:
                    wait_http(NETDATA_URL + "/api/v1/info")
                time.sleep(5.0)  # start-up (imports, plugin discovery) is not the steady state
                started = threading.Event()
                ours = Meter([processes[COLLECTOR].pid, processes[DASHBOARD].pid])
                theirs = Meter([processes["netdata"].pid]) if netdata_bin else None
                result: dict[str, Any] = {}

                def measure() -> None:
                    started.wait(60)
                    time.sleep(3.0)  # page load
                    t0 = time.monotonic()
                    c0 = ours.start(), theirs.start() if theirs else 0.0
                    time.sleep(max(1.0, args.seconds - 6.0))
                    elapsed = time.monotonic() - t0
                    c1 = ours.stop(), theirs.stop() if theirs else 0.0
                    result["elapsed"] = elapsed
                    result["ours"] = ((c1[0] - c0[0]) / elapsed * 3600, ours.rss, ours.pss)
                    if theirs:
                        result["theirs"] = ((c1[1] - c0[1]) / elapsed * 3600, theirs.rss, theirs.pss)

                meter = threading.Thread(target=measure)
                meter.start()
                clients = (browser_clients if args.client == "browser" else poll_clients)(
                    url, password, args.seconds, started)
                meter.join()
            finally:
                for process in processes.values():
                    process.terminate()
                for process in processes.values():
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()
    print(f"\n1 s interval, {result['elapsed']:.0f} s measured, clients: {clients}")
    print(f"{'':36} {'CPU s/hour':>10} {'RSS mean':>10} {'RSS max':>10} {'PSS mean':>10}")
    rows = [("EdgeWatch collector + dashboard", result["ours"])]
    if "theirs" in result:
        rows.append(("Netdata (all processes)", result["theirs"]))
    for name, (cpu, rss, pss) in rows:
        mean = sum(rss) / len(rss) if rss else 0
        pss_mean = sum(pss) / len(pss) if pss else 0
        print(f"{name:36} {cpu:10.1f} {mean / 2**20:6.1f} MiB {max(rss or [0]) / 2**20:6.1f} MiB "
              f"{pss_mean / 2**20:6.1f} MiB")
    if "theirs" in result:
        print(json.dumps({"cpu_ratio": round(result["ours"][0] / max(result["theirs"][0], 1e-9), 2)}))
    else:
        print("(netdata not installed: bash bench/install-peers.sh)")


if __name__ == "__main__":
    main()
