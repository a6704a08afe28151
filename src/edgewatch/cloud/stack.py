"""The serverless cloud side as one CloudFormation stack: package, upload, change set, progress, teardown.

`deploy` creates or updates the stack through a change set (what `aws cloudformation deploy` does),
prints the planned changes and then each stack event as it arrives, and on a rollback fails with the
first failing resource and CloudFormation's reason. A change set without changes is deleted and
reported as "no changes". `delete` tears the stack down the same way. The Lambda code is one
deterministic zip (`package_lambdas`): `edgewatch_lambdas` plus the AlertRouter's notification model
and Block Kit renderer, so both sides render Slack messages with the same code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from botocore.exceptions import ClientError

from edgewatch.cloud.errors import CloudError, client_error_code

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path("deployment/cloud/edgewatch.yaml")
CAPABILITIES = ["CAPABILITY_IAM"]
MAX_TEMPLATE_BODY = 51_200  # CreateChangeSet's TemplateBody limit
CODE_PREFIX = "edgewatch/lambdas/"
# (source folder, file paths inside it) of the Lambda zip; the router files import only each other.
LAMBDA_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("src", ("edgewatch_lambdas/__init__.py", "edgewatch_lambdas/presence.py",
             "edgewatch_lambdas/preprovision_hook.py", "edgewatch_lambdas/slack_notifier.py")),
    ("components/alert-router/src", ("alert_router/__init__.py", "alert_router/notification.py",
                                     "alert_router/receivers/__init__.py",
                                     "alert_router/receivers/slack_blocks.py")),
)  # fmt: skip
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same code gives the same zip and the same S3 key
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
FAILED = frozenset({"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_FAILED",
                    "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_COMPLETE",
                    "IMPORT_ROLLBACK_FAILED"})  # fmt: skip
# Stacks a change set cannot update: a failed first creation must be deleted first.
UNUSABLE = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"})
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class StackError(CloudError):
    """A stack problem, said in one line."""


# --- the template -------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, !GetAtt ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(text: str, where: str = "template") -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=_CfnLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise StackError(f"{where}: not valid YAML: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise StackError(f"{where}: not a CloudFormation template (no Resources)")
    return doc


def merge_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Check `given` against the template's Parameters; unknown names are refused, naming the known ones."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise StackError(f"unknown --parameter {', '.join(unknown)}; the template takes {', '.join(sorted(declared))}")
    return dict(given)


def missing_required(template: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    declared = template.get("Parameters") or {}
    return sorted(name for name, spec in declared.items() if "Default" not in spec and name not in values)


# --- the Lambda zip -----------------------------------------------------------------------------


def package_lambdas(root: Path) -> bytes:
    """One deterministic zip of the Lambda code (same sources → same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, files in LAMBDA_FILES:
            for name in files:
                path = root / folder / name
                if not path.is_file():
                    raise StackError(f"Lambda source {path} is missing (run from the EdgeWatch repository)")
                info = zipfile.ZipInfo(name, _ZIP_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def code_key(data: bytes) -> str:
    return f"{CODE_PREFIX}{hashlib.sha256(data).hexdigest()[:20]}.zip"


def upload_code(s3: Any, bucket: str, data: bytes) -> str:
    """Upload the zip under its content hash unless it is there already; the key."""
    key = code_key(data)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        logger.info("Lambda code s3://%s/%s already uploaded", bucket, key)
        return key
    except ClientError as exc:
        # Without s3:ListBucket a missing key answers 403, not 404: upload, and let PutObject say if denied.
        if client_error_code(exc) not in ("404", "NoSuchKey", "NotFound", "403", "Forbidden", "AccessDenied"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/zip")
    return key


# --- events -------------------------------------------------------------------------------------


def event_line(event: Mapping[str, Any]) -> str:
    when = event.get("Timestamp")
    stamp = when.strftime("%H:%M:%S") if hasattr(when, "strftime") else "--:--:--"
    reason = event.get("ResourceStatusReason") or ""
    status, kind = event.get("ResourceStatus", ""), event.get("ResourceType", "")
    line = f"{stamp} {status:<26} {kind:<38} {event.get('LogicalResourceId', '')}"
    return f"{line}  {reason}".rstrip()


def failure_reason(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The first resource that failed (events in time order), and why: what a rollback is about."""
    for event in events:
        status = str(event.get("ResourceStatus", ""))
        reason = str(event.get("ResourceStatusReason") or "")
        if status.endswith("_FAILED") and event.get("ResourceType") != "AWS::CloudFormation::Stack":
            if "Resource creation cancelled" in reason:
                continue  # collateral: CloudFormation stopped it because another one failed
            return f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {reason or status}"
    for event in events:
        if str(event.get("ResourceStatus", "")).endswith("_FAILED") and event.get("ResourceStatusReason"):
            return f"{event.get('LogicalResourceId')}: {event['ResourceStatusReason']}"
    return None


@dataclass
class StackDeployer:
    cfn: Any
    out: TextIO
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    poll_seconds: float = 5.0
    timeout: float = 3600.0

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def status(self, stack: str) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=stack)["Stacks"]
        except ClientError as exc:
            if client_error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                return None
            raise
        return stacks[0] if stacks else None

    def _newest_event_id(self, stack: str) -> str | None:
        try:
            events = self.cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return events[0]["EventId"] if events else None

    def _events_since(self, stack: str, last_id: str | None, seen: set[str]) -> list[dict[str, Any]]:
        """Events newer than `last_id` not yet printed, oldest first."""
        fresh: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StackName": stack}
            if token:
                kwargs["NextToken"] = token
            page = self.cfn.describe_stack_events(**kwargs)
            for event in page.get("StackEvents", []):
                if event["EventId"] == last_id:
                    return list(reversed(fresh))
                if event["EventId"] not in seen:
                    fresh.append(event)
            token = page.get("NextToken")
            if not token:
                return list(reversed(fresh))

    def _follow(self, stack: str, stack_id: str, last_id: str | None, deleting: bool = False) -> dict[str, Any]:
        """Print events until the stack settles; the final description (None-like dict when deleted)."""
        deadline = self.clock() + self.timeout
        seen: set[str] = set()
        history: list[dict[str, Any]] = []
        while True:
            for event in self._events_since(stack_id, last_id, seen):
                seen.add(event["EventId"])
                history.append(event)
                self._write(event_line(event))
            described = self.status(stack_id)
            status = described["StackStatus"] if described else "DELETE_COMPLETE"
            if status in SUCCESS or (deleting and status == "DELETE_COMPLETE"):
                return described or {"StackStatus": status}
            if status in FAILED:
                reason = failure_reason(history) or (described or {}).get("StackStatusReason") or "no reason given"
                raise StackError(f"stack {stack} ended {status}: {reason}")
            if self.clock() >= deadline:
                raise StackError(
                    f"stack {stack} still {status} after {self.timeout:.0f} s; it goes on in CloudFormation "
                    "(watch it in the console, or run the command again later)"
                )
            self.sleep(self.poll_seconds)

    def deploy(self, stack: str, template_body: str, parameters: Mapping[str, str],
               template: Mapping[str, Any]) -> str:  # fmt: skip
        """Create or update `stack`; "created", "updated" or "unchanged"."""
        if len(template_body.encode()) > MAX_TEMPLATE_BODY:
            raise StackError(f"template is {len(template_body.encode())} bytes, CloudFormation takes "
                             f"{MAX_TEMPLATE_BODY} inline")  # fmt: skip
        existing = self.status(stack)
        status = existing["StackStatus"] if existing else None
        if status in UNUSABLE:
            raise StackError(f"stack {stack} is {status} (a failed creation cannot be updated); "
                             f"remove it with `edgewatch cloud delete --stack {stack}` and deploy again")  # fmt: skip
        if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise StackError(f"stack {stack} is busy ({status}); wait until it settles")
        kind = "UPDATE" if status and status != "REVIEW_IN_PROGRESS" else "CREATE"
        params = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
        if kind == "UPDATE":
            # As `aws cloudformation deploy`: a parameter not given keeps the stack's current value.
            current = {p["ParameterKey"] for p in (existing or {}).get("Parameters", [])}
            declared = set((template.get("Parameters") or {}).keys())
            keep = sorted((current & declared) - set(parameters))
            params += [{"ParameterKey": k, "UsePreviousValue": True} for k in keep]
        else:
            missing = missing_required(template, parameters)
            if missing:
                raise StackError(f"creating stack {stack} needs " + ", ".join(f"--parameter {m}=..." for m in missing))
        name = f"edgewatch-{uuid.uuid4().hex[:12]}"
        try:
            created = self.cfn.create_change_set(
                StackName=stack, ChangeSetName=name, ChangeSetType=kind, TemplateBody=template_body,
                Parameters=params, Capabilities=CAPABILITIES, Description="edgewatch cloud deploy",
            )  # fmt: skip
        except ClientError as exc:
            # Some endpoints refuse an empty change set at once rather than creating a FAILED one.
            if not any(text in str(exc) for text in NO_CHANGES):
                raise
            created = None
        change_set = self._wait_change_set(created["Id"], stack) if created else None
        if change_set is None or created is None:
            self._write(f"no changes: stack {stack} is up to date")
            return "unchanged"
        changes = change_set.get("Changes", [])
        for change in changes:
            rc = change.get("ResourceChange", {})
            action, rtype = rc.get("Action", "?"), rc.get("ResourceType", "")
            self._write(f"  {action:<8} {rtype:<38} {rc.get('LogicalResourceId', '')}")
        last_id = self._newest_event_id(created["StackId"])
        self._write(f"{'creating' if kind == 'CREATE' else 'updating'} stack {stack} ({len(changes)} change(s))")
        self.cfn.execute_change_set(ChangeSetName=created["Id"])
        final = self._follow(stack, created["StackId"], last_id)
        self._write(f"stack {stack} {final['StackStatus']}")
        for output in final.get("Outputs", []) or []:
            self._write(f"  {output['OutputKey']} = {output['OutputValue']}")
        return "created" if kind == "CREATE" else "updated"

    def _wait_change_set(self, change_set_id: str, stack: str) -> dict[str, Any] | None:
        deadline = self.clock() + self.timeout
        while True:
            described = self.cfn.describe_change_set(ChangeSetName=change_set_id)
            status = described.get("Status")
            if status == "CREATE_COMPLETE":
                return dict(described)
            if status == "FAILED":
                reason = str(described.get("StatusReason", ""))
                if any(text in reason for text in NO_CHANGES):
                    self.cfn.delete_change_set(ChangeSetName=change_set_id)
                    return None
                raise StackError(f"stack {stack}: the change set failed: {reason or 'no reason given'}")
            if self.clock() >= deadline:
                raise StackError(f"stack {stack}: change set still {status} after {self.timeout:.0f} s")
            self.sleep(min(self.poll_seconds, 2.0))

    def delete(self, stack: str) -> str:
        """Delete `stack`; "deleted", or "absent" when there is none."""
        existing = self.status(stack)
        if existing is None:
            self._write(f"no stack {stack}: nothing to delete")
            return "absent"
        for output in existing.get("Outputs", []) or []:
            if output.get("OutputKey") == "MetricsBucketName":
                self._write(f"the metrics bucket {output['OutputValue']} is retained (DeletionPolicy Retain): "
                            "empty and delete it yourself once the data is no longer needed")  # fmt: skip
        stack_id = existing["StackId"]
        last_id = self._newest_event_id(stack_id)
        self._write(f"deleting stack {stack}")
        self.cfn.delete_stack(StackName=stack_id)
        self._follow(stack, stack_id, last_id, deleting=True)
        self._write(f"stack {stack} DELETE_COMPLETE")
        return "deleted"
