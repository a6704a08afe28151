"""Load a recipe from a JSON/YAML file, text or dict; validate it; normalise it to a Recipe."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from edgewatch.recipe.errors import RecipeError
from edgewatch.recipe.model import Artifact, Dependency, Manifest, Recipe, resolve_manifest_lifecycle
from edgewatch.recipe.schema import check_recipe_size, validate_recipe_document

logger = logging.getLogger(__name__)

# semver.org's regular expression; the nucleus requires semantic component versions.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
# A recipe is under 16,000 bytes, so a real one is far inside both bounds.
MAX_DOCUMENT_DEPTH = 64
MAX_DOCUMENT_NODES = 20000


def ci_get(mapping: Any, key: str, default: Any = None) -> Any:
    """Case-insensitive key lookup (recipe keys are case-insensitive); `default` if absent."""
    if isinstance(mapping, Mapping):
        lowered = key.lower()
        for k, v in mapping.items():
            if str(k).lower() == lowered:
                return v
    return default


def parse_recipe_text(text: str, source: str, fmt: str | None = None) -> dict[str, Any]:
    """Parse recipe text as JSON or YAML (`fmt` "json"/"yaml"; guessed from `source` if None)."""
    if fmt is None:
        fmt = "json" if source.lower().endswith(".json") else "yaml"
    try:
        doc = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except RecursionError:
        raise RecipeError(source, "", f"nested more than {MAX_DOCUMENT_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise RecipeError(
            source, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(source, where, f"invalid YAML: {problem}") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar the constructor rejects, e.g. 2001-02-30
        raise RecipeError(source, "", f"invalid {fmt.upper()} value: {exc}") from exc
    if not isinstance(doc, dict):
        raise RecipeError(source, "", f"a recipe must be an object, not {type(doc).__name__}")
    problem = _shape_problem(doc)
    if problem:
        raise RecipeError(source, "", problem)
    return doc


def _shape_problem(doc: Any) -> str | None:
    """Why a parsed document cannot be walked safely, or None. Iterative, and bounded in work.

    YAML aliases can make a document refer to itself (`a: &x [*x]`) or expand exponentially
    ("billion laughs"); every later step walks the tree recursively, so both are refused here.
    """
    stack: list[tuple[Any, int]] = [(doc, 0)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        seen += 1
        if depth >= MAX_DOCUMENT_DEPTH:
            return f"nested more than {MAX_DOCUMENT_DEPTH} levels deep (or refers to itself through a YAML alias)"
        if seen > MAX_DOCUMENT_NODES:
            return f"more than {MAX_DOCUMENT_NODES} objects and lists (YAML aliases expanding?)"
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return None


def read_recipe_file(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """Read and parse a recipe file; returns (document, raw bytes). Size is checked too."""
    path = Path(path)
    if path.suffix.lower() not in RECIPE_SUFFIXES:
        raise RecipeError(str(path), "", "a recipe file must end in .yaml, .yml or .json")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecipeError(str(path), "", f"cannot read recipe: {exc.strerror or exc}") from exc
    check_recipe_size(data, str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(str(path), "", "a recipe must be UTF-8 text") from exc
    return parse_recipe_text(text, str(path)), data


def load_recipe(source: str | Path | Mapping[str, Any], *, name: str | None = None) -> Recipe:
    """Load, validate and normalise a recipe from a file path or an already-parsed dict.

    `name` labels a dict source in error messages (default "<dict>").
    """
    if isinstance(source, Mapping):
        return recipe_from_document(dict(source), name or "<dict>")
    doc, _ = read_recipe_file(source)
    return recipe_from_document(doc, str(source))


def recipe_from_document(doc: dict[str, Any], source: str) -> Recipe:
    """Validate an original-case recipe document and build the typed Recipe."""
    validate_recipe_document(doc, source)
    version = str(ci_get(doc, "ComponentVersion"))
    if not SEMVER.match(version):
        raise RecipeError(
            source, "ComponentVersion", f"{version!r} is not a semantic version (major.minor.patch)"
        )
    config = ci_get(doc, "ComponentConfiguration") or {}
    defaults = ci_get(config, "DefaultConfiguration")
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, Mapping):
        raise RecipeError(source, "ComponentConfiguration.DefaultConfiguration", "must be an object")
    access = ci_get(defaults, "accessControl") or {}
    if not isinstance(access, Mapping):
        raise RecipeError(
            source, "ComponentConfiguration.DefaultConfiguration.accessControl", "must be an object"
        )
    global_lifecycle = ci_get(doc, "Lifecycle")
    recipe = Recipe(
        name=str(ci_get(doc, "ComponentName")),
        version=version,
        publisher=ci_get(doc, "ComponentPublisher"),
        description=ci_get(doc, "ComponentDescription"),
        format_version=str(ci_get(doc, "RecipeFormatVersion")),
        component_type=ci_get(doc, "ComponentType"),
        default_configuration=dict(defaults),
        access_control=dict(access),
        dependencies=_dependencies(ci_get(doc, "ComponentDependencies") or {}),
        manifests=tuple(_manifest(i, m) for i, m in enumerate(ci_get(doc, "Manifests") or [])),
        global_lifecycle=dict(global_lifecycle) if isinstance(global_lifecycle, Mapping) else None,
        source=source,
        raw=doc,
    )
    # Normalise every manifest's lifecycle now so that a bad step fails at load time, not at the
    # first deployment to a matching platform.
    for manifest in recipe.manifests:
        resolve_manifest_lifecycle(recipe, manifest)
    return recipe


def _dependencies(raw: Mapping[str, Any]) -> dict[str, Dependency]:
    deps: dict[str, Dependency] = {}
    for name, spec in raw.items():
        kind = str(ci_get(spec, "DependencyType") or "HARD").upper()
        deps[str(name)] = Dependency(
            str(ci_get(spec, "VersionRequirement")), "SOFT" if kind == "SOFT" else "HARD"
        )
    return deps


def _manifest(index: int, raw: Mapping[str, Any]) -> Manifest:
    selections = ci_get(raw, "Selections") or ()
    if isinstance(selections, str):
        selections = (selections,)
    lifecycle = ci_get(raw, "Lifecycle")
    platform = ci_get(raw, "Platform") or {}
    return Manifest(
        index=index,
        name=ci_get(raw, "Name"),
        platform={str(k): str(v) for k, v in platform.items()},
        lifecycle=dict(lifecycle) if isinstance(lifecycle, Mapping) else None,
        selections=tuple(str(s) for s in selections),
        artifacts=tuple(_artifact(a) for a in ci_get(raw, "Artifacts") or ()),
    )


def _artifact(raw: Mapping[str, Any]) -> Artifact:
    permission = ci_get(raw, "Permission") or {}
    return Artifact(
        uri=str(ci_get(raw, "URI")),
        unarchive=str(ci_get(raw, "Unarchive") or "NONE").upper(),
        read=str(ci_get(permission, "Read") or "OWNER").upper(),
        execute=str(ci_get(permission, "Execute") or "NONE").upper(),
        digest=ci_get(raw, "Digest"),
        algorithm=ci_get(raw, "Algorithm"),
    )
