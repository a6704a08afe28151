"""MetricsCollector overhead next to Prometheus node_exporter and collectd, all at 1 s, side by side.

    bash bench/install-peers.sh                     # Debian: prometheus-node-exporter, collectd-core
    .venv/bin/python bench/collector_overhead.py [--seconds 180]

In one run, for the same wall-clock period:
- the collector (`python -m metrics_collector`) on the local IPC runtime, sampleIntervalSeconds 1,
  publishing every sample on local pub/sub (and its IoT Core batches);
- node_exporter with its default collectors, scraped over HTTP once a second (scraper not counted);
- collectd with Interval 1 and the plugins matching the collector's metrics, writing CSV;
- two floors: processes that only read /proc and /sys files (and statvfs of each mount) once a
  second, without parsing them: "naive" reads every file the collector's metrics come from every
  tick (since issue 15 also vmstat, mountinfo, PSI, links, cpufreq, the firmware's throttled value
  and the nucleus's /proc files); the other makes only the reads the collector makes per tick (see
  FLOOR).
Profile the collector's own process with `--profile FILE` (cProfile of `python -m metrics_collector`).
Prints CPU seconds per hour and peak RSS (VmHWM) for each, and the collector's CPU per thread (user and
system, from /proc/<pid>/task/*/stat: the sampling loop is the main thread, `AwsEventLoop*` is awscrt's
IPC event loop, the rest are the uploader and short-lived helpers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import psutil
from measure import cpu_seconds, peak_rss

from edgewatch.local.testing import ComponentSpec, SubprocessIpcRuntime
from edgewatch.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
NAME = "com.edgewatch.MetricsCollector"
NAIVE_FLOOR = "floor, naive (all files)"
COLLECTOR_FLOOR = "floor (the collector's reads)"

FLOOR = textwrap.dedent("""
    import fcntl, glob, os, select, socket, struct, sys, time
    # What the collector's default groups read, without parsing. "naive": every file every tick (what
    # a reader without the kernel's change signals would do). "collector": what the collector reads
    # per tick since it skips unchanged things: mountinfo only when poll() flags a change, link state
    # by ioctl (speeds once a minute), the process count every 10th tick.
    naive = sys.argv[1] == "naive"
    files = ["/proc/stat", "/proc/meminfo", "/proc/vmstat", "/proc/loadavg", "/proc/diskstats", "/proc/net/dev",
             "/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io",
             "/sys/devices/platform/soc/soc:firmware/get_throttled",
             f"/proc/{os.getppid()}/stat", f"/proc/{os.getppid()}/statm"] \\
            + glob.glob("/sys/class/thermal/thermal_zone*/temp") + glob.glob("/sys/class/hwmon/hwmon*/temp*_input") \\
            + glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq")
    nics = [nic for nic in os.listdir("/sys/class/net") if nic != "lo"]
    if naive:
        files += ["/proc/uptime", "/proc/self/mountinfo", "/proc/filesystems"]
        files += [f"/sys/class/net/{nic}/{f}" for nic in nics for f in ("operstate", "speed")]
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split()[4] for line in handle]
    watch = os.open("/proc/self/mountinfo", os.O_RDONLY)
    poll = select.poll()
    poll.register(watch, select.POLLPRI | select.POLLERR)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    def read(path):
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                while os.read(fd, 65536):
                    pass
            finally:
                os.close(fd)
        except OSError:
            pass
    next_tick, tick = time.monotonic(), 0
    while True:
        for path in files:
            read(path)
        for mount in mounts:
            try:
                os.statvfs(mount)
            except OSError:
                pass
        if not naive:
            poll.poll(0)
            for nic in nics:
                fcntl.ioctl(sock.fileno(), 0x8913, struct.pack("16sh22x", nic.encode(), 0))
        if naive or tick % 10 == 0:
            len([p for p in os.listdir("/proc") if p.isdigit()])  # process count
        tick += 1
        next_tick += 1.0
        time.sleep(max(0.0, next_tick - time.monotonic()))
""")


COLLECTD_CONF = """Interval 1
FQDNLookup false
BaseDir "{base}"
PIDFile "{base}/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin cpu
LoadPlugin load
LoadPlugin memory
LoadPlugin swap
LoadPlugin df
LoadPlugin disk
LoadPlugin interface
LoadPlugin thermal
LoadPlugin uptime
LoadPlugin processes
LoadPlugin csv
<Plugin cpu>
  ReportByCpu true
  ValuesPercentage true
</Plugin>
<Plugin interface>
  Interface "lo"
  IgnoreSelected true
</Plugin>
<Plugin csv>
  DataDir "{base}/csv"
</Plugin>
"""



def thread_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """Thread label -> (user, system) CPU seconds so far; threads of the same label are summed."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended between listing and reading
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        label = "main (sampling loop)" if task.name == str(pid) else comm
        user, system = out.get(label, (0.0, 0.0))
        out[label] = (user + int(fields[11]) / ticks, system + int(fields[12]) / ticks)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--groups", help="comma-separated metric groups instead of the recipe's default")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the collector's sampling thread here")
    args = parser.parse_args()
    exporter_bin = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    collectd_bin = shutil.which("collectd") or ("/usr/sbin/collectd" if os.path.exists("/usr/sbin/collectd") else None)
    recipe = load_recipe(REPO / "recipes" / f"{NAME}.yaml")
    config = dict(recipe.default_configuration)
    config["sampleIntervalSeconds"] = 1
    if args.groups:
        config["metrics"] = args.groups.split(",")
    with tempfile.TemporaryDirectory(prefix="ew-overhead-") as tmp:
        base = Path(tmp)
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stop = threading.Event()
        with SubprocessIpcRuntime(base / "root", {NAME: ComponentSpec(config["accessControl"], config)},
                                  thing_name="bench") as runtime:
            env = dict(os.environ, SVCUID=runtime.svcuid(NAME), AWS_IOT_THING_NAME="bench",
                       AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT=runtime.socket_path,
                       EDGEWATCH_WORK_PATH=str(base), EDGEWATCH_LOG_LEVEL="WARNING",
                       PYTHONPATH=f"{REPO / 'components' / 'metrics-collector' / 'src'}:{REPO / 'src'}")
            profile = ["-m", "cProfile", "-o", str(args.profile.resolve())] if args.profile else []
            processes["EdgeWatch collector"] = subprocess.Popen(
                [sys.executable, *profile, "-m", "metrics_collector"], env=env, cwd=base, stdout=subprocess.DEVNULL)
            if exporter_bin:
                processes["node_exporter (1 Hz scrape)"] = subprocess.Popen(
                    [exporter_bin, "--web.listen-address=127.0.0.1:19100"], stderr=subprocess.DEVNULL)

                def scrape() -> None:
                    while not stop.wait(1.0):
                        with contextlib.suppress(OSError):
                            urllib.request.urlopen("http://127.0.0.1:19100/metrics", timeout=2).read()

                threading.Thread(target=scrape, daemon=True).start()
            if collectd_bin:
                conf = base / "collectd.conf"
                conf.write_text(COLLECTD_CONF.format(base=base))
                processes["collectd"] = subprocess.Popen([collectd_bin, "-f", "-C", str(conf)],
                                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes[NAIVE_FLOOR] = subprocess.Popen([sys.executable, "-c", FLOOR, "naive"])
            processes[COLLECTOR_FLOOR] = subprocess.Popen([sys.executable, "-c", FLOOR, "collector"])
            time.sleep(3.0)  # start-up (imports, first reads) is not the steady state we measure
            handles = {name: psutil.Process(p.pid) for name, p in processes.items() if p.poll() is None}
            start_cpu = {name: cpu_seconds(h, with_children=True) for name, h in handles.items()}
            collector_pid = processes["EdgeWatch collector"].pid
            start_threads = thread_cpu(collector_pid)
            started = time.monotonic()
            print(f"measuring {len(handles)} processes for {args.seconds:.0f} s ...", flush=True)
            time.sleep(args.seconds)
            elapsed = time.monotonic() - started
            results = {name: ((cpu_seconds(h, with_children=True) - start_cpu[name]) / elapsed * 3600, peak_rss(h.pid))
                       for name, h in handles.items()}
            end_threads = thread_cpu(collector_pid)
            stop.set()
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(f"\n1 s interval, {elapsed:.0f} s measured")
    print(f"{'':32} {'CPU s/hour':>10} {'peak RSS':>10}")
    for name, (cpu, rss) in results.items():
        print(f"{name:32} {cpu:10.1f} {rss / 2**20:8.1f} MiB")
    own = results["EdgeWatch collector"][0]
    peers = [name for name in results if name != "EdgeWatch collector" and results[name][0]]
    print("\ncollector CPU / peer:", ", ".join(f"{name} {own / results[name][0]:.2f}" for name in peers))
    print("\ncollector CPU s/hour by thread     user   system")
    for label, (user, system) in sorted(end_threads.items()):
        user0, system0 = start_threads.get(label, (0.0, 0.0))
        print(f"  {label:30} {(user - user0) / elapsed * 3600:6.1f} {(system - system0) / elapsed * 3600:8.1f}")
    for missing, found in (("node_exporter", exporter_bin), ("collectd", collectd_bin)):
        if not found:
            print(f"({missing} not installed: bash bench/install-peers.sh)")


if __name__ == "__main__":
    main()
