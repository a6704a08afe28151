"""Publish-time recipe rendering: what `gdk component publish` does to a built recipe."""

from __future__ import annotations

import copy
import json
from typing import Any

from edgewatch.recipe.loader import ci_get

# Placeholders the build leaves in artifact URIs (GDK's).
BUCKET_NAME = "BUCKET_NAME"
COMPONENT_NAME = "COMPONENT_NAME"
COMPONENT_VERSION = "COMPONENT_VERSION"
RECIPE_MAX_BYTES = 16_000


def artifact_key(name: str, version: str, file_name: str) -> str:
    """The S3 key of an artifact: <name>/<version>/<file>, GDK's layout."""
    return f"{name}/{version}/{file_name}"


def bucket_name(prefix: str, region: str, account: str) -> str:
    """GDK's artifact bucket: <prefix>-<region>-<account>."""
    return f"{prefix}-{region}-{account}"


def _set_ci(doc: dict[str, Any], key: str, value: Any) -> None:
    for existing in list(doc):
        if existing.lower() == key.lower():
            doc[existing] = value
            return
    doc[key] = value


def render_publish_recipe(recipe: dict[str, Any], bucket: str, version: str) -> dict[str, Any]:
    """A copy of a built recipe with the published version and its real artifact URIs."""
    doc = copy.deepcopy(recipe)
    name = str(ci_get(doc, "ComponentName"))
    _set_ci(doc, "ComponentVersion", version)
    for manifest in ci_get(doc, "Manifests") or []:
        for artifact in ci_get(manifest, "Artifacts") or []:
            uri = str(ci_get(artifact, "URI"))
            if uri.startswith("s3://"):
                uri = (
                    uri.replace(BUCKET_NAME, bucket, 1)
                    .replace(COMPONENT_NAME, name, 1)
                    .replace(COMPONENT_VERSION, version, 1)
                )
                _set_ci(artifact, "URI", uri)
    return doc


def recipe_bytes(recipe: dict[str, Any]) -> bytes:
    """The inline recipe sent to CreateComponentVersion (JSON: no YAML type surprises)."""
    data = json.dumps(recipe, indent=1, sort_keys=False).encode("utf-8")
    if len(data) > RECIPE_MAX_BYTES:
        data = json.dumps(recipe, separators=(",", ":")).encode("utf-8")
    if len(data) > RECIPE_MAX_BYTES:
        raise ValueError(f"recipe of {ci_get(recipe, 'ComponentName')} is {len(data)} bytes; the limit is 16,000")
    return data
