"""A scripted timeline over the pure core, as in Alertmanager's acceptance tests (injected clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alert_router.config import parse_config
from alert_router.core import RouterCore
from alert_router.notification import Notification

THING = "gw-01"


def metrics(
    t: float, name: str, value: float, labels: dict[str, str] | None = None, thing: str = THING
) -> dict[str, Any]:
    return {"schema": "edgewatch.metrics/1", "thing": thing, "ts": round(t * 1000),
            "metrics": [{"name": name, "value": value, "unit": "", "labels": labels or {}}]}  # fmt: skip


def config(rules: list[dict[str, Any]], route: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "rules": rules,
        "route": {"receiver": "r", "groupWait": 0, "groupInterval": 10, "repeatInterval": 100, **(route or {})},
        "receivers": [{"name": "r", "log": {}}, {"name": "pager", "log": {}}],
        "inhibitRules": [],
        **extra,
    }


@dataclass
class Timeline:
    raw_config: dict[str, Any]
    now: float = 0.0
    sent: list[tuple[float, Notification]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.core = RouterCore(parse_config(self.raw_config), THING, self.now)

    def push(self, t: float, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        self.advance(t)
        for n in self.core.on_metrics(metrics(t, name, value, labels), t):
            self.sent.append((t, n))

    def advance(self, t: float, step: float = 0.25) -> None:
        """Tick every `step` seconds up to `t`, as the service's loop does."""
        while self.now + step <= t:
            self.now += step
            self.sent.extend((self.now, n) for n in self.core.tick(self.now))
        self.now = t
        self.sent.extend((t, n) for n in self.core.tick(t))

    def between(self, start: float, end: float) -> list[Notification]:
        return [n for t, n in self.sent if start <= t <= end]

    def states(self) -> dict[str, str]:
        return {a.labels["alertname"]: a.state.value for a in self.core.evaluator.alerts()}
