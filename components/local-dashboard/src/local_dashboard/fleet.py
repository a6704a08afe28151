"""Hub mode: every device's IoT Core batches and alerts, for the Fleet page. Pure: time passed in.

Input: the collectors' batches (`edgewatch.metrics-batch/1` on `dt/edgewatch/<thing>/metrics`) and the
routers' notifications (`edgewatch.alerts/1` on `dt/edgewatch/<thing>/alerts`); the thing is the topic
level the filter's `+` matched, and a document naming another thing is refused. Per device: last seen,
key values of its latest batch (cpu, memory, worst disk, hottest sensor), firing alerts and its recent
batches. Bounded: `fleetMaxDevices` devices, `fleetBatchesPerDevice` batches each and `fleetMaxBytes`
for all stored batches together (the oldest batch anywhere goes first).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local_dashboard.books import InputError

logger = logging.getLogger(__name__)

BATCH_SCHEMA = "edgewatch.metrics-batch/1"
ALERTS_SCHEMA = "edgewatch.alerts/1"
MAX_THING_CHARS = 128
MAX_ALERTS_PER_DEVICE = 50
MAX_TEXT = 300
STALE_FACTOR = 2
ENTRY_OVERHEAD_BYTES = 120  # the str, tuple and deque slot around an entry's JSON text


def match_thing(filter_: str, topic: str) -> str | None:
    """The topic level under the filter's first `+` when `topic` matches `filter_`, else None."""
    f_levels, t_levels = filter_.split("/"), topic.split("/")
    if len(f_levels) != len(t_levels):
        return None
    thing = None
    for f, t in zip(f_levels, t_levels, strict=True):
        if f == "+":
            thing = t if thing is None else thing
        elif f != t:
            return None
    return thing


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _epoch_ms(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
        raise InputError(f"batch: '{key}' must be epoch milliseconds")
    return value


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def key_values(doc: Mapping[str, Any]) -> dict[str, Any]:
    """cpu / mem / worst disk / temperature from a batch: the summary's `last`, a raw batch's last sample."""
    if doc["mode"] == "summary":
        items = [(m, m.get("last")) for m in doc["metrics"] if isinstance(m, Mapping)]
    else:
        last = next((s for s in reversed(doc["samples"]) if isinstance(s, Mapping)), None)
        metrics = last.get("metrics") if last is not None else None
        items = [(m, m.get("value")) for m in metrics if isinstance(m, Mapping)] if isinstance(metrics, list) else []
    out: dict[str, Any] = {"cpu": None, "mem": None, "disk": None, "diskMount": None, "temp": None}
    for metric, raw in items:
        value, name = _finite(raw), metric.get("name")
        labels = metric.get("labels") if isinstance(metric.get("labels"), Mapping) else {}
        if value is None:
            continue
        if name == "cpu.percent" and labels.get("cpu", "total") == "total":
            out["cpu"] = value
        elif name == "memory.percent":
            out["mem"] = value
        elif name == "disk.percent" and (out["disk"] is None or value > out["disk"]):
            out["disk"], out["diskMount"] = value, _text(labels.get("mount")) or None
        elif name == "temperature.current" and (out["temp"] is None or value > out["temp"]):
            out["temp"] = value
    return out


@dataclass
class _Device:
    thing: str
    first_seen_ms: int
    last_seen_ms: int = 0
    last_batch_ms: int = 0  # the batch's own `to`
    values: dict[str, Any] = field(default_factory=dict)
    alerts: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    # (seq, size, the batch's summary as compact JSON text: one str object, so its size is what it costs)
    batches: deque[tuple[int, int, str]] = field(default_factory=deque)
    batch_count: int = 0


@dataclass
class FleetStats:
    batches: int = 0
    alerts: int = 0
    refused_devices: int = 0
    evicted_batches: int = 0


class FleetBook:
    def __init__(self, *, max_devices: int, batches_per_device: int, max_bytes: int, publish_interval_s: float,
                 metrics_filter: str, alerts_filter: str) -> None:  # fmt: skip
        self._devices: dict[str, _Device] = {}
        self._order: deque[tuple[str, int]] = deque()  # (thing, seq) of stored batches, oldest first
        self._seq = 0
        self.stored_bytes = 0
        self._stored = 0  # batches held, all devices
        self.stats = FleetStats()
        self.version = 0
        self.reconfigure(max_devices=max_devices, batches_per_device=batches_per_device, max_bytes=max_bytes,
                         publish_interval_s=publish_interval_s, metrics_filter=metrics_filter,
                         alerts_filter=alerts_filter)  # fmt: skip

    def reconfigure(self, *, max_devices: int, batches_per_device: int, max_bytes: int, publish_interval_s: float,
                    metrics_filter: str, alerts_filter: str) -> None:  # fmt: skip
        self.max_devices, self.batches_per_device, self.max_bytes = max_devices, batches_per_device, max_bytes
        self.publish_interval_s = publish_interval_s
        self.metrics_filter, self.alerts_filter = metrics_filter, alerts_filter
        for device in self._devices.values():
            while len(device.batches) > batches_per_device:
                self._drop_oldest_of(device)
        self._evict()

    # -- in
    def apply(self, topic: str, doc: Any, now_ms: int) -> None:
        """One decoded IoT Core message; raises InputError when it is unusable."""
        if (thing := match_thing(self.metrics_filter, topic)) is not None:
            self._batch(self._thing(thing, doc), doc, now_ms)
        elif (thing := match_thing(self.alerts_filter, topic)) is not None:
            self._alerts(self._thing(thing, doc), doc, now_ms)
        else:
            raise InputError(f"topic {topic[:256]!r} matches neither fleet filter")
        self.version += 1

    def _thing(self, thing: str, doc: Any) -> str:
        if not thing or len(thing) > MAX_THING_CHARS:
            raise InputError("topic: the thing level must be 1 to 128 characters")
        if not isinstance(doc, Mapping):
            raise InputError(f"fleet message must be a JSON object, got {type(doc).__name__}")
        if doc.get("thing") != thing:
            raise InputError(f"thing: {_text(doc.get('thing'))[:MAX_THING_CHARS]!r} does not match the topic's "
                             f"{thing!r}")  # fmt: skip
        return thing

    def _device(self, thing: str, now_ms: int) -> _Device | None:
        """The device, None when it is new and fleetMaxDevices are shown already (counted, logged rarely)."""
        device = self._devices.get(thing)
        if device is None:
            if len(self._devices) >= self.max_devices:
                self.stats.refused_devices += 1
                if self.stats.refused_devices % 1000 == 1:
                    logger.warning("more than fleetMaxDevices (%d) devices: %d message(s) of new devices not shown",
                                   self.max_devices, self.stats.refused_devices)  # fmt: skip
                return None
            device = self._devices[thing] = _Device(thing, now_ms)
        return device

    def _batch(self, thing: str, doc: Mapping[str, Any], now_ms: int) -> None:
        if doc.get("schema") != BATCH_SCHEMA:
            raise InputError(f"batch: 'schema' must be {BATCH_SCHEMA!r}")
        mode = doc.get("mode")
        if mode not in ("raw", "summary"):
            raise InputError("batch: 'mode' must be raw or summary")
        items_key = "samples" if mode == "raw" else "metrics"
        if not isinstance(doc.get(items_key), list):
            raise InputError(f"batch: '{items_key}' must be a list")
        from_ms, to_ms = _epoch_ms(doc, "from"), _epoch_ms(doc, "to")
        values = key_values(doc)
        device = self._device(thing, now_ms)
        if device is None:
            return
        device.last_seen_ms = max(device.last_seen_ms, now_ms)
        if to_ms >= device.last_batch_ms:
            device.last_batch_ms, device.values = to_ms, values
        part, parts = doc.get("part"), doc.get("parts")
        count = doc.get("sampleCount") if mode == "summary" else len(doc["samples"])
        entry = {"receivedAt": now_ms, "from": from_ms, "to": to_ms, "mode": mode,
                 "part": part if isinstance(part, int) else 1, "parts": parts if isinstance(parts, int) else 1,
                 "samples": count if isinstance(count, int) else None, "values": values,
                 "metrics": _brief_metrics(doc, items_key)}  # fmt: skip
        text = json.dumps(entry, separators=(",", ":"), allow_nan=False)
        size = len(text) + ENTRY_OVERHEAD_BYTES  # ASCII (escaped), so characters are bytes
        self._seq += 1
        self._stored += 1
        device.batches.append((self._seq, size, text))
        device.batch_count += 1
        self._order.append((thing, self._seq))
        self.stored_bytes += size
        self.stats.batches += 1
        while len(device.batches) > self.batches_per_device:
            self._drop_oldest_of(device)
        self._evict()

    def _drop_oldest_of(self, device: _Device) -> None:
        _, size, _ = device.batches.popleft()
        self.stored_bytes -= size
        self._stored -= 1
        # Its entry in the global order goes lazily (see _evict): a device always drops its oldest first.

    def _evict(self) -> None:
        """Oldest batches anywhere go first until the stored batches fit fleetMaxBytes."""
        while self._order and self.stored_bytes > self.max_bytes:
            thing, seq = self._order.popleft()
            device = self._devices.get(thing)
            if device is not None and device.batches and device.batches[0][0] == seq:
                self._drop_oldest_of(device)
                self.stats.evicted_batches += 1
        if len(self._order) > 2 * self._stored + 1000:  # drop the entries of batches already gone
            alive = {(t, seq) for t, d in self._devices.items() for seq, _, _ in d.batches}
            self._order = deque(e for e in self._order if e in alive)

    def _alerts(self, thing: str, doc: Mapping[str, Any], now_ms: int) -> None:
        if doc.get("schema") != ALERTS_SCHEMA:
            raise InputError(f"alerts: 'schema' must be {ALERTS_SCHEMA!r}")
        alerts = doc.get("alerts")
        if not isinstance(alerts, list):
            raise InputError("alerts: 'alerts' must be a list")
        device = self._device(thing, now_ms)
        if device is None:
            return
        device.last_seen_ms = max(device.last_seen_ms, now_ms)
        self.stats.alerts += 1
        for i, raw in enumerate(alerts[:MAX_ALERTS_PER_DEVICE]):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("fingerprint"), str):
                raise InputError(f"alerts: alerts[{i}] needs a 'fingerprint'")
            fingerprint = raw["fingerprint"][:100]
            if raw.get("status") == "resolved":
                device.alerts.pop(fingerprint, None)
                continue
            labels = raw.get("labels") if isinstance(raw.get("labels"), Mapping) else {}
            annotations = raw.get("annotations") if isinstance(raw.get("annotations"), Mapping) else {}
            starts = raw.get("startsAt")
            device.alerts[fingerprint] = {
                "fingerprint": fingerprint, "alertname": _text(labels.get("alertname")),
                "severity": _text(labels.get("severity")) or "warning", "summary": _text(annotations.get("summary")),
                "startsAt": starts if isinstance(starts, int) and not isinstance(starts, bool) else now_ms,
            }  # fmt: skip
            device.alerts.move_to_end(fingerprint)
            while len(device.alerts) > MAX_ALERTS_PER_DEVICE:
                device.alerts.popitem(last=False)

    # -- out
    def status(self, device: _Device, now_ms: int) -> str:
        if now_ms - device.last_seen_ms > STALE_FACTOR * self.publish_interval_s * 1000:
            return "stale"
        return "alerting" if device.alerts else "ok"

    def _row(self, device: _Device, now_ms: int) -> dict[str, Any]:
        return {"thing": device.thing, "status": self.status(device, now_ms), "lastSeen": device.last_seen_ms,
                "lastBatchTo": device.last_batch_ms or None, **{k: device.values.get(k) for k in
                                                               ("cpu", "mem", "disk", "diskMount", "temp")},
                "alerts": list(reversed(device.alerts.values())), "batches": device.batch_count}  # fmt: skip

    def to_list(self, now_ms: int) -> list[dict[str, Any]]:
        order = {"stale": 0, "alerting": 1, "ok": 2}
        rows = [self._row(d, now_ms) for d in self._devices.values()]
        return sorted(rows, key=lambda r: (order[r["status"]], r["thing"]))

    def device(self, thing: str, now_ms: int) -> dict[str, Any] | None:
        device = self._devices.get(thing)
        if device is None:
            return None
        return {**self._row(device, now_ms), "recentBatches": [json.loads(t) for _, _, t in reversed(device.batches)]}

    def counters(self) -> dict[str, int]:
        return {"fleetDevices": len(self._devices), "fleetBatches": self.stats.batches,
                "fleetStoredBytes": self.stored_bytes, "fleetRefusedDevices": self.stats.refused_devices,
                "fleetEvictedBatches": self.stats.evicted_batches}  # fmt: skip


def _brief_metrics(doc: Mapping[str, Any], items_key: str) -> list[dict[str, Any]]:
    """What the device view lists of a batch: per series name, labels and last value (at most 40)."""
    out: list[dict[str, Any]] = []
    if items_key == "metrics":
        source = [(m, m.get("last")) for m in doc["metrics"] if isinstance(m, Mapping)]
    else:
        last = next((s for s in reversed(doc["samples"]) if isinstance(s, Mapping)), {})
        metrics = last.get("metrics") if isinstance(last.get("metrics"), list) else []
        source = [(m, m.get("value")) for m in metrics if isinstance(m, Mapping)]
    for metric, raw in source[:40]:
        labels = metric.get("labels") if isinstance(metric.get("labels"), Mapping) else {}
        out.append({"name": _text(metric.get("name")), "value": _finite(raw), "unit": _text(metric.get("unit")),
                    "labels": {_text(k)[:64]: _text(v)[:128] for k, v in list(labels.items())[:8]}})  # fmt: skip
    return out
