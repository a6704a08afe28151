"""The routing tree (Alertmanager's): matchers, receivers, `continue`, grouping and timing per route.

Children inherit receiver, groupBy, timings and sendResolved from their parent. An alert descends
into the first matching child (and on to later siblings while a matched child has `continue`); if no
child matches, the route itself takes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alert_router.matchers import Matcher, all_match, parse_matchers
from edgewatch_shared.config_values import ConfigValueError, as_bool, as_str, as_str_list
from edgewatch_shared.durations import parse_duration

ROUTE_FIELDS = (
    "receiver", "matchers", "groupBy", "groupWait", "groupInterval", "repeatInterval", "sendResolved",
    "continue", "routes",
)
DEFAULT_TIMING = {"groupWait": 30.0, "groupInterval": 300.0, "repeatInterval": 4 * 3600.0}
ALL_LABELS = "..."


@dataclass(frozen=True)
class Route:
    id: str
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] | None = ("alertname",)  # None: every label ("..."), one group per alert
    group_wait: float = DEFAULT_TIMING["groupWait"]
    group_interval: float = DEFAULT_TIMING["groupInterval"]
    repeat_interval: float = DEFAULT_TIMING["repeatInterval"]
    send_resolved: bool = True
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        if not all_match(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            if matched:
                found.extend(matched)
                if not child.continue_:
                    break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by is None:
            return dict(labels)
        return {k: labels[k] for k in self.group_by if k in labels}

    def walk(self) -> list[Route]:
        return [self, *(r for child in self.routes for r in child.walk())]


def parse_route(path: str, raw: Any, receivers: set[str], parent: Route | None = None) -> Route:
    if not isinstance(raw, Mapping):
        raise ConfigValueError(path, f"must be an object, got {raw!r}")
    for key in raw:
        if key not in ROUTE_FIELDS:
            raise ConfigValueError(f"{path}.{key}", f"unknown field (known: {', '.join(ROUTE_FIELDS)})")
    if parent is None:
        if "receiver" not in raw:
            raise ConfigValueError(f"{path}.receiver", "is required on the root route")
        if raw.get("matchers"):
            raise ConfigValueError(f"{path}.matchers", "the root route matches every alert; use child routes")
        if raw.get("continue"):
            raise ConfigValueError(f"{path}.continue", "has no meaning on the root route")
    receiver = as_str(f"{path}.receiver", raw["receiver"]) if "receiver" in raw else parent.receiver  # type: ignore[union-attr]
    if receiver not in receivers:
        known = ", ".join(sorted(receivers)) or "none"
        raise ConfigValueError(f"{path}.receiver", f"unknown receiver {receiver!r} (receivers: {known})")
    group_by: tuple[str, ...] | None = parent.group_by if parent else ("alertname",)
    if "groupBy" in raw:
        names = as_str_list(f"{path}.groupBy", raw["groupBy"])
        group_by = None if ALL_LABELS in names else names
    timing = {
        attr: parse_duration(f"{path}.{key}", raw[key], allow_zero=(key == "groupWait"), maximum=7 * 86400)
        if key in raw else (getattr(parent, attr) if parent else DEFAULT_TIMING[key])
        for key, attr in (("groupWait", "group_wait"), ("groupInterval", "group_interval"),
                          ("repeatInterval", "repeat_interval"))
    }  # fmt: skip
    route = Route(
        id=path,
        receiver=receiver,
        matchers=parse_matchers(f"{path}.matchers", raw.get("matchers")),
        group_by=group_by,
        send_resolved=as_bool(f"{path}.sendResolved", raw["sendResolved"]) if "sendResolved" in raw
        else (parent.send_resolved if parent else True),
        continue_=as_bool(f"{path}.continue", raw.get("continue", False)),
        **timing,
    )
    children = raw.get("routes", [])
    if not isinstance(children, list):
        raise ConfigValueError(f"{path}.routes", "must be a list of routes")
    routes = tuple(parse_route(f"{path}.routes[{i}]", child, receivers, route) for i, child in enumerate(children))
    return Route(**{**route.__dict__, "routes": routes})
