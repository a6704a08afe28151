"""Recipes found in folders (a deployment's `--recipeDir`, the runtime's stored recipes, the stand-ins).

The file side of `deployment_plan.RecipeSource`: the folders are scanned once for names and
versions; a recipe is loaded (and validated) only when a deployment needs it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from edgewatch.local.versions import Version
from edgewatch.recipe import Recipe, load_recipe
from edgewatch.recipe.loader import RECIPE_SUFFIXES

log = logging.getLogger(__name__)

def _ci(document: Mapping[str, Any], key: str) -> Any:
    for k, v in document.items():
        if str(k).lower() == key.lower():
            return v
    return None


class RecipeIndex:
    """Recipes found in folders, by component name and version (the first folder wins)."""

    def __init__(self, folders: Iterable[Path | None]) -> None:
        self._paths: dict[tuple[str, str], Path] = {}
        self._loaded: dict[tuple[str, str], Recipe] = {}
        for folder in folders:
            if folder is None or not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in RECIPE_SUFFIXES or not path.is_file():
                    continue
                try:
                    text = path.read_text()
                    document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
                except (OSError, ValueError, yaml.YAMLError) as exc:
                    log.warning("skipping unreadable recipe %s: %s", path, exc)
                    continue
                if not isinstance(document, Mapping):
                    continue
                name, version = _ci(document, "ComponentName"), _ci(document, "ComponentVersion")
                if isinstance(name, str) and version is not None:
                    self._paths.setdefault((name, str(version)), path)

    def path(self, name: str, version: str) -> Path | None:
        return self._paths.get((name, version))

    def versions(self, name: str) -> list[str]:
        found = []
        for n, v in self._paths:
            if n != name:
                continue
            try:
                Version(v)
            except ValueError:
                continue
            found.append(v)
        return found

    def get(self, name: str, version: str) -> Recipe:
        """The recipe of `name`-`version`; KeyError when there is none, RecipeError when it is invalid."""
        key = (name, version)
        if key not in self._loaded:
            path = self._paths[key]
            self._loaded[key] = load_recipe(path)
        return self._loaded[key]
