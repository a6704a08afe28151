"""Cost of one MetricsCollector sampling tick with real psutil: wall ms and CPU ms per tick.

    .venv/bin/python bench/collector_tick.py [--ticks 200]

Measures the sampler (snapshot, metric table, rates, message) plus the encoding of the local
message (`SeriesCatalog` and `encode_sample`, as the service does), which is all a tick does
besides the IPC publish and batching. Variants: the default groups without
temperatures (the usual tick), with temperatures (one tick in six at the defaults) and with the top
10 processes. A profile of the usual tick: `--profile`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "components" / "metrics-collector" / "src"))

from metrics_collector.config import METRIC_GROUPS, parse_config
from metrics_collector.health import CollectorHealth
from metrics_collector.sample_encoding import SeriesCatalog, encode_sample
from metrics_collector.sampler import Sampler
from metrics_collector.system_source import PsutilSource


def measure(label: str, config_update: dict[str, object], ticks: int, every_tick_temperatures: bool) -> None:
    source = PsutilSource()
    source.prime()
    config = parse_config(config_update)
    sampler = Sampler(source, "bench", CollectorHealth())
    catalog = SeriesCatalog()
    sampler.sample(config, now=0.0, wall_time=time.time())  # warm-up: rate baselines, caches
    walls, cpus, sizes = [], [], []
    clock = 1.0
    for _ in range(ticks):
        # Advance the schedule clock past the temperature interval when every tick should read them.
        clock += 1_000.0 if every_tick_temperatures else 1.0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        message = sampler.sample(config, now=clock, wall_time=time.time())
        sizes.append(len(encode_sample(message, catalog.series_of(message.metrics))))
        walls.append((time.perf_counter() - wall0) * 1000)
        cpus.append((time.process_time() - cpu0) * 1000)
    print(
        f"{label:<34} wall {statistics.median(walls):6.2f} ms (p95 {sorted(walls)[int(0.95 * ticks)]:6.2f})"
        f"  cpu {statistics.mean(cpus):6.2f} ms/tick  message {statistics.median(sizes) / 1024:5.1f} KiB"
        f"  metrics {len(message.metrics)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200)
    args = parser.parse_args()
    # Every default group (issue 15's included) but temperatures, which have their own slower cadence.
    no_temps = {"metrics": [g for g in METRIC_GROUPS if g not in ("temperature", "processes")]}
    measure("default, no temperature read", no_temps, args.ticks, False)
    measure("default, temperatures every tick", {}, args.ticks, True)
    with_processes = {"metrics": [*no_temps["metrics"], "processes"], "topProcesses": 10}
    measure("default + top 10 processes", with_processes, args.ticks, False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.1f} MiB; at 1 tick/s the usual tick is the CPU ms above per second")


if __name__ == "__main__":
    main()
