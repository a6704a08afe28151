"""Where the local runtime keeps things under its root (mirrors the nucleus's layout)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

SOCKET_PATH_LIMIT = 100  # Unix socket paths must stay under 108 bytes


def default_root() -> Path:
    """$EDGEWATCH_ROOT, else a per-user state directory."""
    env = os.environ.get("EDGEWATCH_ROOT")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "edgewatch" / "runtime"


@dataclass(frozen=True)
class RuntimeLayout:
    root: Path

    @property
    def socket_path(self) -> str:
        path = str(self.root.resolve() / "ipc.socket")
        if len(os.fsencode(path)) < SOCKET_PATH_LIMIT:
            return path
        digest = hashlib.sha256(path.encode()).hexdigest()[:12]
        return f"/tmp/edgewatch-{os.getuid()}-{digest}/ipc.socket"

    def recipes(self) -> Path:
        return self.root / "packages" / "recipes"

    def artifacts(self, name: str, version: str) -> Path:
        return self.root / "packages" / "artifacts" / name / version

    def unarchived(self, name: str, version: str) -> Path:
        return self.root / "packages" / "artifacts-unarchived" / name / version

    def work(self, name: str) -> Path:
        return self.root / "work" / name

    def logs(self) -> Path:
        return self.root / "logs"

    def component_log(self, name: str) -> Path:
        return self.logs() / f"{name}.log"

    def runtime_log(self) -> Path:
        return self.logs() / "runtime.log"

    def state(self) -> Path:
        return self.root / "state"

    def runtime_file(self) -> Path:
        """Written while a runtime runs: pid, socket, thing name, the CLI token file."""
        return self.root / "runtime.json"

    def cli_token_file(self) -> Path:
        return self.root / "cli.token"

    def iot_core_log(self) -> Path:
        return self.root / "iotcore" / "messages.jsonl"
