"""The `edgewatch.health/1` document: each EdgeWatch component's health on the local topic
`edgewatch/health` (configurable), published every `healthIntervalSeconds`.

    {"schema": "edgewatch.health/1", "component": "com.edgewatch.MetricsCollector", "thing": "gw-01",
     "ts": 1763800000123, "intervalSeconds": 30, "status": "healthy" | "degraded",
     "reasons": ["outbox depth 5000 >= 4000"], "counters": {"iot_batches_published_total": 12},
     "version": "0.1.0"}

`status` is the component's own verdict; a consumer adds a third, "silent", when no document arrived
for 3 intervals (`is_silent`). `reasons` says in words why a component is degraded (empty when
healthy). `counters` is a flat map of finite numbers, free for each component to fill. `version`
(optional) is the component version that sent it, when the component knows it (see
`component_env.component_version`). Unknown fields are ignored, as for the metric message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edgewatch_shared.config_values import describe

SCHEMA_ID = "edgewatch.health/1"
DEFAULT_TOPIC = "edgewatch/health"
STATUSES = ("healthy", "degraded")
SILENT_AFTER_INTERVALS = 3
MAX_REASONS = 20
MAX_REASON_CHARS = 300
MAX_COUNTERS = 100
MAX_VERSION_CHARS = 64

HealthStatus = Literal["healthy", "degraded"]


class HealthMessageError(ValueError):
    """A document is not a valid `edgewatch.health/1` message; `errors` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class HealthMessage:
    component: str
    thing: str
    ts: int
    interval_seconds: float
    status: HealthStatus
    reasons: tuple[str, ...] = ()
    counters: Mapping[str, float] = field(default_factory=dict)
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": SCHEMA_ID, "component": self.component, "thing": self.thing, "ts": self.ts,
            "intervalSeconds": self.interval_seconds, "status": self.status,
            "reasons": list(self.reasons), "counters": dict(self.counters),
        }  # fmt: skip
        if self.version is not None:
            doc["version"] = self.version
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


def build(
    *, component: str, thing: str, ts_ms: int, interval_seconds: float, reasons: list[str] | tuple[str, ...] = (),
    counters: Mapping[str, float] | None = None, version: str | None = None,
) -> HealthMessage:
    """A health document: degraded exactly when there is a reason. Non-finite counters are left out
    and reasons are cut to the bounds, so the result always encodes."""
    clean_reasons = tuple(r[:MAX_REASON_CHARS] for r in list(reasons)[:MAX_REASONS])
    clean_counters = {
        k: v for k, v in list((counters or {}).items())[:MAX_COUNTERS] if _is_finite_number(v)
    }
    return HealthMessage(
        component=component, thing=thing, ts=int(ts_ms), interval_seconds=float(interval_seconds),
        status="degraded" if clean_reasons else "healthy", reasons=clean_reasons, counters=clean_counters,
        version=version[:MAX_VERSION_CHARS] if version else None,
    )  # fmt: skip


def validation_errors(doc: Any) -> list[str]:
    """Every reason `doc` (a decoded JSON value) is not a valid health document; empty when it is."""
    if not isinstance(doc, Mapping):
        return [f"health message must be a JSON object, got {type(doc).__name__}"]
    errors: list[str] = []
    for key in ("schema", "component", "thing", "ts", "intervalSeconds", "status"):
        if key not in doc:
            errors.append(f"missing required field '{key}'")
    if "schema" in doc and doc["schema"] != SCHEMA_ID:
        # describe(): repr() of a huge int or of deep nesting raises instead of answering.
        errors.append(f"'schema' must be {SCHEMA_ID!r}, got {describe(doc['schema'])}")
    for key in ("component", "thing"):
        if key in doc and (not isinstance(doc[key], str) or not doc[key] or len(doc[key]) > 256):
            errors.append(f"'{key}' must be a non-empty string of at most 256 characters")
    if "ts" in doc and (not isinstance(doc["ts"], int) or isinstance(doc["ts"], bool) or not 0 <= doc["ts"] < 2**53):
        errors.append("'ts' must be a non-negative integer (epoch milliseconds)")
    interval = doc.get("intervalSeconds")
    if "intervalSeconds" in doc and (not _is_finite_number(interval) or not 0 < interval <= 86400):
        errors.append("'intervalSeconds' must be a number in (0, 86400]")
    if "status" in doc and doc["status"] not in STATUSES:
        errors.append(f"'status' must be one of {', '.join(STATUSES)}")
    reasons = doc.get("reasons", [])
    if not isinstance(reasons, list) or len(reasons) > MAX_REASONS or not all(
        isinstance(r, str) and len(r) <= MAX_REASON_CHARS for r in reasons
    ):
        errors.append(f"'reasons' must be a list of at most {MAX_REASONS} strings of <= {MAX_REASON_CHARS} chars")
    counters = doc.get("counters", {})
    if not isinstance(counters, Mapping) or len(counters) > MAX_COUNTERS or not all(
        isinstance(k, str) and _is_finite_number(v) for k, v in counters.items()
    ):
        errors.append(f"'counters' must be an object of at most {MAX_COUNTERS} finite numbers")
    version = doc.get("version")
    if "version" in doc and (not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION_CHARS):
        errors.append(f"'version' must be a non-empty string of at most {MAX_VERSION_CHARS} characters")
    return errors


def from_dict(doc: Any) -> HealthMessage:
    errors = validation_errors(doc)
    if errors:
        raise HealthMessageError(errors)
    return HealthMessage(
        component=doc["component"], thing=doc["thing"], ts=doc["ts"], interval_seconds=float(doc["intervalSeconds"]),
        status=doc["status"], reasons=tuple(doc.get("reasons", [])), counters=dict(doc.get("counters", {})),
        version=doc.get("version"),
    )  # fmt: skip


def from_json(text: str | bytes) -> HealthMessage:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise HealthMessageError([f"not JSON: {err}"[:300]]) from None
    return from_dict(doc)


def is_silent(last: HealthMessage | None, last_received_s: float | None, now_s: float) -> bool:
    """True when nothing arrived for SILENT_AFTER_INTERVALS of the component's own interval."""
    if last is None or last_received_s is None:
        return True
    return now_s - last_received_s > SILENT_AFTER_INTERVALS * last.interval_seconds


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # math.isfinite() of an int beyond the float range raises OverflowError; such an int is no metric value.
    return value.bit_length() <= 1023 if isinstance(value, int) else math.isfinite(value)
