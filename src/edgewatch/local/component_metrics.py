"""PutComponentMetric: accepted as the nucleus accepts it, and recorded in `<root>/metrics/component_metrics.jsonl`.

The nucleus authorizes it under `aws.greengrass.ipc.componentmetric` (resource `*`) and passes the
metrics to its telemetry; here each call is one JSON line (component, time, metrics), in a file
rotated at 8 MiB (one previous file is kept), 0600.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgewatch.local.ipc_errors import InvalidArgumentsError
from edgewatch.local.ipc_server import IpcServer, Stream
from edgewatch.local.state_files import private_dir

log = logging.getLogger(__name__)

COMPONENT_METRIC = "aws.greengrass.ipc.componentmetric"
MAX_FILE_BYTES = 8 << 20
MAX_METRICS_PER_CALL = 100
MAX_NAME_CHARS = 255
UNITS = frozenset({"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
                   "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
                   "BytesPerSecond", "KilobytesPerSecond", "MegabytesPerSecond", "GigabytesPerSecond",
                   "TerabytesPerSecond", "BitsPerSecond", "KilobitsPerSecond", "MegabitsPerSecond",
                   "GigabitsPerSecond", "TerabitsPerSecond", "CountPerSecond", "None"})


def metric_problem(index: int, metric: Any) -> str | None:
    """Why metrics[index] is not acceptable, or None."""
    where = f"metrics[{index}]"
    if not isinstance(metric, dict):
        return f"{where} must be an object"
    name, unit, value = metric.get("name"), metric.get("unit"), metric.get("value")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        return f"{where}.name must be a string of 1 to {MAX_NAME_CHARS} characters"
    if unit not in UNITS:
        return f"{where}.unit must be one of the CloudWatch units (Count, Seconds, Bytes, Percent, ...), not {unit!r}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{where}.value must be a finite number"
    return None


class ComponentMetrics:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.path = path
        self.clock = clock
        self.max_bytes = max_bytes
        self.recorded = 0

    def install(self, server: IpcServer) -> None:
        server.register("PutComponentMetric", self.handle_put)

    def handle_put(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        stream.principal.authorize(COMPONENT_METRIC, "PutComponentMetric", "*")
        metrics = request.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            raise InvalidArgumentsError("metrics must be a non-empty list")
        if len(metrics) > MAX_METRICS_PER_CALL:
            raise InvalidArgumentsError(f"at most {MAX_METRICS_PER_CALL} metrics per call, not {len(metrics)}")
        for i, metric in enumerate(metrics):
            problem = metric_problem(i, metric)
            if problem:
                raise InvalidArgumentsError(problem)
        line = json.dumps({"component": stream.principal.name, "ts": int(self.clock() * 1000),
                           "metrics": [{"name": m["name"], "unit": m["unit"], "value": m["value"]} for m in metrics]},
                          separators=(",", ":")) + "\n"
        self._append(line.encode())
        return {}

    def _append(self, data: bytes) -> None:
        private_dir(self.path.parent)
        try:
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            self.recorded += 1
        except OSError as exc:  # a full disk loses this record, never the component's call
            log.error("cannot record a component metric in %s: %s", self.path, exc)
