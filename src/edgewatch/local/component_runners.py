"""The runner of every component that runs on the local runtime, started and stopped by name.

Also remembers which Bootstrap steps ran (`state/bootstrapped.json`): Bootstrap runs when a component
is new or its (interpolated) Bootstrap step changed, as on the nucleus.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgewatch.local.component_log import ComponentLog
from edgewatch.local.component_runner import ComponentRunner, State
from edgewatch.local.deployment_plan import Deployed
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.process_registry import ProcessRegistry
from edgewatch.local.state_files import load_or_quarantine, private_dir, write_json_atomic

log = logging.getLogger(__name__)


class ComponentRunners:
    def __init__(self, layout: RuntimeLayout, processes: ProcessRegistry, *, user: str | None,
                 restart_delay_s: float, kill_grace_s: float) -> None:
        self.layout = layout
        self.processes = processes
        self.user = user  # steps run as this user (only when the runtime runs as root)
        self.restart_delay_s = restart_delay_s
        self.kill_grace_s = kill_grace_s
        self._runners: dict[str, ComponentRunner] = {}

    def get(self, name: str) -> ComponentRunner | None:
        return self._runners.get(name)

    def names(self) -> list[str]:
        return list(self._runners)

    def states(self) -> dict[str, State]:
        return {name: runner.state for name, runner in self._runners.items()}

    def state(self, name: str) -> State:
        runner = self._runners.get(name)
        return runner.state if runner is not None else State.NEW

    def report(self, name: str, state: str) -> None:
        """UpdateState from the component itself."""
        runner = self._runners.get(name)
        if runner is not None:
            runner.report(state)

    def start(self, target: Deployed) -> None:
        work = private_dir(self.layout.work(target.name))
        if self.user is not None:
            # Steps run as that user: its work dir is its own, as on the nucleus.
            account = pwd.getpwnam(self.user)
            os.chown(work, account.pw_uid, account.pw_gid)
        bootstrap = target.spec.lifecycle.bootstrap
        digest = _step_digest(bootstrap) if bootstrap is not None else None
        runner = ComponentRunner(target.spec, ComponentLog(self.layout.component_log(target.name), target.name),
                                 restart_delay_s=self.restart_delay_s, kill_grace_s=self.kill_grace_s,
                                 on_group=lambda pgid, started: (self.processes.started(pgid, target.name) if started
                                                                 else self.processes.ended(pgid)),
                                 bootstrap=digest is not None and self._bootstrapped().get(target.name) != digest,
                                 on_bootstrapped=lambda: self._record_bootstrap(target.name, digest))
        self._runners[target.name] = runner
        runner.start()

    async def stop(self, name: str) -> None:
        """Stop the component (its Shutdown step runs) and forget its runner."""
        runner = self._runners.pop(name, None)
        if runner is not None:
            await runner.stop()

    def forget_bootstrap(self, names: Iterable[str]) -> None:
        """Removed components: deployed again, they are new and their Bootstrap runs again."""
        removed = set(names)
        done = self._bootstrapped()
        if removed & set(done):
            write_json_atomic(self._bootstrap_file(), {n: d for n, d in done.items() if n not in removed})

    def _bootstrap_file(self) -> Path:
        return self.layout.state() / "bootstrapped.json"

    def _bootstrapped(self) -> dict[str, str]:
        value = load_or_quarantine(self._bootstrap_file(), lambda v: None if isinstance(v, dict) and all(
            isinstance(x, str) for x in v.values()) else "expected an object of digests")
        return dict(value) if isinstance(value, dict) else {}

    def _record_bootstrap(self, name: str, digest: str | None) -> None:
        done = self._bootstrapped()
        if digest is not None:
            done[name] = digest
        write_json_atomic(self._bootstrap_file(), done)


def settle_timeout(target: Deployed) -> float:
    """How long a component may take to settle: 30 s plus its Install and Startup timeouts."""
    lifecycle = target.spec.lifecycle
    total = 30.0
    for step in (lifecycle.install, lifecycle.startup):
        if step is not None and step.timeout is not None:
            total += step.timeout
    return total


def _step_digest(step: Any) -> str:
    return hashlib.sha256(repr((step.script, step.setenv, step.timeout)).encode()).hexdigest()
