"""Typed reads of Greengrass configuration values, with errors that name the offending key.

Greengrass delivers configuration as JSON after merges: numbers may arrive as floats (5.0) or as
strings ("5") when an operator typed them in the console, so the readers accept those spellings
and reject the rest with a reason an operator can act on.

Every reader is total: for ANY JSON value (a 400-digit integer, a string of lone surrogates, a list
nested 5,000 deep) it returns a typed value or raises ConfigValueError, never anything else.
Values are quoted in reasons through `describe`, which is bounded and cannot fail.
`json_shape_error` bounds a whole document (nesting depth, node count) without recursion, and
`validity_reason_for` turns a component's parser into a validator that always answers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

# Bounds of a whole configuration document: deeper or bigger is refused before any reader runs.
MAX_DEPTH = 32
MAX_NODES = 100_000
# A number spelled with more characters than this is not a configuration value anyone meant.
MAX_NUMBER_CHARS = 64
_DESCRIBE_CHARS = 80


class ConfigValueError(ValueError):
    """A configuration value is unusable; `key` names it, `reason` says why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def describe(value: Any) -> str:
    """A short, safe rendering of any JSON value for an error reason (never raises, never long)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        # repr() of an int over 4,300 digits raises ValueError; its size is what matters anyway.
        digits = value.bit_length() * 0.30103
        return repr(value) if digits < _DESCRIBE_CHARS else f"an integer of about {int(digits)} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= _DESCRIBE_CHARS else value[:_DESCRIBE_CHARS] + "..."
        return ascii(text) if len(value) <= _DESCRIBE_CHARS else ascii(text) + f" ({len(value)} characters)"
    if isinstance(value, Mapping):
        return f"an object of {len(value)} key(s)"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    return type(value).__name__


def as_number(key: str, value: Any) -> float:
    """A finite number from an int, float or numeric string."""
    if isinstance(value, bool):
        raise ConfigValueError(key, f"must be a number, got boolean {value!r}")
    if isinstance(value, int):
        if value.bit_length() > 1000:  # float(value) would raise OverflowError beyond ~1e308
            raise ConfigValueError(key, f"must be a finite number, got {describe(value)}")
        number = float(value)
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        if len(value) > MAX_NUMBER_CHARS:
            raise ConfigValueError(key, f"must be a number, got {describe(value)}")
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigValueError(key, f"must be a number, got {describe(value)}") from None
    else:
        raise ConfigValueError(key, f"must be a number, got {type(value).__name__} {describe(value)}")
    if not math.isfinite(number):
        raise ConfigValueError(key, f"must be a finite number, got {describe(value)}")
    return number


def as_int(key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number (5, 5.0 and "5" all qualify) within optional bounds."""
    number = as_number(key, value)
    if not number.is_integer():
        raise ConfigValueError(key, f"must be a whole number, got {describe(value)}")
    # An int stays exact (a float would round 2**60 + 1); it is known to be under 1e308 here.
    result = value if isinstance(value, int) else int(number)
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
    raise ConfigValueError(key, f"must be true or false, got {describe(value)}")


def as_str(key: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigValueError(key, f"must be a string, got {type(value).__name__} {describe(value)}")
    if not allow_empty and not value.strip():
        raise ConfigValueError(key, "must not be empty")
    return value


def as_str_list(key: str, value: Any) -> tuple[str, ...]:
    """A list of strings (Greengrass replaces lists whole on merge, so no partial lists exist)."""
    if not isinstance(value, list | tuple):
        raise ConfigValueError(key, f"must be a list of strings, got {type(value).__name__} {describe(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigValueError(f"{key}[{i}]", f"must be a string, got {describe(item)}")
    return tuple(value)


def as_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = as_str(key, value)
    if text not in choices:
        raise ConfigValueError(key, f"must be one of {', '.join(choices)}, got {describe(value)}")
    return text


def unknown_keys(doc: Mapping[str, Any], known: set[str]) -> list[str]:
    """Keys of `doc` that the component does not know (reported, not fatal: old keys linger)."""
    return sorted(k for k in doc if k not in known)


def json_shape_error(doc: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> ConfigValueError | None:
    """Why `doc` is too deep or too big to be a configuration (with the path), or None.

    Iterative on purpose: a document nested 5,000 deep must get an answer, not a RecursionError.
    """
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return ConfigValueError(path or "configuration", f"document has more than {max_nodes} values")
        if isinstance(value, Mapping):
            children = [(v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            children = [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        else:
            continue
        if depth >= max_depth and children:
            return ConfigValueError(path or "configuration", f"nested deeper than {max_depth} levels")
        stack.extend(children)
    return None


def check_document(raw: Any) -> Mapping[str, Any]:
    """`raw` as a configuration object ({} for None), bounded by `json_shape_error`; else ConfigValueError."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigValueError("configuration", f"must be an object, got {describe(raw)}")
    error = json_shape_error(raw)
    if error is not None:
        raise error
    return raw


def validity_reason_for(
    parse: Callable[[Mapping[str, Any] | None], object],
) -> Callable[[Mapping[str, Any] | None], str | None]:
    """The validator for a deployment's proposed configuration: None when `parse` accepts it, else
    the reason (starting with the key). Using the component's own parser means what is accepted runs.

    The validator always answers: the document is bounded first (`check_document`), and a parser
    bug (any other exception) rejects the configuration instead of leaving the deployment waiting.
    """

    def validity_reason(raw: Mapping[str, Any] | None) -> str | None:
        try:
            parse(check_document(raw))
        except ConfigValueError as err:
            return str(err)
        except Exception as err:  # a bug in a parser: reject (safe), and make it visible
            logger.exception("configuration validator failed")
            return f"configuration: could not be checked ({type(err).__name__})"
        return None

    return validity_reason
