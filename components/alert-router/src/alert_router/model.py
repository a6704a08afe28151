"""Alerts: states, labels and the fingerprint that identifies one alert across evaluations and restarts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


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
            "value": self.value,
            "startsAt": _ms(self.starts_at),
            "endsAt": _ms(self.ends_at),
        }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
