"""The dashboard's configuration: keys, defaults and total validation (any JSON value gets an answer).

The same `parse_config` answers a deployment's validation request and builds the configuration applied
at start and on live updates, so what is accepted is what runs. Unknown keys are tolerated (a newer
DefaultConfiguration does not remove old keys from a device); `accessControl` belongs to the nucleus.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgewatch_shared.config_values import (
    ConfigValueError,
    as_bool,
    as_int,
    as_str,
    as_str_list,
)
from edgewatch_shared.durations import parse_seconds
from edgewatch_shared.topics import as_topic

RANGES: dict[str, int] = {"5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400}

DEFAULTS: dict[str, Any] = {
    "listenAddress": "127.0.0.1",
    "port": 8600,
    "tlsCertFile": "",
    "tlsKeyFile": "",
    "passwordSecretArn": "",
    "sessionTtlSeconds": 43200,
    "allowedOrigins": [],
    "historySeconds": 3600,
    "downsampleSeconds": 60,
    "longHistorySeconds": 86400,
    "maxSeries": 2000,
    "maxMessageBytes": 1024 * 1024,
    "pushIntervalSeconds": 1,
    "maxClients": 100,
    "clientQueueBytes": 1024 * 1024,
    "maxLoginFailures": 5,
    "prometheusEnabled": False,
    "prometheusTokenFile": "",
    "metricsTopic": "edgewatch/metrics",
    "alertsTopic": "edgewatch/alerts",
    "healthTopic": "edgewatch/health",
    "silencesTopic": "edgewatch/silences",
    "fleetView": False,
    "fleetMetricsFilter": "dt/edgewatch/+/metrics",
    "fleetAlertsFilter": "dt/edgewatch/+/alerts",
    "fleetPublishIntervalSeconds": 300,
    "fleetMaxDevices": 1000,
    "fleetBatchesPerDevice": 20,
    "fleetMaxBytes": 16 * 1024 * 1024,
}
IGNORED_KEYS = frozenset({"accessControl"})
# Bounds that keep a typo from exhausting a small gateway's memory.
MAX_SERIES_LIMIT = 50_000
MAX_POINTS_PER_SERIES = 100_000


@dataclass(frozen=True)
class DashboardConfig:
    listen_address: str
    port: int
    tls_cert_file: str
    tls_key_file: str
    password_secret_arn: str
    session_ttl: float
    allowed_origins: tuple[str, ...]
    history_seconds: float
    downsample_seconds: float
    long_history_seconds: float
    max_series: int
    max_message_bytes: int
    push_interval: float
    max_clients: int
    client_queue_bytes: int
    max_login_failures: int
    prometheus_enabled: bool
    prometheus_token_file: str
    metrics_topic: str
    alerts_topic: str
    health_topic: str
    silences_topic: str
    fleet_view: bool = False
    fleet_metrics_filter: str = "dt/edgewatch/+/metrics"
    fleet_alerts_filter: str = "dt/edgewatch/+/alerts"
    fleet_publish_interval: float = 300.0
    fleet_max_devices: int = 1000
    fleet_batches_per_device: int = 20
    fleet_max_bytes: int = 16 * 1024 * 1024

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert_file)

    def server_key(self) -> tuple[object, ...]:
        """What needs a new listening socket when it changes."""
        return (self.listen_address, self.port, self.tls_cert_file, self.tls_key_file)

    def topics(self) -> tuple[str, str, str, str]:
        return (self.metrics_topic, self.alerts_topic, self.health_topic, self.silences_topic)

    def fleet_filters(self) -> tuple[str, ...]:
        """The IoT Core topic filters of hub mode (none unless fleetView)."""
        return (self.fleet_metrics_filter, self.fleet_alerts_filter) if self.fleet_view else ()


def _address(value: Any) -> str:
    text = as_str("listenAddress", value)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ConfigValueError("listenAddress", f"must be an IP address such as 127.0.0.1, got {text!r}") from None
    return text


def _origin(key: str, value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
        raise ConfigValueError(key, f"must be an origin like https://gw-01.example:8600 (no path), got {value!r}")
    return value.rstrip("/")


def _private_file(key: str, value: Any, *, must_be_private: bool) -> str:
    path = as_str(key, value, allow_empty=True)
    if not path:
        return ""
    try:
        info = os.stat(path)
    except OSError as err:
        raise ConfigValueError(key, f"cannot read {path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigValueError(key, f"{path} is not a regular file")
    if must_be_private and info.st_mode & 0o077:
        raise ConfigValueError(key, f"{path} has mode {stat.S_IMODE(info.st_mode):04o}; it must be 0600 (chmod 600)")
    return path


def _fleet_filter(key: str, value: Any) -> str:
    """An MQTT filter with exactly one `+` level (it names the thing) and no `#`, within IoT Core's limits."""
    text = as_str(key, value)
    if len(text.encode("utf-8", "surrogatepass")) > 256 or text.count("/") > 7:
        raise ConfigValueError(key, "must be at most 256 bytes and 7 slashes")
    levels = text.split("/")
    if "" in levels or "#" in text or any("+" in level and level != "+" for level in levels):
        raise ConfigValueError(key, f"must be a filter like dt/edgewatch/+/metrics ('+' whole levels, no '#', no "
                                    f"empty level), got {text[:100]!r}")  # fmt: skip
    if levels.count("+") != 1:
        raise ConfigValueError(key, f"needs exactly one '+' level (the thing name), got {text[:100]!r}")
    return text


def parse_config(raw: Any) -> DashboardConfig:
    """Defaults overlaid with `raw`; raises ConfigValueError naming the first bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigValueError("(root)", f"configuration must be a JSON object, got {type(raw).__name__}")
    doc = {**DEFAULTS, **{k: v for k, v in raw.items() if k not in IGNORED_KEYS}}
    cert = _private_file("tlsCertFile", doc["tlsCertFile"], must_be_private=False)
    key = _private_file("tlsKeyFile", doc["tlsKeyFile"], must_be_private=True)
    if bool(cert) != bool(key):
        raise ConfigValueError("tlsKeyFile" if cert else "tlsCertFile", "TLS needs both tlsCertFile and tlsKeyFile")
    history = parse_seconds("historySeconds", doc["historySeconds"], minimum=60, maximum=7 * 86400)
    downsample = parse_seconds("downsampleSeconds", doc["downsampleSeconds"], minimum=1, maximum=3600)
    long_history = parse_seconds("longHistorySeconds", doc["longHistorySeconds"], minimum=0, allow_zero=True,
                                 maximum=30 * 86400)  # fmt: skip
    if long_history and long_history < history:
        raise ConfigValueError("longHistorySeconds", f"must be 0 or at least historySeconds ({history:g})")
    if long_history / downsample > MAX_POINTS_PER_SERIES:
        raise ConfigValueError("downsampleSeconds", f"longHistorySeconds / downsampleSeconds must be at most "
                                                    f"{MAX_POINTS_PER_SERIES} points per series")  # fmt: skip
    origins = tuple(_origin(f"allowedOrigins[{i}]", o)
                    for i, o in enumerate(as_str_list("allowedOrigins", doc["allowedOrigins"])))  # fmt: skip
    prometheus = as_bool("prometheusEnabled", doc["prometheusEnabled"])
    token_file = _private_file("prometheusTokenFile", doc["prometheusTokenFile"], must_be_private=True)
    arn = as_str("passwordSecretArn", doc["passwordSecretArn"], allow_empty=True)
    metrics_filter = _fleet_filter("fleetMetricsFilter", doc["fleetMetricsFilter"])
    alerts_filter = _fleet_filter("fleetAlertsFilter", doc["fleetAlertsFilter"])
    if metrics_filter == alerts_filter:
        raise ConfigValueError("fleetAlertsFilter", "must differ from fleetMetricsFilter")
    if arn and not arn.startswith("arn:"):
        raise ConfigValueError("passwordSecretArn", "must be a secret ARN (arn:aws:secretsmanager:...)")
    return DashboardConfig(
        listen_address=_address(doc["listenAddress"]),
        port=as_int("port", doc["port"], minimum=1, maximum=65535),
        tls_cert_file=cert,
        tls_key_file=key,
        password_secret_arn=arn,
        session_ttl=parse_seconds("sessionTtlSeconds", doc["sessionTtlSeconds"], minimum=60, maximum=30 * 86400),
        allowed_origins=origins,
        history_seconds=history,
        downsample_seconds=downsample,
        long_history_seconds=long_history,
        max_series=as_int("maxSeries", doc["maxSeries"], minimum=1, maximum=MAX_SERIES_LIMIT),
        max_message_bytes=as_int("maxMessageBytes", doc["maxMessageBytes"], minimum=1024, maximum=16 * 1024 * 1024),
        push_interval=parse_seconds("pushIntervalSeconds", doc["pushIntervalSeconds"], minimum=0.05, maximum=60),
        max_clients=as_int("maxClients", doc["maxClients"], minimum=1, maximum=10_000),
        client_queue_bytes=as_int("clientQueueBytes", doc["clientQueueBytes"], minimum=16 * 1024,
                                  maximum=64 * 1024 * 1024),
        max_login_failures=as_int("maxLoginFailures", doc["maxLoginFailures"], minimum=1, maximum=1000),
        prometheus_enabled=prometheus,
        prometheus_token_file=token_file,
        metrics_topic=as_topic("metricsTopic", doc["metricsTopic"]),
        alerts_topic=as_topic("alertsTopic", doc["alertsTopic"]),
        health_topic=as_topic("healthTopic", doc["healthTopic"]),
        silences_topic=as_topic("silencesTopic", doc["silencesTopic"]),
        fleet_view=as_bool("fleetView", doc["fleetView"]),
        fleet_metrics_filter=metrics_filter,
        fleet_alerts_filter=alerts_filter,
        fleet_publish_interval=parse_seconds("fleetPublishIntervalSeconds", doc["fleetPublishIntervalSeconds"],
                                             minimum=0.1, maximum=86400),
        fleet_max_devices=as_int("fleetMaxDevices", doc["fleetMaxDevices"], minimum=1, maximum=100_000),
        fleet_batches_per_device=as_int("fleetBatchesPerDevice", doc["fleetBatchesPerDevice"], minimum=1, maximum=1000),
        fleet_max_bytes=as_int("fleetMaxBytes", doc["fleetMaxBytes"], minimum=64 * 1024, maximum=1024 * 1024 * 1024),
    )


def parse_checked(raw: Any) -> DashboardConfig:
    """`parse_config` that raises nothing but ConfigValueError, whatever `raw` holds."""
    try:
        return parse_config(raw)
    except ConfigValueError:
        raise
    except Exception as err:  # a reader's bug (or a 400-digit number) must read as a rejection, not a crash
        raise ConfigValueError("(root)", f"configuration could not be checked: {type(err).__name__}") from None


def validity_reason(raw: Any) -> str | None:
    """None when `raw` is acceptable, else the reason, starting with the key. Total: never raises."""
    try:
        parse_checked(raw)
    except ConfigValueError as err:
        return str(err)[:500]
    return None
