"""What a component's `main()` sets up first: logging, where and for which thing it runs, and how it stops."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NamedTuple

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ComponentEnv(NamedTuple):
    # A tuple, so that main() can write `thing, work_path = start_component()`.
    thing: str
    work_path: Path


def start_component() -> ComponentEnv:
    """Log to stdout at EDGEWATCH_LOG_LEVEL (default INFO); the thing name and work folder from the environment."""
    logging.basicConfig(
        level=os.environ.get("EDGEWATCH_LOG_LEVEL", "INFO"),
        stream=sys.stdout,  # the nucleus captures stdout into the component log
        format=LOG_FORMAT,
    )
    # The recipes set EDGEWATCH_WORK_PATH to {work:path}; Run also starts there.
    return ComponentEnv(
        thing=os.environ.get("AWS_IOT_THING_NAME", "unknown-thing"),
        work_path=Path(os.environ.get("EDGEWATCH_WORK_PATH", os.getcwd())),
    )


def component_version(component: str, module_file: str | Path) -> str | None:
    """The version of `component` this code was deployed as, or None (run from a source tree).

    Greengrass recipes have no variable for a component's own version, but the nucleus (and the
    local runtime) unpack artifacts under `.../artifacts-unarchived/<component>/<version>/`, and the
    component's code runs from there: the folder below the one named after the component is the version.
    """
    for folder in Path(module_file).resolve().parents:
        if folder.parent.name == component and folder.parent.parent.name.startswith("artifacts"):
            return folder.name or None
    return None


def stop_on_signals() -> threading.Event:
    """An event set on SIGTERM (how the nucleus stops a component) or SIGINT, for a clean shutdown."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
