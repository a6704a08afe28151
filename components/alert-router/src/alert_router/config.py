"""The router's configuration: keys, defaults and validation whose errors name the exact path.

The same `parse_config` answers SubscribeToValidateConfigurationUpdates and builds what runs, so what
is accepted is what runs. Unknown top-level keys are tolerated (a newer DefaultConfiguration does
not remove old keys from a device); unknown fields inside rules, routes and receivers are rejected,
because a misspelt `treshold` would otherwise silently disable an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alert_router.fleet import DEVICE_SILENT_DEFAULTS, FleetSpec, parse_fleet
from alert_router.inhibition import InhibitRule, parse_inhibit_rules
from alert_router.routing import Route, parse_route
from alert_router.rules import DEFAULT_RULES, Rule, parse_rules
from alert_router.status_shadow import STATUS_SHADOW_DEFAULTS, ShadowSpec, parse_status_shadow
from alert_router.validation import check_shape, short_reason
from edgewatch_shared.config_values import ConfigValueError, as_int, as_str
from edgewatch_shared.durations import parse_duration
from edgewatch_shared.topics import MAX_TOPIC_BYTES, MAX_TOPIC_SLASHES, as_topic

logger = logging.getLogger(__name__)

# The router has always named both size limits in one reason; kept so rejections read as before.
TOPIC_LIMITS_REASON = f"must be at most {MAX_TOPIC_BYTES} bytes and {MAX_TOPIC_SLASHES} slashes"


DEFAULTS: dict[str, Any] = {
    "rules": DEFAULT_RULES,
    "route": {"receiver": "default", "groupBy": ["alertname", "thing"], "groupWait": "30s",
              "groupInterval": "5m", "repeatInterval": "4h", "sendResolved": True},
    "receivers": [{"name": "default", "log": {}, "localTopic": {"topic": "edgewatch/alerts"},
                   "iotCore": {"topic": "dt/edgewatch/{iot:thingName}/alerts"}}],
    "inhibitRules": [{"sourceMatchers": ["severity=critical"], "targetMatchers": ["severity=warning"],
                      "equal": ["thing", "kind", "mount"]}],
    "silencesTopic": "edgewatch/silences",
    "metricsTopic": "edgewatch/metrics",
    "evaluationIntervalSeconds": 1,
    "outboxMaxNotifications": 10000,
    "retryInitialSeconds": 1,
    "retryMaxSeconds": 300,
    "healthIntervalSeconds": 30,
    "healthTopic": "edgewatch/health",
    "maxMessageBytes": 262144,
    "inboxMaxBytes": 16777216,
    "maxNotificationAgeSeconds": 86400,
    "iotCoreInputs": [],
    "deviceSilent": DEVICE_SILENT_DEFAULTS,
    "statusShadow": STATUS_SHADOW_DEFAULTS,
}  # fmt: skip
MAX_MESSAGE_BYTES = 24 << 20  # the IPC frame limit: no message can be larger anyway

SLACK_FIELDS = (
    "webhookUrl", "webhookUrlSecretArn", "webhookUrlFile", "botTokenSecretArn", "botTokenFile", "channel", "apiUrl",
    "timeoutSeconds", "minIntervalSeconds",
)  # fmt: skip
INTEGRATIONS = ("slack", "iotCore", "localTopic", "log")


@dataclass(frozen=True)
class SlackSpec:
    webhook_url: str | None = None  # plain in config: allowed, but a secret ARN or a 0600 file is better
    webhook_url_secret_arn: str | None = None
    webhook_url_file: str | None = None
    bot_token_secret_arn: str | None = None
    bot_token_file: str | None = None
    channel: str | None = None
    api_url: str | None = None
    timeout: float = 10.0
    min_interval: float = 1.0

    def __repr__(self) -> str:  # a plain webhook URL is a secret: never in a repr or a log
        return f"SlackSpec(channel={self.channel!r}, webhook={'set' if self.webhook_url else 'unset'})"

    @property
    def uses_web_api(self) -> bool:
        return self.bot_token_secret_arn is not None or self.bot_token_file is not None


@dataclass(frozen=True)
class IntegrationSpec:
    receiver: str
    kind: str  # slack | iotCore | localTopic | log
    slack: SlackSpec | None = None
    topic: str | None = None

    @property
    def key(self) -> str:
        return f"{self.receiver}/{self.kind}"


@dataclass(frozen=True)
class RouterConfig:
    rules: tuple[Rule, ...]
    route: Route
    receivers: Mapping[str, tuple[IntegrationSpec, ...]]
    inhibit_rules: tuple[InhibitRule, ...]
    silences_topic: str
    metrics_topic: str
    evaluation_interval: float
    outbox_max_notifications: int
    retry_initial: float
    retry_max: float
    health_interval: float
    health_topic: str = "edgewatch/health"
    max_message_bytes: int = 262144  # a metric or silence message larger than this is refused unparsed
    inbox_max_bytes: int = 16 << 20  # messages waiting for the router loop, estimated size
    max_notification_age: float = 86400.0  # a queued notification older than this is dropped unsent
    fleet: FleetSpec = field(default_factory=FleetSpec)  # IoT Core inputs and DeviceSilent (a hub); off by default
    status_shadow: ShadowSpec = field(default_factory=ShadowSpec)  # the named shadow `edgewatch` (status_shadow.py)

    def integrations(self) -> list[IntegrationSpec]:
        return [i for specs in self.receivers.values() for i in specs]

    def has_slack(self) -> bool:
        return any(i.kind == "slack" for i in self.integrations())


def parse_config(raw: Mapping[str, Any] | None) -> RouterConfig:
    """Defaults overlaid with `raw`; raises ConfigValueError (and only that) naming the first bad path."""
    check_shape(raw)  # bounded depth, size and numbers before any field parser sees the document
    doc = {**DEFAULTS, **(raw or {})}
    receivers = _receivers("receivers", doc["receivers"])
    retry_initial = parse_duration("retryInitialSeconds", doc["retryInitialSeconds"], minimum=0.01, allow_zero=False)
    retry_max = parse_duration("retryMaxSeconds", doc["retryMaxSeconds"], minimum=0.1, allow_zero=False)
    if retry_max < retry_initial:
        raise ConfigValueError("retryMaxSeconds", f"must be at least retryInitialSeconds ({retry_initial:g})")
    return RouterConfig(
        rules=parse_rules("rules", doc["rules"]),
        route=parse_route("route", doc["route"], set(receivers)),
        receivers=receivers,
        inhibit_rules=parse_inhibit_rules("inhibitRules", doc["inhibitRules"]),
        silences_topic=topic("silencesTopic", doc["silencesTopic"]),
        metrics_topic=topic("metricsTopic", doc["metricsTopic"]),
        evaluation_interval=parse_duration(
            "evaluationIntervalSeconds", doc["evaluationIntervalSeconds"], minimum=0.05, maximum=60, allow_zero=False
        ),
        outbox_max_notifications=as_int("outboxMaxNotifications", doc["outboxMaxNotifications"], minimum=10),
        retry_initial=retry_initial,
        retry_max=retry_max,
        health_interval=parse_duration("healthIntervalSeconds", doc["healthIntervalSeconds"], minimum=1,
                                       maximum=86400, allow_zero=False),
        health_topic=topic("healthTopic", doc["healthTopic"]),
        max_message_bytes=as_int("maxMessageBytes", doc["maxMessageBytes"], minimum=1024, maximum=MAX_MESSAGE_BYTES),
        inbox_max_bytes=as_int("inboxMaxBytes", doc["inboxMaxBytes"], minimum=65536, maximum=1 << 30),
        max_notification_age=parse_duration("maxNotificationAgeSeconds", doc["maxNotificationAgeSeconds"],
                                            minimum=60, maximum=365 * 86400, allow_zero=False),
        fleet=parse_fleet(doc["iotCoreInputs"], doc["deviceSilent"]),
        status_shadow=parse_status_shadow(doc["statusShadow"]),
    )  # fmt: skip


def validity_reason(raw: Any) -> str | None:
    """None when a proposed configuration is acceptable, else the reason (starting with the path).

    Total: answers for any JSON value. An unexpected error is a bug in a parser; it still rejects
    (never "accepted by timeout") and is logged with its traceback."""
    try:
        parse_config(raw)
    except ConfigValueError as err:
        return short_reason(err)
    except Exception as err:
        logger.exception("configuration validation failed unexpectedly; rejecting the configuration")
        return f"(configuration): could not be validated ({type(err).__name__}); rejected"
    return None


def topic(key: str, value: Any) -> str:
    return as_topic(key, value, limits_reason=TOPIC_LIMITS_REASON)


def _receivers(path: str, raw: Any) -> dict[str, tuple[IntegrationSpec, ...]]:
    if not isinstance(raw, list) or not raw:
        raise ConfigValueError(path, "must be a non-empty list of receivers")
    out: dict[str, tuple[IntegrationSpec, ...]] = {}
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigValueError(where, "must be an object")
        for key in item:
            if key != "name" and key not in INTEGRATIONS:
                raise ConfigValueError(f"{where}.{key}", f"unknown field (known: name, {', '.join(INTEGRATIONS)})")
        name = as_str(f"{where}.name", item.get("name"))
        if name in out:
            raise ConfigValueError(f"{where}.name", f"duplicate receiver name {name!r}")
        specs = tuple(_integration(f"{where}.{kind}", name, kind, item[kind]) for kind in INTEGRATIONS if kind in item)
        if not specs:
            raise ConfigValueError(where, f"needs at least one of {', '.join(INTEGRATIONS)}")
        out[name] = specs
    return out


def _integration(path: str, receiver: str, kind: str, raw: Any) -> IntegrationSpec:
    if not isinstance(raw, Mapping):
        raise ConfigValueError(path, "must be an object")
    if kind == "slack":
        return IntegrationSpec(receiver, kind, slack=_slack(path, raw))
    known = ("topic",) if kind in ("iotCore", "localTopic") else ()
    for key in raw:
        if key not in known:
            raise ConfigValueError(f"{path}.{key}", f"unknown field (known: {', '.join(known) or 'none'})")
    if kind == "iotCore":
        default = "dt/edgewatch/{iot:thingName}/alerts"
        return IntegrationSpec(receiver, kind, topic=topic(f"{path}.topic", raw.get("topic", default)))
    if kind == "localTopic":
        return IntegrationSpec(receiver, kind, topic=topic(f"{path}.topic", raw.get("topic", "edgewatch/alerts")))
    return IntegrationSpec(receiver, kind)


def _slack(path: str, raw: Mapping[str, Any]) -> SlackSpec:
    for key in raw:
        if key not in SLACK_FIELDS:
            raise ConfigValueError(f"{path}.{key}", f"unknown field (known: {', '.join(SLACK_FIELDS)})")
    values = {k: as_str(f"{path}.{k}", raw[k]) for k in SLACK_FIELDS[:7] if raw.get(k) is not None}
    webhook = [k for k in ("webhookUrl", "webhookUrlSecretArn", "webhookUrlFile") if k in values]
    token = [k for k in ("botTokenSecretArn", "botTokenFile") if k in values]
    if len(webhook) + len(token) != 1:
        raise ConfigValueError(
            path, "needs exactly one of webhookUrl, webhookUrlSecretArn, webhookUrlFile, botTokenSecretArn, "
            "botTokenFile"
        )
    if token and "channel" not in values:
        raise ConfigValueError(f"{path}.channel", "is required with a bot token")
    if webhook and "channel" in values:
        raise ConfigValueError(f"{path}.channel", "does not apply to an incoming webhook (its channel is fixed)")
    for key in ("webhookUrl", "apiUrl"):
        if key in values and not values[key].startswith(("https://", "http://")):
            raise ConfigValueError(f"{path}.{key}", "must be an http(s) URL")  # the value may be secret: not echoed
    for key in ("webhookUrlSecretArn", "botTokenSecretArn"):
        if key in values and not values[key].startswith("arn:"):
            raise ConfigValueError(f"{path}.{key}", f"must be a Secrets Manager ARN, got {values[key]!r}")
    return SlackSpec(
        webhook_url=values.get("webhookUrl"),
        webhook_url_secret_arn=values.get("webhookUrlSecretArn"),
        webhook_url_file=values.get("webhookUrlFile"),
        bot_token_secret_arn=values.get("botTokenSecretArn"),
        bot_token_file=values.get("botTokenFile"),
        channel=values.get("channel"),
        api_url=values.get("apiUrl"),
        timeout=parse_duration(f"{path}.timeoutSeconds", raw.get("timeoutSeconds", 10), minimum=0.1, maximum=120,
                               allow_zero=False),
        min_interval=parse_duration(f"{path}.minIntervalSeconds", raw.get("minIntervalSeconds", 1), maximum=60),
    )  # fmt: skip
