"""Built-in stand-ins for the aws.greengrass.* components public recipes depend on.

On a device these are AWS's own components; here each is a recipe without a lifecycle, generated
under `<root>/packages/builtin-recipes/`, so a HARD or SOFT dependency on it resolves, it shows in
`component list`, and its configuration (the Nucleus's `awsRegion`, ...) is readable with
GetConfiguration. What a stand-in really provides is served by the runtime's IPC services; what it
cannot provide (AWS credentials, log upload, ...) is said once, in a WARNING, when it is deployed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgewatch.local.state_files import private_dir
from edgewatch_shared.private_files import write_atomic

log = logging.getLogger(__name__)

NUCLEUS = "aws.greengrass.Nucleus"
SECRET_MANAGER = "aws.greengrass.SecretManager"
SHADOW_MANAGER = "aws.greengrass.ShadowManager"
CLI = "aws.greengrass.Cli"
NUCLEUS_VERSION = "2.14.0"
# Nucleus keys that come from `edgewatch local start` options, not from deployments.
RUN_OPTION_KEYS = ("awsRegion", "iotDataEndpoint", "thingName")


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    version: str
    provides: str  # what this runtime really does for it (README "Compatibility")
    missing: str = ""  # what will not work; "" when nothing is missing

    @property
    def component_type(self) -> str:
        return "aws.greengrass.nucleus" if self.name == NUCLEUS else "aws.greengrass.plugin"


CATALOGUE: dict[str, Builtin] = {b.name: b for b in (
    Builtin(NUCLEUS, NUCLEUS_VERSION, "IPC, lifecycle, deployments; configuration readable with GetConfiguration"),
    Builtin(CLI, NUCLEUS_VERSION, "the CLI IPC operations (ListComponents, GetComponentDetails, RestartComponent, "
            "StopComponent, local deployments) under accessControl aws.greengrass.Cli"),
    Builtin(SECRET_MANAGER, "2.2.2", "GetSecretValue from --secrets-file",
            "secrets are read from --secrets-file only; nothing is fetched from AWS Secrets Manager"),
    Builtin(SHADOW_MANAGER, "2.3.9", "local shadows (Get/Update/Delete/ListNamedShadowsForThing), stored on disk",
            "shadows are local only: no synchronization with the AWS IoT Device Shadow service and no "
            "$aws/things/+/shadow pub/sub topics"),
    Builtin("aws.greengrass.TokenExchangeService", "2.0.3", "resolves only",
            "no AWS credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI is not set, AWS SDK calls that rely on the "
            "token exchange service fail"),
    Builtin("aws.greengrass.LogManager", "2.3.9", "resolves only; logs stay under <root>/logs",
            "no upload of logs to CloudWatch Logs"),
    Builtin("aws.greengrass.NucleusEmitter", "1.0.9", "resolves only",
            "no nucleus telemetry is published to local pub/sub or IoT Core"),
    Builtin("aws.greengrass.telemetry.NucleusEmitter", "1.0.9", "resolves only",
            "no nucleus telemetry is published to local pub/sub or IoT Core"),
    Builtin("aws.greengrass.StreamManager", "2.2.1", "resolves only",
            "no stream manager server: stream manager clients cannot connect"),
    Builtin("aws.greengrass.clientdevices.mqtt.Bridge", "2.3.2", "resolves only", "no MQTT bridge"),
    Builtin("aws.greengrass.clientdevices.Auth", "2.5.1", "resolves only", "no client device authentication"),
    Builtin("aws.greengrass.clientdevices.mqtt.Moquette", "2.3.7", "resolves only", "no local MQTT broker"),
    Builtin("aws.greengrass.clientdevices.mqtt.EMQX", "2.0.2", "resolves only", "no local MQTT broker"),
    Builtin("aws.greengrass.clientdevices.IPDetector", "2.2.0", "resolves only", "no IP detection"),
    Builtin("aws.greengrass.DockerApplicationManager", "2.0.12", "resolves only",
            "no Docker image download from ECR or S3; images must already be present"),
    Builtin("aws.greengrass.LambdaLauncher", "2.0.13", "resolves only", "Lambda components do not run"),
    Builtin("aws.greengrass.LambdaManager", "2.3.2", "resolves only", "Lambda components do not run"),
    Builtin("aws.greengrass.LambdaRuntimes", "2.0.8", "resolves only", "Lambda components do not run"),
    Builtin("aws.greengrass.LocalDebugConsole", "2.4.3", "resolves only", "no debug console"),
)}


def is_builtin(name: str) -> bool:
    return name in CATALOGUE


def nucleus_configuration(region: str, thing_name: str, root: Path, mqtt_host: str | None,
                          mqtt_port: int | None) -> dict[str, Any]:
    """The Nucleus's configuration keys components read, with the nucleus's defaults."""
    return {
        "awsRegion": region,
        "iotDataEndpoint": mqtt_host or "localhost",
        "iotCredEndpoint": "",
        "iotRoleAlias": "",
        "componentStoreMaxSizeBytes": 10_000_000_000,
        "deploymentPollingFrequencySeconds": 15,
        "interpolateComponentConfiguration": False,
        "greengrassDataPlanePort": 8443,
        "platformOverride": {},
        "networkProxy": {},
        "runWithDefault": {},
        "logging": {"level": "INFO", "format": "TEXT", "outputType": "FILE", "outputDirectory": str(root / "logs"),
                    "fileSizeKB": 1024, "totalLogsSizeKB": 10240},
        "mqtt": {"port": mqtt_port or 8883, "keepAliveTimeoutMs": 60000, "pingTimeoutMs": 30000,
                 "maxInFlightPublishes": 5, "maxMessageSizeInBytes": 131072,
                 "spooler": {"storageType": "Memory", "maxSizeInBytes": 2621440, "keepQos0WhenOffline": False}},
        "fleetStatus": {"periodicStatusPublishIntervalSeconds": 86400},
        "telemetry": {"enabled": True, "periodicAggregateMetricsIntervalSeconds": 3600,
                      "periodicPublishMetricsIntervalSeconds": 86400},
        "thingName": thing_name,
    }


def builtin_recipe(builtin: Builtin, configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": builtin.name,
        "ComponentVersion": builtin.version,
        "ComponentType": builtin.component_type,
        "ComponentDescription": f"EdgeWatch local runtime stand-in: {builtin.provides}",
        "ComponentPublisher": "AWS (stand-in provided by the edgewatch local runtime)",
        "Manifests": [{"Platform": {"os": "*"}, "Lifecycle": {}}],
    }
    if configuration:
        recipe["ComponentConfiguration"] = {"DefaultConfiguration": dict(configuration)}
    return recipe


class BuiltinComponents:
    """The stand-ins of one runtime root: their recipes, the warnings, effectiveConfig.yaml."""

    def __init__(self, root: Path, nucleus_config: Mapping[str, Any]) -> None:
        self.root = root
        self.recipe_dir = root / "packages" / "builtin-recipes"
        self.nucleus_config = dict(nucleus_config)
        self._warned: set[str] = set()

    def write_recipes(self) -> Path:
        """(Re)write the stand-ins' recipes; the Nucleus's defaults carry this run's region and endpoint."""
        private_dir(self.recipe_dir)
        for builtin in CATALOGUE.values():
            config = self.nucleus_config if builtin.name == NUCLEUS else None
            body = json.dumps(builtin_recipe(builtin, config), indent=2, sort_keys=True).encode()
            target = self.recipe_dir / f"{builtin.name}-{builtin.version}.json"
            if not target.exists() or target.read_bytes() != body:
                write_atomic(target, body)
        return self.recipe_dir

    def warn_unavailable(self, names: Iterable[str]) -> list[str]:
        """One WARNING per stand-in (per run) that is deployed but cannot do everything."""
        messages = []
        for name in sorted(set(names)):
            builtin = CATALOGUE.get(name)
            if builtin is None or not builtin.missing or name in self._warned:
                continue
            self._warned.add(name)
            message = f"{name} is a stand-in of the local runtime: {builtin.missing}"
            log.warning("%s", message)
            messages.append(message)
        return messages

    def provide_nucleus_configuration(self, store: Any) -> None:
        """The Nucleus's configuration is readable (GetConfiguration) whether or not anything depends on it.

        What comes from this run's options (`--region`, the MQTT endpoint) replaces what an earlier run
        stored; the other keys keep what deployments set."""
        if not store.has(NUCLEUS):
            store.set(NUCLEUS, self.nucleus_config)
            return
        from_options = {k: self.nucleus_config[k] for k in RUN_OPTION_KEYS if k in self.nucleus_config}
        store.set(NUCLEUS, {**store.get(NUCLEUS), **from_options})

    def effective_config_path(self) -> Path:
        return self.root / "config" / "effectiveConfig.yaml"

    def write_effective_config(self, services: Mapping[str, Mapping[str, Any]]) -> Path:
        """`config/effectiveConfig.yaml` as the nucleus writes it: every service with its version,
        dependencies, lifecycle and configuration. It holds configuration values, so it is 0600."""
        entries = {n: dict(s) for n, s in services.items()}
        if NUCLEUS not in entries:  # always there on a device
            entries[NUCLEUS] = service_entry(NUCLEUS_VERSION, {}, {}, self.nucleus_config, "NUCLEUS")
        document = {"system": {"rootpath": str(self.root), "thingName": self.nucleus_config.get("thingName", "")},
                    "services": entries}
        target = self.effective_config_path()
        try:
            private_dir(target.parent)
            text = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=True)
            write_atomic(target, text.encode())
        except (OSError, yaml.YAMLError) as exc:  # informative only: never fails a deployment
            log.error("cannot write %s: %s", target, exc)
        return target


def service_entry(version: str, dependencies: Mapping[str, Any], lifecycle: Mapping[str, Any],
                  configuration: Mapping[str, Any], component_type: str = "GENERIC") -> dict[str, Any]:
    """One `services.<name>` entry of effectiveConfig.yaml (dependencies as the nucleus lists them)."""
    return {
        "componentType": component_type,
        "version": version,
        "dependencies": [f"{name}:{getattr(dep, 'dependency_type', 'HARD')}" for name, dep in dependencies.items()],
        "lifecycle": _plain(lifecycle),
        "configuration": _plain(configuration),
    }


def _plain(value: Any) -> Any:
    """A YAML-safe copy (dataclasses and tuples of the lifecycle model become dicts and lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__ if getattr(value, k) is not None}
    return str(value)
