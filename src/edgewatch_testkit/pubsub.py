"""What a test subscriber makes of a local pub/sub event: the JSON document of a JSON message or
of a binary one (the collector publishes its samples as JSON text in binary messages)."""

from __future__ import annotations

import json
from typing import Any


def event_document(event: Any) -> Any:
    if event.json_message is not None:
        return event.json_message.message
    return json.loads(event.binary_message.message)


def event_format(event: Any) -> str:
    return "json" if event.json_message is not None else "binary"
