"""`edgewatch publish | deploy | provision`: argument parsing only (stdlib imports).

`add_cloud_parsers(subparsers)` registers the three commands. Each handler loads
`edgewatch.cloud.commands` (boto3, the build) only when it runs, so `edgewatch --help` stays fast.
Handlers take `(args, deps=None)`: `deps` (a `CloudDeps`) hands in clients, sleep and clock; None
means the real ones.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from edgewatch.cloud import policies
from edgewatch.cloud.defaults import (
    DEFAULT_DOCUMENT,
    DEFAULT_NUCLEUS_VERSION,
    DEFAULT_ROOT,
    DEFAULT_SEARCHABLE_ATTRIBUTES,
    DEFAULT_THING_TYPE,
)
from edgewatch.cloud.deps import CloudDeps, default_deps, run_standalone

logger = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: boto3's chain: AWS_PROFILE, env keys, SSO...)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile, then gdk-config publish.region)")
    parser.add_argument("--repo-root", type=Path, help="suite folder (default: found above the current folder)")


def run_publish(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    from edgewatch.cloud import commands

    return commands.run_publish(args, deps or default_deps())


def run_deploy(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    from edgewatch.cloud import commands

    return commands.run_deploy(args, deps or default_deps())


def run_provision(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    from edgewatch.cloud import commands

    return commands.run_provision(args, deps or default_deps())


def add_cloud_parsers(subparsers: Any) -> None:
    """Register `publish`, `deploy` and `provision`; each sets `func` (args -> exit code)."""
    p = subparsers.add_parser(
        "publish",
        help="upload artifacts and create component versions (like `gdk component publish`)",
        description="Build, upload artifacts to s3://<prefix>-<region>-<account>/<name>/<version>/ and create "
        "the component versions; waits until each is DEPLOYABLE.",
    )
    p.add_argument("components", nargs="*", metavar="COMPONENT", help="component or folder names (default all)")
    p.add_argument("--bucket", metavar="PREFIX", help="bucket prefix (default: gdk-config publish.bucket)")
    p.add_argument("--version", help="X.Y.Z or NEXT_PATCH (default: gdk-config version)")
    _common(p)
    p.set_defaults(func=run_publish)

    d = subparsers.add_parser(
        "deploy",
        help="deploy the suite to a thing group",
        description="Render a deployment document from deployment/deployments/ with the last published component "
        "versions and create the deployment (creating the thing group if missing).",
    )
    d.add_argument(
        "--thing-group",
        help="target thing group, static or dynamic; created (static) if missing "
        "(needed by documents using {{THING_GROUP}})",
    )
    d.add_argument("--thing-name", help="value of {{THING_NAME}} (deployment/deployments/dev-thing.json)")
    d.add_argument("--deployment", type=Path, metavar="FILE", help=f"deployment document (default {DEFAULT_DOCUMENT})")
    d.add_argument(
        "--set",
        action="append",
        metavar="COMPONENT:/json/pointer=VALUE",
        help="configuration merge override (VALUE is JSON, else a string); repeatable",
    )
    d.add_argument(
        "--component-version", action="append", metavar="NAME=VERSION", help="pin a version instead of the latest"
    )
    d.add_argument("--wait", action="store_true", help="follow the rollout until it succeeds, fails or is cancelled")
    d.add_argument("--dry-run", action="store_true", help="print the API requests as JSON; call nothing")
    d.add_argument("--account-id", help="AWS account (needed by --dry-run; default: from STS)")
    d.add_argument("--poll-interval", type=float, default=10.0, help="seconds between --wait polls (default 10)")
    d.add_argument("--wait-timeout", type=float, default=4 * 3600.0, help="give up waiting after seconds (4 h)")
    _common(d)
    d.set_defaults(func=run_deploy)

    v = subparsers.add_parser(
        "provision",
        help="create a Greengrass core device identity and print its nucleus config.yaml",
        description="Create the thing (thing type, attributes), its certificate (from --csr when given), the "
        "shared least-privilege IoT policy, the token exchange role and role alias; add the thing to its static "
        "group (nested under --parent-group) and billing group; write the certificate (and key) with mode 0600; "
        "print config.yaml. What exists is reused, so running it again is safe.",
    )
    v.add_argument("--thing-name", required=True)
    v.add_argument("--thing-group", required=True, help="static thing group of the device, created if missing")
    v.add_argument(
        "--parent-group",
        metavar="GROUP[/GROUP...]",
        help="nest --thing-group under these static groups, outermost first (e.g. eu/plant-a); created if missing",
    )
    v.add_argument(
        "--thing-type",
        default=DEFAULT_THING_TYPE,
        help=f"thing type, created if missing (default {DEFAULT_THING_TYPE})",
    )
    v.add_argument("--no-thing-type", action="store_true", help="a thing without a type (at most 3 attributes)")
    v.add_argument(
        "--searchable-attribute",
        action="append",
        metavar="NAME",
        help="searchable attributes of a thing type this creates, at most 3 "
        f"(default {', '.join(DEFAULT_SEARCHABLE_ATTRIBUTES)})",
    )
    v.add_argument(
        "--attribute", action="append", metavar="KEY=VALUE", help="thing attribute, e.g. site=plant-a; repeatable"
    )
    v.add_argument("--billing-group", metavar="NAME", help="billing group of the thing, created if missing")
    v.add_argument("--csr", metavar="FILE", help="PEM certificate signing request made on the device")
    v.add_argument(
        "--out", default="greengrass-device", metavar="DIR", help="where files go (default ./greengrass-device)"
    )
    v.add_argument("--bucket", metavar="PREFIX", help="artifact bucket prefix (default: gdk-config publish.bucket)")
    v.add_argument("--iot-data-endpoint", help="IoT data endpoint to use, e.g. a VPC interface endpoint DNS name")
    v.add_argument("--iot-cred-endpoint", help="credentials endpoint to use (default: describe_endpoint)")
    v.add_argument("--source-vpce", metavar="VPCE_ID", help="only allow connecting through this VPC endpoint")
    v.add_argument("--port-443", action="store_true", help="MQTT and Greengrass data plane on port 443")
    v.add_argument("--policy-name", default=policies.DEFAULT_POLICY_NAME)
    v.add_argument("--role-name", default=policies.DEFAULT_ROLE_NAME)
    v.add_argument("--role-alias", default=policies.DEFAULT_ROLE_ALIAS)
    v.add_argument("--greengrass-root", default=DEFAULT_ROOT, help=f"nucleus root on the device ({DEFAULT_ROOT})")
    v.add_argument("--nucleus-version", default=DEFAULT_NUCLEUS_VERSION, help="nucleus version you install")
    _common(v)
    v.set_defaults(func=run_provision)


def main(argv: list[str] | None = None, deps: CloudDeps | None = None) -> int:
    """Standalone entry (`python -m edgewatch.cloud.cli ...`); tests pass `deps`."""
    return run_standalone(add_cloud_parsers, argv, deps)


if __name__ == "__main__":
    sys.exit(main())
