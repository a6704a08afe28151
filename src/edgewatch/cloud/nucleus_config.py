"""Rendering of the Greengrass nucleus config.yaml for a manually provisioned device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from edgewatch.cloud.defaults import DEFAULT_NUCLEUS_VERSION as DEFAULT_NUCLEUS_VERSION
from edgewatch.cloud.defaults import DEFAULT_ROOT as DEFAULT_ROOT

CERT_FILE = "device.pem.crt"
KEY_FILE = "private.pem.key"
ROOT_CA_FILE = "AmazonRootCA1.pem"


@dataclass(frozen=True)
class NucleusSettings:
    thing_name: str
    region: str
    role_alias: str
    data_endpoint: str
    cred_endpoint: str
    root: str = DEFAULT_ROOT
    nucleus_version: str = DEFAULT_NUCLEUS_VERSION
    port_443: bool = False
    # A private (VPC interface) IoT data endpoint: the Greengrass data plane goes through it too.
    private_data_endpoint: bool = False


def nucleus_config(settings: NucleusSettings) -> dict[str, Any]:
    """The config.yaml document (`--init-config`) for the Greengrass nucleus."""
    root = settings.root.rstrip("/")
    configuration: dict[str, Any] = {
        "awsRegion": settings.region,
        "iotRoleAlias": settings.role_alias,
        "iotDataEndpoint": settings.data_endpoint,
        "iotCredEndpoint": settings.cred_endpoint,
    }
    if settings.port_443:
        # MQTT over 443 uses ALPN; the data plane (deployments) moves from 8443 to 443.
        configuration["mqtt"] = {"port": 443}
        configuration["greengrassDataPlanePort"] = 443
    if settings.private_data_endpoint:
        # greengrass-ats.iot.<region> has no VPC endpoint; the IoT data endpoint serves the data plane.
        configuration["greengrassDataPlaneEndpoint"] = "iotdata"
        configuration["s3EndpointType"] = "REGIONAL"
    return {
        "system": {
            "certificateFilePath": f"{root}/{CERT_FILE}",
            "privateKeyPath": f"{root}/{KEY_FILE}",
            "rootCaPath": f"{root}/{ROOT_CA_FILE}",
            "rootpath": root,
            "thingName": settings.thing_name,
        },
        "services": {
            "aws.greengrass.Nucleus": {
                "componentType": "NUCLEUS",
                "version": settings.nucleus_version,
                "configuration": configuration,
            }
        },
    }


def render_config_yaml(settings: NucleusSettings) -> str:
    return "---\n" + yaml.safe_dump(nucleus_config(settings), sort_keys=False, default_flow_style=False)
