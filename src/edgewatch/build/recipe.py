"""The recipe GDK's build writes: name/version/publisher from gdk-config, s3 URIs rewritten."""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection, MutableMapping
from pathlib import PurePosixPath
from typing import Any

import yaml

logger = logging.getLogger(__name__)

S3_PREFIX = "s3://"
# GDK's placeholder; `gdk component publish` replaces it with the real bucket, name and version.
ARTIFACT_URI_PREFIX = "s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION"


def _set_ci(mapping: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Set `key` keeping the author's spelling of it when present (as GDK's update_value does)."""
    for existing in mapping:
        if str(existing).lower() == key.lower():
            mapping[existing] = value
            return
    mapping[key] = value


def _get_ci(mapping: Any, key: str) -> Any:
    if isinstance(mapping, MutableMapping):
        for existing, value in mapping.items():
            if str(existing).lower() == key.lower():
                return value
    return None


def build_recipe_document(
    source_doc: dict[str, Any], name: str, version: str, publisher: str, built_files: Collection[str]
) -> tuple[dict[str, Any], list[str]]:
    """Return (recipe for greengrass-build, s3 URIs left untouched because nothing built them).

    Like GDK, an `s3://` artifact whose file name is one of `built_files` gets the URI
    `s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/<file>`; other URIs are left as written.
    """
    doc = copy.deepcopy(source_doc)
    _set_ci(doc, "ComponentName", name)
    _set_ci(doc, "ComponentVersion", version)
    _set_ci(doc, "ComponentPublisher", publisher)
    unresolved: list[str] = []
    for manifest in _get_ci(doc, "Manifests") or []:
        for artifact in _get_ci(manifest, "Artifacts") or []:
            uri = _get_ci(artifact, "URI")
            if not isinstance(uri, str) or not uri.startswith(S3_PREFIX):
                continue  # docker:, greengrass: and other URIs are not GDK's business either
            file_name = PurePosixPath(uri[len(S3_PREFIX) :]).name
            if file_name in built_files:
                _set_ci(artifact, "URI", f"{ARTIFACT_URI_PREFIX}/{file_name}")
            else:
                unresolved.append(uri)
    return doc, unresolved


class _RecipeDumper(yaml.SafeDumper):
    """Safe YAML with multi-line scripts as literal blocks, so built recipes stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(c in value for c in "\t\r") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RecipeDumper.add_representer(str, _str_representer)


def dump_recipe_yaml(doc: dict[str, Any]) -> str:
    """Serialise a recipe as YAML, keys in the author's order."""
    text: str = yaml.dump(
        doc, Dumper=_RecipeDumper, sort_keys=False, allow_unicode=True, width=4096, default_flow_style=False
    )
    return "---\n" + text
