from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from edgewatch_shared.config_handover import ConfigHandover
from edgewatch_shared.config_values import ConfigValueError


def parse(raw: Mapping[str, Any] | None) -> int:
    value = (raw or {}).get("interval", 1)
    if not isinstance(value, int) or value <= 0:
        raise ConfigValueError("interval", "must be a positive integer")
    return value


def test_the_latest_accepted_configuration_is_taken_once_and_saved() -> None:
    saved: list[Mapping[str, Any]] = []
    offered = threading.Event()
    updates = ConfigHandover(parse, on_accepted=saved.append, on_offered=offered.set)
    assert updates.take() is None
    assert updates.offer({"interval": 5}) is None and updates.offer({"interval": 7}) is None
    assert offered.is_set()
    assert updates.take() == 7  # the later one wins; the earlier one is never applied
    assert updates.take() is None
    assert saved == [{"interval": 5}, {"interval": 7}]


def test_a_rejected_configuration_names_the_key_and_leaves_the_previous_one(caplog: pytest.LogCaptureFixture) -> None:
    saved: list[Mapping[str, Any]] = []
    updates = ConfigHandover(parse, on_accepted=saved.append)
    updates.offer({"interval": 3})
    with caplog.at_level(logging.ERROR):
        assert updates.offer({"interval": -1}) == "interval: must be a positive integer"
    assert "interval: must be a positive integer" in caplog.text
    assert updates.take() == 3 and saved == [{"interval": 3}]


def test_a_failed_read_or_a_parser_bug_rejects_without_raising() -> None:
    def broken_read() -> Mapping[str, Any]:
        raise TimeoutError("nucleus busy")

    def buggy_parse(raw: Mapping[str, Any] | None) -> int:
        raise KeyError("bug")

    assert "could not be read (TimeoutError)" in (ConfigHandover(parse).offer_from(broken_read) or "")
    buggy = ConfigHandover(buggy_parse)
    assert "could not be validated (KeyError)" in (buggy.offer({}) or "")
    assert buggy.take() is None
