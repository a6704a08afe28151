"""The router's inbox messages: what the IPC threads hand to the router loop, one type per kind.

The IPC adapter decodes each pub/sub or IoT Core message; one that cannot be decoded becomes
`Undecodable` (with the reason), never an exception object in a payload. Configuration updates do
not come this way: they wait in the shared `ConfigHandover`, and `Wake` only tells the loop to
look now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Source = Literal["metrics", "silence", "fleet", "health"]


@dataclass(frozen=True)
class MetricsReceived:
    """A decoded document from the metrics topic (an `edgewatch.metrics/1` batch, not checked yet)."""

    doc: Any
    source: Source = "metrics"


@dataclass(frozen=True)
class SilenceReceived:
    """A decoded document from the silences topic (an `edgewatch.silence/1` command, not checked yet)."""

    doc: Any
    source: Source = "silence"


@dataclass(frozen=True)
class FleetReceived:
    """A decoded document from an IoT Core input (hub mode): a collector batch or a presence event."""

    topic: str
    doc: Any
    source: Source = "fleet"


@dataclass(frozen=True)
class HealthReceived:
    """A decoded document from the health topic (another component's `edgewatch.health/1`, for the
    status shadow: versions and the collector's buffer depth)."""

    doc: Any
    source: Source = "health"


@dataclass(frozen=True)
class Undecodable:
    """A message that could not be decoded (not JSON, too deep, too large to parse): counted, dropped."""

    source: Source
    reason: str
    topic: str = ""


@dataclass(frozen=True)
class Wake:
    """Nothing to process: the loop steps now (e.g. a configuration update is waiting)."""


InboxMessage = MetricsReceived | SilenceReceived | FleetReceived | HealthReceived | Undecodable | Wake


def metrics_message(decoded: Any) -> MetricsReceived | Undecodable:
    """From what the IPC adapter decoded (the document, or the ValueError saying why there is none)."""
    return Undecodable("metrics", str(decoded)) if isinstance(decoded, Exception) else MetricsReceived(decoded)


def silence_message(decoded: Any) -> SilenceReceived | Undecodable:
    return Undecodable("silence", str(decoded)) if isinstance(decoded, Exception) else SilenceReceived(decoded)


def health_message(decoded: Any) -> HealthReceived | Undecodable:
    return Undecodable("health", str(decoded)) if isinstance(decoded, Exception) else HealthReceived(decoded)


def fleet_message(topic: str, decoded: Any) -> FleetReceived | Undecodable:
    if isinstance(decoded, Exception):
        return Undecodable("fleet", str(decoded), topic)
    return FleetReceived(topic, decoded)
