"""`edgewatch fleet watch | index enable | group create`: argument parsing only.

The watch loop, its transports and boto3 load when a command runs. The AWS handlers take
`(args, deps=None)` like the cloud commands: `deps` (a `CloudDeps`) hands in the clients.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgewatch.cloud.defaults import STATUS_SHADOW
from edgewatch.cloud.deps import CloudDeps, default_deps, run_standalone
from edgewatch.fleet.model import DEFAULT_INTERVAL_S, SORT_KEYS
from edgewatch.fleet.transport import CLIENT_ID_PREFIX  # stdlib only at import time


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_fleet_parser(subparsers: Any) -> None:
    fleet = subparsers.add_parser("fleet", help="the fleet through AWS IoT Core: watch it live, index it, group it")
    commands = fleet.add_subparsers(dest="fleet_command", required=True)
    w = commands.add_parser(
        "watch", help="live table (or JSON lines) of every device's latest batch, alerts and staleness",
        description="Subscribe to dt/edgewatch/+/metrics and dt/edgewatch/+/alerts (and optionally presence events). "
        "Transport: mutual TLS when --cert/--key are given, else MQTT over WebSocket on 443 signed with SigV4 "
        "from the AWS credential chain (--profile).")
    w.add_argument("--endpoint", metavar="HOST[:PORT]",
                   help="IoT data endpoint (default: DescribeEndpoint iot:Data-ATS); port 8883 (mTLS) or 443 (wss)")
    w.add_argument("--cert", type=Path, help="client certificate (PEM): mutual TLS")
    w.add_argument("--key", type=Path, help="private key of --cert (PEM)")
    w.add_argument("--ca", type=Path, help="CA bundle to trust (default: the system's)")
    w.add_argument("--profile", help="AWS profile for SigV4 and DescribeEndpoint (default: the boto3 chain)")
    w.add_argument("--region", help="AWS region (default: the profile's)")
    w.add_argument("--no-sign", action="store_true",
                   help="WebSocket without SigV4 (only for brokers that do not check it, e.g. tests' Mosquitto)")
    w.add_argument("--client-id", default=None, help=f"MQTT client id (default {CLIENT_ID_PREFIX}<user>)")
    w.add_argument("--presence", action="store_true", help="also subscribe to $aws/events/presence/+/+")
    w.add_argument("--json", action="store_true", help="one JSON line per event on stdout instead of the table")
    w.add_argument("--sort", choices=SORT_KEYS, default="thing", help="table order (default thing; others descending)")
    w.add_argument("--group", metavar="GLOB", help="only things matching this shell pattern, e.g. 'plant-a-*'")
    w.add_argument("--stale", action="store_true", help="only devices that are STALE")
    w.add_argument("--interval", type=_positive, default=DEFAULT_INTERVAL_S,
                   help=f"publish interval assumed until two batches tell (default {DEFAULT_INTERVAL_S:g} s)")
    w.add_argument("--max-devices", type=int, default=10_000, help="devices kept; least recently seen evicted first")
    w.add_argument("--rows", type=int, default=50, help="table rows shown (default 50)")
    w.add_argument("--duration", type=_positive, help="stop after this many seconds (default: until Ctrl-C)")
    w.set_defaults(func=run_watch)

    index = commands.add_parser("index", help="fleet indexing (registry, status shadow, connectivity)")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    e = index_commands.add_parser(
        "enable",
        help=f"index the registry, the named shadow {STATUS_SHADOW!r} and connectivity (for dynamic groups)",
        description="UpdateIndexingConfiguration: thingIndexingMode REGISTRY_AND_SHADOW, "
        f"thingConnectivityIndexingMode STATUS, namedShadowIndexingMode ON with {STATUS_SHADOW!r} in the filter. "
        "What the account already indexes is kept; nothing is sent when all of it is on. Fleet indexing is "
        "billed per indexed update and per query (AWS IoT Device Management pricing).",
    )
    _aws_options(e)
    e.set_defaults(func=run_index_enable)

    group = commands.add_parser("group", help="dynamic thing groups")
    group_commands = group.add_subparsers(dest="group_command", required=True)
    g = group_commands.add_parser(
        "create",
        help="create a dynamic thing group from a fleet indexing query (a target for `edgewatch deploy`)",
        description="CreateDynamicThingGroup on the AWS_Things index. Running it again with the same query does "
        "nothing; another query needs --update. Needs `edgewatch fleet index enable` first.",
    )
    g.add_argument("name", metavar="NAME")
    g.add_argument("--query", required=True, help="fleet indexing query, e.g. 'connectivity.connected:false'")
    g.add_argument("--update", action="store_true", help="replace the query of an existing dynamic group")
    _aws_options(g)
    g.set_defaults(func=run_group_create)


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: boto3's chain)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / the profile's)")


def run_watch(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:  # deps unused: MQTT from args
    from edgewatch.fleet.watch import watch_from_args

    return watch_from_args(args)


def run_index_enable(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    from edgewatch.cloud.commands import guarded
    from edgewatch.fleet.indexing import enable_indexing

    given = deps or default_deps()

    def action() -> int:
        iot = given.client_maker(args.profile, args.region, None).client("iot")
        changed = enable_indexing(iot)
        state = "enabled (the index rebuilds: queries and dynamic groups fill in over the next minutes)"
        sys.stdout.write(f"fleet indexing {state if changed else 'already enabled'}: registry and shadow, "
                         f"named shadow {STATUS_SHADOW}, connectivity\n")
        return 0

    return guarded(action)


def run_group_create(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    from edgewatch.cloud.commands import guarded
    from edgewatch.fleet.indexing import create_dynamic_group

    given = deps or default_deps()

    def action() -> int:
        iot = given.client_maker(args.profile, args.region, None).client("iot")
        outcome = create_dynamic_group(iot, args.name, args.query, update=args.update)
        sys.stdout.write(f"{outcome.action} {outcome.name} {outcome.arn}\n")
        return 0

    return guarded(action)


def main(argv: list[str] | None = None, deps: CloudDeps | None = None) -> int:
    """Standalone entry (`python -m edgewatch.fleet.cli ...`); tests pass `deps`."""
    return run_standalone(add_fleet_parser, argv, deps)


if __name__ == "__main__":
    sys.exit(main())
