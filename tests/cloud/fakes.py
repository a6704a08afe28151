"""Test doubles for what moto does not cover: greengrassv2, and the IoT job a deployment creates.

Every request is validated against botocore's service model (input shape) and every response
against the output shape, so the code under test cannot drift from the real API. State is kept:
component versions (REQUESTED -> DEPLOYABLE, or FAILED when an artifact is missing from S3) and
deployments whose IoT job rolls out minute by minute with the exponential rate and abort criteria
of the request. Time only moves when the code under test sleeps (`advance`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import validate_parameters

from edgewatch.cloud.model import RequestShapeError, operation_model, shape_problems, validate_request


def client_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def validate_output(service: str, operation: str, response: dict[str, Any]) -> None:
    """Raise RequestShapeError unless `response` fits the operation's output shape."""
    shape = operation_model(service, operation).output_shape
    if shape is None:
        return
    try:
        validate_parameters(response, shape)
    except ParamValidationError as exc:
        raise RequestShapeError(f"{service} {operation} response: {exc}") from exc
    errors = shape_problems(response, shape, operation)
    if errors:
        raise RequestShapeError(f"{service} {operation} response: " + "; ".join(errors))


def validate_response(service: str, operation: str, response: dict[str, Any]) -> dict[str, Any]:
    validate_output(service, operation, response)
    return response


@dataclass
class Execution:
    thing: str
    outcome: str
    status: str = "QUEUED"


@dataclass
class Rollout:
    """The continuous IoT job of a thing-group deployment, simulated per minute."""

    job_id: str
    request: dict[str, Any]
    things: list[str]
    outcomes: dict[str, str]
    status: str = "IN_PROGRESS"
    executions: list[Execution] = field(default_factory=list)
    rate: float = 0.0
    succeeded_at_last_increase: int = 0
    reason_code: str | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        rollout = self.request.get("iotJobConfiguration", {}).get("jobExecutionsRolloutConfig", {})
        exp = rollout.get("exponentialRate")
        self.rate = float(exp["baseRatePerMinute"]) if exp else float(rollout.get("maximumPerMinute", 1000))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.executions:
            out[e.status] = out.get(e.status, 0) + 1
        return out

    def tick(self) -> None:
        """One minute: finish what was notified, notify the next batch, apply abort criteria."""
        if self.status != "IN_PROGRESS":
            return
        for e in self.executions:
            if e.status == "IN_PROGRESS":
                e.status = self.outcomes.get(e.thing, "SUCCEEDED")
            elif e.status == "QUEUED":
                e.status = "IN_PROGRESS"
        config = self.request.get("iotJobConfiguration", {})
        rollout = config.get("jobExecutionsRolloutConfig", {})
        exp = rollout.get("exponentialRate")
        succeeded = self.counts().get("SUCCEEDED", 0)
        if exp and succeeded - self.succeeded_at_last_increase >= exp["rateIncreaseCriteria"].get(
            "numberOfSucceededThings", math.inf
        ):
            self.rate = min(self.rate * exp["incrementFactor"], rollout.get("maximumPerMinute", 1000))
            self.succeeded_at_last_increase = succeeded
        notified = {e.thing for e in self.executions}
        pending = [t for t in self.things if t not in notified]
        for thing in pending[: int(self.rate)]:
            self.executions.append(Execution(thing, self.outcomes.get(thing, "SUCCEEDED")))
        self._apply_abort(config.get("abortConfig"))

    def _apply_abort(self, abort: dict[str, Any] | None) -> None:
        if not abort:
            return
        counts = self.counts()
        executed = sum(counts.get(k, 0) for k in ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT"))
        for criteria in abort["criteriaList"]:
            kind = criteria["failureType"]
            bad = (
                sum(counts.get(k, 0) for k in ("FAILED", "REJECTED", "TIMED_OUT"))
                if kind == "ALL"
                else counts.get(kind, 0)
            )
            if (
                executed >= criteria["minNumberOfExecutedThings"]
                and 100.0 * bad / executed >= criteria["thresholdPercentage"]
            ):
                self.status = "CANCELED"
                self.reason_code = "ABORT_CRITERIA"
                self.comment = f"{kind} {criteria['thresholdPercentage']}% reached"
                for e in self.executions:
                    if e.status in ("QUEUED", "IN_PROGRESS"):
                        e.status = "CANCELED"
                return


class FakeGreengrass:
    """A greengrassv2 client double (the operations EdgeWatch uses)."""

    SERVICE = "greengrassv2"

    def __init__(self, region: str, account: str, s3: Any = None, iot: Any = None) -> None:
        self.region = region
        self.account = account
        self.s3 = s3
        self.iot = iot
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.components: dict[str, dict[str, Any]] = {}  # arn -> record
        self.deployments: dict[str, dict[str, Any]] = {}
        self.rollouts: dict[str, Rollout] = {}
        self.outcomes: dict[str, str] = {}
        self.denied: set[str] = set()
        # Runs at the start of CreateComponentVersion: what another publisher did meanwhile.
        self.before_create: Callable[[], None] | None = None
        self._ids = itertools.count(1)

    # -- plumbing
    def _call(self, operation: str, params: dict[str, Any]) -> None:
        validate_request(self.SERVICE, operation, params)
        self.calls.append((operation, params))
        if operation in self.denied:
            raise client_error(operation, "AccessDeniedException", "User is not authorized", 403)

    def _out(self, operation: str, response: dict[str, Any]) -> dict[str, Any]:
        return validate_response(self.SERVICE, operation, response)

    def operations(self) -> list[str]:
        return [op for op, _ in self.calls]

    # -- components
    def create_component_version(self, **params: Any) -> dict[str, Any]:
        self._call("CreateComponentVersion", params)
        if self.before_create is not None:
            self.before_create()
        raw = params["inlineRecipe"]
        recipe = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        name, version = recipe["ComponentName"], recipe["ComponentVersion"]
        arn = f"arn:aws:greengrass:{self.region}:{self.account}:components:{name}:versions:{version}"
        if arn in self.components:
            raise client_error("CreateComponentVersion", "ConflictException", f"{name} {version} exists", 409)
        errors = {}
        for manifest in recipe.get("Manifests", []):
            for artifact in manifest.get("Artifacts", []):
                match = re.match(r"^s3://([^/]+)/(.+)$", artifact["URI"])
                if match and self.s3 is not None:
                    try:
                        self.s3.head_object(Bucket=match.group(1), Key=match.group(2))
                    except ClientError:
                        errors[artifact["URI"]] = "The artifact could not be found in S3"
        now = dt.datetime.now(dt.UTC)
        self.components[arn] = {
            "name": name,
            "version": version,
            "recipe": recipe,
            "created": now,
            "state": "REQUESTED",
            "final": "FAILED" if errors else "DEPLOYABLE",
            "errors": errors,
        }
        return self._out(
            "CreateComponentVersion",
            {
                "arn": arn,
                "componentName": name,
                "componentVersion": version,
                "creationTimestamp": now,
                "status": {"componentState": "REQUESTED", "message": "NONE"},
            },
        )

    def describe_component(self, **params: Any) -> dict[str, Any]:
        self._call("DescribeComponent", params)
        record = self.components.get(params["arn"])
        if record is None:
            raise client_error("DescribeComponent", "ResourceNotFoundException", "not found", 404)
        # One poll later the service has processed the recipe.
        state, record["state"] = record["state"], record["final"]
        status: dict[str, Any] = {"componentState": state, "message": "NONE"}
        if state == "FAILED":
            status["errors"] = record["errors"]
            status["message"] = "Component version could not be created"
        return self._out(
            "DescribeComponent",
            {
                "arn": params["arn"],
                "componentName": record["name"],
                "componentVersion": record["version"],
                "creationTimestamp": record["created"],
                "publisher": record["recipe"].get("ComponentPublisher", ""),
                "status": status,
            },
        )

    def list_component_versions(self, **params: Any) -> dict[str, Any]:
        self._call("ListComponentVersions", params)
        prefix = params["arn"] + ":versions:"
        found = [
            {"componentName": r["name"], "componentVersion": r["version"], "arn": arn}
            for arn, r in self.components.items()
            if arn.startswith(prefix)
        ]
        if not found:
            raise client_error("ListComponentVersions", "ResourceNotFoundException", "no such component", 404)
        # Paginate in pages of 2 so that callers must follow nextToken.
        start = int(params.get("nextToken") or 0)
        page = found[start : start + 2]
        response: dict[str, Any] = {"componentVersions": page}
        if start + 2 < len(found):
            response["nextToken"] = str(start + 2)
        return self._out("ListComponentVersions", response)

    def seed_component(self, name: str, version: str) -> None:
        arn = f"arn:aws:greengrass:{self.region}:{self.account}:components:{name}:versions:{version}"
        self.components[arn] = {
            "name": name,
            "version": version,
            "recipe": {},
            "created": dt.datetime.now(dt.UTC),
            "state": "DEPLOYABLE",
            "final": "DEPLOYABLE",
            "errors": {},
        }

    # -- deployments
    def create_deployment(self, **params: Any) -> dict[str, Any]:
        self._call("CreateDeployment", params)
        for name, spec in params.get("components", {}).items():
            arn = (
                f"arn:aws:greengrass:{self.region}:{self.account}:components:{name}:versions:{spec['componentVersion']}"
            )
            if arn not in self.components:
                raise client_error("CreateDeployment", "ValidationException", f"{name} not found", 400)
        deployment_id = str(uuid.uuid4())
        job_id = f"{next(self._ids)}-{deployment_id[:8]}"
        target = params["targetArn"]
        kind, name = target.split(":", 5)[5].split("/", 1)
        things = (
            [name]
            if kind == "thing"
            else list(self.iot.list_things_in_thing_group(thingGroupName=name, recursive=True)["things"])
        )
        self.rollouts[job_id] = Rollout(job_id, params, things, self.outcomes)
        self.deployments[deployment_id] = {"params": params, "job_id": job_id, "status": "ACTIVE"}
        return self._out(
            "CreateDeployment",
            {
                "deploymentId": deployment_id,
                "iotJobId": job_id,
                "iotJobArn": f"arn:aws:iot:{self.region}:{self.account}:job/{job_id}",
            },
        )

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        self._call("GetDeployment", params)
        record = self.deployments.get(params["deploymentId"])
        if record is None:
            raise client_error("GetDeployment", "ResourceNotFoundException", "no deployment", 404)
        p = record["params"]
        return self._out(
            "GetDeployment",
            {
                "targetArn": p["targetArn"],
                "deploymentId": params["deploymentId"],
                "deploymentName": p.get("deploymentName", ""),
                "deploymentStatus": record["status"],
                "iotJobId": record["job_id"],
                "iotJobArn": f"arn:aws:iot:{self.region}:{self.account}:job/{record['job_id']}",
                "components": p.get("components", {}),
                "isLatestForTarget": True,
            },
        )

    # -- the clock: minutes of rollout pass as the code under test sleeps
    def advance(self, seconds: float) -> None:
        self._elapsed = getattr(self, "_elapsed", 0.0) + seconds
        while self._elapsed >= 60.0:
            self._elapsed -= 60.0
            for rollout in self.rollouts.values():
                rollout.tick()


@dataclass
class DynamicGroup:
    """A dynamic thing group: its query, and the members the fleet index found (set by the test)."""

    name: str
    arn: str
    group_id: str
    query: str
    index: str
    query_version: str
    members: list[str] = field(default_factory=list)
    version: int = 1


class IotWithJobs:
    """moto's IoT client, every request validated against botocore's model, plus what moto lacks:

    DescribeJob for the jobs Greengrass (here: the fake) creates, and dynamic thing groups
    (Create/UpdateDynamicThingGroup; DescribeThingGroup and ListThingsInThingGroup answer for them,
    AddThingToThingGroup refuses them). The fleet index is not simulated: a test sets `members`.
    """

    def __init__(self, moto_iot: Any, greengrass: FakeGreengrass) -> None:
        self._iot = moto_iot
        self._gg = greengrass
        self.job_calls = 0
        self.dynamic_groups: dict[str, DynamicGroup] = {}
        self.operations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._iot, name)
        operation = self._iot.meta.method_to_api_mapping.get(name)
        if operation is None:  # not an API call (meta, exceptions, get_paginator...)
            return method

        def checked(**params: Any) -> Any:
            # moto checks little (no patterns, maximums or enums): the model does.
            validate_request("iot", operation, params)
            self.operations.append(operation)
            return method(**params)

        return checked

    def _record(self, operation: str, params: dict[str, Any]) -> None:
        validate_request("iot", operation, params)
        self.operations.append(operation)

    def _indexing_on(self) -> bool:
        config = self._iot.get_indexing_configuration()["thingIndexingConfiguration"]
        return config.get("thingIndexingMode", "OFF") != "OFF"

    def create_dynamic_thing_group(self, **params: Any) -> dict[str, Any]:
        self._record("CreateDynamicThingGroup", params)
        name = params["thingGroupName"]
        if not self._indexing_on():
            raise client_error("CreateDynamicThingGroup", "InvalidRequestException", "fleet indexing is not enabled")
        if name in self.dynamic_groups or self._static_exists(name):
            raise client_error("CreateDynamicThingGroup", "ResourceAlreadyExistsException", f"{name} exists", 409)
        group = DynamicGroup(
            name=name,
            arn=f"arn:aws:iot:{self._gg.region}:{self._gg.account}:thinggroup/{name}",
            group_id=str(uuid.uuid4()),
            query=params["queryString"],
            index=params.get("indexName", "AWS_Things"),
            query_version=params.get("queryVersion", "2017-09-30"),
        )
        self.dynamic_groups[name] = group
        return validate_response(
            "iot",
            "CreateDynamicThingGroup",
            {
                "thingGroupName": name,
                "thingGroupArn": group.arn,
                "thingGroupId": group.group_id,
                "indexName": group.index,
                "queryString": group.query,
                "queryVersion": group.query_version,
            },
        )

    def update_dynamic_thing_group(self, **params: Any) -> dict[str, Any]:
        self._record("UpdateDynamicThingGroup", params)
        group = self.dynamic_groups.get(params["thingGroupName"])
        if group is None:
            raise client_error("UpdateDynamicThingGroup", "ResourceNotFoundException", "no such group", 404)
        group.query = params.get("queryString", group.query)
        group.version += 1
        return validate_response("iot", "UpdateDynamicThingGroup", {"version": group.version})

    def _static_exists(self, name: str) -> bool:
        try:
            self._iot.describe_thing_group(thingGroupName=name)
        except ClientError:
            return False
        return True

    def describe_thing_group(self, **params: Any) -> dict[str, Any]:
        self._record("DescribeThingGroup", params)
        group = self.dynamic_groups.get(params["thingGroupName"])
        if group is None:
            return dict(self._iot.describe_thing_group(**params))
        return validate_response(
            "iot",
            "DescribeThingGroup",
            {
                "thingGroupName": group.name,
                "thingGroupId": group.group_id,
                "thingGroupArn": group.arn,
                "version": group.version,
                "thingGroupProperties": {},
                "thingGroupMetadata": {"creationDate": dt.datetime.now(dt.UTC)},
                "indexName": group.index,
                "queryString": group.query,
                "queryVersion": group.query_version,
                "status": "ACTIVE",
            },
        )

    def create_thing_group(self, **params: Any) -> dict[str, Any]:
        self._record("CreateThingGroup", params)
        if params["thingGroupName"] in self.dynamic_groups:
            raise client_error("CreateThingGroup", "ResourceAlreadyExistsException", "a dynamic group has it", 409)
        return dict(self._iot.create_thing_group(**params))

    def list_things_in_thing_group(self, **params: Any) -> dict[str, Any]:
        self._record("ListThingsInThingGroup", params)
        name = params["thingGroupName"]
        group = self.dynamic_groups.get(name)
        if group is not None:
            return validate_response("iot", "ListThingsInThingGroup", {"things": list(group.members)})
        if not params.get("recursive"):
            return dict(self._iot.list_things_in_thing_group(**params))
        # moto ignores `recursive`: the members of the group and of every group below it, as on AWS.
        names = [name] + [g["groupName"] for g in self._iot.list_thing_groups(parentGroup=name)["thingGroups"]]
        things: list[str] = []
        for each in names:
            for thing in self._iot.list_things_in_thing_group(thingGroupName=each)["things"]:
                if thing not in things:
                    things.append(thing)
        return validate_response("iot", "ListThingsInThingGroup", {"things": things})

    def add_thing_to_thing_group(self, **params: Any) -> dict[str, Any]:
        self._record("AddThingToThingGroup", params)
        if params.get("thingGroupName") in self.dynamic_groups:
            raise client_error("AddThingToThingGroup", "InvalidRequestException", "cannot add to a dynamic group")
        return dict(self._iot.add_thing_to_thing_group(**params))

    def describe_job(self, **params: Any) -> dict[str, Any]:
        validate_request("iot", "DescribeJob", params)
        self.job_calls += 1
        rollout = self._gg.rollouts.get(params["jobId"])
        if rollout is None:
            raise client_error("DescribeJob", "ResourceNotFoundException", "no job", 404)
        counts = rollout.counts()
        job: dict[str, Any] = {
            "jobId": rollout.job_id,
            "targetSelection": "CONTINUOUS",
            "status": rollout.status,
            "jobProcessDetails": {
                "numberOfSucceededThings": counts.get("SUCCEEDED", 0),
                "numberOfFailedThings": counts.get("FAILED", 0),
                "numberOfRejectedThings": counts.get("REJECTED", 0),
                "numberOfTimedOutThings": counts.get("TIMED_OUT", 0),
                "numberOfCanceledThings": counts.get("CANCELED", 0),
                "numberOfQueuedThings": counts.get("QUEUED", 0),
                "numberOfInProgressThings": counts.get("IN_PROGRESS", 0),
            },
        }
        if rollout.reason_code:
            job["reasonCode"] = rollout.reason_code
            job["comment"] = rollout.comment
        return validate_response("iot", "DescribeJob", {"job": job})


class S3KeepingBucketPolicies:
    """moto's S3 client, except that bucket policies are validated and recorded, not applied.

    moto evaluates bucket policies without their Conditions, so the TLS-only deny
    (`aws:SecureTransport` false) would deny every request there, unlike on AWS.
    """

    def __init__(self, moto_s3: Any) -> None:
        self._s3 = moto_s3
        self.bucket_policies: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_bucket_policy(self, **params: Any) -> dict[str, Any]:
        validate_request("s3", "PutBucketPolicy", params)
        self._s3.head_bucket(Bucket=params["Bucket"])  # the bucket must exist
        self.bucket_policies[params["Bucket"]] = json.loads(params["Policy"])
        return {}
