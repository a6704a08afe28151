"""`edgewatch local ...`: the greengrass-cli habits on the local runtime."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgewatch.cli_args import parse_pairs
from edgewatch.config_tree import MAX_DEPTH, depth_problem
from edgewatch.local.command_support import (
    CommandError,
    build_runtime,
    default_thing_name,
    layout_of,
    out,
    setup_runtime_logging,
)
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.runtime_info import running_pid

__all__ = ["CommandError", "add_local_parser"]

log = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED")
MAX_UPDATE_CONFIG_BYTES = 1024 * 1024  # far above any real configuration; the IPC frame limit is 24 MiB


def add_local_parser(subparsers: Any) -> None:
    local = subparsers.add_parser("local", help="run components on the local Greengrass runtime")
    commands = local.add_subparsers(dest="local_command", required=True)

    def with_root(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--root", type=Path, default=None,
                            help="runtime root (default: $EDGEWATCH_ROOT, else a per-user state folder)")
        return parser

    start = with_root(commands.add_parser("start", help="start the runtime"))
    add_runtime_options(start)
    start.add_argument("--detach", action="store_true", help="run in the background and return once ready")
    start.set_defaults(func=cmd_start)

    stop = with_root(commands.add_parser("stop", help="stop the runtime and every component"))
    stop.add_argument("--timeout", type=float, default=120.0)
    stop.set_defaults(func=cmd_stop)

    deployment = commands.add_parser("deployment", help="create and inspect local deployments")
    dep_commands = deployment.add_subparsers(dest="deployment_command", required=True)
    create = with_root(dep_commands.add_parser("create", help="deploy components from recipes and artifacts"))
    create.add_argument("--recipeDir", "-r", dest="recipe_dir", type=Path)
    create.add_argument("--artifactDir", "-a", dest="artifact_dir", type=Path)
    create.add_argument("--merge", "-m", action="append", default=[], metavar="NAME=VERSION")
    create.add_argument("--remove", action="append", default=[], metavar="NAME")
    create.add_argument("--update-config", "-c", dest="update_config", metavar="JSON|@FILE")
    create.add_argument("--update-policy", dest="update_policy",
                        choices=("NOTIFY_COMPONENTS", "SKIP_NOTIFY_COMPONENTS"),
                        help="componentUpdatePolicy action (default NOTIFY_COMPONENTS: subscribers may defer)")
    create.add_argument("--update-timeout", dest="update_timeout", type=float, metavar="SECONDS",
                        help="componentUpdatePolicy timeoutInSeconds (default 60)")
    create.add_argument("--wait", action="store_true",
                        help="wait for the result, then print each component's state; exit non-zero on failure")
    create.add_argument("--until-stable", dest="until_stable", type=float, metavar="SECONDS",
                        help="with --wait (implied): after SUCCEEDED, watch the components that long; exit 1 if "
                             "one goes ERRORED or BROKEN")
    create.add_argument("--strict-recipes", dest="strict_recipes", action="store_true", default=None,
                        help="an unresolvable recipe variable fails this deployment (default: the runtime's mode)")
    create.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits at most")
    create.set_defaults(func=cmd_deployment_create)
    status = with_root(dep_commands.add_parser("status", help="status of a deployment (default: the latest)"))
    status.add_argument("deployment_id", nargs="?")
    status.set_defaults(func=cmd_deployment_status)
    listing = with_root(dep_commands.add_parser("list", help="list local deployments"))
    listing.set_defaults(func=cmd_deployment_list)

    component = commands.add_parser("component", help="list, restart or stop components")
    comp_commands = component.add_subparsers(dest="component_command", required=True)
    with_root(comp_commands.add_parser("list")).set_defaults(func=cmd_component_list)
    for action in ("restart", "stop"):
        parser = with_root(comp_commands.add_parser(action))
        parser.add_argument("name")
        parser.set_defaults(func=cmd_component_action, action=action)

    logs = with_root(commands.add_parser("logs", help="show a component's log (or 'runtime')"))
    logs.add_argument("name")
    logs.add_argument("--follow", "-f", action="store_true")
    logs.add_argument("--lines", "-n", type=int, default=200)
    logs.set_defaults(func=cmd_logs)

    up = with_root(commands.add_parser("up", help="build the suite, run it on the local runtime, Ctrl-C stops"))
    add_runtime_options(up)
    up.add_argument("--dev-python", action="store_true",
                    help="components use this tool's Python and packages instead of installing their own venv")
    up.add_argument("--repo-root", type=Path, default=None)
    up.add_argument("--exit-after-deploy", action="store_true", help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--thing-name", default=None, help="the IoT thing name (default: the host name)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    parser.add_argument("--secrets-file", type=Path, help="local secret store (JSON, mode 0600)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for every component")
    parser.add_argument("--validation-timeout", type=float, default=60.0,
                        help="seconds a component may take to validate a configuration change")
    parser.add_argument("--strict-recipes", dest="strict_recipes", action="store_true",
                        help="fail a deployment on an unresolvable recipe variable instead of leaving it as written "
                             "with a WARNING, as the nucleus does (CI uses this for our own components)")
    parser.add_argument("--component-default-user", dest="component_default_user", metavar="USER",
                        help="run lifecycle steps as USER unless RequiresPrivilege (only when running as root)")
    parser.add_argument("--connect-timeout", type=float, default=10.0,
                        help="seconds an IPC client has to authenticate before it is disconnected")
    bridge = parser.add_argument_group("IoT Core bridge (default: an embedded loopback)")
    bridge.add_argument("--mqtt-endpoint", metavar="HOST[:PORT]",
                        help="send IoT Core traffic to this MQTT broker over mutual TLS (AWS IoT Core, Mosquitto)")
    bridge.add_argument("--mqtt-cert", type=Path, help="client certificate (PEM)")
    bridge.add_argument("--mqtt-key", type=Path, help="client private key (PEM)")
    bridge.add_argument("--mqtt-ca", type=Path, help="CA certificate(s) to trust (PEM)")


# -- runtime lifetime
def cmd_start(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    if running_pid(layout) is not None:
        raise CommandError(f"a runtime already runs under {layout.root} (pid {running_pid(layout)})")
    if args.detach:
        return _start_detached(args, layout)
    from edgewatch.local import event_loop
    from edgewatch.local.runtime_main import serve

    setup_runtime_logging(layout, verbose=True)
    runtime = build_runtime(args)
    out(f"EdgeWatch local runtime under {layout.root}, thing {runtime.thing_name}; Ctrl-C stops it")
    event_loop.run(serve(runtime))
    return 0


def _start_detached(args: argparse.Namespace, layout: RuntimeLayout) -> int:
    command = [sys.executable, "-m", "edgewatch.cli", "local", "start", "--root", str(layout.root),
               "--thing-name", args.thing_name or default_thing_name(), "--region", args.region,
               "--validation-timeout", str(args.validation_timeout), "--connect-timeout", str(args.connect_timeout)]
    if args.secrets_file:
        command += ["--secrets-file", str(args.secrets_file)]
    for pair in args.env:
        command += ["--env", pair]
    if args.strict_recipes:
        command.append("--strict-recipes")
    if args.component_default_user:
        command += ["--component-default-user", args.component_default_user]
    for option in ("mqtt_endpoint", "mqtt_cert", "mqtt_key", "mqtt_ca"):
        if getattr(args, option):
            command += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    from edgewatch.local.state_files import private_dir

    private_dir(layout.root)
    private_dir(layout.logs())
    out_path = layout.logs() / "runtime.out"
    with os.fdopen(os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as output:
        os.chmod(out_path, 0o600)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                   start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the runtime exited with code {process.returncode}; see {layout.logs()}")
        if running_pid(layout) == process.pid and layout.cli_token_file().exists():
            out(f"runtime started (pid {process.pid}) under {layout.root}")
            out(f"  logs: {layout.logs()}")
            return 0
        time.sleep(0.1)
    process.terminate()
    raise CommandError("the runtime did not become ready within 60 s")


def cmd_stop(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    pid = running_pid(layout)
    if pid is None:
        out(f"no runtime runs under {layout.root}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            out(f"runtime (pid {pid}) stopped")
            return 0
        time.sleep(0.1)
    raise CommandError(f"the runtime (pid {pid}) did not stop within {args.timeout:g} s")


# -- talking to a running runtime over IPC, as greengrass-cli does
@contextlib.contextmanager
def cli_client(layout: RuntimeLayout) -> Iterator[Any]:
    from edgewatch.local.client import connect_client

    if running_pid(layout) is None or not layout.cli_token_file().exists():
        raise CommandError(f"no runtime runs under {layout.root}; start one with "
                           f"`edgewatch local start --root {layout.root}`")
    info = json.loads(layout.runtime_file().read_text())
    client = connect_client(info["socketPath"], layout.cli_token_file().read_text().strip())
    try:
        yield client
    finally:
        client.close()


def parse_update_config(value: str | None) -> dict[str, Any]:
    """The `--update-config` document, bounded in size and depth; any problem is one CommandError line."""
    if not value:
        return {}
    if value.startswith("@"):
        try:
            with open(value[1:], "rb") as handle:
                raw = handle.read(MAX_UPDATE_CONFIG_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"--update-config: cannot read {value[1:]}: {exc.strerror or exc}") from None
    else:
        raw = value.encode()
    if len(raw) > MAX_UPDATE_CONFIG_BYTES:
        raise CommandError(f"--update-config is larger than {MAX_UPDATE_CONFIG_BYTES} bytes")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandError(f"--update-config is not valid JSON: {exc}") from None
    except RecursionError:
        raise CommandError("--update-config is nested too deeply") from None
    if not isinstance(document, dict):
        raise CommandError('--update-config must be an object: {"Name": {"MERGE": {...}, "RESET": [...]}}')
    # Name/MERGE/<config>: the configuration itself may be nested MAX_DEPTH deep.
    too_deep = depth_problem(document, limit=MAX_DEPTH + 2)
    if too_deep:
        raise CommandError(f"--update-config is {too_deep}")
    return document


def parse_merges(pairs: list[str]) -> dict[str, str]:
    return parse_pairs(pairs, "--merge", "NAME=VERSION", CommandError)


def cmd_deployment_create(args: argparse.Namespace) -> int:
    from awsiot.greengrasscoreipc.model import InvalidArgumentsError

    layout = layout_of(args)
    merges = parse_merges(args.merge)
    updates = parse_update_config(args.update_config)
    if not merges and not args.remove and not updates:
        raise CommandError("nothing to deploy: give --merge, --remove or --update-config")
    from edgewatch.local.component_updates import UpdatePolicy, create_local_deployment

    update_policy = None
    if args.update_policy is not None or args.update_timeout is not None:
        try:
            update_policy = UpdatePolicy.parse(args.update_policy, args.update_timeout)
        except ValueError as exc:
            raise CommandError(str(exc).replace("componentUpdatePolicy.timeoutInSeconds", "--update-timeout")) from None
    with cli_client(layout) as client:
        try:
            response = create_local_deployment(
                client, update_policy,
                extra_payload={"strictRecipes": True} if args.strict_recipes else None,
                root_component_versions_to_add=merges, root_components_to_remove=args.remove,
                component_to_configuration=updates,
                recipe_directory_path=str(args.recipe_dir.resolve()) if args.recipe_dir else None,
                artifacts_directory_path=str(args.artifact_dir.resolve()) if args.artifact_dir else None)
        except InvalidArgumentsError as exc:
            raise CommandError(exc.message) from None
        deployment_id = response.deployment_id
        out(f"Local deployment submitted! Deployment Id: {deployment_id}")
        if not args.wait and args.until_stable is None:
            return 0
        code = _wait_for(client, deployment_id, args.timeout)
        states = _print_states(client)
        if code != 0 or args.until_stable is None:
            return code
        return _until_stable(client, args.until_stable, states)


BREAKING = ("ERRORED", "BROKEN")


def _print_states(client: Any) -> dict[str, str]:
    """A deployment SUCCEEDS when its components start; say where each one is right now."""
    states = {}
    for component in client.list_components().components or []:
        states[component.component_name] = component.state
        out(f"  {component.component_name} {component.version}: {component.state}")
    return states


def _until_stable(client: Any, seconds: float, states: dict[str, str]) -> int:
    """Watch the components for `seconds`; the first one that goes ERRORED or BROKEN fails the command."""
    deadline = time.monotonic() + seconds
    while True:
        broken = {name: state for name, state in states.items() if state in BREAKING}
        if broken:
            for name, state in sorted(broken.items()):
                out(f"{name} is {state} (see `edgewatch local logs {name}`)")
            return 1
        if time.monotonic() >= deadline:
            out(f"every component stayed up for {seconds:g} s")
            return 0
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        states = {c.component_name: c.state for c in client.list_components().components or []}


def _wait_for(client: Any, deployment_id: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        deployment = client.get_local_deployment_status(deployment_id=deployment_id).deployment
        if deployment.status != last:
            out(f"  {deployment.status}")
            last = deployment.status
        if deployment.status in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise CommandError(f"deployment {deployment_id} still {deployment.status} after {timeout:g} s")
        time.sleep(0.2)
    details = deployment.deployment_status_details
    if deployment.status != "SUCCEEDED":
        cause = details.deployment_failure_cause if details else ""
        out(f"Deployment {deployment_id} FAILED: {cause}")
        return 1
    out(f"Deployment {deployment_id} SUCCEEDED")
    return 0


def _describe_deployment(deployment: Any) -> str:
    details = deployment.deployment_status_details
    text = f"{deployment.deployment_id}: {deployment.status} (created {deployment.created_on})"
    if details is not None and details.deployment_failure_cause:
        text += f"\n  cause: {details.deployment_failure_cause}"
        text += f"\n  error types: {', '.join(details.deployment_error_types or [])}"
    return text


def cmd_deployment_status(args: argparse.Namespace) -> int:
    with cli_client(layout_of(args)) as client:
        deployment_id = args.deployment_id
        if deployment_id is None:
            deployments = client.list_local_deployments().local_deployments or []
            if not deployments:
                raise CommandError("no deployments yet")
            deployment_id = deployments[-1].deployment_id
        out(_describe_deployment(client.get_local_deployment_status(deployment_id=deployment_id).deployment))
    return 0


def cmd_deployment_list(args: argparse.Namespace) -> int:
    with cli_client(layout_of(args)) as client:
        for deployment in client.list_local_deployments().local_deployments or []:
            out(_describe_deployment(deployment))
    return 0


def cmd_component_list(args: argparse.Namespace) -> int:
    with cli_client(layout_of(args)) as client:
        for component in client.list_components().components or []:
            out(f"{component.component_name} {component.version} {component.state}")
    return 0


def cmd_component_action(args: argparse.Namespace) -> int:
    from awsiot.greengrasscoreipc.model import ResourceNotFoundError

    with cli_client(layout_of(args)) as client:
        try:
            if args.action == "restart":
                response = client.restart_component(component_name=args.name)
                out(f"{args.name}: restart {response.restart_status}")
            else:
                response = client.stop_component(component_name=args.name)
                out(f"{args.name}: stop {response.stop_status}")
        except ResourceNotFoundError:
            raise CommandError(f"{args.name} is not deployed") from None
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    path = layout.runtime_log() if args.name == "runtime" else layout.component_log(args.name)
    if not path.exists():
        raise CommandError(f"no log at {path}")
    try:
        with path.open(errors="replace") as handle:
            lines = handle.readlines()
            sys.stdout.writelines(lines[-args.lines:])
            sys.stdout.flush()
            while args.follow:
                line = handle.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.25)
    except BrokenPipeError:
        # `logs NAME | head`: the reader left. Point stdout at /dev/null so the interpreter's final
        # flush does not raise again, and exit quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from edgewatch.local.up import run_up

    return run_up(args)
