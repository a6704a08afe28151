"""`deploy --wait`: follow a deployment's IoT job until it succeeds, fails or is cancelled.

A thing-group deployment is carried by a continuous IoT job, which never "completes" by itself:
the rollout is done when every thing of the group has a finished execution. The decision
(`evaluate`) is pure; `wait_for_rollout` polls with an injected sleep and clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from edgewatch.cloud.aws import ClientFactory
from edgewatch.cloud.errors import client_error_code
from edgewatch.cloud.progress import LineWriter, rollout_line

logger = logging.getLogger(__name__)

# describe_job jobProcessDetails field -> execution status.
COUNT_FIELDS = {
    "numberOfSucceededThings": "SUCCEEDED",
    "numberOfFailedThings": "FAILED",
    "numberOfRejectedThings": "REJECTED",
    "numberOfTimedOutThings": "TIMED_OUT",
    "numberOfCanceledThings": "CANCELED",
    "numberOfRemovedThings": "REMOVED",
    "numberOfInProgressThings": "IN_PROGRESS",
    "numberOfQueuedThings": "QUEUED",
}
FINISHED = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED")
BAD = ("FAILED", "REJECTED", "TIMED_OUT")


@dataclass(frozen=True)
class Snapshot:
    deployment_status: str
    job_status: str | None
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Outcome:
    state: str  # SUCCEEDED, FAILED, ABORTED, CANCELED, TIMEOUT
    message: str
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.state == "SUCCEEDED"


def _summary(s: Snapshot) -> str:
    return ", ".join(f"{s.counts.get(k, 0)} {k.lower()}" for k in FINISHED if s.counts.get(k)) or "no executions"


def evaluate(s: Snapshot) -> Outcome | None:
    """The rollout's outcome, or None while it is still going."""
    bad = sum(s.counts.get(k, 0) for k in BAD)
    finished = sum(s.counts.get(k, 0) for k in FINISHED)
    if s.deployment_status == "CANCELED":
        return Outcome("CANCELED", f"deployment cancelled ({_summary(s)})", s.counts)
    if s.deployment_status == "FAILED":
        return Outcome("FAILED", f"deployment failed {s.reason}".rstrip() + f" ({_summary(s)})", s.counts)
    if s.job_status == "CANCELED":
        why = f": {s.reason}" if s.reason else ""
        return Outcome("ABORTED", f"rollout aborted{why} ({_summary(s)})", s.counts)
    if s.job_status == "COMPLETED" or s.deployment_status == "COMPLETED" or (s.total and finished >= s.total):
        if bad:
            return Outcome("FAILED", f"rollout finished with failures ({_summary(s)})", s.counts)
        return Outcome("SUCCEEDED", f"rollout succeeded ({_summary(s)})", s.counts)
    return None


def count_targets(clients: ClientFactory, target_kind: str, target_name: str) -> int:
    """How many things the deployment targets (a thing group is counted recursively)."""
    if target_kind == "thing":
        return 1
    iot = clients.client("iot")
    total, token = 0, None
    while True:
        kwargs: dict[str, Any] = {"thingGroupName": target_name, "recursive": True, "maxResults": 250}
        if token:
            kwargs["nextToken"] = token
        page = iot.list_things_in_thing_group(**kwargs)
        total += len(page.get("things", []))
        token = page.get("nextToken")
        if not token:
            return total


def snapshot(clients: ClientFactory, deployment_id: str, total: int) -> Snapshot:
    """Read the deployment and its job once."""
    deployment = clients.client("greengrassv2").get_deployment(deploymentId=deployment_id)
    status = str(deployment.get("deploymentStatus", "ACTIVE"))
    job_id = deployment.get("iotJobId")
    if not job_id:
        return Snapshot(status, None, {}, total)
    try:
        job = clients.client("iot").describe_job(jobId=job_id)["job"]
    except ClientError as exc:
        if client_error_code(exc) == "ResourceNotFoundException":
            return Snapshot(status, None, {}, total)  # the job appears shortly after the deployment
        raise
    details = job.get("jobProcessDetails", {})
    counts = {label: int(details.get(key, 0)) for key, label in COUNT_FIELDS.items() if details.get(key)}
    reason = " ".join(str(x) for x in (job.get("reasonCode"), job.get("comment")) if x)
    return Snapshot(status, str(job.get("status")), counts, total, reason)


def wait_for_rollout(
    clients: ClientFactory,
    deployment_id: str,
    target_kind: str,
    target_name: str,
    writer: LineWriter,
    *,
    poll_interval: float = 10.0,
    timeout: float = 4 * 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Poll until `evaluate` decides; TIMEOUT when `timeout` seconds pass first."""
    total = count_targets(clients, target_kind, target_name)
    if total == 0:
        logger.warning("thing group %s has no things yet; the rollout will reach devices as they join", target_name)
    deadline = clock() + timeout
    while True:
        snap = snapshot(clients, deployment_id, total)
        writer.update(rollout_line(snap.counts, total, snap.job_status or snap.deployment_status))
        outcome = evaluate(snap)
        if outcome is not None:
            writer.finish()
            return outcome
        if clock() >= deadline:
            writer.finish()
            return Outcome("TIMEOUT", f"still rolling out after {timeout:.0f}s ({_summary(snap)})", snap.counts)
        sleep(poll_interval)
