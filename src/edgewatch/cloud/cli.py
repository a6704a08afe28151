"""CLI wiring of `edgewatch publish | deploy | provision` (the one place that builds real clients).

`add_cloud_parsers(subparsers)` registers the three commands; each handler returns an exit code
and turns AWS errors into one line saying what to fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from edgewatch.build import find_repo_root
from edgewatch.buildtools.errors import BuildError
from edgewatch.buildtools.gdkconfig import load_suite_config
from edgewatch.cli_args import parse_pairs
from edgewatch.cloud import deploy as deploy_mod
from edgewatch.cloud import policies
from edgewatch.cloud.aws import ClientFactory, account_id, make_clients, resolve_region
from edgewatch.cloud.deployment_doc import DEFAULT_DOCUMENT, DeploymentDocError, parse_override, target_kind
from edgewatch.cloud.errors import CloudError, explain
from edgewatch.cloud.model import RequestShapeError
from edgewatch.cloud.nucleus_config import DEFAULT_NUCLEUS_VERSION, DEFAULT_ROOT
from edgewatch.cloud.progress import LineWriter
from edgewatch.cloud.provision import ProvisionRequest, provision
from edgewatch.cloud.publish import publish
from edgewatch.cloud.rollout import wait_for_rollout
from edgewatch.recipe.errors import RecipeError

logger = logging.getLogger(__name__)

# Tests replace this to hand in moto-backed or model-validating clients.
ClientMaker = Callable[[str | None, str | None, str | None], ClientFactory]
client_maker: ClientMaker = make_clients
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic
EXIT_USAGE = 2


def _repo_root(args: argparse.Namespace, required: bool = True) -> Path | None:
    if args.repo_root:
        return Path(args.repo_root).resolve()
    try:
        return find_repo_root(Path.cwd())
    except BuildError:
        if required:
            raise
        return None


def _config_region_and_bucket(root: Path | None) -> tuple[str | None, str | None]:
    if root is None or not (root / "gdk-config.json").is_file():
        return None, None
    publish_cfg = load_suite_config(root).publish
    return publish_cfg.get("region"), publish_cfg.get("bucket")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: boto3's chain: AWS_PROFILE, env keys, SSO...)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile, then gdk-config publish.region)")
    parser.add_argument("--repo-root", type=Path, help="suite folder (default: found above the current folder)")


def _run(action: Callable[[], int]) -> int:
    try:
        return action()
    except (CloudError, DeploymentDocError, RequestShapeError, BuildError, RecipeError) as exc:
        logger.error("%s", exc)
        return 1
    except (ClientError, BotoCoreError) as exc:
        logger.error("%s", explain(exc))
        return 1


def _parse_pins(pins: list[str]) -> dict[str, str]:
    return parse_pairs(pins, "--component-version", "NAME=VERSION", CloudError)


def run_publish(args: argparse.Namespace) -> int:
    def action() -> int:
        root = _repo_root(args)
        assert root is not None
        config_region, _ = _config_region_and_bucket(root)
        clients = client_maker(args.profile, args.region, config_region)
        done = publish(
            clients,
            root,
            args.components or None,
            bucket_prefix=args.bucket,
            requested_version=args.version,
            out=sys.stderr,
            sleep=sleep,
            clock=clock,
        )
        for item in done:
            sys.stdout.write(f"{item.name} {item.version} {item.arn}\n")
        return 0

    return _run(action)


def run_deploy(args: argparse.Namespace) -> int:
    def action() -> int:
        root = _repo_root(args, required=False)
        config_region, _ = _config_region_and_bucket(root)
        document = args.deployment or (root / DEFAULT_DOCUMENT if root else DEFAULT_DOCUMENT)
        overrides = [parse_override(s) for s in args.set or []]
        pins = _parse_pins(args.component_version or [])
        if args.dry_run:
            # Nothing is called: region comes from local configuration, the account must be given.
            region = resolve_region(args.region, boto3.Session(profile_name=args.profile).region_name, config_region)
            if not args.account_id:
                raise CloudError("--dry-run calls nothing, so it needs --account-id ACCOUNT")
            params = deploy_mod.plan(
                document,
                region=region,
                account=args.account_id,
                thing_group=args.thing_group,
                thing_name=args.thing_name,
                versions_by_name=pins,
                overrides=overrides,
            )
            sys.stdout.write(json.dumps(deploy_mod.dry_run_requests(params), indent=2) + "\n")
            return 0
        clients = client_maker(args.profile, args.region, config_region)
        account = args.account_id or account_id(clients)
        template = deploy_mod.load_document(document)
        deploy_mod.plan(  # fail on a missing placeholder before any version lookup
            document,
            region=clients.region,
            account=account,
            thing_group=args.thing_group,
            thing_name=args.thing_name,
            versions_by_name={},
            overrides=overrides,
        )
        names = [n for n in (template.get("components") or {}) if n not in pins]
        found = deploy_mod.latest_published(clients, account, names)
        params = deploy_mod.plan(
            document,
            region=clients.region,
            account=account,
            thing_group=args.thing_group,
            thing_name=args.thing_name,
            versions_by_name={**found, **pins},
            overrides=overrides,
        )
        deployment_id = deploy_mod.create_deployment(clients, params)
        sys.stdout.write(f"{deployment_id}\n")
        if not args.wait:
            return 0
        kind, name = target_kind(params["targetArn"])
        outcome = wait_for_rollout(
            clients,
            deployment_id,
            kind,
            name,
            LineWriter(sys.stderr),
            poll_interval=args.poll_interval,
            timeout=args.wait_timeout,
            sleep=sleep,
            clock=clock,
        )
        if outcome.ok:
            sys.stdout.write(outcome.message + "\n")
            return 0
        logger.error("%s", outcome.message)
        return 1

    return _run(action)


def run_provision(args: argparse.Namespace) -> int:
    def action() -> int:
        root = _repo_root(args, required=False)
        config_region, config_bucket = _config_region_and_bucket(root)
        prefix = args.bucket or config_bucket
        if not prefix:
            raise CloudError("no artifact bucket prefix: pass --bucket PREFIX (the one `edgewatch publish` uses)")
        csr = None
        if args.csr:
            try:
                csr = Path(args.csr).read_text(encoding="utf-8")
            except OSError as exc:
                raise CloudError(f"--csr {args.csr}: cannot read: {exc.strerror or exc}") from exc
        clients = client_maker(args.profile, args.region, config_region)
        result = provision(
            clients,
            ProvisionRequest(
                thing_name=args.thing_name,
                thing_group=args.thing_group,
                bucket_prefix=prefix,
                out_dir=Path(args.out),
                csr=csr,
                iot_data_endpoint=args.iot_data_endpoint,
                iot_cred_endpoint=args.iot_cred_endpoint,
                source_vpce=args.source_vpce,
                port_443=args.port_443,
                policy_name=args.policy_name,
                role_name=args.role_name,
                role_alias=args.role_alias,
                root=args.greengrass_root,
                nucleus_version=args.nucleus_version,
            ),
        )
        for path in result.files:
            logger.info("wrote %s", path)
        sys.stdout.write(result.config_yaml)
        return 0

    return _run(action)


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
        "--thing-group", help="target thing group, created if missing (needed by documents using {{THING_GROUP}})"
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
        description="Create the thing, its certificate (from --csr when given), the shared least-privilege IoT "
        "policy, the token exchange role and role alias; add the thing to the group; write the certificate "
        "(and key) with mode 0600; print config.yaml.",
    )
    v.add_argument("--thing-name", required=True)
    v.add_argument("--thing-group", required=True)
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


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m edgewatch.cloud.cli ...`) until edgewatch.cli wires these in."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="edgewatch")
    add_cloud_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
