"""Bounds on the shape of a configuration document, checked before any field is read.

The router's validator must answer ACCEPTED or REJECTED (with a path) for ANY JSON value. Checking
the shape first keeps the field parsers on documents they can handle: bounded nesting (no
RecursionError in a parser or a repr), bounded size, integers that fit a float (no OverflowError)
and finite numbers only (`json.loads` accepts NaN and Infinity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from edgewatch_shared.config_values import ConfigValueError

MAX_DEPTH = 16  # the deepest real configuration (route tree, matcher objects) needs about 10
MAX_NODES = 100_000
MAX_STRING_CHARS = 65_536
MAX_ABS_INT = 2**63
MAX_REASON_CHARS = 600


def check_shape(raw: Any) -> None:
    """Raise ConfigValueError naming the first path where `raw` is out of bounds; iterative, so any
    depth is safe to inspect."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        raise ConfigValueError("(configuration)", f"must be an object, got {type(raw).__name__}")
    nodes = 0
    stack: list[tuple[str, Any, int]] = [("", raw, 0)]
    while stack:
        path, value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigValueError(path or "(configuration)", f"configuration has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise ConfigValueError(path, f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigValueError(path or "(configuration)", "has a key that is not a string")
                if len(key) > 256:
                    raise ConfigValueError(path or "(configuration)", "has a key longer than 256 characters")
                stack.append((f"{path}.{key}" if path else key, item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                raise ConfigValueError(path, f"is a string longer than {MAX_STRING_CHARS} characters")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_ABS_INT:
                raise ConfigValueError(path, f"is an integer out of range (at most {MAX_ABS_INT} in magnitude)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigValueError(path, "must be a finite number")
        else:
            raise ConfigValueError(path, f"is not a JSON value ({type(value).__name__})")


def short_reason(err: ConfigValueError) -> str:
    """The rejection text, bounded (a reason may quote a value)."""
    text = str(err)
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
