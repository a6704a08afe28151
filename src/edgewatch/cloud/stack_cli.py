"""`edgewatch cloud deploy | delete`: the serverless cloud side's stack (argument parsing; stdlib imports only).

`add_stack_parser(subparsers)` registers `cloud` with `deploy` and `delete`. The handlers load boto3
and `edgewatch.cloud.stack` only when they run; they take `(args, deps=None)` like the other cloud
commands (`deps`: a CloudDeps with clients, sleep and clock).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgewatch.cloud.deps import CloudDeps

logger = logging.getLogger(__name__)

DEFAULT_STACK = "edgewatch"


def add_stack_parser(subparsers: Any) -> None:
    cloud = subparsers.add_parser(
        "cloud",
        help="the serverless cloud side: one CloudFormation stack (IoT rules, Lambdas, Firehose to S3)",
        description="Deploy or tear down deployment/cloud/edgewatch.yaml (README: Production: serverless cloud side).",
    )
    sub = cloud.add_subparsers(dest="cloud_command", required=True)
    d = sub.add_parser(
        "deploy",
        help="package the Lambdas, upload them and create or update the stack (change set, progress)",
        description="Zip the Lambda code (with the AlertRouter's Block Kit renderer), upload it to the code bucket "
        "under its content hash, and create or update the stack through a change set, printing each event. "
        "Parameters not given keep their current value on an update.",
    )
    d.add_argument("--stack", default=DEFAULT_STACK, help=f"stack name (default {DEFAULT_STACK})")
    d.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                   help="template parameter, e.g. SlackSecretArn=arn:...; repeatable")  # fmt: skip
    d.add_argument("--template", type=Path, help="template file (default deployment/cloud/edgewatch.yaml)")
    d.add_argument("--code-bucket", metavar="BUCKET",
                   help="existing bucket for the Lambda zip (default: gdk-config publish bucket "
                        "<prefix>-<region>-<account>, created and hardened if missing)")  # fmt: skip
    d.add_argument("--dry-run", action="store_true", help="print the template and the parameters; call nothing")
    d.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after seconds (default 3600)")
    d.add_argument("--poll-interval", type=float, default=5.0, help="seconds between event polls (default 5)")
    _common(d)
    d.set_defaults(func=run_stack_deploy)

    x = sub.add_parser("delete", help="tear the stack down (the metrics bucket is retained)",
                       description="Delete the stack and follow its events; the metrics bucket stays (DeletionPolicy "
                                   "Retain) and is named so you can empty and delete it.")  # fmt: skip
    x.add_argument("--stack", default=DEFAULT_STACK, help=f"stack name (default {DEFAULT_STACK})")
    x.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after seconds (default 3600)")
    x.add_argument("--poll-interval", type=float, default=5.0, help="seconds between event polls (default 5)")
    _common(x)
    x.set_defaults(func=run_stack_delete)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: boto3's chain)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / profile, then gdk-config publish.region)")
    parser.add_argument("--repo-root", type=Path, help="suite folder (default: found above the current folder)")


def _root(args: argparse.Namespace) -> Path:
    from edgewatch.build.suite import find_repo_root

    return Path(args.repo_root).resolve() if args.repo_root else find_repo_root(Path.cwd())


def _publish_settings(root: Path) -> dict[str, Any]:
    from edgewatch.build.gdkconfig import load_suite_config

    return dict(load_suite_config(root).publish) if (root / "gdk-config.json").is_file() else {}


def _guarded(action: Any) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from edgewatch.build.errors import BuildError
    from edgewatch.cloud.errors import CloudError, explain

    try:
        return int(action())
    except (CloudError, BuildError) as exc:
        logger.error("%s", exc)
        return 1
    except (ClientError, BotoCoreError) as exc:
        logger.error("%s", explain(exc))
        return 1


def run_stack_deploy(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    def action() -> int:
        from edgewatch.cli_args import parse_pairs
        from edgewatch.cloud import stack
        from edgewatch.cloud.deps import default_deps

        d = deps or default_deps()
        root = _root(args)
        path = args.template or root / stack.TEMPLATE_PATH
        body = Path(path).read_text(encoding="utf-8")
        template = stack.load_template(body, str(path))
        given = stack.merge_parameters(template, parse_pairs(args.parameter, "--parameter", "KEY=VALUE",
                                                             stack.StackError))  # fmt: skip
        code = stack.package_lambdas(root)
        publish = _publish_settings(root)
        if args.dry_run:
            bucket = args.code_bucket or f"{publish.get('bucket', 'edgewatch-components')}-<region>-<account>"
            params = {"LambdaCodeBucket": bucket, "LambdaCodeKey": stack.code_key(code), **given}
            sys.stdout.write(body if body.endswith("\n") else body + "\n")
            sys.stdout.write("# parameters\n" + json.dumps(
                [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())], indent=2) + "\n")
            missing = stack.missing_required(template, params)
            if missing:
                sys.stdout.write(f"# a first deployment also needs: {', '.join(missing)}\n")
            return 0
        clients = d.client_maker(args.profile, args.region, publish.get("region"))
        bucket = args.code_bucket
        if bucket is None:
            from edgewatch.cloud.aws import account_id
            from edgewatch.cloud.publish import ensure_bucket
            from edgewatch.cloud.recipes import bucket_name

            bucket = bucket_name(str(publish.get("bucket", "edgewatch-components")), clients.region,
                                 account_id(clients))  # fmt: skip
            ensure_bucket(clients, bucket, clients.region)
        key = stack.upload_code(clients.client("s3"), bucket, code)
        sys.stdout.write(f"Lambda code s3://{bucket}/{key} ({len(code)} bytes)\n")
        params = {"LambdaCodeBucket": bucket, "LambdaCodeKey": key, **given}
        deployer = stack.StackDeployer(clients.client("cloudformation"), sys.stdout, d.sleep, d.clock,
                                       poll_seconds=args.poll_interval, timeout=args.timeout)  # fmt: skip
        deployer.deploy(args.stack, body, params, template)
        return 0

    return _guarded(action)


def run_stack_delete(args: argparse.Namespace, deps: CloudDeps | None = None) -> int:
    def action() -> int:
        from edgewatch.build.errors import BuildError
        from edgewatch.cloud import stack
        from edgewatch.cloud.deps import default_deps

        d = deps or default_deps()
        fallback = None
        try:
            fallback = _publish_settings(_root(args)).get("region")
        except BuildError:  # outside the repository: the region comes from --region or the profile
            logger.debug("no suite folder found; no fallback region")
        clients = d.client_maker(args.profile, args.region, fallback)
        deployer = stack.StackDeployer(clients.client("cloudformation"), sys.stdout, d.sleep, d.clock,
                                       poll_seconds=args.poll_interval, timeout=args.timeout)  # fmt: skip
        deployer.delete(args.stack)
        return 0

    return _guarded(action)
