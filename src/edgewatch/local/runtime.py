"""The local Greengrass runtime: IPC services plus components run from recipes, with deployments.

One place wires it: `LocalRuntime`. Deployments are applied one at a time; a failed one is rolled
back (components it changed get their previous version and configuration back, others are left
alone). What is deployed and each component's configuration survive a restart of the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pwd
import secrets as token_source
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.config_tree import leaf_paths
from edgewatch.local.artifact_store import stage_artifacts
from edgewatch.local.builtin_components import BuiltinComponents, nucleus_configuration, service_entry
from edgewatch.local.component_log import ComponentLog
from edgewatch.local.component_runner import HEALTHY, SETTLED, ComponentRunner, RunSpec, State
from edgewatch.local.component_updates import UpdatePolicy
from edgewatch.local.deployment_plan import (
    ACCESS_CONTROL,
    ConfigUpdate,
    DeploymentError,
    RecipeIndex,
    dependency_order,
    deployment_access_control,
    new_configuration,
    resolve_versions,
)
from edgewatch.local.ipc_services import IpcServices
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.mqtt_uplink import MqttEndpoint
from edgewatch.local.process_registry import ProcessRegistry
from edgewatch.local.state_files import load_or_quarantine, private_dir, quarantine, write_json_atomic
from edgewatch.recipe import (
    ComponentPaths,
    InterpolationContext,
    InterpolationError,
    Recipe,
    RecipeError,
    Unresolved,
    current_platform,
    interpolate_lifecycle,
    load_recipe,
)

log = logging.getLogger(__name__)

MAX_KEPT_DEPLOYMENTS = 50


@dataclass
class DeploymentRequest:
    recipe_dir: Path | None = None
    artifact_dir: Path | None = None
    merge: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    config_updates: dict[str, ConfigUpdate] = field(default_factory=dict)
    # componentUpdatePolicy: NOTIFY_COMPONENTS (default, timeout 60 s) or SKIP_NOTIFY_COMPONENTS
    update_policy: UpdatePolicy = field(default_factory=UpdatePolicy)
    # None: the runtime's default (`local start --strict-recipes`); True: an unresolvable recipe
    # variable fails this deployment; False: it stays as written with one WARNING, as on the nucleus.
    strict_recipes: bool | None = None


@dataclass
class DeploymentRecord:
    deployment_id: str
    created: float
    status: str = "QUEUED"  # QUEUED, IN_PROGRESS, SUCCEEDED, FAILED
    detailed_status: str = ""
    reason: str = ""
    error_types: list[str] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "createdOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
            "status": self.status,
            "detailedStatus": self.detailed_status,
            "reason": self.reason,
            "errorTypes": self.error_types,
            "request": self.request,
        }


@dataclass
class Deployed:
    """One component version as deployed: its recipe, configuration and interpolated run spec."""

    name: str
    version: str
    recipe: Recipe
    recipe_path: Path
    root: bool
    config: dict[str, Any]
    spec: RunSpec
    svcuid: str
    # From the deployment only (recipe defaults + deployment merges), never from what a component wrote.
    access_control: dict[str, Any] | None = None


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
        self.validation_timeout_s = validation_timeout_s
        self.restart_delay_s = restart_delay_s
        self.kill_grace_s = kill_grace_s
        # How long a component reinstalled from BROKEN must stay up for the deployment to succeed: a
        # Run step is RUNNING as soon as it is spawned, and "fixed" must not be reported for a crash.
        self.reinstall_check_s = reinstall_check_s
        self.platform = dict(platform or current_platform())
        self.extra_env = dict(extra_env or {})
        self.services = IpcServices(self.layout.socket_path, self.layout.root, thing_name, secrets_file,
                                    mqtt_endpoint=mqtt_endpoint, connect_timeout_s=connect_timeout_s)
        self.processes = ProcessRegistry(self.layout.state() / "processes.json")
        self.services.state_listeners.append(self._on_reported_state)
        # Stand-ins for aws.greengrass.* dependencies (edgewatch.local.builtin_components).
        self.builtins = BuiltinComponents(self.layout.root, nucleus_configuration(
            region, thing_name, self.layout.root, mqtt_endpoint.host if mqtt_endpoint else None,
            mqtt_endpoint.port if mqtt_endpoint else None))
        self.services.is_deployed = lambda name: name in self.deployed
        self.deployed: dict[str, Deployed] = {}
        self.runners: dict[str, ComponentRunner] = {}
        self.deployments: dict[str, DeploymentRecord] = {}
        self._deploy_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

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
        self._load_deployment_history()
        await self._restore()
        self._write_effective_config()

    async def stop(self) -> None:
        """Stop every component (Shutdown steps run), dependents first, then the IPC server."""
        order = dependency_order(self.runners, {n: d.recipe.dependencies for n, d in self.deployed.items()})
        for name in reversed(order):
            await self._stop_runner(name)
        for task in list(self._tasks):
            task.cancel()
        await self.services.stop()

    # -- deployments
    def submit(self, request: DeploymentRequest) -> DeploymentRecord:
        """Queue a deployment; it runs in the background. Returns its record (status QUEUED)."""
        record = DeploymentRecord(str(uuid.uuid4()), time.time(), request=_describe(request))
        self.deployments[record.deployment_id] = record
        self._save_deployment(record)
        task = asyncio.create_task(self.deploy(request, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def deploy(self, request: DeploymentRequest, record: DeploymentRecord | None = None) -> DeploymentRecord:
        if record is None:
            record = DeploymentRecord(str(uuid.uuid4()), time.time(), request=_describe(request))
            self.deployments[record.deployment_id] = record
        async with self._deploy_lock:
            record.status = "IN_PROGRESS"
            self._save_deployment(record)
            # Key paths only: configuration values hold secrets (webhook URLs, tokens).
            log.info("deployment %s started: merge %s, remove %s, configuration keys %s", record.deployment_id,
                     record.request.get("merge"), record.request.get("remove"), record.request.get("updateConfig"))
            try:
                await self._apply(request, record)
            except DeploymentError as exc:
                record.status = "FAILED"
                record.reason = str(exc)
                record.error_types = [exc.error_type]
                record.detailed_status = getattr(exc, "detailed_status", "FAILED_ROLLBACK_COMPLETE")
                log.error("deployment %s failed: %s", record.deployment_id, exc)
            except Exception as exc:  # a bug must fail the deployment, not kill the runtime
                log.exception("deployment %s failed unexpectedly", record.deployment_id)
                record.status, record.reason, record.error_types = "FAILED", f"internal error: {exc}", ["INTERNAL"]
                record.detailed_status = "FAILED_NO_STATE_CHANGE"
            else:
                record.status, record.detailed_status = "SUCCEEDED", "SUCCESSFUL"
                log.info("deployment %s succeeded", record.deployment_id)
            self._save_deployment(record)
        return record

    async def _apply(self, request: DeploymentRequest, record: DeploymentRecord) -> None:
        old = dict(self.deployed)
        roots = {name: d.version for name, d in old.items() if d.root}
        for name in request.remove:
            if name not in roots:
                raise _no_change(f"cannot remove {name}: it is not deployed", "REQUEST_ERROR")
            del roots[name]
        roots.update(request.merge)
        index = RecipeIndex([p for p in (request.recipe_dir, self.layout.recipes(), self.builtins.recipe_dir)
                             if p is not None])
        recipes: dict[tuple[str, str], tuple[Recipe, Path]] = {}

        def recipe_of(name: str, version: str) -> tuple[Recipe, Path]:
            if (name, version) not in recipes:
                path = index.path(name, version)
                if path is None:
                    raise _no_change(f"no recipe for {name}-{version}", "RECIPE_NOT_FOUND")
                try:
                    recipes[(name, version)] = (load_recipe(path), path)
                except RecipeError as exc:
                    raise _no_change(str(exc), "RECIPE_ERROR") from None
            return recipes[(name, version)]

        def dependencies_of(name: str, version: str) -> dict[str, str]:
            recipe, _ = recipe_of(name, version)
            return {dep: d.version_requirement for dep, d in recipe.dependencies.items()}

        try:
            versions = resolve_versions(roots, index, dependencies_of, {n: d.version for n, d in old.items()})
        except DeploymentError as exc:
            raise _no_change(str(exc), exc.error_type) from None
        self.builtins.warn_unavailable(versions)
        unknown = set(request.config_updates) - set(versions)
        if unknown:
            raise _no_change(f"--update-config names components that are not deployed: {sorted(unknown)}",
                             "REQUEST_ERROR")

        configs: dict[str, dict[str, Any]] = {}
        access: dict[str, dict[str, Any] | None] = {}
        for name, version in versions.items():
            recipe, _ = recipe_of(name, version)
            existing = self.services.configuration.get(name) if self.services.configuration.has(name) else None
            update = request.config_updates.get(name)
            configs[name] = new_configuration(recipe.default_configuration, existing, update)
            access[name] = deployment_access_control(
                recipe.default_configuration, old[name].access_control if name in old else None, update)
            configs[name].pop(ACCESS_CONTROL, None)
            if access[name] is not None:
                configs[name][ACCESS_CONTROL] = access[name]
        targets: dict[str, Deployed] = {}
        new_artifacts: set[str] = set()
        strict = self.strict_recipes if request.strict_recipes is None else request.strict_recipes
        for name, version in versions.items():
            recipe, path = recipe_of(name, version)
            try:
                selected = recipe.select(self.platform)
            except RecipeError as exc:
                raise _no_change(str(exc), "RECIPE_ERROR") from None
            if name not in old or old[name].version != version or request.artifact_dir is not None:
                try:
                    if stage_artifacts(self.layout, name, version, selected.artifacts, request.artifact_dir):
                        new_artifacts.add(name)
                except OSError as exc:
                    raise _no_change(f"cannot stage artifacts of {name}-{version}: {exc}", "ARTIFACT_ERROR") from None
                self._share_artifacts(name, version)
            svcuid = old[name].svcuid if name in old else token_source.token_urlsafe(24)
            spec = self._run_spec(name, version, recipe, configs, svcuid, selected.lifecycle, versions, strict)
            targets[name] = Deployed(name, version, recipe, path, name in roots, configs[name], spec, svcuid,
                                     access[name])

        start, restart, reconfigure, revived = [], [], [], []
        for name, target in targets.items():
            if name not in old or name not in self.runners:
                start.append(name)
            elif (old[name].version != target.version or old[name].spec != target.spec
                  or name in new_artifacts or self.runners[name].state == State.BROKEN):
                # Same version with new artifacts: the everyday edit loop of greengrass-cli.
                # "Any deployment will attempt to reinstall currently broken components" (nucleus).
                restart.append(name)
                if self.runners[name].state == State.BROKEN:
                    revived.append(name)
            elif old[name].config != target.config:
                reconfigure.append(name)
        removed = [name for name in old if name not in targets]
        log.info("deployment %s: start %s, restart %s, reconfigure %s, remove %s",
                 record.deployment_id, start, restart, reconfigure, removed)

        for name in reconfigure + restart:
            if targets[name].config == old[name].config:
                continue  # only a changed configuration is offered for validation, as on the nucleus
            result = await self.services.configuration.validate(
                name, targets[name].config, record.deployment_id, self.validation_timeout_s)
            if not result.accepted:
                raise _no_change(f"{name} rejected the configuration: {result.message}",
                                 "COMPONENT_CONFIGURATION_REJECTED")

        changed = start + restart + reconfigure + removed
        if changed:  # SubscribeToComponentUpdates: subscribers may defer, within the policy's timeout
            await self.services.component_updates.before_update(record.deployment_id, request.update_policy)
        previous_configs = {n: self.services.configuration.get(n) for n in changed
                            if self.services.configuration.has(n)}
        try:
            await self._switch(old, targets, start, restart, reconfigure, removed)
            await self._require_stable(targets, revived)
        except DeploymentError:
            await self._roll_back(old, targets, start, restart, removed, previous_configs)
            raise
        for target in targets.values():
            # Only now: a failed deployment keeps the stored recipes of what it rolled back to.
            self._copy_recipe(target)
        self.deployed = targets
        self._save_deployed()
        self._write_effective_config()
        self.services.component_updates.after_update(record.deployment_id, request.update_policy)
        await self._require_healthy(targets, [n for n in targets if n not in start + restart])

    async def _require_stable(self, targets: dict[str, Deployed], names: list[str]) -> None:
        """Components that were BROKEN must not fail again right after their reinstall."""
        if not names:
            return
        failing = frozenset({State.ERRORED, State.BROKEN})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reinstall_check_s
        for name in names:
            runner = self.runners[name]
            state = await runner.wait_for(failing, max(0.0, deadline - loop.time()))
            if state in failing:
                raise DeploymentError(f"{name}-{targets[name].version} was BROKEN and failed again after its "
                                      f"reinstall: {runner.last_error or state}", "COMPONENT_BROKEN")

    async def _require_healthy(self, targets: dict[str, Deployed], names: list[str]) -> None:
        """A deployment succeeds only when every one of its components is RUNNING or FINISHED."""
        for name in names:
            runner = self.runners.get(name)
            if runner is None:
                continue
            state = await runner.wait_for(HEALTHY | {State.BROKEN}, self._settle_timeout(targets[name]))
            if state not in HEALTHY:
                reason = runner.last_error or f"did not reach RUNNING or FINISHED (state {state})"
                raise DeploymentError(f"{name}-{targets[name].version} is {state}: {reason}", "COMPONENT_ERROR")

    async def _switch(self, old: dict[str, Deployed], targets: dict[str, Deployed], start: list[str],
                      restart: list[str], reconfigure: list[str], removed: list[str]) -> None:
        old_deps = {n: d.recipe.dependencies for n, d in old.items()}
        for name in reversed(dependency_order(restart + removed, old_deps)):
            await self._stop_runner(name)
        for name in removed:
            self.services.remove_component(name)
            self.services.configuration.remove(name)
        if removed and set(removed) & set(self._bootstrapped()):
            # A component deployed again after its removal is new: its Bootstrap runs again.
            done = {n: d for n, d in self._bootstrapped().items() if n not in removed}
            write_json_atomic(self.layout.state() / "bootstrapped.json", done)
        for name in start + restart + reconfigure:
            target = targets[name]
            self.services.add_component(name, target.access_control, None, target.svcuid)
            self.services.configuration.set(name, target.config)
        await self._start_in_order(targets, start + restart)

    async def _start_in_order(self, targets: dict[str, Deployed], names: list[str]) -> None:
        deps = {n: d.recipe.dependencies for n, d in targets.items()}
        for name in dependency_order(names, deps):
            for dep, dependency in targets[name].recipe.dependencies.items():
                runner = self.runners.get(dep)
                if dependency.dependency_type == "HARD" and runner is not None:
                    state = await runner.wait_for(SETTLED, self._settle_timeout(targets[dep]))
                    if state not in HEALTHY:
                        raise DeploymentError(f"{name} not started: its HARD dependency {dep} is {state}"
                                              f"{': ' + runner.last_error if runner.last_error else ''}")
            self._start_runner(targets[name])
        for name in names:
            runner = self.runners[name]
            state = await runner.wait_for(SETTLED, self._settle_timeout(targets[name]))
            if state not in HEALTHY:
                reason = runner.last_error or f"did not reach RUNNING or FINISHED (state {state})"
                raise DeploymentError(f"{name}-{targets[name].version} is {state}: {reason}", "COMPONENT_ERROR")

    async def _roll_back(self, old: dict[str, Deployed], targets: dict[str, Deployed], start: list[str],
                         restart: list[str], removed: list[str], previous_configs: dict[str, Any]) -> None:
        log.warning("rolling back: stopping %s, restoring %s", start + restart, restart + removed)
        deps = {n: d.recipe.dependencies for n, d in targets.items()}
        for name in reversed(dependency_order(start + restart, deps)):
            await self._stop_runner(name)
        for name in start:
            if name not in old:
                self.services.remove_component(name)
                self.services.configuration.remove(name)
        for name, config in previous_configs.items():
            self.services.configuration.set(name, config)
        for name in restart + removed:
            previous = old[name]
            self.services.add_component(name, previous.access_control, None, previous.svcuid)
        self.deployed = old
        try:
            await self._start_in_order(old, restart + removed)
        except DeploymentError as exc:
            log.error("rollback could not restore every component: %s", exc)

    def _settle_timeout(self, target: Deployed) -> float:
        lifecycle = target.spec.lifecycle
        total = 30.0
        for step in (lifecycle.install, lifecycle.startup):
            if step is not None and step.timeout is not None:
                total += step.timeout
        return total

    # -- components
    def _run_spec(self, name: str, version: str, recipe: Recipe, configs: Mapping[str, Any], svcuid: str,
                  lifecycle: Any, versions: Mapping[str, str], strict: bool | None = None) -> RunSpec:
        def paths(component: str, component_version: str) -> ComponentPaths:
            return ComponentPaths(str(self.layout.artifacts(component, component_version)),
                                  str(self.layout.unarchived(component, component_version)),
                                  str(self.layout.work(component)))

        related = {name: version}
        related.update({dep: versions[dep] for dep in recipe.dependencies if dep in versions})
        ctx = InterpolationContext(
            component=name,
            kernel_root=str(self.layout.root),
            thing_name=self.thing_name,
            paths={n: paths(n, v) for n, v in related.items()},
            configuration={n: configs[n] for n in related if n in configs},
            dependencies=frozenset(recipe.dependencies),
        )
        unresolved: list[Unresolved] | None = None if (self.strict_recipes if strict is None else strict) else []
        try:
            interpolated = interpolate_lifecycle(lifecycle, ctx, unresolved)
        except InterpolationError as exc:
            raise _no_change(f"{exc} (strict recipes: run without --strict-recipes to leave it as written, as "
                             "the nucleus does)", "RECIPE_INTERPOLATION_ERROR") from None
        if unresolved:
            # One WARNING per component and deployment; the nucleus leaves such variables as written.
            log.warning("recipe %s-%s: left unresolved recipe variable(s) as written: %s", name, version,
                        "; ".join(f"{u.step}: {u.variable} ({u.reason})" for u in unresolved))
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update({
            "SVCUID": svcuid,
            "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": self.layout.socket_path,
            "AWS_IOT_THING_NAME": self.thing_name,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "GG_ROOT_CA_PATH": str(self.layout.root / "rootCA.pem"),
            **self.processes.env,
        })
        return RunSpec(name, version, interpolated, self.layout.work(name), env, self.component_user)

    def _start_runner(self, target: Deployed) -> None:
        work = private_dir(self.layout.work(target.name))
        if self.component_user is not None:
            # Steps run as that user: its work dir is its own, as on the nucleus.
            account = pwd.getpwnam(self.component_user)
            os.chown(work, account.pw_uid, account.pw_gid)
        bootstrap = target.spec.lifecycle.bootstrap
        digest = _step_digest(bootstrap) if bootstrap is not None else None
        runner = ComponentRunner(target.spec, ComponentLog(self.layout.component_log(target.name), target.name),
                                 restart_delay_s=self.restart_delay_s, kill_grace_s=self.kill_grace_s,
                                 on_group=lambda pgid, started: (self.processes.started(pgid, target.name) if started
                                                                 else self.processes.ended(pgid)),
                                 bootstrap=digest is not None and self._bootstrapped().get(target.name) != digest,
                                 on_bootstrapped=lambda: self._record_bootstrap(target.name, digest))
        self.runners[target.name] = runner
        runner.start()

    # -- Bootstrap: runs when a component is new or its (interpolated) Bootstrap step changed
    def _bootstrapped(self) -> dict[str, str]:
        path = self.layout.state() / "bootstrapped.json"
        value = load_or_quarantine(path, lambda v: None if isinstance(v, dict) and all(
            isinstance(x, str) for x in v.values()) else "expected an object of digests")
        return dict(value) if isinstance(value, dict) else {}

    def _record_bootstrap(self, name: str, digest: str | None) -> None:
        done = self._bootstrapped()
        if digest is not None:
            done[name] = digest
        write_json_atomic(self.layout.state() / "bootstrapped.json", done)

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

    async def _stop_runner(self, name: str) -> None:
        runner = self.runners.pop(name, None)
        if runner is not None:
            await runner.stop()

    async def restart_component(self, name: str) -> None:
        if name not in self.deployed:
            raise KeyError(name)
        await self._stop_runner(name)
        self._start_runner(self.deployed[name])

    async def stop_component(self, name: str) -> None:
        if name not in self.deployed:
            raise KeyError(name)
        runner = self.runners.get(name)
        if runner is not None:
            await runner.stop()

    def component_state(self, name: str) -> str:
        runner = self.runners.get(name)
        return str(runner.state) if runner is not None else str(State.NEW)

    def _on_reported_state(self, name: str, state: str) -> None:
        runner = self.runners.get(name)
        if runner is not None:
            runner.report(state)

    # -- persistence
    def _copy_recipe(self, target: Deployed) -> None:
        stored = self.layout.recipes() / f"{target.name}-{target.version}{target.recipe_path.suffix}"
        if target.recipe_path.resolve() != stored.resolve():
            shutil.copyfile(target.recipe_path, stored)
            os.chmod(stored, 0o600)
        target.recipe_path = stored

    def _write_effective_config(self) -> None:
        # A deployment that removed the Nucleus (no dependent left) also removed its configuration.
        self.builtins.provide_nucleus_configuration(self.services.configuration)
        self.builtins.write_effective_config({
            n: service_entry(d.version, d.recipe.dependencies, d.spec.lifecycle, self.services.configuration.get(n),
                             d.recipe.component_type or "aws.greengrass.generic")
            for n, d in self.deployed.items()})

    def _save_deployed(self) -> None:
        state = [{"name": d.name, "version": d.version, "recipe": str(d.recipe_path), "root": d.root,
                  ACCESS_CONTROL: d.access_control}
                 for d in self.deployed.values()]
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
        targets: dict[str, Deployed] = {}
        configs: dict[str, Any] = {}
        loaded = []
        for entry in entries:
            try:
                recipe = load_recipe(entry["recipe"])
            except (RecipeError, OSError) as exc:  # one damaged recipe must not keep the others down
                log.error("cannot restore %s-%s: %s", entry["name"], entry["version"], exc)
                continue
            configs[entry["name"]] = (self.services.configuration.get(entry["name"])
                                      or dict(recipe.default_configuration))
            loaded.append((entry, recipe))
        for entry, recipe in loaded:
            name, version = entry["name"], entry["version"]
            svcuid = token_source.token_urlsafe(24)
            versions = {e["name"]: e["version"] for e, _ in loaded}
            # Access control as the deployments left it; a file written by an older runtime lacks
            # it, and then only the recipe's default counts (never the stored, writable configuration).
            access = (entry[ACCESS_CONTROL] if isinstance(entry.get(ACCESS_CONTROL), dict)
                      else deployment_access_control(recipe.default_configuration, None, None))
            try:
                spec = self._run_spec(name, version, recipe, configs, svcuid,
                                      recipe.select(self.platform).lifecycle, versions)
            except (RecipeError, DeploymentError) as exc:
                log.error("cannot restore %s-%s: %s", name, version, exc)
                continue
            targets[name] = Deployed(name, version, recipe, Path(entry["recipe"]), entry["root"], configs[name],
                                     spec, svcuid, access)
            self.services.add_component(name, access, None, svcuid)
            if not self.services.configuration.has(name):
                self.services.configuration.set(name, configs[name])
        self.deployed = targets
        log.info("restoring %d deployed component(s)", len(targets))
        with contextlib.suppress(DeploymentError):
            await self._start_in_order(targets, list(targets))

    def _save_deployment(self, record: DeploymentRecord) -> None:
        folder = private_dir(self.layout.state() / "deployments")
        try:
            write_json_atomic(folder / f"{record.deployment_id}.json", record.to_json())
        except OSError as exc:  # the history is informative; a full disk must not fail the deployment
            log.error("cannot record deployment %s: %s", record.deployment_id, exc)
        records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for stale in records[:-MAX_KEPT_DEPLOYMENTS]:
            stale.unlink(missing_ok=True)

    def _load_deployment_history(self) -> None:
        folder = self.layout.state() / "deployments"
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            data = load_or_quarantine(path, _record_problem)
            if data is None:
                continue
            try:
                created = time.mktime(time.strptime(data["createdOn"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            except ValueError as exc:
                quarantine(path, f"createdOn: {exc}")
                continue
            status = data["status"] if data["status"] in ("SUCCEEDED", "FAILED") else "FAILED"
            reason = data.get("reason") or ("" if status == "SUCCEEDED" else "the runtime stopped during it")
            self.deployments[data["deploymentId"]] = DeploymentRecord(
                data["deploymentId"], created, status, str(data.get("detailedStatus", "")), str(reason),
                [str(t) for t in data.get("errorTypes", []) if isinstance(t, str)],
                data["request"] if isinstance(data.get("request"), dict) else {})


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


def _record_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "expected a deployment record object"
    for key in ("deploymentId", "createdOn", "status"):
        if not isinstance(value.get(key), str):
            return f"{key} must be a string"
    if not isinstance(value.get("errorTypes", []), list):
        return "errorTypes must be a list"
    return None


def _step_digest(step: Any) -> str:
    return hashlib.sha256(repr((step.script, step.setenv, step.timeout)).encode()).hexdigest()


def _no_change(message: str, error_type: str) -> DeploymentError:
    error = DeploymentError(message, error_type)
    error.detailed_status = "FAILED_NO_STATE_CHANGE"  # type: ignore[attr-defined]
    return error


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
