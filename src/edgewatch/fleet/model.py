"""The fleet table: a bounded model fed by (topic, payload, time), answering events and sorted rows.

Pure: no I/O and no clock of its own; the adapter passes `now` (epoch seconds) in.

Inputs (what the devices publish to AWS IoT Core):
- `dt/edgewatch/<thing>/metrics`: the collector's `edgewatch.metrics-batch/1` payloads (summary or raw,
  possibly split into `part`/`parts`; see components/metrics-collector/.../batching.py).
- `dt/edgewatch/<thing>/alerts`: the router's `edgewatch.notification/1` documents (alerts with
  `status` firing/resolved, `labels.alertname`, `labels.severity`, `fingerprint`).
- `$aws/events/presence/connected|disconnected/<clientId>` (optional): IoT Core presence events.

The topic names the thing: the broker's policy lets a device publish only under its own topic, so a
payload whose `thing` disagrees with its topic is rejected rather than trusted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import sys
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

METRICS_FILTER = "dt/edgewatch/+/metrics"
ALERTS_FILTER = "dt/edgewatch/+/alerts"
PRESENCE_FILTERS = ("$aws/events/presence/connected/+", "$aws/events/presence/disconnected/+")

MAX_PAYLOAD_BYTES = 128 * 1024  # IoT Core's own limit: nothing larger is ever parsed
MAX_THING_CHARS = 128  # IoT thing names are at most 128 characters
MAX_ALERTS_PER_DEVICE = 16
MAX_LABEL_CHARS = 128  # in events
MAX_STORED_NAME_CHARS = 64  # alert names and severities kept per device
RECENT_BATCH_KEYS = 16
DEFAULT_INTERVAL_S = 300.0  # the collector's default iotPublishIntervalSeconds
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 86400.0
SORT_KEYS = ("thing", "last-seen", "cpu", "mem", "disk", "temp", "alerts", "status")
SEVERITIES = ("critical", "warning", "info")

Event = dict[str, Any]


@dataclass
class Device:
    thing: str
    last_seen: float
    interval_s: float
    stale: bool = False
    connected: bool | None = None
    last_to_ms: int | None = None
    cpu: float | None = None
    mem: float | None = None
    disk: float | None = None
    temp: float | None = None
    batches: int = 0
    # digest of the fingerprint -> (alert name, severity); digests keep 10,000 x 16 alerts small
    firing: OrderedDict[bytes, tuple[str, str]] = field(default_factory=OrderedDict)
    recent: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=RECENT_BATCH_KEYS))

    def alerts_by_severity(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _name, severity in self.firing.values():
            counts[severity] = counts.get(severity, 0) + 1
        return counts

    def row(self) -> dict[str, Any]:
        return {"thing": self.thing, "status": "STALE" if self.stale else "OK", "lastSeen": self.last_seen,
                "intervalSeconds": self.interval_s, "cpu": self.cpu, "mem": self.mem, "disk": self.disk,
                "temp": self.temp, "alerts": self.alerts_by_severity(), "batches": self.batches,
                "connected": self.connected}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _short(value: Any) -> str:
    return value[:MAX_LABEL_CHARS] if isinstance(value, str) else ""


def _thing_from(topic: str, prefix: str, suffix: str) -> str | None:
    if not (topic.startswith(prefix) and topic.endswith(suffix)):
        return None
    thing = topic[len(prefix):len(topic) - len(suffix)]
    if not thing or len(thing) > MAX_THING_CHARS or "/" in thing:
        return None
    return thing


def key_values(doc: dict[str, Any]) -> dict[str, float | None]:
    """cpu (total %), mem (%), worst disk (%), hottest temperature (°C) from a batch payload."""
    values: dict[str, float | None] = {"cpu": None, "mem": None, "disk": None, "temp": None}
    if doc.get("mode") == "raw":
        samples = doc.get("samples")
        last = samples[-1] if isinstance(samples, list) and samples and isinstance(samples[-1], dict) else {}
        metrics, value_key = last.get("metrics"), "value"
    else:
        metrics, value_key = doc.get("metrics"), "last"
    if not isinstance(metrics, list):
        return values
    for metric in metrics:
        if not isinstance(metric, dict):
            continue
        name, value = metric.get("name"), _number(metric.get(value_key))
        labels = metric.get("labels") if isinstance(metric.get("labels"), dict) else {}
        if value is None:
            continue
        if name == "cpu.percent" and labels.get("cpu", "total") == "total":
            values["cpu"] = value
        elif name == "memory.percent":
            values["mem"] = value
        elif name == "disk.percent":
            values["disk"] = value if values["disk"] is None else max(values["disk"], value)
        elif name == "temperature.current":
            values["temp"] = value if values["temp"] is None else max(values["temp"], value)
    return values


class FleetTable:
    """Every device seen, at most `max_devices` of them (the least recently seen is evicted first)."""

    def __init__(self, max_devices: int = 10_000, default_interval_s: float = DEFAULT_INTERVAL_S) -> None:
        if max_devices < 1:
            raise ValueError("max_devices must be at least 1")
        self.max_devices = max_devices
        self.default_interval_s = min(max(default_interval_s, MIN_INTERVAL_S), MAX_INTERVAL_S)
        self._devices: OrderedDict[str, Device] = OrderedDict()  # least recently seen first
        self.evicted = 0
        self.rejected = 0

    def __len__(self) -> int:
        return len(self._devices)

    def device(self, thing: str) -> Device | None:
        return self._devices.get(thing)

    # ---- input ----------------------------------------------------------------------------
    def ingest(self, topic: str, payload: bytes, now: float) -> list[Event]:
        """Events caused by one message; a bad message gives one `rejected` event and changes nothing."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._reject(topic, now, f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
        for prefix, suffix, handler in (("dt/edgewatch/", "/metrics", self._metrics),
                                        ("dt/edgewatch/", "/alerts", self._alerts)):
            thing = _thing_from(topic, prefix, suffix)
            if thing is not None:
                try:
                    doc = json.loads(payload)
                except (ValueError, RecursionError) as err:
                    return self._reject(topic, now, f"not JSON: {str(err)[:80]}")
                if not isinstance(doc, dict):
                    return self._reject(topic, now, f"expected a JSON object, got {type(doc).__name__}")
                if doc.get("thing", thing) != thing:
                    return self._reject(topic, now, "payload 'thing' differs from the topic's thing")
                return handler(thing, doc, now)
        for state in ("connected", "disconnected"):
            client = _thing_from(topic, f"$aws/events/presence/{state}/", "")
            if client is not None:
                return self._presence(client, state == "connected", now)
        return self._reject(topic, now, "topic is not a fleet topic")

    def tick(self, now: float) -> list[Event]:
        """`device_stale` for every device whose last batch is older than 2 x its publish interval."""
        events = []
        for device in self._devices.values():
            if not device.stale and now - device.last_seen > 2 * device.interval_s:
                device.stale = True
                events.append(self._event("device_stale", device.thing, now, lastSeen=device.last_seen,
                                          intervalSeconds=device.interval_s))
        return events

    # ---- output ---------------------------------------------------------------------------
    def rows(self, sort: str = "thing", group: str | None = None, stale_only: bool = False,
             limit: int | None = None) -> list[dict[str, Any]]:
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
        devices = [d for d in self._devices.values()
                   if (group is None or fnmatch.fnmatchcase(d.thing, group)) and (d.stale or not stale_only)]
        devices.sort(key=lambda d: d.thing)
        if sort != "thing":
            devices.sort(key=_sort_key(sort), reverse=True)
        return [d.row() for d in devices[:limit]]

    # ---- handlers -------------------------------------------------------------------------
    def _touch(self, thing: str, now: float) -> tuple[Device | None, list[Event]]:
        events: list[Event] = []
        device = self._devices.get(thing)
        if device is None:
            while len(self._devices) >= self.max_devices:
                _, old = self._devices.popitem(last=False)
                self.evicted += 1
                events.append(self._event("device_evicted", old.thing, now, lastSeen=old.last_seen))
            device = Device(thing, now, self.default_interval_s)
            self._devices[thing] = device
            events.append(self._event("device_seen", thing, now, first=True))
        else:
            self._devices.move_to_end(thing)
            if device.stale:
                device.stale = False
                events.append(self._event("device_seen", thing, now, first=False, wasStaleFor=now - device.last_seen))
            device.last_seen = max(device.last_seen, now)
        return device, events

    def _metrics(self, thing: str, doc: dict[str, Any], now: float) -> list[Event]:
        to_ms = doc.get("to")
        if isinstance(to_ms, bool) or not isinstance(to_ms, int):
            return self._reject(f"dt/edgewatch/{thing}/metrics", now, "batch has no integer 'to' (epoch ms)")
        part = doc.get("part") if isinstance(doc.get("part"), int) and not isinstance(doc.get("part"), bool) else 0
        device, events = self._touch(thing, now)
        assert device is not None
        duplicate = (to_ms, part) in device.recent
        if not duplicate:
            device.recent.append((to_ms, part))
            device.batches += 1
        if device.last_to_ms is not None and to_ms > device.last_to_ms:
            # The gap between consecutive batches is the publish interval (parts of one batch share `to`).
            gap = (to_ms - device.last_to_ms) / 1000.0
            device.interval_s = min(max(gap, MIN_INTERVAL_S), MAX_INTERVAL_S)
        if device.last_to_ms is None or to_ms >= device.last_to_ms:
            device.last_to_ms = to_ms
            for name, value in key_values(doc).items():
                if value is not None:
                    setattr(device, name, value)
        events.append(self._event("batch", thing, now, to=to_ms, part=part, parts=doc.get("parts", 1),
                                  mode=doc.get("mode"), duplicate=duplicate, cpu=device.cpu, mem=device.mem,
                                  disk=device.disk, temp=device.temp))
        return events

    def _alerts(self, thing: str, doc: dict[str, Any], now: float) -> list[Event]:
        alerts = doc.get("alerts")
        if not isinstance(alerts, list):
            return self._reject(f"dt/edgewatch/{thing}/alerts", now, "notification has no 'alerts' list")
        device, events = self._touch(thing, now)
        assert device is not None
        for alert in alerts:
            if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
                continue
            labels = alert["labels"]
            name, severity = _short(labels.get("alertname")), _short(labels.get("severity")) or "none"
            fingerprint = _short(alert.get("fingerprint")) or f"{name}/{json.dumps(labels, sort_keys=True)}"[:128]
            status = alert.get("status")
            key = hashlib.blake2b(fingerprint.encode(), digest_size=12).digest()
            if status == "firing" and key not in device.firing:
                if len(device.firing) >= MAX_ALERTS_PER_DEVICE:
                    device.firing.popitem(last=False)
                # Interned: a fleet shares a handful of alert names and severities.
                device.firing[key] = (sys.intern(name[:MAX_STORED_NAME_CHARS]),
                                      sys.intern(severity[:MAX_STORED_NAME_CHARS]))
                events.append(self._event("alert_firing", thing, now, alertname=name, severity=severity,
                                          fingerprint=fingerprint))
            elif status == "resolved" and device.firing.pop(key, None) is not None:
                events.append(self._event("alert_resolved", thing, now, alertname=name, severity=severity,
                                          fingerprint=fingerprint))
        return events

    def _presence(self, client: str, connected: bool, now: float) -> list[Event]:
        # Presence is about a client id; EdgeWatch devices connect with their thing name as client id.
        device = self._devices.get(client)
        if device is not None:
            device.connected = connected
        return [self._event("presence_connected" if connected else "presence_disconnected", client, now,
                            known=device is not None)]

    def _reject(self, topic: str, now: float, reason: str) -> list[Event]:
        self.rejected += 1
        return [{"event": "rejected", "ts": now, "topic": topic[:256], "reason": reason}]

    @staticmethod
    def _event(kind: str, thing: str, now: float, **fields: Any) -> Event:
        return {"event": kind, "ts": now, "thing": thing, **fields}


def _sort_key(sort: str) -> Any:
    def value(device: Device) -> Any:
        if sort == "last-seen":
            return device.last_seen
        if sort == "alerts":
            counts = device.alerts_by_severity()
            return tuple(counts.get(s, 0) for s in SEVERITIES)
        if sort == "status":
            return device.stale
        number = getattr(device, sort.replace("-", "_"))
        return -math.inf if number is None else number
    return value
