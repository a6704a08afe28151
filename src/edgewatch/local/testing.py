"""Start and stop the local IPC runtime from tests: in-process (own thread) or as a subprocess.

    with ThreadedIpcRuntime(tmp_path, {"com.example.A": ComponentSpec(access_control=...)}) as rt:
        client = rt.client("com.example.A")   # the unmodified GreengrassCoreIPCClientV2
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgewatch.local import event_loop
from edgewatch.local.client import connect_client
from edgewatch.local.ipc_services import IpcServices
from edgewatch.local.mqtt_uplink import MqttEndpoint

T = TypeVar("T")

__all__ = ["ComponentSpec", "RuntimeThread", "SubprocessIpcRuntime", "ThreadedIpcRuntime", "connect_client",
           "short_socket_path", "start_component_process", "stop_process", "wait_until"]


@dataclass
class ComponentSpec:
    access_control: Mapping[str, Any] = field(default_factory=dict)
    configuration: Mapping[str, Any] | None = None
    svcuid: str | None = None


def short_socket_path() -> str:
    """A socket path well under the 108-byte Unix limit (pytest's tmp_path can be too long)."""
    return os.path.join(tempfile.mkdtemp(prefix="ew-"), "ipc.socket")


class ThreadedIpcRuntime:
    """The IPC services on a private event loop in a background thread."""

    def __init__(
        self,
        root: Path,
        components: Mapping[str, ComponentSpec],
        *,
        thing_name: str = "test-thing",
        secrets_file: Path | None = None,
        socket_path: str | None = None,
        max_pending_bytes: int | None = None,
        mqtt_endpoint: MqttEndpoint | None = None,
    ) -> None:
        self.socket_path = socket_path or short_socket_path()
        self.services = IpcServices(
            self.socket_path, Path(root), thing_name, secrets_file, max_pending_bytes=max_pending_bytes,
            mqtt_endpoint=mqtt_endpoint,
        )
        self._components = dict(components)
        self._tokens: dict[str, str] = {}
        self._loop = event_loop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ipc-runtime", daemon=True)
        self._clients: list[Any] = []

    def __enter__(self) -> ThreadedIpcRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ThreadedIpcRuntime:
        self._thread.start()
        for name, spec in self._components.items():
            self._tokens[name] = self.call(
                self.services.add_component, name, spec.access_control, spec.configuration, spec.svcuid
            )
        self.run(self.services.start())
        return self

    def stop(self) -> None:
        for client in self._clients:
            # A client its test already closed may raise; that is fine here.
            with contextlib.suppress(Exception):
                client.close()
        if self._thread.is_alive():
            self.run(self.services.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()
        shutil.rmtree(os.path.dirname(self.socket_path), ignore_errors=True)

    def svcuid(self, name: str) -> str:
        return self._tokens[name]

    def client(self, name: str) -> Any:
        client = connect_client(self.socket_path, self.svcuid(name))
        self._clients.append(client)
        return client

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the runtime's loop (its state is not thread-safe) and return."""

        async def invoke() -> T:
            return fn(*args)

        return self.run(invoke())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)


class SubprocessIpcRuntime:
    """The IPC services in a child process (`python -m edgewatch.local.ipc_main --spec FILE`)."""

    def __init__(self, root: Path, components: Mapping[str, ComponentSpec], *, thing_name: str = "test-thing",
                 secrets_file: Path | None = None, connect_timeout_s: float | None = None) -> None:
        self.root = Path(root)
        self.socket_path = short_socket_path()
        self.tokens = {name: spec.svcuid or os.urandom(12).hex() for name, spec in components.items()}
        self.spec = {
            "socketPath": self.socket_path,
            "root": str(self.root),
            "thingName": thing_name,
            "secretsFile": str(secrets_file) if secrets_file else None,
            "connectTimeoutSeconds": connect_timeout_s,
            "components": {
                name: {"accessControl": dict(spec.access_control), "configuration": spec.configuration,
                       "svcuid": self.tokens[name]}
                for name, spec in components.items()
            },
        }
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SubprocessIpcRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 20.0) -> SubprocessIpcRuntime:
        self.root.mkdir(parents=True, exist_ok=True)
        spec_path = self.root / "ipc-spec.json"
        spec_path.write_text(json.dumps(self.spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edgewatch.local.ipc_main", "--spec", str(spec_path)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        ready = threading.Event()
        threading.Thread(target=lambda: ready.set() if self.process and self.process.stdout
                         and self.process.stdout.readline().strip() == "READY" else None, daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("IPC runtime subprocess did not become ready")
        return self

    def svcuid(self, name: str) -> str:
        return self.tokens[name]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)
        shutil.rmtree(os.path.dirname(self.socket_path), ignore_errors=True)


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01, what: str = "") -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what or predicate}")
        time.sleep(interval)


class RuntimeThread:
    """A LocalRuntime (recipes, lifecycles, deployments) on its own loop in a background thread."""

    def __init__(self, runtime_factory: Callable[[], Any]) -> None:
        self._loop = event_loop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-runtime", daemon=True)
        self._factory = runtime_factory
        self.runtime: Any = None

    def __enter__(self) -> RuntimeThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RuntimeThread:
        self._thread.start()

        async def create() -> Any:
            runtime = self._factory()
            await runtime.start()
            return runtime

        self.runtime = self.run(create(), timeout=120)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            if self.runtime is not None:
                self.run(self.runtime.stop(), timeout=120)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def invoke() -> T:
            return fn(*args)

        return self.run(invoke())

    def deploy(self, request: Any) -> Any:
        return self.run(self.runtime.deploy(request), timeout=180)

    def state(self, name: str) -> str:
        return self.call(self.runtime.component_state, name)


def start_component_process(
    socket_path: str, svcuid: str, thing_name: str, module: str, python_path: list[Path], work: Path,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Run `python -m module` as the nucleus would run a component: its SVCUID, the IPC socket, the thing
    name and work path in the environment; stdout and stderr appended to `<work>/<module>.log`."""
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(p) for p in python_path),
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": socket_path,
        "SVCUID": svcuid,
        "AWS_IOT_THING_NAME": thing_name,
        "EDGEWATCH_WORK_PATH": str(work),
        **(extra_env or {}),
    }
    with (work / f"{module}.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", module], env=env, cwd=work, stdout=log, stderr=log)


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
    """Stop a component process as the nucleus does: `sig` (SIGTERM), then SIGKILL if it does not end
    within `timeout`; returns its exit status (nothing to do when it already ended)."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode
