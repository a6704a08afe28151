"""Builds integrations from configuration and silences from their store (used by `__main__` and tests)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from alert_router.config import IntegrationSpec, RouterConfig
from alert_router.delivery import Integration
from alert_router.receivers.slack import SlackIntegration
from alert_router.receivers.topics import IotCoreIntegration, LocalTopicIntegration, LogIntegration
from alert_router.secrets import SecretSource
from alert_router.silence_store import SilenceStore
from alert_router.silences import Silence, SilenceBook, parse_silence_message
from edgewatch_shared.topics import topic_for_thing

logger = logging.getLogger(__name__)


class IntegrationFactory:
    """Makes integrations, reusing the object for an unchanged spec so its worker keeps running."""

    def __init__(
        self, thing: str, secrets: SecretSource, publish_iot_core: Callable[[str, bytes], None],
        publish_local: Callable[[str, dict[str, Any]], None],
    ) -> None:  # fmt: skip
        self._thing = thing
        self._secrets = secrets
        self._publish_iot_core = publish_iot_core
        self._publish_local = publish_local
        self._made: dict[IntegrationSpec, Integration] = {}

    def __call__(self, config: RouterConfig) -> Mapping[str, Integration]:
        made = {spec: self._made.get(spec) or self._make(spec) for spec in config.integrations()}
        self._made = made
        return {spec.key: integration for spec, integration in made.items()}

    def _make(self, spec: IntegrationSpec) -> Integration:
        if spec.kind == "slack":
            return SlackIntegration(spec, self._secrets)
        if spec.kind == "iotCore":
            return IotCoreIntegration(spec.key, topic_for_thing(spec.topic or "", self._thing), self._publish_iot_core)
        if spec.kind == "localTopic":
            return LocalTopicIntegration(spec.key, spec.topic or "", self._publish_local)
        return LogIntegration(spec.key)


def silence_book(store: SilenceStore, now: float) -> SilenceBook:
    """Silences persisted in their store; unreadable or expired ones are dropped on load (and from the store)."""
    loaded: list[Silence] = []
    for doc in store.load():
        stored: object = None
        try:
            stored = json.loads(doc)
            command = parse_silence_message(stored, now)
        except (ValueError, RecursionError) as err:
            # e.g. a regex RE2 refuses, saved by an older version: dropped from the store, not fatal
            logger.warning("dropping an unreadable stored silence: %s", str(err)[:300])
            silence_id = stored.get("id") if isinstance(stored, dict) else None
            if isinstance(silence_id, str):
                store.delete(silence_id)
            continue
        if isinstance(command, Silence) and command.ends_at > now:
            loaded.append(command)
        elif isinstance(command, Silence):
            store.delete(command.id)  # expired while we were down: pruned from the file too
    book = SilenceBook(
        loaded,
        save=lambda s: store.save(s.id, json.dumps(s.to_dict()), s.ends_at),
        delete=store.delete,
    )
    if loaded:
        logger.info("restored %d silence(s)", len(book.all()))
    return book
