"""The start-up choice of configuration (stored, last good, defaults) and the last good file."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edgewatch_shared.config_lifecycle import LastGoodConfig, choose_config, initial_config
from edgewatch_shared.config_values import ConfigValueError, as_int, check_document

NESTED_40: Any = 1
for _ in range(40):
    NESTED_40 = [NESTED_40]


def parse(raw: Mapping[str, Any] | None) -> int:
    """A tiny component parser: one key, `n`, between 1 and 100 (default 10)."""
    doc = {"n": 10, **check_document(raw)}
    return as_int("n", doc["n"], minimum=1, maximum=100)


def test_last_good_is_written_atomically_0600_without_access_control(tmp_path: Path) -> None:
    last_good = LastGoodConfig(tmp_path / "work" / "last-good.json")
    assert last_good.load() is None
    assert last_good.save({"n": 5, "accessControl": {"aws.greengrass.ipc.pubsub": {}}})
    assert stat.S_IMODE(last_good.path.stat().st_mode) == 0o600
    assert json.loads(last_good.path.read_text()) == {"n": 5}
    assert last_good.load() == {"n": 5}
    assert last_good.save({"n": 6})
    assert last_good.load() == {"n": 6}
    assert [p.name for p in last_good.path.parent.iterdir()] == ["last-good.json"]  # no temp file left


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[1, 2]", b"[" * 5000 + b"]" * 5000, b""])
def test_a_corrupt_last_good_file_is_moved_aside_not_used(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "last-good.json"
    path.write_bytes(content)
    last_good = LastGoodConfig(path, now=lambda: 0.0)
    assert last_good.load() is None
    assert not path.exists()
    assert (tmp_path / "last-good.json.corrupt-19700101T000000Z").read_bytes() == content


def test_saving_where_no_file_can_be_written_fails_softly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    last_good = LastGoodConfig(blocker / "f.json")
    assert last_good.save({"n": 1}) is False
    assert last_good.load() is None
    assert last_good.save({"bad": float("nan")}) is False  # not JSON: refused, not written


def test_stored_configuration_is_used_and_becomes_the_last_good(tmp_path: Path) -> None:
    last_good = LastGoodConfig(tmp_path / "lg.json")
    choice = choose_config(lambda: {"n": 7}, parse, last_good)
    assert (choice.config, choice.source, choice.fallback, choice.reason) == (7, "stored", False, "")
    assert last_good.load() == {"n": 7}


def test_invalid_stored_configuration_falls_back_to_the_last_good_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    last_good = LastGoodConfig(tmp_path / "lg.json")
    last_good.save({"n": 42})
    with caplog.at_level(logging.ERROR):
        choice = choose_config(lambda: {"n": 10**400}, parse, last_good)
    assert (choice.config, choice.source) == (42, "last-good")
    assert choice.reason == "n: must be a finite number, got an integer of about 400 digits"
    assert "running on the last good configuration: stored configuration unusable (n: must be a finite" in caplog.text
    assert last_good.load() == {"n": 42}  # an unusable configuration never replaces the last good one


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ({"n": 0}, "n: must be at least 1, got 0"),
        ([1, 2], "configuration: must be an object, got a list of 2 item(s)"),
        ("text", "configuration: must be an object, got 'text'"),
        ({"n": {"a": NESTED_40}}, "nested deeper than 32"),
    ],
)
def test_without_a_last_good_the_defaults_run(tmp_path: Path, stored: Any, reason: str) -> None:
    choice = choose_config(lambda: stored, parse, LastGoodConfig(tmp_path / "none.json"))
    assert (choice.config, choice.source) == (10, "defaults")
    assert reason in choice.reason
    assert choice.describe().startswith("running on the default configuration: stored configuration unusable (")


def test_an_unreadable_configuration_and_a_broken_parser_still_give_an_answer(tmp_path: Path) -> None:
    def unreadable() -> Any:
        raise ConnectionError("no nucleus")

    choice = choose_config(unreadable, parse, None)
    assert (choice.config, choice.source) == (10, "defaults")
    assert choice.reason == "could not read it: ConnectionError: no nucleus"

    def buggy(raw: Mapping[str, Any] | None) -> int:
        if raw:
            raise TypeError("a parser bug")
        return 1

    choice = choose_config(lambda: {"x": 1}, buggy, None)
    assert (choice.config, choice.source) == (1, "defaults")
    assert choice.reason == "configuration: could not be checked (TypeError)"
    assert initial_config(lambda: {"n": 3}, parse) == 3


def test_a_last_good_that_no_longer_parses_is_skipped(tmp_path: Path) -> None:
    last_good = LastGoodConfig(tmp_path / "lg.json")
    last_good.path.write_text(json.dumps({"n": 500}))  # e.g. a newer version tightened a bound
    choice = choose_config(lambda: {"n": -1}, parse, last_good)
    assert choice.source == "defaults"
    with pytest.raises(ConfigValueError):
        parse({"n": 500})
