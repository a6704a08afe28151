"""Component configuration over IPC: Get/UpdateConfiguration, update events and validation.

Configuration is held per component. Updates are merges (lists replaced whole). Subscribers to a
key path are told which key paths changed. Proposed deployment changes go to the component's
validators first (SubscribeToValidateConfigurationUpdates) and are applied only if accepted.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.config_tree import (
    MAX_DEPTH,
    ConfigPointerError,
    changed_paths,
    depth_problem,
    lookup,
    merge_at,
)
from edgewatch.local.ipc_errors import InvalidArgumentsError, ResourceNotFoundError
from edgewatch.local.ipc_protocol import NAMESPACE
from edgewatch.local.ipc_server import IpcServer, Stream
from edgewatch.local.state_files import load_or_quarantine, private_dir, write_json_atomic

log = logging.getLogger(__name__)

MAX_EVENTS_PER_UPDATE = 64
# Keys a component may not write about itself (the nucleus's wording); they come from deployments only.
PROTECTED_KEYS = ("accessControl",)
DEFAULT_VALIDATION_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ValidationResult:
    accepted: bool
    message: str = ""
    answered: bool = True  # False when nobody validated (no validator, or it timed out)


@dataclass(slots=True, eq=False)
class UpdateSubscription:
    component: str
    key_path: tuple[str, ...]
    stream: Stream


def _key_path(request: Mapping[str, Any], field: str = "keyPath") -> tuple[str, ...]:
    value = request.get(field) or []
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise InvalidArgumentsError(f"{field} must be a list of strings")
    return tuple(value)


def _related(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


class ConfigurationStore:
    """Configuration of every component, optionally persisted as one JSON file per component."""

    def __init__(self, persist_dir: Path | None = None) -> None:
        self._configs: dict[str, dict[str, Any]] = {}
        self._subscriptions: list[UpdateSubscription] = []
        self._validators: dict[str, list[Stream]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[ValidationResult]] = {}
        self.persist_dir = persist_dir
        self.listeners: list[Callable[[str, list[tuple[str, ...]]], None]] = []
        if persist_dir is not None:
            private_dir(persist_dir)
            for path in sorted(persist_dir.glob("*.json")):
                stored = load_or_quarantine(path, _config_problem)
                if stored is not None:
                    self._configs[path.stem] = stored

    def update_subscriptions(self) -> list[UpdateSubscription]:
        """The open SubscribeToConfigurationUpdate streams (a copy)."""
        return list(self._subscriptions)

    def install(self, server: IpcServer) -> None:
        server.register("GetConfiguration", self.handle_get)
        server.register("UpdateConfiguration", self.handle_update)
        server.register(
            "SubscribeToConfigurationUpdate", self.handle_subscribe, NAMESPACE + "ConfigurationUpdateEvents"
        )
        server.register(
            "SubscribeToValidateConfigurationUpdates",
            self.handle_subscribe_validate,
            NAMESPACE + "ValidateConfigurationUpdateEvents",
        )
        server.register("SendConfigurationValidityReport", self.handle_validity_report)

    # -- direct API (the lifecycle manager and tests)
    def has(self, component: str) -> bool:
        return component in self._configs

    def get(self, component: str) -> dict[str, Any]:
        return copy.deepcopy(self._configs.get(component, {}))

    def components(self) -> list[str]:
        return sorted(self._configs)

    def set(self, component: str, config: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """Replace a component's configuration; notify subscribers of what changed."""
        old = self._configs.get(component, {})
        new = copy.deepcopy(dict(config))
        self._configs[component] = new
        self._persist(component)
        changed = changed_paths(old, new)
        if changed:
            self._notify(component, changed)
        return changed

    def remove(self, component: str) -> None:
        self._configs.pop(component, None)
        if self.persist_dir is not None:
            (self.persist_dir / f"{component}.json").unlink(missing_ok=True)

    def merge(self, component: str, key_path: tuple[str, ...], value: Any) -> list[tuple[str, ...]]:
        return self.set(component, merge_at(self._configs.get(component, {}), key_path, value))

    async def validate(
        self, component: str, proposed: Mapping[str, Any], deployment_id: str,
        timeout: float = DEFAULT_VALIDATION_TIMEOUT_S,
    ) -> ValidationResult:
        """Ask the component to validate a proposed configuration, as a deployment does."""
        validators = [s for s in self._validators.get(component, []) if not s.closed]
        if not validators:
            return ValidationResult(True, answered=False)
        future: asyncio.Future[ValidationResult] = asyncio.get_running_loop().create_future()
        self._pending[(component, deployment_id)] = future
        event = {"validateConfigurationUpdateEvent": {"configuration": dict(proposed), "deploymentId": deployment_id}}
        for stream in validators:
            stream.send_event(event)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            # As on the nucleus: a component that does not answer in time does not block the deployment.
            log.warning("%s did not validate deployment %s within %.0f s", component, deployment_id, timeout)
            return ValidationResult(True, "validation timed out", answered=False)
        finally:
            self._pending.pop((component, deployment_id), None)

    # -- operations
    def handle_get(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        component = request.get("componentName") or stream.principal.name
        key_path = _key_path(request)
        if component not in self._configs:
            raise ResourceNotFoundError(
                f"Component {component} not found", resourceType="component", resourceName=component
            )
        try:
            value = lookup(self._configs[component], key_path)
        except ConfigPointerError:
            raise ResourceNotFoundError(
                "Key not found", resourceType="configuration", resourceName="/".join(key_path)
            ) from None
        if not isinstance(value, dict):
            # The nucleus returns a leaf wrapped in an object keyed by its name.
            value = {key_path[-1]: value}
        return {"componentName": component, "value": value}

    def handle_update(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        key_path = _key_path(request)
        value = request.get("valueToMerge")
        if not isinstance(value, dict):
            raise InvalidArgumentsError("valueToMerge must be an object")
        protected = sorted({key_path[0]} & set(PROTECTED_KEYS) if key_path else set(value) & set(PROTECTED_KEYS))
        if protected:
            raise InvalidArgumentsError(f"Config update is not allowed for following fields [{', '.join(protected)}]")
        if len(key_path) > MAX_DEPTH:
            raise InvalidArgumentsError(f"keyPath has {len(key_path)} keys; at most {MAX_DEPTH} are allowed")
        too_deep = depth_problem(value, MAX_DEPTH - len(key_path))  # the value lands below keyPath
        if too_deep:
            raise InvalidArgumentsError(f"valueToMerge is {too_deep}")
        self.merge(stream.principal.name, key_path, value)
        return {}

    def handle_subscribe(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        component = request.get("componentName") or stream.principal.name
        sub = UpdateSubscription(component, _key_path(request), stream)
        self._subscriptions.append(sub)
        stream.on_close.append(lambda: self._subscriptions.remove(sub))
        return {}

    def handle_subscribe_validate(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        streams = self._validators.setdefault(stream.principal.name, [])
        streams.append(stream)
        stream.on_close.append(lambda: streams.remove(stream))
        return {}

    def handle_validity_report(self, stream: Stream, request: dict[str, Any]) -> dict[str, Any]:
        report = request.get("configurationValidityReport")
        if not isinstance(report, dict):
            raise InvalidArgumentsError("configurationValidityReport is required")
        status = report.get("status")
        if status not in ("ACCEPTED", "REJECTED"):
            raise InvalidArgumentsError(f"status must be ACCEPTED or REJECTED, not {status!r}")
        deployment_id = report.get("deploymentId")
        future = self._pending.get((stream.principal.name, str(deployment_id)))
        if future is None or future.done():
            raise InvalidArgumentsError("Validation request either timed out or was never made")
        future.set_result(ValidationResult(status == "ACCEPTED", str(report.get("message") or "")))
        return {}

    # -- internals
    def _notify(self, component: str, changed: list[tuple[str, ...]]) -> None:
        for listener in self.listeners:
            listener(component, changed)
        for sub in list(self._subscriptions):
            if sub.component != component:
                continue
            paths = [p for p in changed if _related(p, sub.key_path)]
            if len(paths) > MAX_EVENTS_PER_UPDATE:
                paths = [sub.key_path]
            for path in paths:
                sub.stream.send_event(
                    {"configurationUpdateEvent": {"componentName": component, "keyPath": list(path)}}
                )

    def _persist(self, component: str) -> None:
        if self.persist_dir is None:
            return
        target = self.persist_dir / f"{component}.json"
        try:
            write_json_atomic(target, self._configs[component])
        except OSError as exc:
            log.error("cannot persist configuration of %s to %s: %s", component, target, exc)


def _config_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"a configuration must be a JSON object, not {type(value).__name__}"
    return depth_problem(value)
