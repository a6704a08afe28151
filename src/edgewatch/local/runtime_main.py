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
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.process_registry import PRIVATE_UMASK
from edgewatch.local.runtime import LocalRuntime
from edgewatch.local.state_files import private_dir
from edgewatch_shared.private_files import write_atomic

log = logging.getLogger(__name__)


class RuntimeAlreadyRunning(RuntimeError):
    pass


def running_pid(layout: RuntimeLayout) -> int | None:
    """The pid of the runtime that owns `layout.root`, if one is alive."""
    try:
        info = json.loads(layout.runtime_file().read_text())
        pid = int(info["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # After a crash runtime.json stays behind: a zombie, or a recycled pid of another program, is not us.
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return pid  # no /proc (not Linux): the signal check is all there is
    if state in ("Z", "X") or b"edgewatch" not in cmdline:
        return None
    return pid


def _write_private(path: Path, text: str) -> None:
    """Atomically, mode 0600: the CLI may read these while they are being written."""
    write_atomic(path, text.encode())


async def serve(runtime: LocalRuntime, on_ready: Callable[[LocalRuntime], Awaitable[None]] | None = None) -> None:
    """Start the runtime, expose it to the CLI, run until a stop signal, then stop cleanly."""
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
    await runtime.start()
    try:
        runtime.services.add_component(CLI_PRINCIPAL, {}, None, token)
        CliService(runtime).install()
        _write_private(layout.cli_token_file(), token)
        _write_private(layout.runtime_file(), json.dumps({
            "pid": os.getpid(), "socketPath": layout.socket_path, "thingName": runtime.thing_name,
            "root": str(layout.root)}))
        log.info("runtime ready under %s (thing %s, IPC %s)", layout.root, runtime.thing_name, layout.socket_path)
        if on_ready is not None:
            ready_task = asyncio.create_task(on_ready(runtime))
            ready_task.add_done_callback(lambda t: stop.set() if t.exception() else None)
        await stop.wait()
        log.info("stopping the runtime")
    finally:
        await runtime.stop()
        for path in (layout.runtime_file(), layout.cli_token_file()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
