"""Defaults the `edgewatch` parsers show in --help (stdlib only, so building the parser stays cheap)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DOCUMENT = Path("deployment") / "deployments" / "fleet-thing-group.json"
DEFAULT_ROOT = "/greengrass/v2"
DEFAULT_NUCLEUS_VERSION = "2.14.3"
DEFAULT_THING_TYPE = "EdgeWatchGateway"
# Searchable attributes of a new thing type: AWS allows at most three, fixed at creation.
DEFAULT_SEARCHABLE_ATTRIBUTES = ("site", "model")
# The gateway's status shadow (named shadow), indexed by `edgewatch fleet index enable`.
STATUS_SHADOW = "edgewatch"
