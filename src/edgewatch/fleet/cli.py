"""`edgewatch fleet watch`: argument parsing only; the watch loop and its transports load when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgewatch.fleet.model import DEFAULT_INTERVAL_S, SORT_KEYS
from edgewatch.fleet.transport import CLIENT_ID_PREFIX  # stdlib only at import time


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_fleet_parser(subparsers: Any) -> None:
    fleet = subparsers.add_parser("fleet", help="watch every device of the fleet through AWS IoT Core")
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


def run_watch(args: argparse.Namespace) -> int:
    from edgewatch.fleet.watch import watch_from_args

    return watch_from_args(args)
