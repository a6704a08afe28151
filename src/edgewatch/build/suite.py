"""The suite build behind `edgewatch build`: the offline equivalent of `gdk component build`.

Layout (see README.md, "Building"):
  recipes/<ComponentName>.yaml          the one source of each recipe
  components/<dir>/recipe.yaml          relative symlink to it (GDK wants recipe.yaml there)
  components/<dir>/gdk-config.json      generated from the top-level gdk-config.json
  src/edgewatch_shared/                 shared code, packed into every component's zip

Suite build output (what `edgewatch local deployment create --recipeDir --artifactDir` reads):
  greengrass-build/recipes/<ComponentName>-<version>.yaml
  greengrass-build/artifacts/<ComponentName>/<version>/<dir>.zip

When GDK runs our custom build command in a component folder (`--gdk-component .`), the output is
GDK's own per-component layout: ./greengrass-build/recipes/recipe.yaml and
./greengrass-build/artifacts/<ComponentName>/<version>/<dir>.zip, ready for `gdk component publish`.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgewatch.build.errors import BuildError
from edgewatch.build.gdkconfig import (
    GDK_CONFIG,
    SuiteConfig,
    config_in_sync,
    load_suite_config,
    write_component_config,
)
from edgewatch.build.recipe import build_recipe_document, dump_recipe_yaml
from edgewatch.build.zipper import collect_files, write_reproducible_zip
from edgewatch.recipe.loader import ci_get, load_recipe, recipe_from_document
from edgewatch.recipe.schema import check_recipe_size

logger = logging.getLogger(__name__)

__all__ = [
    "BuildError",
    "BuiltComponent",
    "ComponentSource",
    "build_components",
    "build_gdk_component",
    "check_layout",
    "discover_components",
    "find_repo_root",
    "sync_configs",
]

BUILD_DIR = "greengrass-build"
COMPONENTS_DIR = "components"
RECIPES_DIR = "recipes"
SHARED_PACKAGE = Path("src") / "edgewatch_shared"
RECIPE_FILES = ("recipe.yaml", "recipe.json")
# A component with web/build_assets.py (the LocalDashboard) gets its built page assets packed into
# src/<package>/static/ of its zip; its web/ sources and node_modules stay out of the artifact.
ASSET_BUILDER = Path("web") / "build_assets.py"


@dataclass(frozen=True)
class ComponentSource:
    """A component folder of the suite and the recipe it holds."""

    directory: Path
    recipe_file: Path
    name: str

    @property
    def zip_name(self) -> str:
        """Artifact name: the folder name, as GDK's zip build system names it."""
        return f"{self.directory.name}.zip"


@dataclass(frozen=True)
class BuiltComponent:
    """What one component's build wrote."""

    name: str
    version: str
    component_dir: Path
    recipe_file: Path
    artifact_files: tuple[Path, ...]
    artifact_sha256: str


def find_repo_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding gdk-config.json and components/."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / GDK_CONFIG).is_file() and (folder / COMPONENTS_DIR).is_dir():
            return folder
    raise BuildError(f"no suite found at or above {start} (a folder with {GDK_CONFIG} and {COMPONENTS_DIR}/)")


def _recipe_in(directory: Path) -> Path | None:
    found = [directory / n for n in RECIPE_FILES if (directory / n).exists() or (directory / n).is_symlink()]
    if len(found) > 1:
        raise BuildError(f"{directory}: has both recipe.yaml and recipe.json; GDK accepts only one")
    return found[0] if found else None


def discover_components(repo_root: Path) -> list[ComponentSource]:
    """Every `components/<dir>/` with a recipe, sorted by folder name."""
    found: list[ComponentSource] = []
    base = repo_root / COMPONENTS_DIR
    for directory in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else ():
        recipe_file = _recipe_in(directory)
        if recipe_file is None:
            continue
        if not recipe_file.exists():
            raise BuildError(f"{recipe_file}: broken symlink to {recipe_file.readlink()}")
        # Load through the symlink's target so that errors name the file to edit (recipes/...).
        recipe = load_recipe(recipe_file.resolve())
        found.append(ComponentSource(directory=directory, recipe_file=recipe_file, name=recipe.name))
    return found


def _select(components: list[ComponentSource], names: Iterable[str] | None) -> list[ComponentSource]:
    if not names:
        return components
    chosen: list[ComponentSource] = []
    for wanted in names:
        match = [c for c in components if wanted in (c.name, c.directory.name)]
        if not match:
            known = ", ".join(f"{c.name} ({c.directory.name})" for c in components) or "none"
            raise BuildError(f"unknown component {wanted!r}; components: {known}")
        chosen.extend(c for c in match if c not in chosen)
    return chosen


def check_layout(repo_root: Path, suite: SuiteConfig | None = None) -> list[str]:
    """Problems with the one-source-of-truth arrangement (empty list when all is well)."""
    suite = suite or load_suite_config(repo_root)
    problems: list[str] = []
    recipes_dir = (repo_root / RECIPES_DIR).resolve()
    for component in discover_components(repo_root):
        link = component.recipe_file
        expected = recipes_dir / f"{component.name}{link.suffix}"
        if not link.is_symlink():
            problems.append(
                f"{link}: must be a relative symlink to {RECIPES_DIR}/{expected.name}, not a copy"
            )
        elif link.readlink().is_absolute():
            problems.append(f"{link}: symlink must be relative (it points to {link.readlink()})")
        elif link.resolve() != expected:
            problems.append(f"{link}: points to {link.resolve()}, expected {expected}")
        if not config_in_sync(suite, component.directory, component.name):
            problems.append(
                f"{component.directory / GDK_CONFIG}: out of sync with {suite.path.name};"
                " run `edgewatch build --sync-config`"
            )
    return problems


def sync_configs(repo_root: Path) -> list[Path]:
    """Regenerate every component's gdk-config.json from the suite's; return those changed."""
    suite = load_suite_config(repo_root)
    return [
        c.directory / GDK_CONFIG
        for c in discover_components(repo_root)
        if write_component_config(suite, c.directory, c.name)
    ]


def _artifact_files(repo_root: Path, component: ComponentSource) -> dict[str, Path]:
    files = collect_files(component.directory)
    shared_root = repo_root / SHARED_PACKAGE
    if shared_root.is_dir():
        clash = sorted(n for n in files if n.split("/", 1)[0] == shared_root.name)
        if clash:
            raise BuildError(f"{component.directory}: {clash[0]} would clash with the shared package")
        files.update(collect_files(shared_root, prefix=f"{shared_root.name}/"))
    if (component.directory / ASSET_BUILDER).is_file():
        files = {name: path for name, path in files.items() if not name.startswith("web/")}
    return files


def _built_assets(component: ComponentSource, out: Path) -> dict[str, Path]:
    """Run the component's web/build_assets.py into `out`; archive names under src/<package>/static/."""
    builder = component.directory / ASSET_BUILDER
    if not builder.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"_edgewatch_assets_{component.directory.name}", builder)
    if spec is None or spec.loader is None:
        raise BuildError(f"{builder}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        written = module.build_assets(out)
    except Exception as exc:  # the builder's own error (npm missing, a file missing) says what to do
        raise BuildError(f"{builder}: {exc}") from None
    package = component.directory.name.replace("-", "_")
    logger.info("  %d built asset(s) from %s", len(written), builder.relative_to(component.directory))
    return {f"src/{package}/static/{Path(p).relative_to(out).as_posix()}": Path(p) for p in written}


_VERSIONED_RECIPE = re.compile(r"-\d+\.\d+\.\d+[^/]*\.(yaml|json)$")


def _clear_previous(out_dir: Path, name: str) -> None:
    """Drop an earlier build of `name` so that recipeDir never holds two versions of it."""
    shutil.rmtree(out_dir / "artifacts" / name, ignore_errors=True)
    recipes = out_dir / "recipes"
    if recipes.is_dir():
        for old in recipes.iterdir():
            if old.name.startswith(f"{name}-") and _VERSIONED_RECIPE.fullmatch(old.name[len(name) :]):
                old.unlink()


def build_one(
    repo_root: Path,
    suite: SuiteConfig,
    component: ComponentSource,
    out_dir: Path,
    *,
    gdk_layout: bool = False,
) -> BuiltComponent:
    """Build one component into `out_dir` (suite layout, or GDK's when `gdk_layout`)."""
    name, version = component.name, suite.version
    logger.info("building %s %s from %s", name, version, component.directory.relative_to(repo_root))
    source = load_recipe(component.recipe_file.resolve())
    artifact_dir = out_dir / "artifacts" / name / version
    if not gdk_layout:
        _clear_previous(out_dir, name)
    files = _artifact_files(repo_root, component)
    zip_path = artifact_dir / component.zip_name
    with tempfile.TemporaryDirectory(prefix="edgewatch-assets-") as assets:
        files.update(_built_assets(component, Path(assets)))
        digest = write_reproducible_zip(zip_path, files)
    logger.info("  artifact %s (%d files)", zip_path, len(files))

    doc, unresolved = build_recipe_document(dict(source.raw), name, version, suite.author, {zip_path.name})
    if not any(component.zip_name in uri for uri in _artifact_uris(doc)):
        raise BuildError(
            f"{component.recipe_file}: no artifact URI names {component.zip_name}, the artifact this build makes"
            f" (use s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/{component.zip_name})"
        )
    for uri in unresolved:
        logger.warning("  %s: artifact %s is not built here; left as written", name, uri)
    text = dump_recipe_yaml(doc)
    recipe_name = component.recipe_file.name if gdk_layout else f"{name}-{version}.yaml"
    out_recipe = out_dir / "recipes" / recipe_name
    check_recipe_size(text, str(out_recipe))
    recipe_from_document(doc, str(out_recipe))  # the written recipe must itself be valid
    out_recipe.parent.mkdir(parents=True, exist_ok=True)
    out_recipe.write_text(text, encoding="utf-8")
    logger.info("  recipe %s", out_recipe)
    return BuiltComponent(name, version, component.directory, out_recipe, (zip_path,), digest)


def _artifact_uris(doc: dict[str, object]) -> list[str]:
    return [
        str(ci_get(artifact, "URI"))
        for manifest in ci_get(doc, "Manifests") or []
        for artifact in ci_get(manifest, "Artifacts") or []
    ]


def build_components(
    repo_root: Path, names: Sequence[str] | None = None, out_dir: Path | None = None
) -> list[BuiltComponent]:
    """Build the named components (component or folder names; all when None) of the suite.

    Output goes to `out_dir` (default `<repo_root>/greengrass-build`) in the suite layout.
    Raises BuildError or RecipeError with a message naming the file and the problem.
    """
    repo_root = Path(repo_root).resolve()
    suite = load_suite_config(repo_root)
    out_dir = Path(out_dir) if out_dir is not None else repo_root / BUILD_DIR
    components = _select(discover_components(repo_root), names)
    if not components:
        raise BuildError(f"{repo_root / COMPONENTS_DIR}: no component folders with a recipe")
    for problem in check_layout(repo_root, suite):
        logger.warning("%s", problem)
    return [build_one(repo_root, suite, c, out_dir) for c in components]


def build_gdk_component(component_dir: Path) -> BuiltComponent:
    """What GDK's custom build command runs: build one component into its ./greengrass-build."""
    component_dir = Path(component_dir).resolve()
    repo_root = find_repo_root(component_dir.parent)
    suite = load_suite_config(repo_root)
    match = [c for c in discover_components(repo_root) if c.directory.resolve() == component_dir]
    if not match:
        raise BuildError(f"{component_dir}: not a component folder of the suite at {repo_root}")
    component = match[0]
    # GDK created greengrass-build/artifacts/<name>/<version> from this folder's gdk-config.json;
    # a stale copy would put the zip where GDK does not look.
    if not config_in_sync(suite, component_dir, component.name):
        raise BuildError(
            f"{component_dir / GDK_CONFIG} is out of sync with {suite.path}; run `edgewatch build --sync-config`"
        )
    return build_one(repo_root, suite, component, component_dir / BUILD_DIR, gdk_layout=True)
