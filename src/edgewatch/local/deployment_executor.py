"""Carries a `DeploymentPlan` out: validate, stage artifacts, switch, and roll back when that fails.

Order, as on the nucleus: running components whose configuration changes are asked to validate it;
only then are artifacts staged (new or changed files turn a reconfiguration into a restart);
subscribers of SubscribeToComponentUpdates may defer; then components stop, are removed,
reconfigured and start, dependencies first. A failure while switching restores the components the
deployment changed (previous version, configuration and access control); others are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgewatch.local.component_runner import HEALTHY, SETTLED, State
from edgewatch.local.component_runners import ComponentRunners, settle_timeout
from edgewatch.local.component_updates import UpdatePolicy
from edgewatch.local.deployment_plan import Deployed, DeploymentError, DeploymentPlan, dependency_order, no_change
from edgewatch.local.ipc_services import IpcServices
from edgewatch.recipe import Artifact

log = logging.getLogger(__name__)

# Brings one component's artifacts into the runtime root; True when a file was new or changed.
Stager = Callable[[Deployed, Sequence[Artifact], Path | None], bool]


class DeploymentExecutor:
    def __init__(self, services: IpcServices, runners: ComponentRunners, stage: Stager, *,
                 validation_timeout_s: float, reinstall_check_s: float) -> None:
        self.services = services
        self.runners = runners
        self.stage = stage
        self.validation_timeout_s = validation_timeout_s
        # How long a component reinstalled from BROKEN must stay up for the deployment to succeed: a
        # Run step is RUNNING as soon as it is spawned, and "fixed" must not be reported for a crash.
        self.reinstall_check_s = reinstall_check_s

    async def execute(self, plan: DeploymentPlan, deployment_id: str, policy: UpdatePolicy,
                      commit: Callable[[Mapping[str, Deployed]], None]) -> None:
        """Carry `plan` out; `commit` records the new deployed set once the switch held. Raises
        DeploymentError (after a rollback when the switch had begun)."""
        configuration = self.services.configuration
        for name in plan.validate:
            result = await configuration.validate(name, plan.targets[name].config, deployment_id,
                                                  self.validation_timeout_s)
            if not result.accepted:
                raise no_change(f"{name} rejected the configuration: {result.message}",
                                "COMPONENT_CONFIGURATION_REJECTED")
        fresh = []
        for name, artifacts in plan.stage.items():
            target = plan.targets[name]
            try:
                if self.stage(target, artifacts, plan.artifact_dir):
                    fresh.append(name)
            except OSError as exc:
                raise no_change(f"cannot stage artifacts of {name}-{target.version}: {exc}",
                                "ARTIFACT_ERROR") from None
        plan = plan.with_new_artifacts(fresh)
        log.info("deployment %s: start %s, restart %s, reconfigure %s, remove %s",
                 deployment_id, plan.start, plan.restart, plan.reconfigure, list(plan.remove))
        changed = plan.changed
        if changed:  # SubscribeToComponentUpdates: subscribers may defer, within the policy's timeout
            await self.services.component_updates.before_update(deployment_id, policy)
        previous_configs = {n: configuration.get(n) for n in changed if configuration.has(n)}
        try:
            await self._switch(plan)
            await self._require_stable(plan.targets, sorted(plan.revive))
        except DeploymentError:
            await self._roll_back(plan, previous_configs)
            raise
        commit(plan.targets)
        self.services.component_updates.after_update(deployment_id, policy)
        started = set(plan.start + plan.restart)
        await self._require_healthy(plan.targets, [n for n in plan.targets if n not in started])

    async def restore(self, plan: DeploymentPlan) -> None:
        """Start what a runtime restored (`plan_restore`); a component that does not come up stays down."""
        configuration = self.services.configuration
        for name, target in plan.targets.items():
            self.services.add_component(name, target.access_control, None, target.svcuid)
            if not configuration.has(name):
                configuration.set(name, target.config)
        log.info("restoring %d deployed component(s)", len(plan.targets))
        with contextlib.suppress(DeploymentError):
            await self.start_in_order(plan.targets, plan.start)

    async def stop_all(self, deployed: Mapping[str, Deployed]) -> None:
        """Stop every component (Shutdown steps run), dependents first."""
        order = dependency_order(self.runners.names(), {n: d.recipe.dependencies for n, d in deployed.items()})
        for name in reversed(order):
            await self.runners.stop(name)

    async def _switch(self, plan: DeploymentPlan) -> None:
        old, targets, removed = plan.previous, plan.targets, list(plan.remove)
        old_deps = {n: d.recipe.dependencies for n, d in old.items()}
        for name in reversed(dependency_order(plan.restart + removed, old_deps)):
            await self.runners.stop(name)
        for name in removed:
            self.services.remove_component(name)
            self.services.configuration.remove(name)
        if removed:
            self.runners.forget_bootstrap(removed)
        for name in plan.start + plan.restart + plan.reconfigure:
            target = targets[name]
            self.services.add_component(name, target.access_control, None, target.svcuid)
            self.services.configuration.set(name, target.config)
        await self.start_in_order(targets, plan.start + plan.restart)

    async def start_in_order(self, targets: Mapping[str, Deployed], names: list[str]) -> None:
        """Start `names`, dependencies first, each HARD dependency settled; raise if one does not come up."""
        deps = {n: d.recipe.dependencies for n, d in targets.items()}
        for name in dependency_order(names, deps):
            for dep, dependency in targets[name].recipe.dependencies.items():
                runner = self.runners.get(dep)
                if dependency.dependency_type == "HARD" and runner is not None:
                    state = await runner.wait_for(SETTLED, settle_timeout(targets[dep]))
                    if state not in HEALTHY:
                        raise DeploymentError(f"{name} not started: its HARD dependency {dep} is {state}"
                                              f"{': ' + runner.last_error if runner.last_error else ''}")
            self.runners.start(targets[name])
        for name in names:
            runner = self.runners.get(name)
            assert runner is not None  # started just above
            state = await runner.wait_for(SETTLED, settle_timeout(targets[name]))
            if state not in HEALTHY:
                reason = runner.last_error or f"did not reach RUNNING or FINISHED (state {state})"
                raise DeploymentError(f"{name}-{targets[name].version} is {state}: {reason}", "COMPONENT_ERROR")

    async def _require_stable(self, targets: Mapping[str, Deployed], names: list[str]) -> None:
        """Components that were BROKEN must not fail again right after their reinstall."""
        if not names:
            return
        failing = frozenset({State.ERRORED, State.BROKEN})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reinstall_check_s
        for name in names:
            runner = self.runners.get(name)
            if runner is None:
                continue
            state = await runner.wait_for(failing, max(0.0, deadline - loop.time()))
            if state in failing:
                raise DeploymentError(f"{name}-{targets[name].version} was BROKEN and failed again after its "
                                      f"reinstall: {runner.last_error or state}", "COMPONENT_BROKEN")

    async def _require_healthy(self, targets: Mapping[str, Deployed], names: list[str]) -> None:
        """A deployment succeeds only when every one of its components is RUNNING or FINISHED."""
        for name in names:
            runner = self.runners.get(name)
            if runner is None:
                continue
            state = await runner.wait_for(HEALTHY | {State.BROKEN}, settle_timeout(targets[name]))
            if state not in HEALTHY:
                reason = runner.last_error or f"did not reach RUNNING or FINISHED (state {state})"
                raise DeploymentError(f"{name}-{targets[name].version} is {state}: {reason}", "COMPONENT_ERROR")

    async def _roll_back(self, plan: DeploymentPlan, previous_configs: Mapping[str, Any]) -> None:
        old, start, restart, removed = plan.previous, plan.start, plan.restart, list(plan.remove)
        log.warning("rolling back: stopping %s, restoring %s", start + restart, restart + removed)
        deps = {n: d.recipe.dependencies for n, d in plan.targets.items()}
        for name in reversed(dependency_order(start + restart, deps)):
            await self.runners.stop(name)
        for name in start:
            if name not in old:
                self.services.remove_component(name)
                self.services.configuration.remove(name)
        for name, config in previous_configs.items():
            self.services.configuration.set(name, config)
        for name in restart + removed:
            previous = old[name]
            self.services.add_component(name, previous.access_control, None, previous.svcuid)
        try:
            await self.start_in_order(old, restart + removed)
        except DeploymentError as exc:
            log.error("rollback could not restore every component: %s", exc)
