"""`edgewatch build` and `python -m edgewatch.build`: the parser and its handler.

Registering the parser imports only argparse and pathlib, so `edgewatch --help` does not load the
build (recipe schema, YAML, zip writer); the handler imports it when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)


def add_build_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Register `build` on an argparse subparsers object; the handler is `args.func(args)`."""
    parser = subparsers.add_parser(
        "build",
        help="build components into greengrass-build/ (offline `gdk component build`)",
        description="Build the suite's components in GDK's layout: greengrass-build/recipes/"
        "<Name>-<version>.yaml and greengrass-build/artifacts/<Name>/<version>/<dir>.zip.",
    )
    parser.add_argument(
        "components", nargs="*", metavar="COMPONENT", help="component or folder names (default all)"
    )
    parser.add_argument(
        "--repo-root", type=Path, help="suite folder (default: found above the current folder)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <repo-root>/greengrass-build)")
    parser.add_argument(
        "--sync-config", action="store_true", help="regenerate components/*/gdk-config.json, then build"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check symlinks and gdk-config.json sync; exit 1 on problems",
    )
    parser.add_argument("--gdk-component", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.set_defaults(func=run_build)
    return parser


def run_build(args: argparse.Namespace) -> int:
    """Handler of `edgewatch build`; returns the process exit code."""
    from edgewatch.build.errors import BuildError
    from edgewatch.build.suite import (
        build_components,
        build_gdk_component,
        check_layout,
        find_repo_root,
        sync_configs,
    )
    from edgewatch.recipe.errors import RecipeError

    try:
        if args.gdk_component is not None:
            build_gdk_component(args.gdk_component)
            return 0
        repo_root = args.repo_root.resolve() if args.repo_root else find_repo_root(Path.cwd())
        if args.check:
            problems = check_layout(repo_root)
            for problem in problems:
                logger.error("%s", problem)
            return 1 if problems else 0
        if args.sync_config:
            for path in sync_configs(repo_root):
                logger.info("updated %s", path)
        built = build_components(repo_root, args.components or None, args.out)
    except (BuildError, RecipeError) as exc:
        logger.error("build failed: %s", exc)
        return 1
    logger.info("built %d component(s): %s", len(built), ", ".join(f"{b.name}-{b.version}" for b in built))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edgewatch.build ...`, which GDK's custom build command runs."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="edgewatch")
    add_build_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["build", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result
