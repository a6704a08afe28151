"""How the CLI finds the runtime that runs under a root (`<root>/runtime.json`). Standard library only:
`edgewatch local ...` imports it to build its parser."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgewatch.local.layout import RuntimeLayout


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
