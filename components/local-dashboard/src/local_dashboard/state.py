"""The dashboard's whole state and the one place messages from the topics come in. Pure: time passed in.

Every message is checked (size first, then schema); a bad one is counted per topic kind and logged,
never fatal. Runs on the server's event loop only (the IPC adapter hands messages over to it).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from edgewatch_shared import metrics_message
from local_dashboard.books import AlertBook, HealthBook, InputError, SilenceBook
from local_dashboard.config import RANGES, DashboardConfig
from local_dashboard.fleet import FleetBook
from local_dashboard.history import HistoryStore

logger = logging.getLogger(__name__)

KINDS = ("metrics", "alerts", "health", "silences", "fleet")
# Bounds a JSON value's walk, so a deeply nested or huge document is refused before it is looked at.
MAX_NESTING = 32
# What json.loads builds; concrete types, as an ABC check per element costs more than the walk itself.
CONTAINERS = (dict, list, tuple)


class OversizedError(ValueError):
    pass


def measure(doc: Any, limit: int, encoded_size: int | None = None) -> int:
    """Encoded size of a decoded JSON value; OversizedError past `limit` bytes or MAX_NESTING levels.
    `encoded_size`: the size of the text it was decoded from (a binary message), so not encoded again.

    Only containers are walked in Python (for the depth, and a lower bound on the size that refuses a
    huge document before it is encoded); the size itself comes from the C JSON encoder. Walking every
    scalar in Python cost more than the rest of a metrics message's handling.
    """
    elements = 0
    stack: list[tuple[Any, int]] = [(doc, 0)] if isinstance(doc, CONTAINERS) else []
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise OversizedError(f"nested deeper than {MAX_NESTING}")
        items = value.values() if isinstance(value, dict) else value
        elements += len(items)
        if elements > limit:  # each element takes at least a byte once encoded
            raise OversizedError(f"larger than {limit} bytes")
        stack.extend((item, depth + 1) for item in items if isinstance(item, CONTAINERS))
    if encoded_size is not None:
        if encoded_size > limit:
            raise OversizedError(f"larger than {limit} bytes")
        return encoded_size
    try:
        size = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, check_circular=False, default=str))
    except (ValueError, RecursionError) as err:  # not a JSON value after all
        raise OversizedError(f"not measurable ({type(err).__name__})") from None
    if size > limit:
        raise OversizedError(f"larger than {limit} bytes")
    return size


class DashboardState:
    def __init__(self, config: DashboardConfig, thing: str) -> None:
        self.thing = thing
        self.config = config
        self.store = HistoryStore(history_s=config.history_seconds, downsample_s=config.downsample_seconds,
                                  long_history_s=config.long_history_seconds, max_series=config.max_series)  # fmt: skip
        self.alerts = AlertBook()
        self.silences = SilenceBook()
        self.health = HealthBook()
        self.fleet = FleetBook(**_fleet_bounds(config))
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()

    def reconfigure(self, config: DashboardConfig) -> None:
        self.config = config
        self.store.reconfigure(history_s=config.history_seconds, downsample_s=config.downsample_seconds,
                               long_history_s=config.long_history_seconds, max_series=config.max_series)  # fmt: skip
        if config.fleet_view:
            self.fleet.reconfigure(**_fleet_bounds(config))
        else:  # the view is off: what it held goes, rather than aging on in memory
            self.fleet = FleetBook(**_fleet_bounds(config))

    # -- in
    def receive(self, kind: str, doc: Any, now_ms: int, topic: str = "") -> bool:
        """One message from a topic (a decoded document, bytes, or the exception decoding it raised);
        kind "fleet" is an IoT Core message of hub mode, and `topic` names its thing."""
        self.received[kind] += 1
        try:
            if isinstance(doc, BaseException):
                raise InputError(f"undecodable message: {doc}"[:300])
            encoded_size = None
            if isinstance(doc, bytes | bytearray):
                encoded_size = len(doc)
                if encoded_size > self.config.max_message_bytes:
                    raise OversizedError(f"larger than {self.config.max_message_bytes} bytes")
                try:
                    doc = json.loads(doc)
                except (ValueError, RecursionError) as err:
                    raise InputError(f"not JSON: {err}"[:300]) from None
            if encoded_size is None or kind != "metrics":
                # A metrics document's size is its length, and its validation keeps only flat, known
                # fields, so its depth needs no walk; other kinds are kept as sent and are walked.
                measure(doc, self.config.max_message_bytes, encoded_size)
            if kind == "fleet":
                self.fleet.apply(topic, doc, now_ms)
            else:
                self._apply(kind, doc, now_ms)
        except (InputError, OversizedError, metrics_message.MessageError) as err:
            self.malformed[kind] += 1
            logger.warning("malformed %s message #%d ignored: %s", kind, self.malformed[kind], str(err)[:300])
            return False
        except Exception as err:  # a document no check foresaw: still counted and never fatal
            self.malformed[kind] += 1
            logger.warning("malformed %s message #%d ignored (%s)", kind, self.malformed[kind], type(err).__name__)
            return False
        return True

    def _apply(self, kind: str, doc: Any, now_ms: int) -> None:
        if kind == "metrics":
            self.store.ingest(metrics_message.from_dict(doc), now_ms)
        elif kind == "alerts":
            self.alerts.apply(doc, now_ms)
        elif kind == "health":
            self.health.apply(doc, now_ms / 1000)
        elif kind == "silences":
            self.silences.apply(doc, now_ms)
        else:
            raise InputError(f"unknown kind {kind!r}")

    def tick(self, now_ms: int) -> None:
        """Time alone changes silence states and health ("silent"), and ages history out."""
        self.store.trim(now_ms)
        self.silences.tick(now_ms)
        self.health.tick(now_ms / 1000)

    # -- out
    def fleet_list(self, now_ms: int) -> dict[str, Any]:
        return {"enabled": self.config.fleet_view, "publishIntervalSeconds": self.config.fleet_publish_interval,
                "staleAfterSeconds": 2 * self.config.fleet_publish_interval, "serverTime": now_ms,
                "devices": self.fleet.to_list(now_ms)}  # fmt: skip

    def versions(self) -> tuple[int, int, int]:
        # Alerts' "silenced" flags depend on silences, so a silence change also re-sends alerts.
        return (self.alerts.version + self.silences.version, self.silences.version, self.health.version)

    def alert_list(self, now_ms: int) -> list[dict[str, Any]]:
        return self.alerts.to_list(self.silences, now_ms)

    def snapshot(self, range_name: str, now_ms: int) -> dict[str, Any]:
        return {
            "type": "snapshot", "thing": self.thing, "range": range_name,
            "series": self.store.snapshot(RANGES[range_name], now_ms), "alerts": self.alert_list(now_ms),
            "silences": self.silences.to_list(now_ms), "health": self.health.to_list(now_ms / 1000),
            "serverTime": now_ms,
        }  # fmt: skip

    def counters(self) -> dict[str, Any]:
        stats = self.store.stats
        return {"received": dict(self.received), "malformed": dict(self.malformed), "series": len(self.store.series),
                "points": self.store.point_count(), "refusedSeries": stats.refused_series_total,
                "outOfOrder": stats.out_of_order_total, **self.fleet.counters()}  # fmt: skip


def _fleet_bounds(config: DashboardConfig) -> dict[str, Any]:
    return {"max_devices": config.fleet_max_devices, "batches_per_device": config.fleet_batches_per_device,
            "max_bytes": config.fleet_max_bytes, "publish_interval_s": config.fleet_publish_interval,
            "metrics_filter": config.fleet_metrics_filter, "alerts_filter": config.fleet_alerts_filter}
