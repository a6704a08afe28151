"""`edgewatch fleet watch` ingest rate: messages/s it keeps up with on one core, table on and --json.

    .venv/bin/python bench/fleet_watch_ingest.py [--messages 50000] [--devices 10000] [--e2e 20000]

1. In process, pinned to one CPU: the loop `fleet watch` runs per message (Inbox -> FleetTable.ingest
   -> sink), fed with collector-shaped summary batches from `--devices` things round-robin. Sinks:
   JSON lines to /dev/null, and the rich live table (50 rows sorted by cpu out of every device,
   rendered to a forced terminal once a second as in the real command). Also the table's memory
   with `--devices` devices (tracemalloc).
2. End to end: a real Mosquitto over mutual TLS (src/edgewatch_testkit/fleet_broker.py), `mosquitto_pub -l`
   publishing `--e2e` QoS 1 batches as fast as it can (both on CPU 1), and `edgewatch fleet watch
   --json` as a subprocess pinned to CPU 0: batches/s seen and the watcher's CPU per message.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from edgewatch.fleet.inbox import Inbox  # noqa: E402
from edgewatch.fleet.model import FleetTable  # noqa: E402
from edgewatch.fleet.watch import JsonLines, Watcher  # noqa: E402


def payload(to_ms: int, cpu: float) -> bytes:
    metrics = [{"name": "cpu.percent", "unit": "%", "labels": {"cpu": "total"}, "min": 1, "max": 9, "avg": 5,
                "last": cpu, "count": 30},
               {"name": "memory.percent", "unit": "%", "labels": {}, "min": 1, "max": 9, "avg": 5, "last": 40,
                "count": 30},
               *({"name": "disk.percent", "unit": "%", "labels": {"mount": m, "device": "sda", "fstype": "ext4"},
                  "min": 1, "max": 9, "avg": 5, "last": 50, "count": 30} for m in ("/", "/data")),
               {"name": "temperature.current", "unit": "°C", "labels": {"sensor": "coretemp", "label": "Package"},
                "min": 1, "max": 9, "avg": 5, "last": 55, "count": 5},
               *({"name": n, "unit": "B", "labels": {}, "min": 1, "max": 9, "avg": 5, "last": 7, "count": 30}
                 for n in ("memory.used", "memory.available", "memory.total", "swap.used", "load.1m"))]
    return json.dumps({"schema": "edgewatch.metrics-batch/1", "mode": "summary", "from": to_ms - 300_000,
                       "to": to_ms, "sampleCount": 30, "part": 0, "parts": 1, "metrics": metrics},
                      separators=(",", ":")).encode()


def in_process(messages: int, devices: int, table_on: bool) -> tuple[float, float]:
    from edgewatch.fleet.view import LiveTable

    table = FleetTable(max_devices=devices)
    inbox = Inbox()
    out = open(os.devnull, "w")  # noqa: SIM115
    if table_on:
        from rich.console import Console

        sink = LiveTable("cpu", None, False, 50, console=Console(file=out, force_terminal=True, width=160))
    else:
        sink = JsonLines(out)
    watcher = Watcher(table, inbox, sink)
    things = [f"plant-{i // 100:03d}-gw-{i % 100:02d}" for i in range(devices)]
    bodies = [payload(1_000_000 + k * 300_000, float(k % 100)) for k in range(8)]
    topics = [f"dt/edgewatch/{t}/metrics" for t in things]
    with sink if table_on else io.StringIO():
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for n in range(messages):
            # One thing's batches keep distinct `to` values: k advances each time the round-robin wraps.
            inbox.put(topics[n % devices], bodies[(n // devices) % len(bodies)], time.time())
            watcher.step(timeout=0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    out.close()
    assert watcher.messages == messages
    return messages / cpu, messages / wall


def table_memory(devices: int) -> float:
    table = FleetTable(max_devices=devices)
    body = payload(1_000_000, 5.0)
    tracemalloc.start()
    for i in range(devices):
        table.ingest(f"dt/edgewatch/plant-{i // 100:03d}-gw-{i % 100:02d}/metrics", body, 1.0)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current / 1e6


def worst_case_memory(devices: int) -> float:
    """128-character thing names, each device with the most firing alerts kept, all names unique."""
    from edgewatch.fleet.model import MAX_ALERTS_PER_DEVICE

    table = FleetTable(max_devices=devices)
    tracemalloc.start()
    for i in range(devices):
        thing = f"{i:06d}" + "x" * 122
        alerts = [{"status": "firing", "fingerprint": f"{i}-{k}" + "f" * 120,
                   "labels": {"alertname": f"{i}-{k}" + "n" * 120, "severity": f"{i}-{k}" + "s" * 120}}
                  for k in range(MAX_ALERTS_PER_DEVICE + 4)]
        table.ingest(f"dt/edgewatch/{thing}/metrics", payload(1_000_000, 5.0), 1.0)
        table.ingest(f"dt/edgewatch/{thing}/alerts", json.dumps({"alerts": alerts}).encode(), 1.0)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current / 1e6


def end_to_end(count: int) -> tuple[float, float]:
    import psutil

    from edgewatch.local.testing import wait_until
    from edgewatch_testkit.fleet_broker import start_fleet_broker

    # The broker and the publisher on the other CPU, so that the watcher alone has CPU 0.
    os.sched_setaffinity(0, {1} if os.cpu_count() and os.cpu_count() > 1 else {0})
    broker = start_fleet_broker(Path(tempfile.mkdtemp(prefix="fleet-bench-")), ("dev-1",))
    try:
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}"}
        watch = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "edgewatch.cli", "fleet", "watch", "--json",
             "--endpoint", f"localhost:{broker.port}", "--cert", str(broker.cert("operator")),
             "--key", str(broker.key("operator")), "--ca", str(broker.ca), "--client-id", "edgewatch-fleet-watch-b"],
            stdout=subprocess.PIPE, text=True, env=env)
        batches, first, last = [0], [0.0], [0.0]
        subscribed = threading.Event()

        def read() -> None:
            assert watch.stdout is not None
            for line in watch.stdout:
                kind = json.loads(line)["event"]
                if kind == "subscribed":
                    subscribed.set()
                elif kind == "batch":
                    batches[0] += 1
                    first[0] = first[0] or time.perf_counter()
                    last[0] = time.perf_counter()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert subscribed.wait(20), "fleet watch did not subscribe"
        process = psutil.Process(watch.pid)
        cpu0 = sum(process.cpu_times()[:2])
        lines = b"".join(payload(1_000 + n, 5.0).replace(b'"mode"', b'"thing":"dev-1","mode"') + b"\n"
                         for n in range(count))
        subprocess.run(["mosquitto_pub", *broker.client_args("dev-1"), "-q", "1", "-t", "dt/edgewatch/dev-1/metrics",
                        "-l"], input=lines, check=True, timeout=300)
        wait_until(lambda: batches[0] >= count, timeout=300, interval=0.05, what=f"{count} batches at the watcher")
        cpu = sum(process.cpu_times()[:2]) - cpu0
        watch.terminate()
        watch.wait(10)
        return count / (last[0] - first[0]), cpu / count * 1e6
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--e2e", type=int, default=20_000, help="batches through Mosquitto (0: skip)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core, as the issue asks
    payload_bytes = len(payload(1, 1.0))
    print(f"payload: summary batch, {payload_bytes} bytes; {args.devices} devices round-robin; one CPU")
    for label, table_on in (("--json", False), ("table on", True)):
        per_cpu, per_wall = in_process(args.messages, args.devices, table_on)
        print(f"in process, {label:9}  {per_cpu:9.0f} msg/s per CPU-second   {per_wall:9.0f} msg/s wall")
    print(f"table memory with {args.devices} devices: {table_memory(args.devices):.1f} MB (tracemalloc)")
    print(f"worst case, {args.devices} devices with 128-char names and the most firing alerts, all names unique: "
          f"{worst_case_memory(args.devices):.1f} MB")
    if args.e2e:
        rate, cpu_us = end_to_end(args.e2e)
        print(f"end to end (Mosquitto mTLS -> awscrt -> --json), {args.e2e} QoS 1 batches: {rate:.0f} msg/s, "
              f"watcher CPU {cpu_us:.0f} us/msg")


if __name__ == "__main__":
    main()
