"""Alerts: states, labels and the fingerprint that identifies one alert across evaluations and restarts."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class FrozenLabels(Mapping[str, str]):
    """An immutable, hashable label map: configuration objects that hold labels can be compared and
    put in sets (a rule set is diffed on every live configuration update)."""

    __slots__ = ("_items", "_map")

    def __init__(self, labels: Mapping[str, str] | None = None) -> None:
        self._map = dict(labels or {})
        self._items = tuple(sorted(self._map.items()))

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenLabels):
            return self._items == other._items
        return isinstance(other, Mapping) and self._map == dict(other)

    def __repr__(self) -> str:
        return f"FrozenLabels({self._map!r})"


def finite_or_none(value: float | None) -> float | None:
    """A value that can be JSON-encoded: non-finite (inf/nan) becomes None, so no encoder ever raises."""
    if value is None:
        return None
    try:
        return value if math.isfinite(value) else None
    except (TypeError, OverflowError):
        return None


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable across processes (unlike hash()): the labels include alertname (the rule) and thing."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Alert:
    """One alert instance; the evaluator mutates it, the dispatcher reads it at flush time."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_at: float  # when the condition first held (pending began)
    value: float | None = None
    starts_at: float | None = None  # when it started firing
    ends_at: float | None = None  # when it resolved
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def snapshot(self) -> dict[str, Any]:
        """The alert as it goes into a notification (JSON-ready, epoch milliseconds)."""
        return {
            "fingerprint": self.fingerprint,
            "status": "resolved" if self.state is AlertState.RESOLVED else "firing",
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": finite_or_none(self.value),
            "startsAt": _ms(self.starts_at),
            "endsAt": _ms(self.ends_at),
        }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
