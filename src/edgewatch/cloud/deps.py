"""What the cloud commands take from the outside world: AWS clients, sleeping, the clock, the builder.

The CLI handlers receive a `CloudDeps`; `default_deps()` gives the real ones (boto3, `time`). Tests
pass moto-backed clients and an injected clock instead of patching module globals.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # boto3 loads only when a command runs, never to build the parser
    from edgewatch.cloud.aws import ClientFactory

# (profile, region, fallback region from gdk-config) -> clients
ClientMaker = Callable[[str | None, str | None, str | None], "ClientFactory"]


def _real_clients(profile: str | None, region: str | None, fallback: str | None) -> ClientFactory:
    from edgewatch.cloud.aws import make_clients

    return make_clients(profile, region, fallback)


@dataclass(frozen=True)
class CloudDeps:
    client_maker: ClientMaker = _real_clients
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    # `edgewatch publish`'s builder (repo_root, names) -> built components; None: edgewatch.build's.
    build: Callable[..., list[Any]] | None = None


def default_deps() -> CloudDeps:
    return CloudDeps()


def run_standalone(add_parsers: Callable[[Any], None], argv: list[str] | None, deps: CloudDeps | None) -> int:
    """`python -m edgewatch.cloud.cli ...` and `python -m edgewatch.fleet.cli ...`: parse with the
    family's parsers and run the handler with `deps` (tests pass moto-backed ones)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="edgewatch")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args, deps)
    return result
