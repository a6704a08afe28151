"""Regex matchers run in linear time (RE2) and have a length bound, in rules, routes, inhibitions and
silences; a stored silence whose regex is no longer valid is dropped with a log line at start."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "components" / "alert-router" / "src"))

from alert_router.config import validity_reason
from alert_router.matchers import MAX_REGEX_CHARS, parse_matcher
from alert_router.silence_store import SilenceStore
from alert_router.silences import SilenceError, parse_silence_message
from alert_router.wiring import silence_book

PATHOLOGICAL = '(.?){20}(.?){20}x'  # catastrophic backtracking in Python's re on a long non-matching input
RULE = {"name": "R", "metric": "cpu.percent", "threshold": 1}


def silence(matchers: list[str], sid: str = "s1") -> dict[str, object]:
    return {"schema": "edgewatch.silence/1", "id": sid, "matchers": matchers, "endsAt": 4_000_000_000_000,
            "author": "mallory", "comment": "c"}  # fmt: skip


def test_pathological_silence_regex_finishes_in_bounded_time_on_long_inputs() -> None:
    command = parse_silence_message(silence([f'thing=~"{PATHOLOGICAL}"']), 0.0)
    book_labels = [{"thing": "a" * n, "alertname": "X"} for n in (30, 1_000, 100_000)]
    started = time.monotonic()
    for labels in book_labels:
        assert not command.mutes(labels, 1.0)  # type: ignore[union-attr]
    assert command.mutes({"thing": "a" * 30 + "x"}, 1.0)  # type: ignore[union-attr]  # still a real regex
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"matching took {elapsed:.2f} s"  # Python's re needs minutes on the 30-char input


def test_regex_is_anchored_as_in_prometheus() -> None:
    m = parse_matcher("m", 'mount=~"/data.*"')
    assert m.matches({"mount": "/data/x"}) and not m.matches({"mount": "/mnt/data"})
    assert parse_matcher("m", 'sev!~"warn|crit"').matches({"sev": "info"})
    assert not parse_matcher("m", 'sev=~"warn|crit"').matches({"sev": "warning"})  # whole value, not a prefix


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"rules": [{**RULE, "matchers": [f'cpu=~"{"a" * (MAX_REGEX_CHARS + 1)}"']}]}, "rules[0].matchers[0]"),
        ({"rules": [{**RULE, "matchers": [{"name": "cpu", "op": "=~", "value": "a" * (MAX_REGEX_CHARS + 1)}]}]},
         "rules[0].matchers[0]"),
        ({"route": {"receiver": "default", "routes": [{"matchers": [{"name": "x", "op": "!~",
                                                                     "value": "b" * 5000}]}]}},
         "route.routes[0].matchers[0]"),
        ({"inhibitRules": [{"sourceMatchers": ["severity=critical"],
                            "targetMatchers": [{"name": "a", "op": "=~", "value": "c" * 2000}]}]},
         "inhibitRules[0].targetMatchers[0]"),
    ],
)  # fmt: skip
def test_over_long_regex_is_rejected_with_its_path(doc: dict[str, object], path: str) -> None:
    reason = validity_reason(doc)
    assert reason is not None and reason.startswith(f"{path}:"), reason
    assert f"at most {MAX_REGEX_CHARS}" in reason


def test_over_long_and_non_re2_silence_regexes_are_refused() -> None:
    with pytest.raises(SilenceError, match=r"matchers\[0\]: regex is 2000 characters long"):
        parse_silence_message(silence([{"name": "thing", "op": "=~", "value": "x" * 2000}]), 0.0)  # type: ignore[list-item]
    with pytest.raises(SilenceError, match="not a valid RE2 regular expression"):
        parse_silence_message(silence([r'thing=~"(a)\1"']), 0.0)  # backreferences need backtracking


def test_rule_route_and_inhibition_regexes_use_re2() -> None:
    reason = validity_reason({"rules": [{**RULE, "matchers": ['cpu=~"(?=x)y"']}]})
    assert reason is not None and reason.startswith("rules[0].matchers[0]:") and "RE2" in reason
    assert validity_reason({"rules": [{**RULE, "matchers": [f'cpu=~"{PATHOLOGICAL}"']}]}) is None


def test_stored_silence_with_a_now_invalid_regex_is_dropped_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = SilenceStore(tmp_path / "s.sqlite")
    good = parse_silence_message(silence(['thing=~"gw-.*"'], "good"), 0.0)
    box.save("good", json.dumps(good.to_dict()), 4_000_000_000)  # type: ignore[union-attr]
    # Stored by an older version that accepted Python-only syntax (a lookahead) or any length.
    box.save("old", json.dumps(silence(['thing=~"(?!gw).*"'], "old")), 4_000_000_000)
    box.save("long", json.dumps(silence([f'thing=~"{"y" * 3000}"'], "long")), 4_000_000_000)
    with caplog.at_level(logging.WARNING):
        book = silence_book(box, now=1.0)
    assert [s.id for s in book.all()] == ["good"]
    assert sum("dropping an unreadable stored silence" in r.getMessage() for r in caplog.records) == 2
    assert len(box.load()) == 1  # dropped from the store too: not re-read at every start
    box.close()


def test_without_re2_regex_matchers_are_refused_not_run_on_backtracking_re(monkeypatch: pytest.MonkeyPatch) -> None:
    import alert_router.matchers as matchers

    monkeypatch.setattr(matchers, "re2", None)  # as on 32-bit ARM, where google-re2 has no wheel
    reason = validity_reason({"rules": [{**RULE, "matchers": ['cpu=~"a.*"']}]})
    assert reason is not None and reason.startswith("rules[0].matchers[0]: regex matchers (=~, !~) need the google-re2")
    assert validity_reason({"rules": [{**RULE, "matchers": ['cpu="total"']}]}) is None  # equality still works
    with pytest.raises(SilenceError, match="need the google-re2 package"):
        parse_silence_message(silence([f'thing=~"{PATHOLOGICAL}"']), 0.0)
