"""Runs one component's lifecycle as subprocesses and tracks its state, as the nucleus does.

NEW → INSTALLED → STARTING → RUNNING → FINISHED, or ERRORED (then Recover and a restart);
three errors make the component BROKEN, which never affects other components.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from edgewatch.local.component_log import ComponentLog
from edgewatch.local.process_registry import ChildSetup
from edgewatch.recipe import Lifecycle, LifecycleStep

log = logging.getLogger(__name__)

MAX_ERRORS = 3
KILL_GRACE_S = 5.0


class State(StrEnum):
    NEW = "NEW"
    INSTALLED = "INSTALLED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FINISHED = "FINISHED"
    ERRORED = "ERRORED"
    BROKEN = "BROKEN"


SETTLED = frozenset({State.RUNNING, State.FINISHED, State.ERRORED, State.BROKEN})
HEALTHY = frozenset({State.RUNNING, State.FINISHED})


class ComponentFailed(Exception):
    """A lifecycle step failed; the message says which and why."""


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to run one component version, with recipe variables already interpolated."""

    name: str
    version: str
    lifecycle: Lifecycle
    work_dir: Path
    env: Mapping[str, str]
    # Steps run as this user (the nucleus's componentDefaultUser) unless RequiresPrivilege; None: as
    # the runtime's own user. Only set when the runtime runs as root.
    user: str | None = None


# Bootstrap exit codes the nucleus understands (component recipe reference): 100 asks for a device
# reboot, 101 for a nucleus restart. A local runtime reboots nothing: it logs the request and goes on.
BOOTSTRAP_REBOOT = 100
BOOTSTRAP_RESTART = 101


class ComponentRunner:
    def __init__(
        self,
        spec: RunSpec,
        component_log: ComponentLog,
        on_change: Callable[[str, State], None] = lambda name, state: None,
        restart_delay_s: float = 1.0,
        kill_grace_s: float = KILL_GRACE_S,
        on_group: Callable[[int, bool], None] = lambda pgid, started: None,
        bootstrap: bool = False,
        on_bootstrapped: Callable[[], None] = lambda: None,
    ) -> None:
        self.spec = spec
        # Bootstrap runs once per new component or changed Bootstrap step (the runtime decides).
        self._bootstrap_pending = bootstrap
        self.on_bootstrapped = on_bootstrapped
        self.on_group = on_group  # (process group, True when started / False when ended): the runtime records them
        self._child_setup = ChildSetup()
        self.log = component_log
        self.on_change = on_change
        self.restart_delay_s = restart_delay_s
        self.kill_grace_s = kill_grace_s
        self.state = State.NEW
        self.errors = 0
        self.last_error = ""
        self.installed = False
        self._task: asyncio.Task[None] | None = None
        self._processes: set[asyncio.subprocess.Process] = set()
        # Process groups we started: a step's shell may exit while what it started lives on.
        self._groups: set[int] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._watchers: list[asyncio.Future[State]] = []
        self._reported_running = asyncio.Event()
        self._reported_errored = asyncio.Event()

    # -- control
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._supervise(), name=f"component {self.spec.name}")

    async def stop(self) -> None:
        """Run Shutdown, then end every process of the component."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state in (State.NEW, State.BROKEN) and not self._processes:
            return
        self._set(State.STOPPING)
        shutdown = self.spec.lifecycle.shutdown
        if shutdown is not None and self.installed:
            try:
                await self._run_step(shutdown)
            except ComponentFailed as exc:
                self.log.write("runtime", f"Shutdown failed: {exc}", "WARN")
        await self._kill_all()
        self._set(State.FINISHED)

    def report(self, state: str) -> None:
        """UpdateState from the component itself."""
        if state == "RUNNING":
            self._reported_running.set()
        elif state == "ERRORED":
            self._reported_errored.set()

    async def wait_for(self, states: frozenset[State], timeout: float) -> State:
        """Wait until the component is in one of `states` (or the timeout passes); return its state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.state not in states:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            watcher: asyncio.Future[State] = loop.create_future()
            self._watchers.append(watcher)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher, remaining)
        return self.state

    # -- internals
    def _set(self, state: State) -> None:
        if state == self.state:
            return
        self.state = state
        self.log.write("runtime", f"state {state}")
        log.info("%s-%s is %s", self.spec.name, self.spec.version, state)
        self.on_change(self.spec.name, state)
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            if not watcher.done():
                watcher.set_result(state)

    async def _supervise(self) -> None:
        while True:
            try:
                await self._run_once()
                return
            except ComponentFailed as exc:
                await self._kill_all()
                self.errors += 1
                self.last_error = str(exc)
                self.log.write("runtime", f"{exc} (error {self.errors} of {MAX_ERRORS})", "ERROR")
                self._set(State.ERRORED)
                if self.errors >= MAX_ERRORS:
                    self._set(State.BROKEN)
                    return
                recover = self.spec.lifecycle.recover
                if recover is not None:
                    with contextlib.suppress(ComponentFailed):
                        await self._run_step(recover)
                await asyncio.sleep(self.restart_delay_s)

    async def _run_once(self) -> None:
        lifecycle = self.spec.lifecycle
        self._reported_running.clear()
        self._reported_errored.clear()
        if self._bootstrap_pending and lifecycle.bootstrap is not None:
            await self._bootstrap(lifecycle.bootstrap)
        self._bootstrap_pending = False
        if not self.installed:
            if lifecycle.install is not None:
                await self._run_step(lifecycle.install)
            self.installed = True
            self._set(State.INSTALLED)
        if lifecycle.startup is not None:
            await self._startup(lifecycle.startup)
        elif lifecycle.run is not None:
            await self._run(lifecycle.run)
        else:
            self._set(State.FINISHED)

    async def _bootstrap(self, step: LifecycleStep) -> None:
        code = await self._run_step(step, accept=(0, BOOTSTRAP_REBOOT, BOOTSTRAP_RESTART))
        if code == BOOTSTRAP_REBOOT:
            message = "Bootstrap exited 100: it requested a device reboot; a local runtime does not reboot the host"
        elif code == BOOTSTRAP_RESTART:
            message = "Bootstrap exited 101: it requested a restart of the nucleus; the local runtime goes on"
        else:
            message = ""
        if message:
            self.log.write("runtime", message + " (restart it yourself if the change needs it)", "WARN")
            log.warning("%s-%s: %s", self.spec.name, self.spec.version, message)
        self.on_bootstrapped()

    async def _startup(self, step: LifecycleStep) -> None:
        self._set(State.STARTING)
        process = await self._spawn(step)
        exited = asyncio.ensure_future(process.wait())
        running = asyncio.ensure_future(self._reported_running.wait())
        try:
            # The nucleus: the component is RUNNING once its Startup script exits 0 (a daemon it left
            # in the background keeps running), or earlier if it reports RUNNING over IPC.
            done, _ = await asyncio.wait({exited, running}, timeout=step.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if exited in done and exited.result() != 0:
                raise ComponentFailed(f"Startup exited with code {exited.result()}")
            if not done:
                raise ComponentFailed(f"Startup neither exited nor reported RUNNING within {step.timeout:g} s")
            self._set(State.RUNNING)
            await self._reported_errored.wait()
            raise ComponentFailed("the component reported ERRORED")
        finally:
            for waiter in (exited, running):
                waiter.cancel()

    async def _run(self, step: LifecycleStep) -> None:
        process = await self._spawn(step)
        self._set(State.RUNNING)
        exited = asyncio.ensure_future(process.wait())
        errored = asyncio.ensure_future(self._reported_errored.wait())
        try:
            done, _ = await asyncio.wait({exited, errored}, timeout=step.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            errored.cancel()
        if errored in done:
            exited.cancel()
            raise ComponentFailed("the component reported ERRORED")
        if exited not in done:
            exited.cancel()
            raise ComponentFailed(f"Run did not finish within {step.timeout:g} s")
        await self._drain()
        code = exited.result()
        if code != 0:
            raise ComponentFailed(f"Run exited with code {code}")
        self._set(State.FINISHED)

    def _skip(self, step: LifecycleStep, env: Mapping[str, str]) -> bool:
        if step.skipif is None:
            return False
        if step.skipif.check == "onpath":
            found = shutil.which(step.skipif.target, path=env.get("PATH")) is not None
        else:
            found = os.path.exists(os.path.join(self.spec.work_dir, step.skipif.target))
        if found:
            self.log.write(step.name.capitalize(), f"skipped: Skipif {step.skipif.check} {step.skipif.target}")
        return found

    def _environment(self, step: LifecycleStep) -> dict[str, str]:
        env = dict(self.spec.env)
        env.update({k: str(v) for k, v in self.spec.lifecycle.environment(step.name).items()})
        return env

    def _preexec(self, step: LifecycleStep) -> Callable[[], None]:
        """The child's setup: the component's user unless the step RequiresPrivilege, then our ChildSetup
        (after the user switch: changing credentials clears the parent-death signal)."""
        if self.spec.user is None or step.requires_privilege:
            return self._child_setup
        account = pwd.getpwnam(self.spec.user)  # looked up before fork
        setup = self._child_setup

        def as_user() -> None:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            setup()

        return as_user

    async def _spawn(self, step: LifecycleStep) -> asyncio.subprocess.Process:
        self.spec.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            process = await asyncio.create_subprocess_exec(
                "sh", "-c", step.script,
                cwd=self.spec.work_dir,
                env=self._environment(step),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so stopping reaches its children too
                preexec_fn=self._preexec(step),  # user; private umask; SIGTERM to the shell if the runtime dies
            )
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            # A step that cannot even start is an error of the component, never a stuck deployment.
            raise ComponentFailed(f"{step.name.capitalize()} could not start: {exc}") from None
        self._processes.add(process)
        self._groups.add(process.pid)
        self.on_group(process.pid, True)
        self.log.write("runtime", f"{step.name.capitalize()} started (pid {process.pid})")
        for stream, label in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            pump = asyncio.create_task(self._pump(stream, f"{step.name.capitalize()}, {label}"))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)
        process_done = asyncio.ensure_future(process.wait())
        process_done.add_done_callback(lambda _: self._processes.discard(process))
        return process

    async def _pump(self, stream: asyncio.StreamReader | None, source: str) -> None:
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the reader's limit: log what there is
                line = await stream.read(65536)
            if not line:
                return
            self.log.write(source, line.decode(errors="replace"))

    async def _drain(self) -> None:
        if self._pumps:
            await asyncio.wait(set(self._pumps), timeout=2)

    async def _run_step(self, step: LifecycleStep, accept: tuple[int, ...] = (0,)) -> int:
        """Run a step to completion (Bootstrap, Install, Shutdown, Recover) within its timeout; return its
        exit code (one of `accept`, else ComponentFailed)."""
        if self._skip(step, self._environment(step)):
            return 0
        process = await self._spawn(step)
        try:
            code = await asyncio.wait_for(process.wait(), step.timeout)
        except TimeoutError:
            await self._kill(process)
            raise ComponentFailed(f"{step.name.capitalize()} timed out after {step.timeout:g} s") from None
        await self._drain()
        if code not in accept:
            raise ComponentFailed(f"{step.name.capitalize()} failed with exit code {code}")
        return code

    async def _kill(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        for sig, wait in ((signal.SIGTERM, self.kill_grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                await asyncio.wait_for(process.wait(), wait)
                break
            except TimeoutError:
                continue
        # children that outlived their parent in the same group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    async def _kill_all(self) -> None:
        await asyncio.gather(*(self._kill(p) for p in list(self._processes)))
        self._processes.clear()
        for group in self._groups:
            await self._kill_group(group)
            self.on_group(group, False)
        self._groups.clear()
        await self._drain()

    async def _kill_group(self, group: int) -> None:
        """End what is left of a process group whose leader already exited (backgrounded children)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            deadline = asyncio.get_running_loop().time() + (self.kill_grace_s if sig == signal.SIGTERM else 5.0)
            while asyncio.get_running_loop().time() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return
                await asyncio.sleep(0.05)

