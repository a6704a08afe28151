"""The suite's single gdk-config.json and the per-component copies generated from it.

GDK handles one component per directory, so each `components/<dir>/gdk-config.json` must exist for
the real GDK CLI. They are generated from the top-level `gdk-config.json` (author, version,
publish settings) plus the component name taken from the recipe, and a `custom` build whose
command runs this build for that one component. `check_component_configs` finds drift;
`render_component_config` is what `edgewatch build --sync-config` writes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.build.errors import BuildError
from edgewatch.recipe.errors import RecipeError
from edgewatch.recipe.loader import SEMVER
from edgewatch.recipe.schema import validate_gdk_config

logger = logging.getLogger(__name__)

GDK_CONFIG = "gdk-config.json"

# GDK runs a custom build command in the component directory and expects ./greengrass-build there.
# The repository's venv is the default interpreter; EDGEWATCH_PYTHON overrides it.
CUSTOM_BUILD_COMMAND: tuple[str, ...] = (
    "sh",
    "-c",
    'exec "${EDGEWATCH_PYTHON:-../../.venv/bin/python}" -m edgewatch.build --gdk-component .',
)


@dataclass(frozen=True)
class SuiteConfig:
    """Author, version and publish settings shared by every component of the suite."""

    path: Path
    author: str
    version: str
    publish: dict[str, Any]
    gdk_version: str


def load_suite_config(repo_root: Path) -> SuiteConfig:
    """Read and validate `<repo_root>/gdk-config.json` (the suite's source of truth)."""
    path = repo_root / GDK_CONFIG
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BuildError(f"{path}: cannot read the suite configuration: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise BuildError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    try:
        validate_gdk_config(doc, str(path))
    except RecipeError as exc:
        raise BuildError(str(exc)) from exc
    (entry,) = doc["component"].values()
    version = entry["version"]
    # An offline build cannot ask the cloud for NEXT_PATCH; the suite pins an exact version.
    if not SEMVER.match(version):
        raise BuildError(f"{path}: version must be an exact semantic version, not {version!r}")
    return SuiteConfig(
        path=path,
        author=entry["author"],
        version=version,
        publish=dict(entry["publish"]),
        gdk_version=doc["gdk_version"],
    )


def component_config(suite: SuiteConfig, component_name: str) -> dict[str, Any]:
    """The gdk-config.json document for one component directory."""
    return {
        "component": {
            component_name: {
                "author": suite.author,
                "version": suite.version,
                "build": {"build_system": "custom", "custom_build_command": list(CUSTOM_BUILD_COMMAND)},
                "publish": suite.publish,
            }
        },
        "gdk_version": suite.gdk_version,
    }


def render_component_config(suite: SuiteConfig, component_name: str) -> str:
    """Exact file text of a generated per-component gdk-config.json."""
    return json.dumps(component_config(suite, component_name), indent=2) + "\n"


def config_in_sync(suite: SuiteConfig, component_dir: Path, component_name: str) -> bool:
    """True when `component_dir/gdk-config.json` is exactly what the suite config generates."""
    path = component_dir / GDK_CONFIG
    try:
        return path.read_text(encoding="utf-8") == render_component_config(suite, component_name)
    except OSError:
        return False


def write_component_config(suite: SuiteConfig, component_dir: Path, component_name: str) -> bool:
    """Write the generated gdk-config.json; return True when the file changed."""
    if config_in_sync(suite, component_dir, component_name):
        return False
    (component_dir / GDK_CONFIG).write_text(render_component_config(suite, component_name), encoding="utf-8")
    logger.info("wrote %s", component_dir / GDK_CONFIG)
    return True
