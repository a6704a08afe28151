"""Integrations that publish the notification document: AWS IoT Core (QoS 1) and local pub/sub."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from awsiot.greengrasscoreipc import model

from alert_router.delivery import Delivered, DeliveryResult, Permanent, Retry
from alert_router.notification import Notification

logger = logging.getLogger(__name__)

MAX_IOT_PAYLOAD_BYTES = 128 * 1024


def _payload(notification: Notification, limit: int) -> bytes:
    doc = notification.to_dict()
    data = json.dumps(doc, separators=(",", ":")).encode()
    # A huge group must still fit IoT Core's 128 KB: drop alerts from the end and say how many.
    while len(data) > limit and doc["alerts"]:
        doc["alerts"] = doc["alerts"][: max(0, len(doc["alerts"]) // 2)]
        doc["truncatedAlerts"] = len(notification.alerts) - len(doc["alerts"])
        data = json.dumps(doc, separators=(",", ":")).encode()
    return data


def _classify(err: Exception, what: str) -> DeliveryResult:
    # Unauthorized/InvalidArguments will not heal by retrying (recipe or topic is wrong); the rest
    # (ServiceError with IoT Core offline, a lost IPC connection, timeouts) will.
    if isinstance(err, model.UnauthorizedError | model.InvalidArgumentsError):
        return Permanent(f"{what}: {type(err).__name__}: {getattr(err, 'message', None) or err}")
    return Retry(f"{what}: {type(err).__name__}: {getattr(err, 'message', None) or err}")


class IotCoreIntegration:
    pacing_key = None
    min_interval = 0.0

    def __init__(self, key: str, topic: str, publish: Callable[[str, bytes], None]) -> None:
        self.key = key
        self.topic = topic
        self._publish = publish

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            self._publish(self.topic, _payload(notification, MAX_IOT_PAYLOAD_BYTES))
        except Exception as err:
            return _classify(err, f"PublishToIoTCore {self.topic}")
        return Delivered()


class LocalTopicIntegration:
    pacing_key = None
    min_interval = 0.0

    def __init__(self, key: str, topic: str, publish: Callable[[str, dict[str, object]], None]) -> None:
        self.key = key
        self.topic = topic
        self._publish = publish

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            self._publish(self.topic, notification.to_dict())
        except Exception as err:
            return _classify(err, f"PublishToTopic {self.topic}")
        return Delivered()


class LogIntegration:
    pacing_key = None
    min_interval = 0.0

    def __init__(self, key: str) -> None:
        self.key = key

    def send(self, notification: Notification) -> DeliveryResult:
        for alert in notification.alerts:
            logger.warning(
                "ALERT %s %s [%s] %s: %s (value %s, notification %s)", alert["status"].upper(),
                alert["labels"].get("alertname"), alert["labels"].get("severity"), notification.thing,
                alert["annotations"].get("summary", ""), alert.get("value"), notification.id,
            )  # fmt: skip
        return Delivered()
