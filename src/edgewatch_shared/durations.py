"""Durations in configuration: numbers of seconds given as ints, floats or numeric strings."""

from __future__ import annotations

import json
import re
from typing import Any

from edgewatch_shared.config_values import ConfigValueError, as_number, describe


def parse_seconds(
    key: str,
    value: Any,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    allow_zero: bool = False,
) -> float:
    """Seconds from 5, 2.5, "5" or "2.5"; raises ConfigValueError naming `key` otherwise.

    Zero is refused unless `allow_zero`: for an interval it would mean a busy loop.
    """
    seconds = as_number(key, value)
    if seconds < 0:
        raise ConfigValueError(key, f"must not be negative, got {describe(value)}")
    if seconds == 0 and not allow_zero:
        raise ConfigValueError(key, "must be greater than 0 seconds")
    if seconds < minimum and not (allow_zero and seconds == 0):
        raise ConfigValueError(key, f"must be at least {minimum:g} seconds, got {describe(value)}")
    if maximum is not None and seconds > maximum:
        raise ConfigValueError(key, f"must be at most {maximum:g} seconds, got {describe(value)}")
    return seconds


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EXAMPLES = '(use e.g. 30, "30s", "5m", "1h")'
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# "1h30m" needs a few characters; a long string is refused before any regex runs over it.
MAX_DURATION_CHARS = 64


def parse_duration(
    key: str,
    value: Any,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    allow_zero: bool = True,
) -> float:
    """Seconds from a number (as `parse_seconds`) or a Prometheus-style string: "30s", "5m", "1h30m", "500ms".

    Errors read like `rules[3].for: "5 minutes" is not a duration`, so an operator sees the exact value.
    """
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DURATION_CHARS:
            raise ConfigValueError(key, f"{describe(value)} is not a duration {_EXAMPLES}")
        if text and not _looks_numeric(text):
            if _DURATION_PART.sub("", text) != "" or not _DURATION_PART.search(text):
                raise ConfigValueError(key, f"{_quoted(value)} is not a duration {_EXAMPLES}")
            # Each part is under 64 digits, so a float sum is at worst inf, which parse_seconds refuses.
            value = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    elif not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigValueError(key, f"{describe(value)} is not a duration {_EXAMPLES}")
    return parse_seconds(key, value, minimum=minimum, maximum=maximum, allow_zero=allow_zero)


def _quoted(text: str) -> str:
    # JSON quoting shows the operator exactly what they typed; ASCII escapes keep lone surrogates printable.
    return json.dumps(text)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
