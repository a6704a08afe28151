"""What `edgewatch local` commands share (`commands.py` and `up.py` both import it): the error a user
can fix, output, where the runtime lives, and building a runtime from the command line.

Light on purpose: the CLI imports it to build its parser; the runtime itself is imported only when a
command builds one."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from edgewatch.cli_args import parse_pairs
from edgewatch.local.layout import RuntimeLayout, default_root

if TYPE_CHECKING:
    from edgewatch.local.runtime import LocalRuntime

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command failed in a way the user can fix; the message says how."""


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def default_thing_name() -> str:
    return os.environ.get("AWS_IOT_THING_NAME") or socket.gethostname().split(".")[0] or "edgewatch-local"


def layout_of(args: argparse.Namespace) -> RuntimeLayout:
    return RuntimeLayout((args.root or default_root()).resolve())


def env_pairs(pairs: list[str]) -> dict[str, str]:
    return parse_pairs(pairs, "--env", "KEY=VALUE", CommandError)


def build_runtime(args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> LocalRuntime:
    from edgewatch.local.runtime import LocalRuntime

    env = env_pairs(args.env)
    env.update(extra_env or {})
    return LocalRuntime(layout_of(args).root, args.thing_name or default_thing_name(), region=args.region,
                        secrets_file=args.secrets_file, validation_timeout_s=args.validation_timeout, extra_env=env,
                        mqtt_endpoint=mqtt_endpoint_of(args), connect_timeout_s=args.connect_timeout,
                        strict_recipes=bool(getattr(args, "strict_recipes", False)),
                        component_default_user=getattr(args, "component_default_user", None))


def mqtt_endpoint_of(args: argparse.Namespace) -> Any:
    from edgewatch.local.mqtt_uplink import MqttEndpoint, UplinkError

    if not args.mqtt_endpoint:
        return None
    if not args.mqtt_cert or not args.mqtt_key:
        raise CommandError("--mqtt-endpoint needs --mqtt-cert and --mqtt-key (mutual TLS)")
    try:
        return MqttEndpoint.parse(args.mqtt_endpoint, args.mqtt_cert, args.mqtt_key, args.mqtt_ca)
    except UplinkError as exc:
        raise CommandError(str(exc)) from None


def setup_runtime_logging(layout: RuntimeLayout, verbose: bool = False) -> None:
    from edgewatch.local.process_registry import PRIVATE_UMASK
    from edgewatch.local.state_files import private_dir

    os.umask(PRIVATE_UMASK)  # this process is the runtime: its logs and state are private
    private_dir(layout.root)
    private_dir(layout.logs())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.FileHandler(layout.runtime_log())
    os.chmod(layout.runtime_log(), 0o600)  # it may predate the umask
    file_handler.setFormatter(fmt)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger()
    for handler in list(root.handlers):  # replace the CLI's default console handler
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    root.addHandler(file_handler)
    root.addHandler(console)
