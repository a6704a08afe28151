"""A notification: what one receiver is told about one alert group at one flush.

Its `id` is derived from receiver, group and the alerts' (fingerprint, status, start) — so a repeat
of the same news carries the same id and a consumer can recognise it, while new news gets a new id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_ID = "edgewatch.alerts/1"


@dataclass(frozen=True)
class Notification:
    id: str
    receiver: str
    group_key: str
    status: str  # "firing" when any alert fires, else "resolved"
    thing: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    alerts: tuple[Mapping[str, Any], ...]
    created_at: float
    repeat: bool = field(default=False)

    @property
    def firing(self) -> list[Mapping[str, Any]]:
        return [a for a in self.alerts if a["status"] == "firing"]

    @property
    def resolved(self) -> list[Mapping[str, Any]]:
        return [a for a in self.alerts if a["status"] == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID, "id": self.id, "receiver": self.receiver, "groupKey": self.group_key,
            "status": self.status, "thing": self.thing, "groupLabels": dict(self.group_labels),
            "commonLabels": dict(self.common_labels), "alerts": [dict(a) for a in self.alerts],
            "createdAt": int(self.created_at * 1000), "repeat": self.repeat,
        }  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Notification:
        return cls(
            id=doc["id"], receiver=doc["receiver"], group_key=doc["groupKey"], status=doc["status"],
            thing=doc["thing"], group_labels=doc["groupLabels"], common_labels=doc["commonLabels"],
            alerts=tuple(doc["alerts"]), created_at=doc["createdAt"] / 1000.0, repeat=doc.get("repeat", False),
        )  # fmt: skip


def build(
    receiver: str, group_key: str, group_labels: Mapping[str, str], thing: str,
    alerts: Sequence[Mapping[str, Any]], now: float, repeat: bool = False,
) -> Notification:  # fmt: skip
    identity = sorted(f"{a['fingerprint']}:{a['status']}:{a['startsAt']}" for a in alerts)
    digest = hashlib.sha256(json.dumps([receiver, group_key, identity]).encode()).hexdigest()[:24]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return Notification(
        id=digest, receiver=receiver, group_key=group_key, status=status, thing=thing,
        group_labels=dict(group_labels), common_labels=_common(alerts), alerts=tuple(alerts), created_at=now,
        repeat=repeat,
    )  # fmt: skip


def _common(alerts: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    if not alerts:
        return {}
    common = dict(alerts[0]["labels"])
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert["labels"].get(k) == v}
    return common
