"""Rendering of CreateDeployment requests from the documents in deployment/deployments/.

The documents are the AWS CLI's `--cli-input-json` format with {{PLACEHOLDER}} values; rendering
substitutes them, pins component versions and applies `--set COMPONENT:/json/pointer=VALUE`
overrides into each component's `configurationUpdate.merge` (a JSON string in the API).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.cloud.defaults import DEFAULT_DOCUMENT as DEFAULT_DOCUMENT
from edgewatch.cloud.model import validate_request

PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")


class DeploymentDocError(ValueError):
    """A deployment document or override that cannot be rendered."""


@dataclass(frozen=True)
class Override:
    """One `--set COMPONENT:/json/pointer=VALUE`."""

    component: str
    pointer: str
    value: Any


def load_document(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeploymentDocError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise DeploymentDocError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(doc, dict):
        raise DeploymentDocError(f"{path}: a deployment document is a JSON object")
    return doc


def placeholders(value: Any) -> set[str]:
    """Every {{NAME}} used anywhere in a document."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    """Replace {{NAME}} everywhere; a placeholder without a value is an error."""
    missing = sorted(placeholders(value) - set(values))
    if missing:
        raise DeploymentDocError(f"no value for placeholder(s) {', '.join('{{' + m + '}}' for m in missing)}")

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return PLACEHOLDER.sub(lambda m: values[m.group(1)], item)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def parse_override(spec: str) -> Override:
    """Parse `COMPONENT:/json/pointer=VALUE`; VALUE is JSON when it parses, else a string."""
    component, sep, rest = spec.partition(":")
    pointer, eq, raw = rest.partition("=")
    if not sep or not eq or not component or not pointer.startswith("/"):
        raise DeploymentDocError(f"--set {spec!r}: expected COMPONENT:/json/pointer=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return Override(component, pointer, value)


def _pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def set_pointer(doc: dict[str, Any], pointer: str, value: Any) -> None:
    """Set `pointer` in `doc`, creating objects on the way (RFC 6901 escapes)."""
    parts = _pointer_parts(pointer)
    if not parts or parts == [""]:
        raise DeploymentDocError(f"{pointer!r}: cannot replace the whole configuration; name a key")
    node: Any = doc
    for part in parts[:-1]:
        if not isinstance(node, dict):
            raise DeploymentDocError(f"{pointer!r}: {part!r} is inside a non-object value")
        node = node.setdefault(part, {})
    if not isinstance(node, dict):
        raise DeploymentDocError(f"{pointer!r}: parent is not an object")
    node[parts[-1]] = value


def render_deployment(
    template: dict[str, Any],
    values: Mapping[str, str],
    versions: Mapping[str, str] | None = None,
    overrides: Iterable[Override] = (),
) -> dict[str, Any]:
    """The CreateDeployment request: placeholders filled, versions pinned, overrides merged.

    Validated against botocore's greengrassv2 CreateDeployment input shape.
    """
    doc = substitute(copy.deepcopy(template), values)
    components: dict[str, Any] = doc.get("components") or {}
    for name, version in (versions or {}).items():
        if name in components:
            components[name]["componentVersion"] = version
    for override in overrides:
        if override.component not in components:
            raise DeploymentDocError(
                f"--set {override.component}: not in the deployment (components: {', '.join(sorted(components))})"
            )
        update = components[override.component].setdefault("configurationUpdate", {})
        try:
            merge = json.loads(update.get("merge") or "{}")
        except json.JSONDecodeError as exc:
            raise DeploymentDocError(f"{override.component}: configurationUpdate.merge is not JSON: {exc}") from exc
        set_pointer(merge, override.pointer, override.value)
        update["merge"] = json.dumps(merge, separators=(",", ":"), sort_keys=True)
    validate_request("greengrassv2", "CreateDeployment", doc)
    return doc


def target_kind(target_arn: str) -> tuple[str, str]:
    """('thinggroup' | 'thing', name) of a deployment target ARN."""
    match = re.match(r"^arn:[^:]+:iot:[^:]*:[0-9]+:(thinggroup|thing)/(.+)$", target_arn)
    if not match:
        raise DeploymentDocError(f"targetArn {target_arn!r} is not a thing or thing group ARN")
    return match.group(1), match.group(2)


def api_request(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """One entry of `deploy --dry-run` output (botocore service and operation names)."""
    validate_request(service, operation, params)
    return {"service": service, "operation": operation, "params": params}
