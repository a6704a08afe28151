"""Typed reads of Greengrass configuration values, with errors that name the offending key.

Greengrass delivers configuration as JSON after merges: numbers may arrive as floats (5.0) or as
strings ("5") when an operator typed them in the console, so the readers accept those spellings
and reject the rest with a reason an operator can act on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any


class ConfigValueError(ValueError):
    """A configuration value is unusable; `key` names it, `reason` says why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def as_number(key: str, value: Any) -> float:
    """A finite number from an int, float or numeric string."""
    if isinstance(value, bool):
        raise ConfigValueError(key, f"must be a number, got boolean {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigValueError(key, f"must be a number, got {value!r}") from None
    else:
        raise ConfigValueError(key, f"must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(number):
        raise ConfigValueError(key, f"must be a finite number, got {value!r}")
    return number


def as_int(key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number (5, 5.0 and "5" all qualify) within optional bounds."""
    number = as_number(key, value)
    if not number.is_integer():
        raise ConfigValueError(key, f"must be a whole number, got {value!r}")
    result = int(number)
    if minimum is not None and result < minimum:
        raise ConfigValueError(key, f"must be at least {minimum}, got {result}")
    if maximum is not None and result > maximum:
        raise ConfigValueError(key, f"must be at most {maximum}, got {result}")
    return result


def as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigValueError(key, f"must be true or false, got {value!r}")


def as_str(key: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigValueError(key, f"must be a string, got {type(value).__name__} {value!r}")
    if not allow_empty and not value.strip():
        raise ConfigValueError(key, "must not be empty")
    return value


def as_str_list(key: str, value: Any) -> tuple[str, ...]:
    """A list of strings (Greengrass replaces lists whole on merge, so no partial lists exist)."""
    if not isinstance(value, list | tuple):
        raise ConfigValueError(key, f"must be a list of strings, got {type(value).__name__} {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigValueError(f"{key}[{i}]", f"must be a string, got {item!r}")
    return tuple(value)


def as_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = as_str(key, value)
    if text not in choices:
        raise ConfigValueError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return text


def unknown_keys(doc: Mapping[str, Any], known: set[str]) -> list[str]:
    """Keys of `doc` that the component does not know (reported, not fatal: old keys linger)."""
    return sorted(k for k in doc if k not in known)


def validity_reason_for(
    parse: Callable[[Mapping[str, Any] | None], object],
) -> Callable[[Mapping[str, Any] | None], str | None]:
    """The validator for a deployment's proposed configuration: None when `parse` accepts it, else
    the reason (starting with the key). Using the component's own parser means what is accepted runs."""

    def validity_reason(raw: Mapping[str, Any] | None) -> str | None:
        try:
            parse(raw)
        except ConfigValueError as err:
            return str(err)
        return None

    return validity_reason
