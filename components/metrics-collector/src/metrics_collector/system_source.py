"""The psutil seam: every system read the collector makes goes through `SystemSource`.

`PsutilSource` is the only place that imports psutil; tests pass a fake returning real psutil
named tuples. Methods are thin on purpose: filtering and arithmetic live in the pure core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    name: str
    cpu_percent: float
    rss_bytes: int


class SystemSource(Protocol):
    def cpu_percent(self) -> float: ...
    def cpu_percent_per_core(self) -> Sequence[float]: ...
    def load_average(self) -> tuple[float, float, float]: ...
    def virtual_memory(self) -> Any: ...  # psutil svmem
    def swap_memory(self) -> Any: ...  # psutil sswap
    def disk_partitions(self) -> Sequence[Any]: ...  # psutil sdiskpart
    def disk_usage(self, mountpoint: str) -> Any: ...  # psutil sdiskusage
    def disk_io_counters(self) -> Mapping[str, Any]: ...  # device -> psutil sdiskio
    def net_io_counters(self) -> Mapping[str, Any]: ...  # interface -> psutil snetio
    def sensors_temperatures(self) -> Mapping[str, Sequence[Any]]: ...  # chip -> [psutil shwtemp]
    def boot_time(self) -> float: ...
    def process_count(self) -> int: ...
    def processes(self) -> Sequence[ProcessSample]: ...


class PsutilSource:
    """SystemSource over the real psutil."""

    def prime(self) -> None:
        # cpu_percent(interval=None) compares with the previous call and returns 0.0 the first
        # time; one call at start makes the first real sample meaningful.
        psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None, percpu=True)

    def cpu_percent(self) -> float:
        return psutil.cpu_percent(interval=None)

    def cpu_percent_per_core(self) -> Sequence[float]:
        return psutil.cpu_percent(interval=None, percpu=True)

    def load_average(self) -> tuple[float, float, float]:
        return psutil.getloadavg()

    def virtual_memory(self) -> Any:
        return psutil.virtual_memory()

    def swap_memory(self) -> Any:
        return psutil.swap_memory()

    def disk_partitions(self) -> Sequence[Any]:
        # all=False already drops most pseudo filesystems (those marked nodev in /proc/filesystems).
        return psutil.disk_partitions(all=False)

    def disk_usage(self, mountpoint: str) -> Any:
        return psutil.disk_usage(mountpoint)

    def disk_io_counters(self) -> Mapping[str, Any]:
        return psutil.disk_io_counters(perdisk=True, nowrap=True) or {}

    def net_io_counters(self) -> Mapping[str, Any]:
        return psutil.net_io_counters(pernic=True, nowrap=True) or {}

    def sensors_temperatures(self) -> Mapping[str, Sequence[Any]]:
        read = getattr(psutil, "sensors_temperatures", None)  # absent on some platforms
        return read() if read is not None else {}

    def boot_time(self) -> float:
        return psutil.boot_time()

    def process_count(self) -> int:
        return len(psutil.pids())

    def processes(self) -> Sequence[ProcessSample]:
        samples = []
        # process_iter caches Process objects between calls, so cpu_percent is a real delta from
        # the second call on; processes that vanish or deny access give None and are skipped.
        for proc in psutil.process_iter(["name", "cpu_percent", "memory_info"]):
            info = proc.info
            if info.get("cpu_percent") is None or info.get("memory_info") is None:
                continue
            samples.append(
                ProcessSample(
                    pid=proc.pid,
                    name=info.get("name") or "",
                    cpu_percent=float(info["cpu_percent"]),
                    rss_bytes=int(info["memory_info"].rss),
                )
            )
        return samples
