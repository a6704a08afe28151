"""The fleet rule: `DeviceSilent`, an absence rule per thing over IoT Core batches. Pure: time passed in.

On a hub, the router also receives the collectors' IoT Core batches (`edgewatch.metrics-batch/1`,
`iotCoreInputs`). A thing seen once is expected again: when no batch of it arrives for `factor` x
its publish interval, `DeviceSilent` (critical, `thing` from the topic) fires; its next batch
resolves it. Its interval is `publishIntervalSeconds`, or, once three gaps between its distinct
batches are known, their median when that is longer (a device configured to publish less often is
not reported silent between its batches; one long outage does not move the median). A presence
`disconnected` event (optional) fires it at once for a known thing.
The alerts go to the dispatcher like any other, so grouping, silences, the outbox and retries apply.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alert_router.model import Alert, AlertState
from edgewatch_shared.config_values import ConfigValueError, as_bool, as_int, as_number, as_str, describe
from edgewatch_shared.durations import parse_duration

logger = logging.getLogger(__name__)

BATCH_SCHEMA = "edgewatch.metrics-batch/1"
RULE_NAME = "DeviceSilent"
# The two filters the hub IoT policy grants (iot:Subscribe is checked against the filter string itself).
PRESENCE_FILTERS = ("$aws/events/presence/connected/+", "$aws/events/presence/disconnected/+")
DEVICE_SILENT_FIELDS = ("publishIntervalSeconds", "factor", "presence", "maxDevices")
DEVICE_SILENT_DEFAULTS: dict[str, Any] = {"publishIntervalSeconds": 300, "factor": 2, "presence": False,
                                          "maxDevices": 10000}  # fmt: skip
MAX_INPUTS = 16
MAX_THING_CHARS = 128
GAPS_KEPT = 3
MAX_INTERVAL_SECONDS = 86400.0


class BatchError(ValueError):
    """A batch (or presence event) that cannot be used; counted and logged by the caller."""


@dataclass(frozen=True)
class FleetSpec:
    inputs: tuple[str, ...] = ()
    publish_interval: float = 300.0
    factor: float = 2.0
    presence: bool = False
    max_devices: int = 10000

    @property
    def enabled(self) -> bool:
        return bool(self.inputs)

    @property
    def silent_after(self) -> float:
        return self.publish_interval * self.factor

    def filters(self) -> tuple[str, ...]:
        """Every IoT Core topic filter the router subscribes to."""
        return self.inputs + (PRESENCE_FILTERS if self.enabled and self.presence else ())


def parse_filter(key: str, value: Any) -> str:
    """An MQTT topic filter with a `+` level (that level names the thing), within IoT Core's limits."""
    text = as_str(key, value)
    if len(text.encode("utf-8", "surrogatepass")) > 256 or text.count("/") > 7:
        raise ConfigValueError(key, "must be at most 256 bytes and 7 slashes")
    levels = text.split("/")
    for i, level in enumerate(levels):
        if ("+" in level or "#" in level) and level not in ("+", "#"):
            raise ConfigValueError(key, f"a wildcard must be a whole level, got {describe(text)}")
        if level == "#" and i != len(levels) - 1:
            raise ConfigValueError(key, f"'#' must be the last level, got {describe(text)}")
        if not level:
            raise ConfigValueError(key, f"must not have empty levels, got {describe(text)}")
    if "+" not in levels:
        raise ConfigValueError(key, f"needs a '+' level for the thing name (e.g. dt/edgewatch/+/metrics), "
                                    f"got {describe(text)}")  # fmt: skip
    return text


def parse_fleet(inputs_raw: Any, silent_raw: Any) -> FleetSpec:
    if not isinstance(inputs_raw, list):
        raise ConfigValueError("iotCoreInputs", f"must be a list of topic filters, got {describe(inputs_raw)}")
    if len(inputs_raw) > MAX_INPUTS:
        raise ConfigValueError("iotCoreInputs", f"at most {MAX_INPUTS} topic filters")
    inputs = tuple(parse_filter(f"iotCoreInputs[{i}]", v) for i, v in enumerate(inputs_raw))
    if len(set(inputs)) != len(inputs):
        raise ConfigValueError("iotCoreInputs", "lists a topic filter twice")
    if not isinstance(silent_raw, Mapping):
        raise ConfigValueError("deviceSilent", f"must be an object, got {describe(silent_raw)}")
    for key in silent_raw:
        if key not in DEVICE_SILENT_FIELDS:
            raise ConfigValueError(f"deviceSilent.{key}", f"unknown field (known: {', '.join(DEVICE_SILENT_FIELDS)})")
    doc = {**DEVICE_SILENT_DEFAULTS, **silent_raw}
    return FleetSpec(
        inputs=inputs,
        publish_interval=parse_duration("deviceSilent.publishIntervalSeconds", doc["publishIntervalSeconds"],
                                        minimum=0.1, maximum=86400, allow_zero=False),
        factor=_factor(doc["factor"]),
        presence=as_bool("deviceSilent.presence", doc["presence"]),
        max_devices=as_int("deviceSilent.maxDevices", doc["maxDevices"], minimum=1, maximum=1_000_000),
    )  # fmt: skip


def _factor(value: Any) -> float:
    factor = as_number("deviceSilent.factor", value)
    if not 1 <= factor <= 100:
        raise ConfigValueError("deviceSilent.factor", f"must be between 1 and 100 (times the publish interval), "
                                                      f"got {describe(value)}")  # fmt: skip
    return factor


def match_thing(filter_: str, topic: str) -> str | None:
    """The topic level under the filter's first `+` when `topic` matches `filter_`, else None."""
    f_levels, t_levels = filter_.split("/"), topic.split("/")
    thing = None
    for i, level in enumerate(f_levels):
        if level == "#":
            return thing
        if i >= len(t_levels):
            return None
        if level == "+":
            thing = t_levels[i] if thing is None else thing
        elif level != t_levels[i]:
            return None
    return thing if len(t_levels) == len(f_levels) else None


def check_batch(doc: Any, thing: str) -> int:
    """The batch's last sample time (epoch ms); BatchError saying what is wrong otherwise."""
    if not isinstance(doc, Mapping):
        raise BatchError(f"batch must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != BATCH_SCHEMA:
        raise BatchError(f"schema: expected {BATCH_SCHEMA!r}, got {str(doc.get('schema'))[:60]!r}")
    if doc.get("mode") not in ("raw", "summary"):
        raise BatchError("mode: must be 'raw' or 'summary'")
    if doc.get("thing") != thing:
        raise BatchError(f"thing: {str(doc.get('thing'))[:MAX_THING_CHARS]!r} does not match the topic's {thing!r}")
    for key in ("from", "to"):
        value = doc.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
            raise BatchError(f"{key}: must be epoch milliseconds")
    items_key = "samples" if doc["mode"] == "raw" else "metrics"
    if not isinstance(doc.get(items_key), list):
        raise BatchError(f"{items_key}: must be a list")
    return int(doc["to"])


def _valid_thing(thing: str | None) -> bool:
    return bool(thing) and len(thing or "") <= MAX_THING_CHARS


@dataclass
class _Device:
    last_seen: float
    alert: Alert | None = None  # the firing DeviceSilent, if any
    last_to: int = -1  # the latest batch's `to`: parts of one batch share it
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAPS_KEPT))  # arrival gaps between batches


@dataclass
class FleetStats:
    batches: int = 0
    malformed_batches: int = 0
    presence_events: int = 0
    devices_refused: int = 0


@dataclass
class FleetWatch:
    spec: FleetSpec
    stats: FleetStats = field(default_factory=FleetStats)

    def __post_init__(self) -> None:
        self._devices: dict[str, _Device] = {}
        self._changes: list[Alert] = []

    def set_spec(self, spec: FleetSpec, now: float) -> None:
        self.spec = spec
        if not spec.enabled:  # fleet input switched off: what was announced resolves
            for thing in list(self._devices):
                self._resolve(thing, now)
            self._devices.clear()

    # -- inputs
    def on_message(self, topic: str, doc: Any, now: float) -> None:
        """One IoT Core message; raises BatchError (counted) when it is unusable."""
        if topic.startswith("$aws/events/presence/"):
            self._on_presence(topic, doc, now)
            return
        thing = next((t for f in self.spec.inputs if (t := match_thing(f, topic)) is not None), None)
        try:
            if not _valid_thing(thing):
                raise BatchError(f"topic {topic[:256]!r} matches no iotCoreInputs filter with a thing level")
            assert thing is not None
            to_ms = check_batch(doc, thing)
        except BatchError:
            self.stats.malformed_batches += 1
            raise
        self.stats.batches += 1
        self._seen(thing, now, to_ms)

    def _on_presence(self, topic: str, doc: Any, now: float) -> None:
        self.stats.presence_events += 1
        parts = topic.split("/")
        if len(parts) != 5 or parts[3] not in ("connected", "disconnected"):
            raise BatchError(f"presence topic {topic[:256]!r} is not $aws/events/presence/<event>/<clientId>")
        client_id = parts[4]
        device = self._devices.get(client_id)
        if parts[3] == "disconnected" and device is not None and device.alert is None:
            # The broker saw it go: no need to wait for 2 x the publish interval.
            device.last_seen = min(device.last_seen, now - self._silent_after(device))
            self._evaluate(client_id, device, now)

    def _interval(self, device: _Device) -> float:
        if len(device.gaps) < GAPS_KEPT:
            return self.spec.publish_interval
        return max(self.spec.publish_interval, min(statistics.median(device.gaps), MAX_INTERVAL_SECONDS))

    def _silent_after(self, device: _Device) -> float:
        return self.spec.factor * self._interval(device)

    def _seen(self, thing: str, now: float, to_ms: int) -> None:
        device = self._devices.get(thing)
        if device is None:
            if len(self._devices) >= self.spec.max_devices:
                self.stats.devices_refused += 1
                if self.stats.devices_refused % 1000 == 1:
                    logger.warning("more than maxDevices (%d) things; new ones are not watched", self.spec.max_devices)
                return
            self._devices[thing] = _Device(now, last_to=to_ms)
            return
        if to_ms != device.last_to:
            device.gaps.append(max(0.0, now - device.last_seen))
            device.last_to = to_ms
        device.last_seen = max(device.last_seen, now)
        if device.alert is not None:
            self._resolve(thing, now)

    def tick(self, now: float) -> None:
        for thing, device in self._devices.items():
            self._evaluate(thing, device, now)

    def _evaluate(self, thing: str, device: _Device, now: float) -> None:
        silent_for = now - device.last_seen
        if device.alert is not None:
            device.alert.value = silent_for
            device.alert.annotations = self._annotations(thing, silent_for, device)
            return
        if silent_for < self._silent_after(device):
            return
        labels = {"alertname": RULE_NAME, "severity": "critical", "kind": "device", "thing": thing}
        alert = Alert(labels, self._annotations(thing, silent_for, device), AlertState.FIRING,
                      active_at=device.last_seen, value=silent_for, starts_at=now)  # fmt: skip
        device.alert = alert
        self._changes.append(alert)

    def _annotations(self, thing: str, silent_for: float, device: _Device | None = None) -> dict[str, str]:
        interval = self.spec.publish_interval if device is None else self._interval(device)
        return {"summary": f"No metrics batch from {thing} for {silent_for:.0f} s "
                           f"(expected every {interval:.0f} s)"}  # fmt: skip

    def _resolve(self, thing: str, now: float) -> None:
        device = self._devices.get(thing)
        if device is None or device.alert is None:
            return
        alert, device.alert = device.alert, None
        alert.state, alert.ends_at = AlertState.RESOLVED, now
        alert.annotations = {"summary": f"{thing} sends metrics batches again"}
        self._changes.append(alert)

    # -- outputs
    def take_changes(self) -> list[Alert]:
        changes, self._changes = self._changes, []
        return changes

    def firing(self) -> list[Alert]:
        return [d.alert for d in self._devices.values() if d.alert is not None]

    def device_count(self) -> int:
        return len(self._devices)

    # -- state across restarts: who was seen when, and which DeviceSilent was announced
    def export(self) -> list[dict[str, Any]]:
        return [{"thing": t, "lastSeen": d.last_seen, "startsAt": d.alert.starts_at if d.alert else None}
                for t, d in sorted(self._devices.items())]  # fmt: skip

    def restore(self, records: Iterable[Any], now: float) -> list[Alert]:
        """Devices from before a restart; their firing DeviceSilent alerts are returned (to the dispatcher).
        A device that was fine gets a full silence period from `now`: batches it sent while the router was
        down were not seen, so its old last-seen time proves nothing."""
        restored = []
        for record in records:
            if not isinstance(record, Mapping) or len(self._devices) >= self.spec.max_devices:
                continue
            thing, last_seen, starts = record.get("thing"), record.get("lastSeen"), record.get("startsAt")
            if not isinstance(thing, str) or not _valid_thing(thing) or not isinstance(last_seen, int | float):
                continue
            device = _Device(max(float(last_seen), now))
            if isinstance(starts, int | float):
                labels = {"alertname": RULE_NAME, "severity": "critical", "kind": "device", "thing": thing}
                device.alert = Alert(labels, self._annotations(thing, 0.0), AlertState.FIRING,
                                     active_at=float(last_seen), starts_at=float(starts))  # fmt: skip
                device.last_seen = float(last_seen)
                restored.append(device.alert)
            self._devices[thing] = device
        return restored
