"""The greengrass-cli IPC operations (CreateLocalDeployment, ListComponents, ...) for `edgewatch local`
and for components.

The CLI's own principal may use them all; its SVCUID is written to `<root>/cli.token` (mode 0600)
while the runtime runs. A component may use those its `accessControl` grants under
`aws.greengrass.Cli`, the nucleus's service id, with the nucleus's resources: the component name for
GetComponentDetails, RestartComponent and StopComponent, the deployment id for
GetLocalDeploymentStatus, `*` for the others.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgewatch.local.builtin_components import NUCLEUS, NUCLEUS_VERSION, is_builtin
from edgewatch.local.component_runner import State
from edgewatch.local.component_updates import UpdatePolicy
from edgewatch.local.deployment_history import DeploymentRecord
from edgewatch.local.deployment_plan import DeploymentError, DeploymentRequest, parse_config_updates
from edgewatch.local.ipc_errors import InvalidArgumentsError, ResourceNotFoundError
from edgewatch.local.ipc_server import IpcServer, Stream
from edgewatch.local.runtime import LocalRuntime

log = logging.getLogger(__name__)

# Not "aws.greengrass.Cli": that is the name of the CLI component a recipe may depend on (a stand-in
# here), and a deployed component must never take over the CLI's principal.
CLI_PRINCIPAL = "edgewatch.local.cli"
CLI_SERVICE = "aws.greengrass.Cli"


def local_deployment(record: DeploymentRecord) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if record.detailed_status is not None:
        details["detailedDeploymentStatus"] = record.detailed_status.value
    if record.reason:
        details["deploymentFailureCause"] = record.reason
        details["deploymentErrorStack"] = record.error_types
        details["deploymentErrorTypes"] = record.error_types
    body = record.to_json()
    return {"deploymentId": record.deployment_id, "status": body["status"], "createdOn": body["createdOn"],
            "deploymentStatusDetails": details}


class CliService:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    def install(self, server: IpcServer) -> None:
        server.register("CreateLocalDeployment", self._guard(self.create_local_deployment))
        server.register("GetLocalDeploymentStatus", self._guard(self.get_local_deployment_status))
        server.register("ListLocalDeployments", self._guard(self.list_local_deployments))
        server.register("ListComponents", self._guard(self.list_components))
        server.register("GetComponentDetails", self._guard(self.get_component_details))
        server.register("RestartComponent", self._guard(self.restart_component))
        server.register("StopComponent", self._guard(self.stop_component))

    @staticmethod
    def _guard(handler: Any) -> Any:
        def guarded(stream: Stream, request: dict[str, Any]) -> Any:
            if stream.principal.name != CLI_PRINCIPAL:
                stream.principal.authorize(CLI_SERVICE, stream.operation, _resource(stream.operation, request))
            return handler(request)

        return guarded

    def create_local_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            updates = parse_config_updates(request.get("componentToConfiguration") or {})
        except DeploymentError as exc:
            raise InvalidArgumentsError(str(exc)) from None
        merge = request.get("rootComponentVersionsToAdd") or {}
        remove = request.get("rootComponentsToRemove") or []
        if not isinstance(merge, dict) or not isinstance(remove, list):
            raise InvalidArgumentsError("rootComponentVersionsToAdd must be an object, rootComponentsToRemove a list")
        folders = {}
        for key in ("recipeDirectoryPath", "artifactsDirectoryPath"):
            value = request.get(key)
            if value and not Path(value).is_dir():
                raise InvalidArgumentsError(f"{key} {value} is not a directory")
            folders[key] = Path(value).resolve() if value else None
        policy = request.get("componentUpdatePolicy") or {}
        if not isinstance(policy, dict):
            raise InvalidArgumentsError("componentUpdatePolicy must be an object")
        try:
            update_policy = UpdatePolicy.parse(policy.get("action"), policy.get("timeoutInSeconds"))
        except ValueError as exc:
            raise InvalidArgumentsError(str(exc)) from None
        deployment = DeploymentRequest(
            folders["recipeDirectoryPath"], folders["artifactsDirectoryPath"],
            {str(k): str(v) for k, v in merge.items()}, [str(n) for n in remove], updates)
        deployment.update_policy = update_policy
        strict = request.get("strictRecipes")  # this runtime's extension (`deployment create --strict-recipes`)
        if strict is not None and not isinstance(strict, bool):
            raise InvalidArgumentsError("strictRecipes must be true or false")
        deployment.strict_recipes = strict
        record = self.runtime.submit(deployment)
        return {"deploymentId": record.deployment_id}

    def get_local_deployment_status(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.runtime.deployment(str(request.get("deploymentId")))
        if record is None:
            raise ResourceNotFoundError(f"Cannot find deployment {request.get('deploymentId')}",
                                        resourceType="LocalDeployment")
        return {"deployment": local_deployment(record)}

    def list_local_deployments(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"localDeployments": [local_deployment(r) for r in self.runtime.deployment_history()]}

    def _details(self, name: str) -> dict[str, Any]:
        deployed = self.runtime.deployed[name]
        state = self.runtime.component_state(name)
        if is_builtin(name) and state == State.FINISHED:
            state = State.RUNNING  # a stand-in is served by the runtime itself: up as long as it is
        return {"componentName": name, "version": deployed.version, "state": state.value,
                "configuration": self.runtime.configuration(name) or {}}

    def _nucleus(self) -> dict[str, Any]:
        """The Nucleus is always on a device, deployed as a dependency or not."""
        return {"componentName": NUCLEUS, "version": NUCLEUS_VERSION, "state": State.RUNNING.value,
                "configuration": self.runtime.configuration(NUCLEUS) or {}}

    def list_components(self, request: dict[str, Any]) -> dict[str, Any]:
        components = [self._details(name) for name in sorted(self.runtime.deployed)]
        if NUCLEUS not in self.runtime.deployed:
            components.append(self._nucleus())
        return {"components": sorted(components, key=lambda c: c["componentName"])}

    def _component(self, request: dict[str, Any]) -> str:
        name = request.get("componentName")
        if name not in self.runtime.deployed:
            raise ResourceNotFoundError(f"Component {name} not found", resourceType="component", resourceName=name)
        return str(name)

    def get_component_details(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("componentName") == NUCLEUS and NUCLEUS not in self.runtime.deployed:
            return {"componentDetails": self._nucleus()}
        return {"componentDetails": self._details(self._component(request))}

    async def restart_component(self, request: dict[str, Any]) -> dict[str, Any]:
        name = self._component(request)
        await self.runtime.restart_component(name)
        return {"restartStatus": "SUCCEEDED", "message": f"{name} restarted"}

    async def stop_component(self, request: dict[str, Any]) -> dict[str, Any]:
        name = self._component(request)
        await self.runtime.stop_component(name)
        return {"stopStatus": "SUCCEEDED", "message": f"{name} stopped"}


def _resource(operation: str, request: dict[str, Any]) -> str:
    """The resource the nucleus authorizes a CLI operation on."""
    if operation in ("GetComponentDetails", "RestartComponent", "StopComponent"):
        return str(request.get("componentName") or "")
    if operation == "GetLocalDeploymentStatus":
        return str(request.get("deploymentId") or "")
    return "*"
