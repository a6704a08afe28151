"""Validation of API requests against botocore's service models (the ground truth offline).

botocore's own validator checks required members, types and minimums; `validate_request` adds
maximums, enums and (Python-compatible) patterns so that a request that passes here is one the
service would accept in shape.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import validate_parameters


class RequestShapeError(ValueError):
    """A request that does not match the operation's input shape."""


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # Java-only syntax (\p{...}): botocore does not check it either


def _extra_checks(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                _extra_checks(item, shape.members[key], f"{path}.{key}", errors)
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: {len(value)} items, at most {meta['max']}")
        for i, item in enumerate(value):
            _extra_checks(item, shape.member, f"{path}[{i}]", errors)
    elif shape.type_name == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: {len(value)} entries, at most {meta['max']}")
        for key, item in value.items():
            _extra_checks(key, shape.key, f"{path} key", errors)
            _extra_checks(item, shape.value, f"{path}.{key}", errors)
    elif shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: length {len(value)}, at most {meta['max']}")
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not one of {shape.enum}")
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and not compiled.search(value):
            errors.append(f"{path}: {value!r} does not match {pattern!r}")
    elif shape.type_name in ("integer", "long", "double", "float") and isinstance(value, int | float):
        if "max" in meta and value > meta["max"]:
            errors.append(f"{path}: {value} above the maximum {meta['max']}")
        if "min" in meta and value < meta["min"]:
            errors.append(f"{path}: {value} below the minimum {meta['min']}")


def shape_problems(value: Any, shape: Shape, where: str) -> list[str]:
    """What botocore's validator leaves unchecked: maximums, enums and patterns (empty when fine)."""
    errors: list[str] = []
    _extra_checks(value, shape, where, errors)
    return errors


def validate_request(service: str, operation: str, params: dict[str, Any]) -> None:
    """Raise RequestShapeError unless `params` is a valid `service` `operation` request."""
    shape = operation_model(service, operation).input_shape
    try:
        validate_parameters(params, shape)
    except ParamValidationError as exc:
        raise RequestShapeError(f"{service} {operation}: {exc}") from exc
    errors = shape_problems(params, shape, operation)
    if errors:
        raise RequestShapeError(f"{service} {operation}: " + "; ".join(errors))
