"""Alert rules: the configuration shape, its validation (errors name the path) and the comparisons.

A threshold rule compares the last sample, or avg/min/max/rate over `window`, with `threshold`.
An absence rule (`absentFor`) fires when no sample of its selector arrives for that long.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alert_router.matchers import Matcher, all_match, parse_matchers
from alert_router.model import FrozenLabels
from alert_router.templates import Template, parse_template
from edgewatch_shared.config_values import ConfigValueError, as_number, as_str
from edgewatch_shared.durations import parse_duration
from edgewatch_shared.metrics_message import is_valid_metric_name

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
AGGREGATIONS = ("last", "avg", "min", "max", "rate")
SEVERITIES = ("critical", "warning", "info")
RULE_FIELDS = (
    "name", "metric", "matchers", "value", "window", "op", "threshold", "for", "keepFiringFor",
    "clearThreshold", "severity", "labels", "summary", "description", "absentFor",
)
RESERVED_LABELS = frozenset({"alertname", "thing", "severity"})
MAX_WINDOW_SECONDS = 24 * 3600.0

# The recipe's DefaultConfiguration `rules:` (tests/alert_router/test_recipe_and_docs.py keeps them equal).
DEFAULT_RULES: list[dict[str, Any]] = [
    {"name": "HighCpu", "metric": "cpu.percent", "matchers": ['cpu="total"'], "value": "avg", "window": "5m",
     "op": ">", "threshold": 90, "clearThreshold": 80, "for": "5m", "severity": "warning",
     "labels": {"kind": "cpu"}, "summary": "CPU at {value:.0f}% on {thing} (5 min average)"},
    {"name": "HighMemory", "metric": "memory.percent", "op": ">", "threshold": 90, "clearThreshold": 85,
     "for": "5m", "severity": "warning", "labels": {"kind": "memory"},
     "summary": "Memory at {value:.0f}% on {thing}"},
    {"name": "DiskAlmostFull", "metric": "disk.percent", "op": ">", "threshold": 90, "clearThreshold": 85,
     "for": "5m", "severity": "warning", "labels": {"kind": "disk"},
     "summary": "Disk {labels.mount} at {value:.1f}% on {thing}"},
    {"name": "DiskFull", "metric": "disk.percent", "op": ">", "threshold": 97, "clearThreshold": 95,
     "for": "1m", "severity": "critical", "labels": {"kind": "disk"},
     "summary": "Disk {labels.mount} at {value:.1f}% on {thing}: writes will fail"},
    {"name": "HighTemperature", "metric": "temperature.current", "value": "max", "window": "2m", "op": ">",
     "threshold": 85, "clearThreshold": 80, "for": "2m", "severity": "warning", "labels": {"kind": "temperature"},
     "summary": "{labels.sensor} {labels.label} at {value:.0f} °C on {thing}"},
    {"name": "CollectorSilent", "metric": "collector.samples_taken_total", "absentFor": "2m", "severity": "critical",
     "labels": {"kind": "collector"}, "summary": "No metrics from the collector on {thing} for {value:.0f} s"},
    # The gateway rules (issue 15). Each holds through `for`, keepFiringFor, a clearThreshold or a max window.
    {"name": "FilesystemReadOnly", "metric": "disk.read_only", "op": "==", "threshold": 1, "for": "1m",
     "keepFiringFor": "5m", "severity": "critical", "labels": {"kind": "disk"},
     "summary": "Filesystem {labels.mount} ({labels.device}) is read-only on {thing}: writes fail"},
    {"name": "ClockNotSynchronised", "metric": "clock.synchronised", "op": "==", "threshold": 0, "for": "10m",
     "keepFiringFor": "5m", "severity": "warning", "labels": {"kind": "clock"},
     "summary": "Clock not synchronised on {thing} for 10 min: TLS to AWS IoT Core is next to fail"},
    {"name": "InodesAlmostFull", "metric": "disk.inodes_percent", "op": ">", "threshold": 90, "clearThreshold": 85,
     "for": "5m", "severity": "warning", "labels": {"kind": "disk"},
     "summary": "Inodes of {labels.mount} at {value:.1f}% on {thing}"},
    {"name": "OomKill", "metric": "memory.oom_kills", "value": "max", "window": "10m", "op": ">", "threshold": 0,
     "severity": "warning", "labels": {"kind": "memory"},
     "summary": "The OOM killer ended a process on {thing} in the last 10 minutes"},
    {"name": "HighIoWait", "metric": "cpu.mode_percent", "matchers": ['cpu="total"', 'mode="iowait"'], "value": "avg",
     "window": "5m", "op": ">", "threshold": 30, "clearThreshold": 20, "for": "5m", "severity": "warning",
     "labels": {"kind": "io"}, "summary": "I/O wait at {value:.0f}% on {thing} (5 min average)"},
    {"name": "MemoryPressure", "metric": "pressure.some_avg60", "matchers": ['resource="memory"'], "op": ">",
     "threshold": 20, "clearThreshold": 10, "for": "2m", "severity": "warning", "labels": {"kind": "memory"},
     "summary": "Memory pressure on {thing}: tasks stalled {value:.0f}% of the last minute"},
    {"name": "Throttled", "metric": "board.throttled", "value": "avg", "window": "5m", "op": ">", "threshold": 0.5,
     "clearThreshold": 0.25, "for": "5m", "severity": "warning", "labels": {"kind": "board"},
     "summary": "CPU throttled {value:.0%} of the last 5 min on {thing} (heat or under-voltage)"},
    {"name": "UnderVoltage", "metric": "board.under_voltage", "value": "max", "window": "10m", "op": ">",
     "threshold": 0, "severity": "warning", "labels": {"kind": "board"},
     "summary": "Under-voltage on {thing} in the last 10 minutes: check the power supply"},
    {"name": "GreengrassRootAlmostFull", "metric": "greengrass.root_percent", "op": ">", "threshold": 90,
     "clearThreshold": 85, "for": "1m", "severity": "critical", "labels": {"kind": "greengrass"},
     "summary": "Greengrass root at {value:.1f}% on {thing}: deployments will fail"},
]  # fmt: skip


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    matchers: tuple[Matcher, ...] = ()
    value: str = "last"
    window: float = 0.0
    op: str = ">"
    threshold: float = 0.0
    for_: float = 0.0
    keep_firing_for: float = 0.0
    clear_threshold: float | None = None
    severity: str = "warning"
    labels: FrozenLabels = field(default_factory=FrozenLabels)  # hashable: rule sets are diffed as sets
    summary: Template = field(default_factory=lambda: Template("{rule} on {thing}"))
    description: Template = field(default_factory=lambda: Template(""))
    absent_for: float | None = None

    @property
    def is_absence(self) -> bool:
        return self.absent_for is not None

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        return name == self.metric and all_match(self.matchers, labels)

    def breached(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def still_active(self, value: float) -> bool:
        """While pending/firing the clear threshold (hysteresis) decides, if there is one."""
        if self.clear_threshold is None:
            return self.breached(value)
        return OPS[self.op](value, self.clear_threshold)


def parse_rules(path: str, raw: Any) -> tuple[Rule, ...]:
    if not isinstance(raw, list | tuple):
        raise ConfigValueError(path, f"must be a list of rules, got {type(raw).__name__}")
    rules = tuple(parse_rule(f"{path}[{i}]", item) for i, item in enumerate(raw))
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.name in seen:
            first = f"{path}[{seen[rule.name]}]"
            raise ConfigValueError(f"{path}[{i}].name", f"duplicate name {rule.name!r} (also {first})")
        seen[rule.name] = i
    return rules


def parse_rule(path: str, raw: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise ConfigValueError(path, f"must be an object, got {type(raw).__name__}")
    for key in raw:
        if key not in RULE_FIELDS:
            raise ConfigValueError(f"{path}.{key}", f"unknown field (known: {', '.join(RULE_FIELDS)})")
    for key in ("name", "metric"):
        if key not in raw:
            raise ConfigValueError(f"{path}.{key}", "is required")
    name = as_str(f"{path}.name", raw["name"])
    metric = as_str(f"{path}.metric", raw["metric"])
    if not is_valid_metric_name(metric):
        raise ConfigValueError(f"{path}.metric", f"must be a dotted lower-case metric name, got {metric!r}")
    severity = as_str(f"{path}.severity", raw.get("severity", "warning"))
    if severity not in SEVERITIES:
        raise ConfigValueError(f"{path}.severity", f"must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    labels = _labels(f"{path}.labels", raw.get("labels", {}))
    common: dict[str, Any] = {
        "name": name,
        "metric": metric,
        "matchers": parse_matchers(f"{path}.matchers", raw.get("matchers")),
        "for_": parse_duration(f"{path}.for", raw.get("for", 0), maximum=MAX_WINDOW_SECONDS),
        "keep_firing_for": parse_duration(
            f"{path}.keepFiringFor", raw.get("keepFiringFor", 0), maximum=MAX_WINDOW_SECONDS
        ),
        "severity": severity,
        "labels": labels,
        "summary": parse_template(f"{path}.summary", raw.get("summary", "{rule} on {thing}")),
        "description": parse_template(f"{path}.description", raw.get("description", "")),
    }
    if "absentFor" in raw:
        for key in ("op", "threshold", "clearThreshold", "value", "window"):
            if key in raw:
                raise ConfigValueError(f"{path}.{key}", "does not apply to an absence rule (absentFor)")
        absent = parse_duration(f"{path}.absentFor", raw["absentFor"], minimum=1, maximum=MAX_WINDOW_SECONDS)
        return Rule(**common, absent_for=absent)
    return Rule(**common, **_threshold_fields(path, raw))


def _threshold_fields(path: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    if "threshold" not in raw:
        raise ConfigValueError(f"{path}.threshold", "is required (or use absentFor for an absence rule)")
    op = raw.get("op", ">")
    if not isinstance(op, str) or op not in OPS:
        raise ConfigValueError(f"{path}.op", f"must be one of {', '.join(OPS)}, got {_brief(op)}")
    threshold = as_number(f"{path}.threshold", raw["threshold"])
    value = raw.get("value", "last")
    if not isinstance(value, str) or value not in AGGREGATIONS:
        raise ConfigValueError(f"{path}.value", f"must be one of {', '.join(AGGREGATIONS)}, got {_brief(value)}")
    window = parse_duration(f"{path}.window", raw.get("window", 0), maximum=MAX_WINDOW_SECONDS)
    if value != "last" and window <= 0:
        raise ConfigValueError(f"{path}.window", f"is required for value {value!r} (e.g. \"5m\")")
    clear = None
    if raw.get("clearThreshold") is not None:
        clear = as_number(f"{path}.clearThreshold", raw["clearThreshold"])
        if op in ("==", "!="):
            raise ConfigValueError(f"{path}.clearThreshold", f"has no meaning with op {op!r}")
        # Hysteresis only makes sense on the safe side of the threshold.
        if (op in (">", ">=") and clear > threshold) or (op in ("<", "<=") and clear < threshold):
            side = "at most" if op in (">", ">=") else "at least"
            raise ConfigValueError(f"{path}.clearThreshold", f"must be {side} threshold {threshold:g}, got {clear:g}")
    return {"op": op, "threshold": threshold, "value": value, "window": window, "clear_threshold": clear}


def _labels(path: str, raw: Any) -> FrozenLabels:
    if not isinstance(raw, Mapping):
        raise ConfigValueError(path, f"must be an object of strings, got {type(raw).__name__}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise ConfigValueError(f"{path}.{key}", f"must be a string, got {_brief(value)}")
        if key in RESERVED_LABELS:
            raise ConfigValueError(f"{path}.{key}", "is set by the router and cannot be overridden")
    return FrozenLabels(raw)


def _brief(value: Any) -> str:
    """A bad value, described briefly (a full repr may be huge)."""
    if isinstance(value, str):
        return repr(value[:60])
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)[:60]
    return type(value).__name__
