"""Recipe validation against the vendored Greengrass recipe schema, the way GDK does it.

GDK lower-cases every key of the recipe (recursively, configuration included) before validating
against its schema, whose property names are all lower-case. We do the same for validation only;
the original-case document is kept for everything else, and error paths are reported with the
author's own spelling (`Manifests[0].Lifecycle.Run`).
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import jsonschema

from edgewatch.recipe.errors import RecipeError

logger = logging.getLogger(__name__)

# The nucleus/cloud limit on a recipe document; GDK refuses files larger than this many bytes.
MAX_RECIPE_BYTES = 16_000


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load a vendored schema ("recipe_schema.json" or "config_schema.json") from package data."""
    text = resources.files("edgewatch.recipe").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def lower_keys(value: Any) -> Any:
    """Return a copy of `value` with every mapping key lower-cased, recursively (GDK's rule)."""
    if isinstance(value, Mapping):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def format_path(doc: Any, lowered_path: Iterable[Any]) -> str:
    """Render a jsonschema path (over the lower-cased doc) with the keys as spelled in `doc`."""
    out = ""
    node = doc
    for part in lowered_path:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        original = str(part)
        if isinstance(node, Mapping):
            for key in node:
                if str(key).lower() == part:
                    original = str(key)
                    break
            node = node.get(original)
        else:
            node = None
        out += f".{original}" if out else original
    return out


# Schema property names are lower-case; report them as the recipe reference spells them.
_CANONICAL = {
    name.lower(): name
    for name in [
        "RecipeFormatVersion",
        "ComponentName",
        "ComponentVersion",
        "ComponentDescription",
        "ComponentPublisher",
        "ComponentConfiguration",
        "DefaultConfiguration",
        "ComponentType",
        "ComponentSource",
        "ComponentDependencies",
        "VersionRequirement",
        "DependencyType",
        "Manifests",
        "Name",
        "Platform",
        "Lifecycle",
        "Selections",
        "Artifacts",
        "URI",
        "Unarchive",
        "Permission",
        "Read",
        "Execute",
        "Digest",
        "Algorithm",
        "Setenv",
        "Bootstrap",
        "Install",
        "Startup",
        "Run",
        "Shutdown",
        "Recover",
        "Script",
        "Skipif",
        "Timeout",
        "RequiresPrivilege",
    ]
}


def _canonical(name: str) -> str:
    return _CANONICAL.get(name, name)


def _node_at(doc: Any, lowered_path: Iterable[Any]) -> Any:
    node = doc
    for part in lowered_path:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        elif isinstance(node, Mapping):
            node = next((v for k, v in node.items() if str(k).lower() == part), None)
        else:
            return None
    return node


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "null" if value is None else f"a {type(value).__name__}"


def _expected(value: Any) -> str:
    kinds = value if isinstance(value, list) else [value]
    return " or ".join({"object": "an object", "array": "a list", "integer": "an integer"}.get(k, f"a {k}")
                       for k in kinds)


def _problem(error: jsonschema.ValidationError, original: Any = None) -> str:
    """A one-line description of a schema error without dumping the whole offending subtree.

    `original` is the offending node as the author spelled it, used to name unknown keys.
    """
    validator = error.validator
    if validator == "required":
        present = {str(k).lower() for k in (error.instance or {})}
        missing = [_canonical(name) for name in error.validator_value if name not in present]
        return f"missing required field(s): {', '.join(missing)}"
    if validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        names = original if isinstance(original, Mapping) else error.instance
        extra = sorted(str(k) for k in names if str(k).lower() not in known)
        return f"unknown field(s): {', '.join(extra)}"
    if isinstance(error.instance, datetime.date):
        # YAML reads an unquoted 2020-01-25 as a date: say so, and what to write instead.
        field = str(error.absolute_path[-1]) if error.absolute_path else ""
        expected = "the quoted string '2020-01-25'" if field == "recipeformatversion" else "a quoted string"
        return (f"found a date ({error.instance.isoformat()}, unquoted in YAML), expected {expected}")
    if validator == "type":
        return f"found {_kind(error.instance)} {_short(error.instance)}, expected {_expected(error.validator_value)}"
    if validator == "enum":
        choices = " or ".join(_short(v) for v in error.validator_value)
        return f"found {_short(error.instance)}, expected {choices} (enum)"
    if validator in ("pattern", "const", "maxLength", "minLength"):
        return f"found {_short(error.instance)}, expected {validator} {_short(error.validator_value)}"
    if validator in ("oneOf", "anyOf"):
        expected = sorted({str(e.validator_value) for e in error.context or () if e.validator == "type"})
        if expected:
            return f"{_short(error.instance)} is invalid: expected {' or '.join(expected)}"
        return f"{_short(error.instance)} does not match any allowed form ({validator})"
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."


def validate_recipe_document(doc: Mapping[str, Any], source: str) -> None:
    """Validate a recipe (original-case dict) against the recipe schema; raise RecipeError."""
    if not isinstance(doc, Mapping):
        raise RecipeError(source, "", f"a recipe must be an object, not {type(doc).__name__}")
    schema = load_schema("recipe_schema.json")
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = list(validator.iter_errors(lower_keys(doc)))
    if not errors:
        return
    # Every error, one per field (the best of those at the same path), in document order.
    by_path: dict[tuple[Any, ...], list[jsonschema.ValidationError]] = {}
    for error in errors:
        by_path.setdefault(tuple(error.absolute_path), []).append(error)
    problems = []
    for group in by_path.values():
        # best_match may pick a context error deep inside oneOf; its absolute_path is still correct.
        best = jsonschema.exceptions.best_match(group)
        path = format_path(doc, best.absolute_path) or "(top level)"
        problems.append((path, _problem(best, _node_at(doc, best.absolute_path))))
    first_path, first_problem = problems[0]
    others = "".join(f"; {path}: {problem}" for path, problem in problems[1:])
    raise RecipeError(source, first_path, first_problem + others)


def check_recipe_size(data: bytes | str, source: str, limit: int = MAX_RECIPE_BYTES) -> int:
    """Raise RecipeError when a serialised recipe exceeds `limit` bytes; return its size."""
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > limit:
        raise RecipeError(source, "", f"recipe is {size} bytes, over the {limit}-byte Greengrass limit")
    return size


def validate_gdk_config(doc: Any, source: str) -> None:
    """Validate a gdk-config.json document against GDK's config schema; raise RecipeError."""
    schema = load_schema("config_schema.json")
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors: Sequence[jsonschema.ValidationError] = list(validator.iter_errors(doc))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        path = format_path(doc, best.absolute_path)
        raise RecipeError(source, path or "(top level)", _problem(best))
