"""Runs a LocalRuntime in this process until SIGTERM/SIGINT; publishes how the CLI reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets as token_source
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from edgewatch.local.cli_service import CLI_PRINCIPAL, CliService
from edgewatch.local.process_registry import PRIVATE_UMASK
from edgewatch.local.runtime import LocalRuntime
from edgewatch.local.runtime_info import running_pid
from edgewatch.local.state_files import private_dir
from edgewatch_shared.private_files import write_atomic

log = logging.getLogger(__name__)

# Runs once the runtime is ready. An exit code stops the runtime (serve returns it); None: it runs on
# until a stop signal.
OnReady = Callable[[LocalRuntime], Awaitable[int | None]]


class RuntimeAlreadyRunning(RuntimeError):
    pass


def _write_private(path: Path, text: str) -> None:
    """Atomically, mode 0600: the CLI may read these while they are being written."""
    write_atomic(path, text.encode())


async def serve(runtime: LocalRuntime, on_ready: OnReady | None = None) -> int | None:
    """Start the runtime, expose it to the CLI, run until a stop signal or until `on_ready` returns an
    exit code, then stop cleanly. Returns that exit code (None after a signal); an exception of
    `on_ready` stops the runtime too and is raised here."""
    layout = runtime.layout
    os.umask(PRIVATE_UMASK)  # logs, state and what components write: never readable by other users
    private_dir(layout.root)
    pid = running_pid(layout)
    if pid is not None and pid != os.getpid():
        raise RuntimeAlreadyRunning(f"a runtime (pid {pid}) already runs under {layout.root}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    token = token_source.token_urlsafe(24)
    ready_task: asyncio.Task[int | None] | None = None
    await runtime.start()
    try:
        runtime.services.add_component(CLI_PRINCIPAL, {}, None, token)
        CliService(runtime).install(runtime.services.server)
        _write_private(layout.cli_token_file(), token)
        _write_private(layout.runtime_file(), json.dumps({
            "pid": os.getpid(), "socketPath": layout.socket_path, "thingName": runtime.thing_name,
            "root": str(layout.root)}))
        log.info("runtime ready under %s (thing %s, IPC %s)", layout.root, runtime.thing_name, layout.socket_path)
        if on_ready is not None:
            ready_task = asyncio.create_task(on_ready(runtime))
            ready_task.add_done_callback(
                lambda t: stop.set() if t.cancelled() or t.exception() or t.result() is not None else None)
        await stop.wait()
        log.info("stopping the runtime")
    finally:
        if ready_task is not None and not ready_task.done():
            ready_task.cancel()  # a stop signal during it: the runtime stops now
            with contextlib.suppress(asyncio.CancelledError):
                await ready_task
        await runtime.stop()
        for path in (layout.runtime_file(), layout.cli_token_file()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if ready_task is None or ready_task.cancelled():
        return None
    return ready_task.result()
