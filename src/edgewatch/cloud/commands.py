"""The bodies of `edgewatch publish | deploy | provision` (boto3 and the build load here, not in the parser).

Each `run_*` takes the parsed arguments and a `CloudDeps` and returns an exit code; AWS errors
become one line saying what to fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from edgewatch.build.errors import BuildError
from edgewatch.build.gdkconfig import load_suite_config
from edgewatch.build.suite import find_repo_root
from edgewatch.cli_args import parse_pairs
from edgewatch.cloud import deploy as deploy_mod
from edgewatch.cloud.aws import account_id, resolve_region
from edgewatch.cloud.deployment_doc import DEFAULT_DOCUMENT, DeploymentDocError, parse_override, target_kind
from edgewatch.cloud.deps import CloudDeps
from edgewatch.cloud.errors import CloudError, explain
from edgewatch.cloud.model import RequestShapeError
from edgewatch.cloud.progress import LineWriter
from edgewatch.cloud.provision import ProvisionRequest, provision
from edgewatch.cloud.publish import publish
from edgewatch.cloud.registry import parse_organisation
from edgewatch.cloud.rollout import wait_for_rollout
from edgewatch.recipe.errors import RecipeError

logger = logging.getLogger(__name__)


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


def guarded(action: Callable[[], int]) -> int:
    """Run `action`; an error the user can fix becomes one logged line and exit code 1."""
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


def run_publish(args: argparse.Namespace, deps: CloudDeps) -> int:
    def action() -> int:
        root = _repo_root(args)
        assert root is not None
        config_region, _ = _config_region_and_bucket(root)
        clients = deps.client_maker(args.profile, args.region, config_region)
        done = publish(
            clients,
            root,
            args.components or None,
            bucket_prefix=args.bucket,
            requested_version=args.version,
            out=sys.stderr,
            build=deps.build,
            sleep=deps.sleep,
            clock=deps.clock,
        )
        for item in done:
            sys.stdout.write(f"{item.name} {item.version} {item.arn}\n")
        return 0

    return guarded(action)


def run_deploy(args: argparse.Namespace, deps: CloudDeps) -> int:
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
        clients = deps.client_maker(args.profile, args.region, config_region)
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
            sleep=deps.sleep,
            clock=deps.clock,
        )
        if outcome.ok:
            sys.stdout.write(outcome.message + "\n")
            return 0
        logger.error("%s", outcome.message)
        return 1

    return guarded(action)


def run_provision(args: argparse.Namespace, deps: CloudDeps) -> int:
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
        organisation = parse_organisation(  # every registry option checked before any AWS call
            thing_group=args.thing_group,
            thing_type=None if args.no_thing_type else args.thing_type,
            searchable_attributes=args.searchable_attribute,
            attribute_pairs=args.attribute or [],
            parent_group=args.parent_group,
            billing_group=args.billing_group,
        )
        clients = deps.client_maker(args.profile, args.region, config_region)
        result = provision(
            clients,
            ProvisionRequest(
                thing_name=args.thing_name,
                organisation=organisation,
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

    return guarded(action)
