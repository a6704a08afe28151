"""The latest value of every series in the Prometheus text exposition format (version 0.0.4).

Names: `edgewatch_` + the metric name with every character outside [a-zA-Z0-9_] turned into `_`
(`cpu.percent` -> `edgewatch_cpu_percent`); labels likewise, values escaped; plus `thing`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from local_dashboard.history import Series

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    return "edgewatch_" + _INVALID.sub("_", name)


def label_name(name: str) -> str:
    cleaned = _INVALID.sub("_", name)
    return f"_{cleaned}" if not cleaned or cleaned[0].isdigit() or cleaned.startswith("__") else cleaned


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(latest: Iterable[tuple[Series, int, float]], thing: str) -> str:
    by_name: dict[str, list[str]] = {}
    for series, ts, value in latest:
        labels = {"thing": thing, **{label_name(k): v for k, v in series.labels.items()}}
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        by_name.setdefault(metric_name(series.name), []).append(f"{metric_name(series.name)}{{{text}}} {value!r} {ts}")
    lines: list[str] = []
    for name in sorted(by_name):
        lines.append(f"# TYPE {name} gauge")
        lines.extend(sorted(by_name[name]))
    return "\n".join(lines) + "\n"
