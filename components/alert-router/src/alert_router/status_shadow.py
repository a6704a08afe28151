"""The gateway's status shadow: the named shadow `edgewatch` of this thing in AWS IoT Core. Pure:
documents in, time passed in; `shadow_publisher` is the adapter that sends.

The router reports, in `{"state": {"reported": {...}}}` on
`$aws/things/<thing>/shadow/name/edgewatch/update` (PublishToIoTCore):

    {"schema": "edgewatch.status/1",
     "versions": {"AlertRouter": "0.2.0", "MetricsCollector": "0.2.0"},
     "firingAlerts": {"total": 1, "critical": 1, "warning": 0},
     "lastSampleTs": 1763800000123,
     "outboxDepths": {"AlertRouter": 0, "MetricsCollector": 3}}

Versions: the router's own (where it was deployed from, `component_env.component_version`) and the
`version` of the other components' `edgewatch.health/1` documents on the health topic; outbox
depths: the router's notifications waiting and the collector's `buffer_depth` from its health. Keys
are the component names without `com.edgewatch.` (fleet indexing queries cannot address a key with
dots). A component that never said its version is absent.

When (`ShadowSchedule`): a document that differs from the last one published, apart from
`lastSampleTs`, goes out once `minIntervalSeconds` have passed since the last publish; a change of
`lastSampleTs` alone waits for `maxIntervalSeconds`; an unchanged document is never sent again. A
failed publish is retried with the shared backoff, never sooner than the minimum interval allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch_shared import health_message
from edgewatch_shared.backoff import Backoff
from edgewatch_shared.config_values import ConfigValueError, as_bool, describe
from edgewatch_shared.durations import parse_duration

SCHEMA_ID = "edgewatch.status/1"
SHADOW_NAME = "edgewatch"
COMPONENT_PREFIX = "com.edgewatch."
COLLECTOR = "com.edgewatch.MetricsCollector"
FIELDS = ("enabled", "minIntervalSeconds", "maxIntervalSeconds")
STATUS_SHADOW_DEFAULTS: dict[str, Any] = {"enabled": True, "minIntervalSeconds": 300, "maxIntervalSeconds": 3600}
SEVERITIES = ("critical", "warning")  # always reported (0 included), so a fleet query can compare them
MAX_SEVERITIES = 8
MAX_COMPONENTS = 16
_KEY = re.compile(r"[^A-Za-z0-9_-]")


def shadow_topic(thing: str) -> str:
    return f"$aws/things/{thing}/shadow/name/{SHADOW_NAME}/update"


@dataclass(frozen=True)
class ShadowSpec:
    enabled: bool = True
    min_interval: float = 300.0
    max_interval: float = 3600.0


def parse_status_shadow(raw: Any) -> ShadowSpec:
    if not isinstance(raw, Mapping):
        raise ConfigValueError("statusShadow", f"must be an object, got {describe(raw)}")
    for key in raw:
        if key not in FIELDS:
            raise ConfigValueError(f"statusShadow.{key}", f"unknown field (known: {', '.join(FIELDS)})")
    doc = {**STATUS_SHADOW_DEFAULTS, **raw}
    min_interval = parse_duration("statusShadow.minIntervalSeconds", doc["minIntervalSeconds"], minimum=1,
                                  maximum=86400, allow_zero=False)  # fmt: skip
    max_interval = parse_duration("statusShadow.maxIntervalSeconds", doc["maxIntervalSeconds"], minimum=1,
                                  maximum=7 * 86400, allow_zero=False)  # fmt: skip
    if max_interval < min_interval:
        raise ConfigValueError("statusShadow.maxIntervalSeconds",
                               f"must be at least minIntervalSeconds ({min_interval:g})")  # fmt: skip
    return ShadowSpec(as_bool("statusShadow.enabled", doc["enabled"]), min_interval, max_interval)


def short_name(component: str) -> str:
    name = component[len(COMPONENT_PREFIX):] if component.startswith(COMPONENT_PREFIX) else component
    return _KEY.sub("_", name)[:64]


@dataclass
class ComponentBook:
    """What the other components' health documents said: their versions and the collector's buffer depth."""

    thing: str
    versions: dict[str, str] = field(default_factory=dict)
    collector_buffer_depth: int | None = None

    def on_health(self, doc: Any) -> bool:
        """Take one health document; False when it is not a valid one for this thing (ignored)."""
        try:
            message = health_message.from_dict(doc)
        except health_message.HealthMessageError:
            return False
        if message.thing != self.thing:
            return False
        name = short_name(message.component)
        if message.version is not None and (name in self.versions or len(self.versions) < MAX_COMPONENTS):
            self.versions[name] = message.version
        if message.component == COLLECTOR and "buffer_depth" in message.counters:
            self.collector_buffer_depth = int(message.counters["buffer_depth"])
        return True


def status_document(
    *, own_component: str, own_version: str | None, book: ComponentBook, firing_severities: Iterable[str],
    last_sample_ms: int | None, router_outbox_depth: int,
) -> dict[str, Any]:
    """The `reported` section of the shadow (see the module docstring)."""
    versions = dict(book.versions)
    if own_version is not None:
        versions[short_name(own_component)] = own_version
    firing: dict[str, int] = {"total": 0, **dict.fromkeys(SEVERITIES, 0)}
    for severity in firing_severities:
        firing["total"] += 1
        key = _KEY.sub("_", severity or "none")[:32]
        if key in firing or len(firing) < MAX_SEVERITIES + 1:
            firing[key] = firing.get(key, 0) + 1
    depths = {short_name(own_component): router_outbox_depth}
    if book.collector_buffer_depth is not None:
        depths[short_name(COLLECTOR)] = book.collector_buffer_depth
    return {"schema": SCHEMA_ID, "versions": dict(sorted(versions.items())), "firingAlerts": firing,
            "lastSampleTs": last_sample_ms, "outboxDepths": depths}  # fmt: skip


def shadow_update(reported: Mapping[str, Any]) -> dict[str, Any]:
    return {"state": {"reported": dict(reported)}}


def _without_sample_time(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "lastSampleTs"}


class ShadowSchedule:
    """Decides when a status document is published. Not thread-safe: the adapter serialises calls."""

    def __init__(self, spec: ShadowSpec, backoff: Backoff | None = None) -> None:
        self.spec = spec
        self._backoff = backoff or Backoff(initial=5.0, maximum=300.0)
        self._published: dict[str, Any] | None = None
        self._published_at: float | None = None
        self._retry_at = 0.0

    def set_spec(self, spec: ShadowSpec) -> None:
        self.spec = spec

    def due(self, doc: Mapping[str, Any], now: float) -> bool:
        """Whether `doc` should be published now."""
        if not self.spec.enabled or now < self._retry_at:
            return False
        if self._published is None or self._published_at is None:
            return True
        since = now - self._published_at
        if _without_sample_time(doc) != _without_sample_time(self._published):
            return since >= self.spec.min_interval
        if doc.get("lastSampleTs") != self._published.get("lastSampleTs"):
            return since >= self.spec.max_interval
        return False

    def published(self, doc: Mapping[str, Any], now: float) -> None:
        self._published, self._published_at = dict(doc), now
        self._retry_at = 0.0
        self._backoff.reset()

    def failed(self, now: float) -> float:
        """A publish failed; returns the delay before the next attempt."""
        delay = self._backoff.next_delay()
        self._retry_at = now + delay
        return delay

    @property
    def last_published(self) -> dict[str, Any] | None:
        return None if self._published is None else dict(self._published)
