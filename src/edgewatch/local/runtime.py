"""The local Greengrass runtime: IPC services plus components run from recipes, with deployments.

One place wires it: `LocalRuntime`. Deployments run one at a time: `deployment_plan.plan_deployment`
decides what one does (pure), `deployment_executor` carries it out; a failed one is rolled back
(components it changed get their previous version and configuration back, others are left alone).
What is deployed and each component's configuration survive a restart of the runtime
(`plan_restore`). Read it through the query methods: `deployed`, `deployment`,
`deployment_history`, `configuration`, `component_state`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edgewatch.config_tree import leaf_paths
from edgewatch.local.artifact_store import stage_artifacts
from edgewatch.local.builtin_components import BuiltinComponents, nucleus_configuration, service_entry
from edgewatch.local.component_runner import State
from edgewatch.local.component_runners import ComponentRunners
from edgewatch.local.component_specs import SpecContext
from edgewatch.local.deployment_executor import DeploymentExecutor
from edgewatch.local.deployment_history import DeploymentHistory, DeploymentRecord
from edgewatch.local.deployment_plan import (
    ACCESS_CONTROL,
    Current,
    Deployed,
    DeploymentError,
    DeploymentRequest,
    DeploymentStatus,
    DetailedStatus,
    StoredComponent,
    plan_deployment,
    plan_restore,
)
from edgewatch.local.ipc_services import IpcServices
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.mqtt_uplink import MqttEndpoint
from edgewatch.local.process_registry import ProcessRegistry
from edgewatch.local.recipe_index import RecipeIndex
from edgewatch.local.state_files import load_or_quarantine, private_dir, write_json_atomic
from edgewatch.recipe import Artifact, RecipeError, current_platform, load_recipe

log = logging.getLogger(__name__)

__all__ = ["Deployed", "DeploymentRecord", "DeploymentRequest", "LocalRuntime"]


class LocalRuntime:
    def __init__(
        self,
        root: Path,
        thing_name: str,
        *,
        region: str = "us-east-1",
        secrets_file: Path | None = None,
        validation_timeout_s: float = 60.0,
        restart_delay_s: float = 1.0,
        kill_grace_s: float = 5.0,
        platform: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        mqtt_endpoint: MqttEndpoint | None = None,
        connect_timeout_s: float | None = None,
        reinstall_check_s: float = 5.0,
        strict_recipes: bool = False,
        component_default_user: str | None = None,
    ) -> None:
        self.layout = RuntimeLayout(Path(root).resolve())
        self.strict_recipes = strict_recipes
        # As the nucleus's componentDefaultUser: only a runtime running as root can switch users.
        self.component_user = component_default_user if os.geteuid() == 0 else None
        self._requested_user = component_default_user
        if component_default_user is not None:
            try:
                pwd.getpwnam(component_default_user)
            except KeyError:
                raise ValueError(f"--component-default-user: no such user {component_default_user!r}") from None
        self.thing_name = thing_name
        self.region = region
        self.platform = dict(platform or current_platform())
        self.extra_env = dict(extra_env or {})
        self.services = IpcServices(self.layout.socket_path, self.layout.root, thing_name, secrets_file,
                                    mqtt_endpoint=mqtt_endpoint, connect_timeout_s=connect_timeout_s)
        self.processes = ProcessRegistry(self.layout.state() / "processes.json")
        self._runners = ComponentRunners(self.layout, self.processes, user=self.component_user,
                                         restart_delay_s=restart_delay_s, kill_grace_s=kill_grace_s)
        self.services.state_listeners.append(self._runners.report)
        # Stand-ins for aws.greengrass.* dependencies (edgewatch.local.builtin_components).
        self.builtins = BuiltinComponents(self.layout.root, nucleus_configuration(
            region, thing_name, self.layout.root, mqtt_endpoint.host if mqtt_endpoint else None,
            mqtt_endpoint.port if mqtt_endpoint else None))
        self._deployed: dict[str, Deployed] = {}
        self.services.is_deployed = lambda name: name in self._deployed
        self._history = DeploymentHistory(self.layout.state() / "deployments")
        self._executor = DeploymentExecutor(self.services, self._runners, self._stage,
                                            validation_timeout_s=validation_timeout_s,
                                            reinstall_check_s=reinstall_check_s)
        self.kill_grace_s = kill_grace_s
        self._deploy_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- queries (call them on the runtime's event loop: its state is not thread-safe)
    @property
    def deployed(self) -> Mapping[str, Deployed]:
        """What is deployed now, by component name (read-only)."""
        return MappingProxyType(self._deployed)

    def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        return self._history.get(deployment_id)

    def deployment_history(self) -> list[DeploymentRecord]:
        """Every deployment this root remembers, oldest first."""
        return self._history.records()

    def configuration(self, name: str) -> dict[str, Any] | None:
        """A component's configuration as stored now (what it wrote itself included); None when it has none."""
        store = self.services.configuration
        return store.get(name) if store.has(name) else None

    def component_state(self, name: str) -> State:
        """Its runner's state; NEW when it has none (not deployed, or stopped for a restart)."""
        return self._runners.state(name)

    # -- start / stop
    async def start(self) -> None:
        for folder in (self.layout.root, self.layout.logs(), self.layout.state(), self.layout.recipes()):
            private_dir(folder)
        Path(self.layout.socket_path).parent.mkdir(parents=True, exist_ok=True)
        if self._requested_user is not None and self.component_user is None:
            log.warning("--component-default-user %s ignored: the runtime is not running as root, so every "
                        "lifecycle step runs as the runtime's own user (RequiresPrivilege has no effect either)",
                        self._requested_user)
        # Before anything starts: components a crashed run of this root left running would otherwise
        # run twice (two writers of one store, alerts from a copy nobody supervises).
        self.processes.sweep_previous(self.kill_grace_s)
        await self.services.start()
        self.builtins.write_recipes()
        self.builtins.provide_nucleus_configuration(self.services.configuration)
        if self.component_user is not None:
            self._open_for_component_user()
        self._history.load()
        await self._restore()
        self._write_effective_config()

    async def stop(self) -> None:
        """Stop every component (Shutdown steps run), dependents first, then the IPC server."""
        await self._executor.stop_all(self._deployed)
        for task in list(self._tasks):
            task.cancel()
        await self.services.stop()

    # -- deployments
    def submit(self, request: DeploymentRequest) -> DeploymentRecord:
        """Queue a deployment; it runs in the background. Returns its record (status QUEUED)."""
        record = self._new_record(request)
        self._history.save(record)
        task = asyncio.create_task(self.deploy(request, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    def _new_record(self, request: DeploymentRequest) -> DeploymentRecord:
        record = DeploymentRecord(str(uuid.uuid4()), time.time(), request=_describe(request))
        self._history.add(record)
        return record

    async def deploy(self, request: DeploymentRequest, record: DeploymentRecord | None = None) -> DeploymentRecord:
        if record is None:
            record = self._new_record(request)
        async with self._deploy_lock:
            record.status = DeploymentStatus.IN_PROGRESS
            self._history.save(record)
            # Key paths only: configuration values hold secrets (webhook URLs, tokens).
            log.info("deployment %s started: merge %s, remove %s, configuration keys %s", record.deployment_id,
                     record.request.get("merge"), record.request.get("remove"), record.request.get("updateConfig"))
            try:
                await self._apply(request, record.deployment_id)
            except DeploymentError as exc:
                record.status, record.reason, record.error_types = DeploymentStatus.FAILED, str(exc), [exc.error_type]
                record.detailed_status = exc.detailed_status
                log.error("deployment %s failed: %s", record.deployment_id, exc)
            except Exception as exc:  # a bug must fail the deployment, not kill the runtime
                log.exception("deployment %s failed unexpectedly", record.deployment_id)
                record.status, record.reason, record.error_types = (DeploymentStatus.FAILED,
                                                                    f"internal error: {exc}", ["INTERNAL"])
                record.detailed_status = DetailedStatus.FAILED_NO_STATE_CHANGE
            else:
                record.status, record.detailed_status = DeploymentStatus.SUCCEEDED, DetailedStatus.SUCCESSFUL
                log.info("deployment %s succeeded", record.deployment_id)
            self._history.save(record)
        return record

    async def _apply(self, request: DeploymentRequest, deployment_id: str) -> None:
        recipes = RecipeIndex([request.recipe_dir, self.layout.recipes(), self.builtins.recipe_dir])
        store = self.services.configuration
        current = Current(dict(self._deployed), self._runners.states(),
                          {name: store.get(name) for name in store.components()})
        plan = plan_deployment(current, request, recipes, self.platform, specs=self._spec_context(),
                               strict_recipes=self.strict_recipes)
        self.builtins.warn_unavailable(plan.targets)
        await self._executor.execute(plan, deployment_id, request.update_policy, self._commit)

    def _spec_context(self) -> SpecContext:
        return SpecContext(self.layout, self.thing_name, self.region, {**os.environ, **self.extra_env},
                           self.processes.env, self.component_user)

    def _stage(self, target: Deployed, artifacts: Sequence[Artifact], artifact_dir: Path | None) -> bool:
        fresh = stage_artifacts(self.layout, target.name, target.version, artifacts, artifact_dir)
        self._share_artifacts(target.name, target.version)
        return fresh

    def _commit(self, targets: Mapping[str, Deployed]) -> None:
        # Only now: a failed deployment keeps the stored recipes of what it rolled back to.
        self._deployed = {name: self._copy_recipe(target) for name, target in targets.items()}
        self._save_deployed()
        self._write_effective_config()

    # -- components
    async def restart_component(self, name: str) -> None:
        if name not in self._deployed:
            raise KeyError(name)
        await self._runners.stop(name)
        self._runners.start(self._deployed[name])

    async def stop_component(self, name: str) -> None:
        if name not in self._deployed:
            raise KeyError(name)
        runner = self._runners.get(name)
        if runner is not None:
            await runner.stop()

    # -- component user (root only)
    def _open_for_component_user(self) -> None:
        """Let steps running as the component user reach what they need: traverse (not list) the root,
        `packages/` and `work/`, and connect to the IPC socket (the SVCUID authenticates, as on the
        nucleus). The folders above the root must be traversable too; that is the operator's choice."""
        for folder in (self.layout.root, self.layout.root / "packages", self.layout.root / "packages" / "artifacts",
                       self.layout.root / "packages" / "artifacts-unarchived", self.layout.root / "work"):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o711)
        socket = Path(self.layout.socket_path)
        if socket.parent != self.layout.root:
            os.chmod(socket.parent, 0o711)
        os.chmod(socket, 0o666)

    def _share_artifacts(self, name: str, version: str) -> None:
        """Artifacts stay read-only and owned by the runtime; the component user's group may read them."""
        if self.component_user is None:
            return
        gid = pwd.getpwnam(self.component_user).pw_gid
        for base in (self.layout.artifacts(name, version), self.layout.unarchived(name, version)):
            if not base.exists():
                continue
            for folder in (base.parent,):
                os.chmod(folder, 0o711)
            for dirpath, _dirnames, filenames in os.walk(base):
                os.chown(dirpath, -1, gid)
                for file_name in filenames:
                    path = os.path.join(dirpath, file_name)
                    if not os.path.islink(path):
                        os.chown(path, -1, gid)
                        os.chmod(path, os.stat(path).st_mode | 0o040)

    # -- persistence
    def _copy_recipe(self, target: Deployed) -> Deployed:
        stored = self.layout.recipes() / f"{target.name}-{target.version}{target.recipe_path.suffix}"
        if target.recipe_path.resolve() != stored.resolve():
            shutil.copyfile(target.recipe_path, stored)
            os.chmod(stored, 0o600)
        return replace(target, recipe_path=stored)

    def _write_effective_config(self) -> None:
        # A deployment that removed the Nucleus (no dependent left) also removed its configuration.
        self.builtins.provide_nucleus_configuration(self.services.configuration)
        self.builtins.write_effective_config({
            n: service_entry(d.version, d.recipe.dependencies, d.spec.lifecycle, self.services.configuration.get(n),
                             d.recipe.component_type or "aws.greengrass.generic")
            for n, d in self._deployed.items()})

    def _save_deployed(self) -> None:
        state = [{"name": d.name, "version": d.version, "recipe": str(d.recipe_path), "root": d.root,
                  ACCESS_CONTROL: d.access_control}
                 for d in self._deployed.values()]
        write_json_atomic(self.layout.state() / "deployed.json", state)

    async def _restore(self) -> None:
        """After a restart: bring back what was deployed, with its stored configuration."""
        path = self.layout.state() / "deployed.json"
        entries = load_or_quarantine(path, _deployed_problem)
        if entries is None:
            if any(path.parent.glob(f"{path.name}.corrupt-*")):
                log.error("starting with nothing deployed: %s was unusable (kept aside as %s.corrupt-*); "
                          "deploy again to bring the components back", path, path.name)
            return
        stored = []
        for entry in entries:
            try:
                recipe = load_recipe(entry["recipe"])
            except (RecipeError, OSError) as exc:  # one damaged recipe must not keep the others down
                log.error("cannot restore %s-%s: %s", entry["name"], entry["version"], exc)
                continue
            access = entry.get(ACCESS_CONTROL)
            stored.append(StoredComponent(entry["name"], entry["version"], recipe, Path(entry["recipe"]),
                                          entry["root"], access if isinstance(access, dict) else None))
        plan = plan_restore(stored, {s.name: self.services.configuration.get(s.name) for s in stored},
                            self.platform, specs=self._spec_context(), strict_recipes=self.strict_recipes)
        self._deployed = dict(plan.targets)
        await self._executor.restore(plan)


def _deployed_problem(value: Any) -> str | None:
    """Why `state/deployed.json` has the wrong shape, or None."""
    if not isinstance(value, list):
        return f"expected a list of deployed components, got {type(value).__name__}"
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            return f"[{i}] must be an object"
        for key, kind in (("name", str), ("version", str), ("recipe", str), ("root", bool)):
            if not isinstance(entry.get(key), kind):
                return f"[{i}].{key} must be a {kind.__name__}"
        if entry.get(ACCESS_CONTROL) is not None and not isinstance(entry[ACCESS_CONTROL], dict):
            return f"[{i}].{ACCESS_CONTROL} must be an object"
    return None


def _describe(request: DeploymentRequest) -> dict[str, Any]:
    """What a deployment asked for, as recorded and logged: configuration KEY PATHS only, never values."""
    return {
        "recipeDir": str(request.recipe_dir) if request.recipe_dir else None,
        "artifactDir": str(request.artifact_dir) if request.artifact_dir else None,
        "merge": dict(request.merge),
        "remove": list(request.remove),
        "strictRecipes": request.strict_recipes,
        "updateConfig": {
            n: {"MERGE": ["/" + "/".join(p) for p in leaf_paths(dict(u.merge)) if p], "RESET": list(u.reset)}
            for n, u in request.config_updates.items()
        },
    }
