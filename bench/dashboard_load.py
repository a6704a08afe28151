"""LocalDashboard under load: 50 WebSocket clients at a 1 s sample interval, memory of a full history, page weight.

    .venv/bin/python bench/dashboard_load.py [--clients 50] [--seconds 120] [--profile FILE]

1. The dashboard (`python -m local_dashboard`, the real component) on the local IPC runtime (a
   subprocess), fed once a second with a copy of a real sample of this machine's default metric set
   (the collector's own sampler, read once), re-stamped with the publish time and published as the
   collector publishes it (compact JSON text in a binary message). `--clients` aiohttp
   WebSocket clients log in and stay connected. Measured on the dashboard process only: CPU seconds
   per hour, RSS and peak RSS; latency from just before PublishToTopic to the client receiving the
   frame with that sample (p50/p99 over every client and sample). `--profile FILE` writes a cProfile
   of the dashboard process (its event loop thread).
2. RSS after a full history (simulated clock, in a fresh process): 23 h of that sample set at 60 s
   then 1 h at 1 s, so both tiers are full (1 h raw at 1 s, 24 h of 1-minute means).
3. Page weight: the built assets (HTML + JS + CSS) gzip-compressed, as served.
4. Time from navigation to the first chart drawn, in headless Chromium (Debian's /usr/bin/chromium
   through Playwright), logged in, with the live feed and history of step 1: median of 5 loads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from measure import cpu_seconds, free_port, peak_rss

REPO = Path(__file__).resolve().parents[1]
NAME = "com.edgewatch.LocalDashboard"
PUBLISHER = "bench.Publisher"
sys.path[:0] = [str(REPO / "components" / "local-dashboard" / "src"),
                str(REPO / "components" / "metrics-collector" / "src"), str(REPO / "src")]

from edgewatch.local.testing import ComponentSpec, SubprocessIpcRuntime, connect_client  # noqa: E402
from edgewatch.recipe import load_recipe  # noqa: E402

PAGE = ("index.html", "app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css")


def default_sample() -> dict[str, Any]:
    """One real sample of this machine with the collector's default configuration."""
    from metrics_collector.config import parse_config
    from metrics_collector.health import CollectorHealth
    from metrics_collector.sampler import Sampler
    from metrics_collector.system_source import PsutilSource

    source = PsutilSource()
    source.prime()
    time.sleep(0.5)  # psutil's cpu_percent needs an interval after priming
    sampler = Sampler(source, "bench", CollectorHealth())
    return sampler.sample(parse_config(None), time.monotonic(), time.time()).to_dict()








def build_static(out: Path) -> Path:
    sys.path.insert(0, str(REPO / "components" / "local-dashboard" / "web"))
    from build_assets import build_assets  # type: ignore[import-not-found]

    build_assets(out)
    return out


def page_weight(static: Path) -> tuple[int, int]:
    raw = sum((static / n).stat().st_size for n in PAGE)
    gz = sum((static / f"{n}.gz").stat().st_size for n in PAGE)
    return raw, gz


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def first_chart_seconds(url: str, password: str, loads: int = 5) -> float | None:
    """Median time from `goto('/')` to a uPlot canvas in the CPU chart; None without Chromium."""
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="ew-bench-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                        args=CHROMIUM_ARGS)  # fmt: skip
        try:
            page = context.new_page()
            page.goto(url + "/login")
            page.fill("input[name=password]", password)
            page.press("input[name=password]", "Enter")
            page.wait_for_url(url + "/")
            for _ in range(loads):
                started = time.perf_counter()
                page.goto(url + "/")
                page.wait_for_selector('.chart[data-chart="cpu"] canvas', timeout=30_000)
                times.append(time.perf_counter() - started)
        finally:
            context.close()
    return statistics.median(times)


async def run_clients(url: str, password: str, clients: int, seconds: float, key: str,
                      publish_times: dict[int, float], ready: threading.Event) -> list[float]:  # fmt: skip
    import aiohttp

    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(url + "/ws", headers={"Origin": url}) as ws:
            async for message in ws:
                now = time.time()
                frame = json.loads(message.data)
                for series in frame.get("series", []):
                    if series["key"] == key and frame["type"] == "delta":
                        for ts, _ in series["points"]:
                            sent = publish_times.get(ts)
                            if sent is not None:
                                latencies.append(now - sent)

    sessions = []
    tasks = []
    for _ in range(clients):
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.post(url + "/login", data={"password": password}, headers={"Origin": url},
                                allow_redirects=False) as response:  # fmt: skip
            assert response.status == 303, response.status
        sessions.append(session)
        tasks.append(asyncio.create_task(one(session)))
    ready.set()
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    for session in sessions:
        await session.close()
    return latencies


HISTORY_PROBE = textwrap.dedent("""
    import json, sys, time, psutil
    from edgewatch_shared.metrics_message import from_dict
    from local_dashboard.config import parse_checked
    from local_dashboard.state import DashboardState
    sample = json.loads(sys.stdin.read())
    proc = psutil.Process()
    state = DashboardState(parse_checked(None), "bench")
    before = proc.memory_info().rss
    t0 = 1_800_000_000_000
    ts = t0
    for _ in range(23 * 60):          # 23 h at 60 s: fills the 1-minute tier
        sample["ts"] = ts; state.store.ingest(from_dict(sample), ts); ts += 60_000
    for _ in range(3600):             # the last hour at 1 s: fills the raw tier
        sample["ts"] = ts; state.store.ingest(from_dict(sample), ts); ts += 1000
    after = proc.memory_info().rss
    print(json.dumps({"before": before, "after": after, "series": len(state.store.series),
                      "points": state.store.point_count()}))
""")


def history_rss(sample: dict[str, Any]) -> dict[str, int]:
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'components' / 'local-dashboard' / 'src'}:{REPO / 'src'}")
    done = subprocess.run([sys.executable, "-c", HISTORY_PROBE], input=json.dumps(sample), capture_output=True,
                          text=True, env=env, check=True, timeout=600)  # fmt: skip
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the dashboard process here")
    args = parser.parse_args()
    sample = default_sample()
    key = "cpu.percent{cpu=total}"
    recipe = load_recipe(REPO / "recipes" / f"{NAME}.yaml")
    config = dict(recipe.default_configuration)
    port = free_port()
    config["port"] = port
    with tempfile.TemporaryDirectory(prefix="ew-dash-bench-") as tmp:
        base = Path(tmp)
        static = build_static(base / "static")
        raw_weight, gz_weight = page_weight(static)
        publisher_acl = {"aws.greengrass.ipc.pubsub": {"p": {"operations": ["aws.greengrass#PublishToTopic"],
                                                             "resources": ["edgewatch/metrics"]}}}  # fmt: skip
        components = {NAME: ComponentSpec(config["accessControl"], config), PUBLISHER: ComponentSpec(publisher_acl)}
        with SubprocessIpcRuntime(base / "root", components, thing_name="bench") as runtime:
            work = base / "work"
            work.mkdir()
            env = dict(os.environ, SVCUID=runtime.svcuid(NAME), AWS_IOT_THING_NAME="bench",
                       AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=runtime.socket_path,
                       EDGEWATCH_WORK_PATH=str(work), EDGEWATCH_LOG_LEVEL="WARNING",
                       EDGEWATCH_DASHBOARD_STATIC=str(static),
                       PYTHONPATH=f"{REPO / 'components' / 'local-dashboard' / 'src'}:{REPO / 'src'}")  # fmt: skip
            profile = ["-m", "cProfile", "-o", str(args.profile.resolve())] if args.profile else []
            dashboard = subprocess.Popen([sys.executable, *profile, "-m", "local_dashboard"], env=env, cwd=work)
            try:
                url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                while not (work / "dashboard-password").exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(1.0)  # the server binds and subscribes right after writing the password
                password = (work / "dashboard-password").read_text().strip()
                from awsiot.greengrasscoreipc import model

                publisher = connect_client(runtime.socket_path, runtime.svcuid(PUBLISHER))
                publish_times: dict[int, float] = {}
                stop = threading.Event()

                def feed() -> None:
                    next_tick = time.monotonic()
                    while not stop.is_set():
                        now = time.time()
                        ts = int(now * 1000)
                        publish_times[ts] = now
                        # As the collector publishes a sample: compact JSON text in a binary message.
                        payload = json.dumps({**sample, "ts": ts}, separators=(",", ":")).encode()
                        publisher.publish_to_topic(topic="edgewatch/metrics", publish_message=model.PublishMessage(
                            binary_message=model.BinaryMessage(message=payload)))
                        next_tick += 1.0
                        stop.wait(max(0.0, next_tick - time.monotonic()))

                ready = threading.Event()
                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()
                handle = psutil.Process(dashboard.pid)
                result: dict[str, Any] = {}

                def measure() -> None:
                    ready.wait(60)
                    time.sleep(3.0)  # connection set-up and first snapshots are not the steady state
                    start_cpu, started = cpu_seconds(handle), time.monotonic()
                    time.sleep(max(1.0, args.seconds - 6.0))
                    result["cpu_h"] = (cpu_seconds(handle) - start_cpu) / (time.monotonic() - started) * 3600
                    result["rss"] = handle.memory_info().rss

                meter = threading.Thread(target=measure)
                meter.start()
                latencies = asyncio.run(run_clients(url, password, args.clients, args.seconds, key, publish_times,
                                                    ready))  # fmt: skip
                meter.join()
                first_chart = first_chart_seconds(url, password)
                stop.set()
                feeder.join(5)
                peak = peak_rss(dashboard.pid)
                publisher.close()
            finally:
                dashboard.terminate()
                try:
                    dashboard.wait(10)
                except subprocess.TimeoutExpired:
                    dashboard.kill()
    history = history_rss(sample)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    print(f"\nLocalDashboard, {args.clients} WebSocket clients, 1 s samples of {len(sample['metrics'])} metrics, "
          f"{args.seconds:.0f} s")  # fmt: skip
    print(f"  dashboard CPU          {result['cpu_h']:.1f} s/hour")
    print(f"  dashboard RSS          {result['rss'] / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)")
    print(f"  publish -> frame       p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(latencies)} frames)")
    print(f"  full history (1 h raw + 24 h 1-min means, {history['series']} series, {history['points']} points): "
          f"RSS {history['after'] / 2**20:.1f} MiB ({(history['after'] - history['before']) / 2**20:.1f} MiB for the "
          "history)")  # fmt: skip
    print(f"  page weight            {gz_weight / 1024:.1f} KiB compressed ({raw_weight / 1024:.1f} KiB raw)")
    if first_chart is None:
        print(f"  first chart            not measured: {CHROMIUM} is missing")
    else:
        print(f"  first chart            {first_chart * 1000:.0f} ms from navigation (Chromium, median of 5)")


if __name__ == "__main__":
    main()
