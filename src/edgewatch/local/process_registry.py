"""Which component processes this runtime started, so a restarted runtime can end what survived a crash.

Every component process gets `EDGEWATCH_RUNTIME_INSTANCE=<id of this runtime run>` in its
environment, and every process group the runtime starts is recorded in `<root>/state/processes.json`
(written atomically). After a `kill -9` of the runtime its components keep running (each step runs
in its own session, so they do not share the runtime's fate). The next start reads the file and ends
every process that still carries the recorded instance id. The id is checked in
`/proc/<pid>/environ` through a pidfd, so a PID that was recycled by an unrelated process is never
signalled. Linux only; elsewhere the sweep does nothing.

A parent-death signal (PR_SET_PDEATHSIG) is also set on each step's shell: with `exec` in the step
(`Run: exec python ...`) the component itself gets SIGTERM the moment the runtime dies. Without
`exec` only the shell gets it and the component is reparented; the sweep at the next start ends it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.local.state_files import load_or_quarantine, write_json_atomic

log = logging.getLogger(__name__)

INSTANCE_ENV = "EDGEWATCH_RUNTIME_INSTANCE"
PR_SET_PDEATHSIG = 1
PRIVATE_UMASK = 0o077
_PROC = Path("/proc")


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


@dataclass
class ChildSetup:
    """A subprocess preexec function: private umask and, on Linux, SIGTERM when the runtime dies."""

    parent_pid: int = field(default_factory=os.getpid)
    _prctl: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # Resolve libc before fork: loading a library in the child is not async-signal-safe.
        libc = _libc() if os.path.exists("/proc/self") else None
        self._prctl = getattr(libc, "prctl", None)

    def __call__(self) -> None:
        os.umask(PRIVATE_UMASK)
        if self._prctl is not None:
            self._prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != self.parent_pid:  # the runtime died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)


def _check(value: Any) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("instance"), str):
        return "expected an object with an 'instance' string"
    groups = value.get("groups", {})
    if not isinstance(groups, dict) or not all(isinstance(v, str) for v in groups.values()):
        return "'groups' must map process group ids to component names"
    return None


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        data = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return marker in data.split(b"\0")


def _pids() -> Iterable[int]:
    try:
        names = os.listdir(_PROC)
    except OSError:
        return []
    return [int(n) for n in names if n.isdigit()]


class ProcessRegistry:
    """Records this run's process groups; sweeps a previous run's survivors."""

    def __init__(self, path: Path, *, sleep: Callable[[float], None] = time.sleep,
                 instance: str | None = None) -> None:
        self.path = path
        self.instance = instance or uuid.uuid4().hex
        self.groups: dict[int, str] = {}
        self._sleep = sleep

    @property
    def env(self) -> dict[str, str]:
        return {INSTANCE_ENV: self.instance}

    def started(self, pgid: int, component: str) -> None:
        self.groups[pgid] = component
        self._save()

    def ended(self, pgid: int) -> None:
        if self.groups.pop(pgid, None) is not None:
            self._save()

    def _save(self) -> None:
        try:
            write_json_atomic(self.path, {"instance": self.instance,
                                          "groups": {str(k): v for k, v in sorted(self.groups.items())}})
        except OSError as exc:  # a full disk must not stop components from starting
            log.error("cannot record component processes in %s: %s", self.path, exc)

    def sweep_previous(self, grace_s: float = 5.0) -> list[tuple[int, str]]:
        """End every process a previous run of this runtime left behind; returns (pid, component)."""
        previous = load_or_quarantine(self.path, _check)
        self._save()  # from now on the file describes this run
        if previous is None:
            return []
        marker = f"{INSTANCE_ENV}={previous['instance']}".encode()
        names = {int(k): v for k, v in previous.get("groups", {}).items() if k.isdigit()}
        survivors: dict[int, tuple[int, str]] = {}
        me = os.getpid()
        for pid in _pids():
            if pid == me or not _environ_has(pid, marker):
                continue
            fd = _pidfd(pid)
            if fd is None:
                continue
            if not _environ_has(pid, marker):  # recycled between the scan and pidfd_open
                os.close(fd)
                continue
            survivors[pid] = (fd, names.get(_pgid(pid), "a component"))
        if not survivors:
            return []
        log.warning("ending %d component process(es) left by a runtime that did not stop cleanly: %s",
                    len(survivors), ", ".join(f"{name} (pid {pid})" for pid, (_, name) in sorted(survivors.items())))
        self._signal_all(survivors, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(pid) for pid in survivors):
            self._sleep(0.05)
        self._signal_all({pid: v for pid, v in survivors.items() if _alive(pid)}, signal.SIGKILL)
        for fd, _ in survivors.values():
            os.close(fd)
        return sorted((pid, name) for pid, (_, name) in survivors.items())

    @staticmethod
    def _signal_all(targets: dict[int, tuple[int, str]], sig: signal.Signals) -> None:
        for _pid, (fd, _) in targets.items():
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(fd, sig)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


def _alive(pid: int) -> bool:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie is already dead
