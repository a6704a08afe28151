"""The local deployments a runtime ran: one record each under `state/deployments/`, the last 50 kept.

A record is written when a deployment is queued, starts and ends; a runtime that starts again reads
them back (one that stopped during a deployment reports it FAILED).
"""

from __future__ import annotations

import calendar
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.local.deployment_plan import DeploymentStatus, DetailedStatus
from edgewatch.local.state_files import load_or_quarantine, private_dir, quarantine, write_json_atomic

log = logging.getLogger(__name__)

MAX_KEPT_DEPLOYMENTS = 50
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC


@dataclass
class DeploymentRecord:
    deployment_id: str
    created: float
    status: DeploymentStatus = DeploymentStatus.QUEUED
    detailed_status: DetailedStatus | None = None  # set once it ends
    reason: str = ""
    error_types: list[str] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "createdOn": time.strftime(CREATED_FORMAT, time.gmtime(self.created)),
            "status": self.status.value,
            "detailedStatus": self.detailed_status.value if self.detailed_status is not None else "",
            "reason": self.reason,
            "errorTypes": self.error_types,
            "request": self.request,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentRecord:
        """A stored record (shape checked by `record_problem`); raises ValueError for a bad createdOn.

        One that had not ended was cut short by the runtime stopping: it is FAILED."""
        # timegm, not mktime: createdOn is UTC, and mktime - timezone is an hour off across DST.
        created = float(calendar.timegm(time.strptime(data["createdOn"], CREATED_FORMAT)))
        ended = data["status"] in (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED)
        status = DeploymentStatus(data["status"]) if ended else DeploymentStatus.FAILED
        reason = data.get("reason") or ("" if status == DeploymentStatus.SUCCEEDED else "the runtime stopped during it")
        detailed = str(data.get("detailedStatus", ""))
        return cls(data["deploymentId"], created, status,
                   DetailedStatus(detailed) if detailed in DetailedStatus.__members__ else None, str(reason),
                   [str(t) for t in data.get("errorTypes", []) if isinstance(t, str)],
                   data["request"] if isinstance(data.get("request"), dict) else {})


def record_problem(value: Any) -> str | None:
    """Why a stored deployment record has the wrong shape, or None."""
    if not isinstance(value, dict):
        return "expected a deployment record object"
    for key in ("deploymentId", "createdOn", "status"):
        if not isinstance(value.get(key), str):
            return f"{key} must be a string"
    if not isinstance(value.get("errorTypes", []), list):
        return "errorTypes must be a list"
    return None


class DeploymentHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._records: dict[str, DeploymentRecord] = {}

    def add(self, record: DeploymentRecord) -> None:
        self._records[record.deployment_id] = record

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        return self._records.get(deployment_id)

    def records(self) -> list[DeploymentRecord]:
        """Oldest first."""
        return sorted(self._records.values(), key=lambda r: r.created)

    def save(self, record: DeploymentRecord) -> None:
        folder = private_dir(self.folder)
        try:
            write_json_atomic(folder / f"{record.deployment_id}.json", record.to_json())
        except OSError as exc:  # the history is informative; a full disk must not fail the deployment
            log.error("cannot record deployment %s: %s", record.deployment_id, exc)
        records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for stale in records[:-MAX_KEPT_DEPLOYMENTS]:
            stale.unlink(missing_ok=True)

    def load(self) -> None:
        """Read the stored records; an unusable one is moved aside."""
        for path in sorted(self.folder.glob("*.json")) if self.folder.exists() else []:
            data = load_or_quarantine(path, record_problem)
            if data is None:
                continue
            try:
                record = DeploymentRecord.from_json(data)
            except ValueError as exc:
                quarantine(path, f"createdOn: {exc}")
                continue
            self._records[record.deployment_id] = record
