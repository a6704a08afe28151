"""The hub with 1,000 simulated devices: RSS and CPU of its LocalDashboard (and of its AlertRouter).

    .venv/bin/python bench/fleet_hub.py [--devices 1000] [--interval 10] [--seconds 60]

The dashboard (`python -m local_dashboard`, the real component, `fleetView: true` with the documented
mqttproxy grant) runs on the local IPC runtime (a subprocess, whose IoT Core loopback delivers what is
published to IoT Core to the dashboard's SubscribeToIoTCore). This process is the one publisher: it
publishes, for every simulated device, the collector's real summary batch of this machine's default
metric set (`edgewatch.metrics-batch/1`, re-labelled and re-stamped per device) on
`dt/edgewatch/<thing>/metrics`, QoS 1. The hub's AlertRouter (`iotCoreInputs`, DeviceSilent at the
same interval, a log receiver) runs beside it on the same stream and is measured the same way.

1. Fill: `fleetBatchesPerDevice` (20) batches per device as fast as the publisher goes; publish rate and
   the dashboard's CPU time per batch.
2. Steady state: every device publishes once per `--interval` seconds for `--seconds`; the dashboard's
   CPU (% of one core) and RSS (and peak RSS) with the fleet view full.
3. `GET /api/v1/fleet` with every device: response size and time (median of 10).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import psutil
from measure import cpu_seconds, free_port, peak_rss

REPO = Path(__file__).resolve().parents[1]
NAME = "com.edgewatch.LocalDashboard"
ROUTER = "com.edgewatch.AlertRouter"
PUBLISHER = "bench.FleetPublisher"
sys.path[:0] = [str(REPO / "components" / "local-dashboard" / "src"),
                str(REPO / "components" / "metrics-collector" / "src"), str(REPO / "src")]

from edgewatch.local.testing import ComponentSpec, SubprocessIpcRuntime, connect_client  # noqa: E402
from edgewatch.recipe import load_recipe  # noqa: E402

FLEET_FILTERS = ["dt/edgewatch/+/metrics", "dt/edgewatch/+/alerts"]


def summary_batch_template() -> dict[str, Any]:
    """The collector's summary batch of one real sample of this machine (default metric set)."""
    from metrics_collector.batching import summarize
    from metrics_collector.config import parse_config
    from metrics_collector.health import CollectorHealth
    from metrics_collector.sampler import Sampler
    from metrics_collector.system_source import PsutilSource

    from edgewatch_shared.metrics_message import from_dict

    source = PsutilSource()
    source.prime()
    time.sleep(0.5)  # psutil's cpu_percent needs an interval after priming
    sampler = Sampler(source, "bench", CollectorHealth())
    sample = sampler.sample(parse_config(None), time.monotonic(), time.time()).to_dict()
    batch = summarize([from_dict(sample)], "bench")
    assert batch is not None
    return {**batch.header, "part": 1, "parts": 1, batch.items_key: batch.items}








def payload(template: dict[str, Any], thing: str, ts_ms: int) -> bytes:
    return json.dumps({**template, "thing": thing, "from": ts_ms - 300_000, "to": ts_ms},
                      separators=(",", ":")).encode()  # fmt: skip


def fleet_api(url: str, password: str, rounds: int = 10) -> tuple[int, float, int]:
    """(bytes, median seconds, devices) of GET /api/v1/fleet with a session."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    body = urllib.parse.urlencode({"password": password}).encode()
    opener.open(urllib.request.Request(url + "/login", data=body, headers={"Origin": url}), timeout=10).read()
    times, size, devices = [], 0, 0
    for _ in range(rounds):
        started = time.perf_counter()
        with opener.open(url + "/api/v1/fleet", timeout=30) as response:
            raw = response.read()
        times.append(time.perf_counter() - started)
        size, devices = len(raw), len(json.loads(raw)["devices"])
    return size, statistics.median(times), devices


def counters(url: str, password: str) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    body = urllib.parse.urlencode({"password": password}).encode()
    opener.open(urllib.request.Request(url + "/login", data=body, headers={"Origin": url}), timeout=10).read()
    with opener.open(url + "/api/v1/info", timeout=10) as response:
        return dict(json.loads(response.read())["counters"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between a device's batches")
    parser.add_argument("--seconds", type=float, default=60.0, help="steady-state measurement")
    parser.add_argument("--max-bytes", type=int, default=16 * 1024 * 1024, help="the dashboard's fleetMaxBytes")
    args = parser.parse_args()
    template = summary_batch_template()
    batch_bytes = len(payload(template, "gw-0000", int(time.time() * 1000)))
    recipe = load_recipe(REPO / "recipes" / f"{NAME}.yaml")
    config = dict(recipe.default_configuration)
    port = free_port()
    config.update({"port": port, "fleetView": True, "fleetPublishIntervalSeconds": args.interval,
                   "fleetMaxDevices": max(1000, args.devices), "fleetMaxBytes": args.max_bytes})  # fmt: skip
    access = json.loads(json.dumps(config["accessControl"]))
    access["aws.greengrass.ipc.mqttproxy"] = {f"{NAME}:mqttproxy:1": {
        "operations": ["aws.greengrass#SubscribeToIoTCore"], "resources": FLEET_FILTERS}}  # the hub merge
    config["accessControl"] = access
    publisher_acl = {"aws.greengrass.ipc.mqttproxy": {"p": {"operations": ["aws.greengrass#PublishToIoTCore"],
                                                            "resources": FLEET_FILTERS}}}  # fmt: skip
    router_recipe = load_recipe(REPO / "recipes" / f"{ROUTER}.yaml")
    router_config = dict(router_recipe.default_configuration)
    router_access = json.loads(json.dumps(router_config["accessControl"]))
    router_access["aws.greengrass.ipc.mqttproxy"] = {
        **router_access.get("aws.greengrass.ipc.mqttproxy", {}),
        f"{ROUTER}:mqttproxy:2": {"operations": ["aws.greengrass#SubscribeToIoTCore"],
                                  "resources": ["dt/edgewatch/+/metrics"]}}  # the hub merge
    router_config.update({"accessControl": router_access, "iotCoreInputs": ["dt/edgewatch/+/metrics"],
                          "deviceSilent": {"publishIntervalSeconds": args.interval,
                                           "maxDevices": max(10000, args.devices)},
                          "receivers": [{"name": "default", "log": {}}], "rules": [],
                          "healthIntervalSeconds": 1})  # fmt: skip
    things = [f"gw-{i:04d}" for i in range(args.devices)]
    with tempfile.TemporaryDirectory(prefix="ew-hub-bench-") as tmp:
        base = Path(tmp)
        components = {NAME: ComponentSpec(access, config), ROUTER: ComponentSpec(router_access, router_config),
                      PUBLISHER: ComponentSpec(publisher_acl)}
        with SubprocessIpcRuntime(base / "root", components, thing_name="hub-bench") as runtime:
            work = base / "work"
            work.mkdir()
            env = dict(os.environ, SVCUID=runtime.svcuid(NAME), AWS_IOT_THING_NAME="hub-bench",
                       AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=runtime.socket_path,
                       EDGEWATCH_WORK_PATH=str(work), EDGEWATCH_LOG_LEVEL="WARNING",
                       PYTHONPATH=f"{REPO / 'components' / 'local-dashboard' / 'src'}:{REPO / 'src'}")  # fmt: skip
            dashboard = subprocess.Popen([sys.executable, "-m", "local_dashboard"], env=env, cwd=work)
            router_work = base / "router-work"
            router_work.mkdir()
            router_env = dict(env, SVCUID=runtime.svcuid(ROUTER), EDGEWATCH_WORK_PATH=str(router_work),
                              PYTHONPATH=f"{REPO / 'components' / 'alert-router' / 'src'}:{REPO / 'src'}")
            router = subprocess.Popen([sys.executable, "-m", "alert_router"], env=router_env, cwd=router_work)
            try:
                url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                while not (work / "dashboard-password").exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(1.0)  # it binds and subscribes right after writing the password
                password = (work / "dashboard-password").read_text().strip()
                publisher = connect_client(runtime.socket_path, runtime.svcuid(PUBLISHER))
                handle = psutil.Process(dashboard.pid)
                router_handle = psutil.Process(router.pid)
                idle_rss = handle.memory_info().rss
                router_idle_rss = router_handle.memory_info().rss

                def publish(thing: str) -> None:
                    publisher.publish_to_iot_core(topic_name=f"dt/edgewatch/{thing}/metrics", qos="1",
                                                  payload=payload(template, thing, int(time.time() * 1000)))

                # 1. fill every device's recent batches
                per_device = int(config["fleetBatchesPerDevice"])
                cpu0, rcpu0, started = cpu_seconds(handle), cpu_seconds(router_handle), time.monotonic()
                for _ in range(per_device):
                    for thing in things:
                        publish(thing)
                fill_s = time.monotonic() - started
                fill_count = per_device * len(things)
                deadline = time.monotonic() + 120
                while counters(url, password).get("fleetBatches", 0) < fill_count and time.monotonic() < deadline:
                    time.sleep(0.5)
                fill_cpu = cpu_seconds(handle) - cpu0
                router_fill_cpu = cpu_seconds(router_handle) - rcpu0
                full_rss = handle.memory_info().rss

                # 2. steady state: each device once per interval, spread evenly
                stop = threading.Event()
                sent = [0]

                def feed() -> None:
                    gap = args.interval / len(things)
                    next_at, i = time.monotonic(), 0
                    while not stop.is_set():
                        publish(things[i % len(things)])
                        sent[0] += 1
                        i += 1
                        next_at += gap
                        delay = next_at - time.monotonic()
                        if delay > 0:
                            stop.wait(delay)

                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()
                time.sleep(min(5.0, args.seconds / 4))  # settle
                cpu1, rcpu1, t1, sent1 = cpu_seconds(handle), cpu_seconds(router_handle), time.monotonic(), sent[0]
                time.sleep(args.seconds)
                steady_cpu = (cpu_seconds(handle) - cpu1) / (time.monotonic() - t1)
                router_steady_cpu = (cpu_seconds(router_handle) - rcpu1) / (time.monotonic() - t1)
                router_rss = router_handle.memory_info().rss
                rate = (sent[0] - sent1) / (time.monotonic() - t1)
                steady_rss = handle.memory_info().rss
                # 3. the API with the fleet full (while batches keep arriving)
                size, api_s, listed = fleet_api(url, password)
                stop.set()
                feeder.join(5)
                info = counters(url, password)
                peak = peak_rss(dashboard.pid)
                router_peak = peak_rss(router.pid)
                time.sleep(1.5)  # one more health report
                router_fleet = json.loads((router_work / "alert-router-health.json").read_text())["fleet"]
                publisher.close()
            finally:
                for process in (dashboard, router):
                    process.terminate()
                    try:
                        process.wait(10)
                    except subprocess.TimeoutExpired:
                        process.kill()
    print(f"\nLocalDashboard hub, {args.devices} devices, summary batches of {len(template['metrics'])} series "
          f"({batch_bytes / 1024:.1f} KiB each), fleetBatchesPerDevice {per_device}, fleetMaxBytes "
          f"{args.max_bytes / 2**20:g} MiB")  # fmt: skip
    print(f"  fill: {fill_count} batches in {fill_s:.1f} s ({fill_count / fill_s:.0f}/s from one publisher); "
          f"dashboard CPU {fill_cpu / fill_count * 1e6:.0f} µs per batch")  # fmt: skip
    print(f"  steady: {rate:.0f} batches/s (each device every {args.interval:g} s) for {args.seconds:.0f} s: "
          f"dashboard CPU {steady_cpu * 100:.1f} % of one core")  # fmt: skip
    print(f"  RSS: idle {idle_rss / 2**20:.1f} MiB, fleet full {full_rss / 2**20:.1f} MiB, steady "
          f"{steady_rss / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB; fleetStoredBytes "
          f"{info.get('fleetStoredBytes', 0) / 2**20:.1f} MiB, "
          f"evicted {info.get('fleetEvictedBatches', 0)}")  # fmt: skip
    print(f"  GET /api/v1/fleet: {listed} devices, {size / 1024:.0f} KiB, {api_s * 1000:.0f} ms (median of 10)")
    print(f"  malformed: {info.get('malformed', {})}")
    print(f"  AlertRouter (DeviceSilent over the same stream): fill {router_fill_cpu / fill_count * 1e6:.0f} µs per "
          f"batch, steady {router_steady_cpu * 100:.1f} % of one core; RSS idle {router_idle_rss / 2**20:.1f} MiB, "
          f"steady {router_rss / 2**20:.1f} MiB, peak {router_peak / 2**20:.1f} MiB; it saw {router_fleet['batches']} "
          f"batches of {router_fleet['devices']} devices, {router_fleet['malformed_batches']} malformed, "
          f"{router_fleet['silent']} silent")  # fmt: skip


if __name__ == "__main__":
    main()
