"""The size of a decoded JSON document, estimated in bounded time (the IPC client hands us JSON
messages already decoded, so their byte length is gone). Roughly the length of its JSON text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def estimated_size(doc: Any, limit: int) -> int:
    """About the number of bytes of `doc` as JSON; stops counting past `limit` (returns > limit), so a
    huge document costs at most `limit`'s worth of work."""
    total = 0
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            total += len(value) + 2
        elif isinstance(value, Mapping):
            total += 2
            for key, item in value.items():
                total += (len(key) if isinstance(key, str) else 8) + 4
                stack.append(item)
        elif isinstance(value, list | tuple):
            total += 2 + len(value)
            stack.extend(value)
        elif isinstance(value, bytes | bytearray):
            total += len(value)
        else:
            total += 8  # numbers, booleans, null
        if total > limit:
            return total
    return total
