"""The `edgewatch` command: `local`, `build`, `publish`/`deploy`/`provision` and `fleet`.

Building the parser imports only each command family's parser module (argparse and light
constants). Each handler imports what it needs (the runtime, the IPC client, boto3, the build) when
its command runs, so `edgewatch --help` stays fast; tests/test_import_graph.py checks that.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from edgewatch import __version__

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from edgewatch.build.cli import add_build_parser
    from edgewatch.cloud.cli import add_cloud_parsers
    from edgewatch.cloud.stack_cli import add_stack_parser
    from edgewatch.fleet.cli import add_fleet_parser
    from edgewatch.local.commands import add_local_parser

    parser = argparse.ArgumentParser(prog="edgewatch", description="EdgeWatch: edge monitoring for AWS IoT Greengrass")
    parser.add_argument("--version", action="version", version=f"edgewatch {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_local_parser(subparsers)
    add_build_parser(subparsers)
    add_cloud_parsers(subparsers)
    add_fleet_parser(subparsers)
    add_stack_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from edgewatch.local.commands import CommandError

    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        sys.stderr.write(f"edgewatch: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
