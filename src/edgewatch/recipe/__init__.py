"""Greengrass recipes: loading, schema validation, manifest selection, lifecycles, variables."""

from edgewatch.recipe.errors import InterpolationError, RecipeError
from edgewatch.recipe.interpolation import (
    ComponentPaths,
    InterpolationContext,
    Unresolved,
    find_variables,
    interpolate,
    interpolate_lifecycle,
)
from edgewatch.recipe.lifecycle import (
    DEFAULT_TIMEOUTS,
    Lifecycle,
    LifecycleStep,
    SkipIf,
    normalise_lifecycle,
    resolve_selections,
)
from edgewatch.recipe.loader import load_recipe, parse_recipe_text, read_recipe_file, recipe_from_document
from edgewatch.recipe.model import Artifact, Dependency, Manifest, Recipe, SelectedManifest, select_manifest
from edgewatch.recipe.platforms import current_platform, greengrass_architecture, platform_matches
from edgewatch.recipe.schema import (
    MAX_RECIPE_BYTES,
    check_recipe_size,
    validate_gdk_config,
    validate_recipe_document,
)

__all__ = [
    "DEFAULT_TIMEOUTS",
    "MAX_RECIPE_BYTES",
    "Artifact",
    "ComponentPaths",
    "Dependency",
    "InterpolationContext",
    "InterpolationError",
    "Lifecycle",
    "LifecycleStep",
    "Manifest",
    "Recipe",
    "RecipeError",
    "SelectedManifest",
    "SkipIf",
    "Unresolved",
    "check_recipe_size",
    "current_platform",
    "find_variables",
    "greengrass_architecture",
    "interpolate",
    "interpolate_lifecycle",
    "load_recipe",
    "normalise_lifecycle",
    "parse_recipe_text",
    "platform_matches",
    "read_recipe_file",
    "recipe_from_document",
    "resolve_selections",
    "select_manifest",
    "validate_gdk_config",
    "validate_recipe_document",
]
