"""Helpers of the hub tests (tests/fleet/test_hub_*.py): component source paths and batch documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def summary_batch(thing: str, ts_ms: int, *, cpu: float = 12.5, mem: float = 40.0, disk: float = 55.0,
                  temp: float | None = 48.0, part: int = 1, parts: int = 1) -> dict[str, Any]:
    """A collector IoT batch (`edgewatch.metrics-batch/1`, summary mode) as it reaches IoT Core."""
    metrics = [
        _stat("cpu.percent", "%", {"cpu": "total"}, cpu),
        _stat("memory.percent", "%", {}, mem),
        _stat("disk.percent", "%", {"mount": "/"}, disk),
        _stat("disk.percent", "%", {"mount": "/data"}, disk / 2),
    ]
    if temp is not None:
        metrics.append(_stat("temperature.current", "°C", {"sensor": "coretemp", "label": "Package id 0"}, temp))
    return {"schema": "edgewatch.metrics-batch/1", "thing": thing, "mode": "summary", "from": max(0, ts_ms - 4000),
            "to": ts_ms, "sampleCount": 5, "part": part, "parts": parts, "metrics": metrics}  # fmt: skip


def raw_batch(thing: str, ts_ms: int, cpu: float = 30.0) -> dict[str, Any]:
    sample = {"ts": ts_ms, "metrics": [{"name": "cpu.percent", "value": cpu, "unit": "%", "labels": {"cpu": "total"}},
                                       {"name": "memory.percent", "value": 20.0, "unit": "%", "labels": {}}]}
    return {"schema": "edgewatch.metrics-batch/1", "thing": thing, "mode": "raw", "from": ts_ms, "to": ts_ms,
            "part": 1, "parts": 1, "samples": [sample]}  # fmt: skip


def _stat(name: str, unit: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"name": name, "unit": unit, "labels": labels, "min": value, "max": value, "avg": value, "last": value,
            "count": 5}


def encoded(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
