"""The `edgewatch.metrics/1` local metric message: the contract between the EdgeWatch components.

Defined once here and mirrored by `schemas/metrics-1.schema.json` (a test keeps them in step).
Validation is hand-written on purpose: it runs on every received message, needs nothing beyond the
standard library, and its errors say exactly which field is wrong. Unknown fields are ignored so
that producers can add fields without breaking older consumers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch_shared.config_values import describe

SCHEMA_ID = "edgewatch.metrics/1"

_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class MessageError(ValueError):
    """A document is not a valid `edgewatch.metrics/1` message; `errors` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# Not frozen: a frozen dataclass assigns each field through object.__setattr__, which made building
# a sample's hundred-odd metrics cost four times as much. Treat instances as immutable all the same.
@dataclass(slots=True)
class Metric:
    name: str
    value: float
    unit: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "labels": dict(self.labels)}


@dataclass(frozen=True)
class MetricsMessage:
    thing: str
    ts: int
    metrics: tuple[Metric, ...]
    schema: str = SCHEMA_ID

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "thing": self.thing,
            "ts": self.ts,
            "metrics": [m.to_dict() for m in self.metrics],
        }

    def to_json(self) -> str:
        # Compact separators: this goes over IPC every tick and into IoT Core batches.
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


def is_valid_metric_name(name: str) -> bool:
    return bool(_NAME_PATTERN.match(name))


def validation_errors(doc: Any) -> list[str]:
    """Every reason `doc` (a decoded JSON value) is not a valid message; empty when it is."""
    if not isinstance(doc, Mapping):
        return [f"message must be a JSON object, got {type(doc).__name__}"]
    errors: list[str] = []
    for key in ("schema", "thing", "ts", "metrics"):
        if key not in doc:
            errors.append(f"missing required field '{key}'")
    if "schema" in doc and doc["schema"] != SCHEMA_ID:
        errors.append(f"'schema' must be {SCHEMA_ID!r}, got {describe(doc['schema'])}")
    if "thing" in doc and (not isinstance(doc["thing"], str) or not doc["thing"]):
        errors.append("'thing' must be a non-empty string")
    if "ts" in doc and (not _is_int(doc["ts"]) or doc["ts"] < 0):
        errors.append(f"'ts' must be a non-negative integer (epoch milliseconds), got {describe(doc['ts'])}")
    if "metrics" in doc:
        if not isinstance(doc["metrics"], list):
            errors.append("'metrics' must be an array")
        else:
            for i, item in enumerate(doc["metrics"]):
                if not _is_valid_plain_metric(item):  # where the path is only formatted for a problem
                    errors.extend(_metric_problems(item, f"metrics[{i}]"))
    return errors


def _is_valid_plain_metric(item: Any) -> bool:
    """The common case, checked with exact types only (JSON decoding builds dict, str, int, float):
    True means `_metric_errors` would find nothing. Every sample carries ~100 metrics, and this is
    several times cheaper than the full walk with its ABC checks; anything unusual takes the full walk."""
    if type(item) is not dict:
        return False
    name, value, unit, labels = item.get("name"), item.get("value"), item.get("unit"), item.get("labels")
    return (
        type(name) is str and type(unit) is str and type(labels) is dict
        and (math.isfinite(value) if type(value) is float else type(value) is int and value.bit_length() <= 1023)
        and all(type(v) is str for v in labels.values())
        and _valid_name(name)
    )  # fmt: skip


_VALID_NAMES: set[str] = set()  # the same few hundred names arrive in every sample
_MAX_VALID_NAMES = 4096


def _valid_name(name: str) -> bool:
    if name in _VALID_NAMES:
        return True
    if _NAME_PATTERN.match(name) is None:
        return False
    if len(_VALID_NAMES) >= _MAX_VALID_NAMES:
        _VALID_NAMES.clear()
    _VALID_NAMES.add(name)
    return True


def _metric_errors(item: Any, where: str) -> list[str]:
    return [] if _is_valid_plain_metric(item) else _metric_problems(item, where)


def _metric_problems(item: Any, where: str) -> list[str]:
    if not isinstance(item, Mapping):
        return [f"{where} must be an object"]
    required = ("name", "value", "unit", "labels")
    errors = [f"{where}: missing required field '{k}'" for k in required if k not in item]
    name = item.get("name")
    if "name" in item and (not isinstance(name, str) or not is_valid_metric_name(name)):
        errors.append(f"{where}.name must be dotted lower-case (e.g. 'cpu.percent'), got {describe(name)}")
    value = item.get("value")
    if "value" in item and not _is_finite_number(value):
        errors.append(f"{where}.value must be a finite number, got {describe(value)}")
    if "unit" in item and not isinstance(item["unit"], str):
        errors.append(f"{where}.unit must be a string")
    labels = item.get("labels")
    if "labels" in item:
        if not isinstance(labels, Mapping):
            errors.append(f"{where}.labels must be an object of strings")
        else:
            errors.extend(
                f"{where}.labels.{_key(k)} must be a string, got {describe(v)}"
                for k, v in labels.items()
                if not isinstance(v, str)
            )
    return errors


def _key(key: Any) -> str:
    # A plain key reads best as is; anything odd (long, non-ASCII, not a string) is quoted safely.
    if isinstance(key, str) and key.isascii() and key.isprintable() and len(key) <= 80:
        return key
    return describe(key)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # math.isfinite() of an int beyond the float range raises OverflowError; such an int is no metric value.
    return value.bit_length() <= 1023 if isinstance(value, int) else math.isfinite(value)


def from_dict(doc: Any) -> MetricsMessage:
    """Build a message from a decoded JSON value; raises MessageError listing every problem."""
    errors = validation_errors(doc)
    if errors:
        raise MessageError(errors)
    return MetricsMessage(
        thing=doc["thing"],
        ts=doc["ts"],
        metrics=tuple([Metric(m["name"], m["value"], m["unit"], dict(m["labels"])) for m in doc["metrics"]]),
    )


def from_json(text: str | bytes) -> MetricsMessage:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # RecursionError: nested too deep
        raise MessageError([f"not JSON: {str(err)[:200]}"]) from None
    return from_dict(doc)


def schema_path() -> str:
    """Path of the JSON schema that mirrors this module (for tests and external tools)."""
    return str(Path(__file__).with_name("schemas") / "metrics-1.schema.json")
