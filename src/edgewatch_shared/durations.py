"""Durations in configuration: numbers of seconds given as ints, floats or numeric strings."""

from __future__ import annotations

from typing import Any

from edgewatch_shared.config_values import ConfigValueError, as_number


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
        raise ConfigValueError(key, f"must not be negative, got {value!r}")
    if seconds == 0 and not allow_zero:
        raise ConfigValueError(key, "must be greater than 0 seconds")
    if seconds < minimum and not (allow_zero and seconds == 0):
        raise ConfigValueError(key, f"must be at least {minimum:g} seconds, got {value!r}")
    if maximum is not None and seconds > maximum:
        raise ConfigValueError(key, f"must be at most {maximum:g} seconds, got {value!r}")
    return seconds
