"""The dashboard's pure core: history bounds, push coalescing and resync, login limits, config validation."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from local_dashboard.auth import LoginLimiter, Sessions, load_password_file
from local_dashboard.books import InputError, silence_request
from local_dashboard.config import DEFAULTS, parse_checked, validity_reason
from local_dashboard.history import HistoryStore
from local_dashboard.prometheus import render
from local_dashboard.push import ClientFeed
from local_dashboard.state import MAX_NESTING, DashboardState, OversizedError, measure

from edgewatch_shared.metrics_message import from_dict

T0 = 1_800_000_000_000


def sample(ts: int, value: float, name: str = "cpu.percent", labels: dict[str, str] | None = None) -> Any:
    metric = {"name": name, "value": value, "unit": "%", "labels": labels or {"cpu": "total"}}
    return from_dict({"schema": "edgewatch.metrics/1", "thing": "gw", "ts": ts, "metrics": [metric]})


def test_history_keeps_raw_for_history_seconds_and_means_for_the_long_tier() -> None:
    store = HistoryStore(history_s=60, downsample_s=10, long_history_s=300, max_series=10)
    for i in range(400):  # one sample per second for 400 s
        store.ingest(sample(T0 + i * 1000, float(i)), T0 + i * 1000)
    now = T0 + 399_000
    (series,) = store.series.values()
    assert len(series.raw) == 61 and series.raw[0][0] == now - 60_000
    # 300 s at 10 s buckets: 30 closed buckets kept, plus the open one in snapshots.
    assert 29 <= len(series.coarse) <= 31
    first_ts, first_mean = series.coarse[0]
    assert first_mean == pytest.approx(first_ts / 1000 - T0 / 1000 + 4.5)
    long = store.snapshot(21600, now)[0]["points"]
    assert [p[0] for p in long] == sorted(p[0] for p in long)
    assert store.snapshot(60, now)[0]["points"][-1] == [now, 399.0]  # within the raw tier: raw points


def test_history_refuses_series_beyond_max_and_ignores_out_of_order() -> None:
    store = HistoryStore(history_s=60, downsample_s=10, long_history_s=0, max_series=2)
    for i in range(3):
        store.ingest(sample(T0, 1.0, labels={"cpu": str(i)}), T0)
    assert len(store.series) == 2 and store.stats.refused_series_total == 1
    store.ingest(sample(T0 - 5, 2.0, labels={"cpu": "0"}), T0)
    assert store.stats.out_of_order_total == 1


def test_points_since_gives_only_new_points_and_none_after_the_journal_wrapped() -> None:
    store = HistoryStore(history_s=3600, downsample_s=60, long_history_s=0, max_series=1)
    store.ingest(sample(T0, 1.0), T0)
    seq = store.seq
    store.ingest(sample(T0 + 1000, 2.0), T0 + 1000)
    (delta,) = store.points_since(seq) or []
    assert delta["points"] == [[T0 + 1000, 2.0]] and delta["key"] == "cpu.percent{cpu=total}"
    for i in range(2, 6000):
        store.ingest(sample(T0 + i * 1000, 1.0), T0 + i * 1000)
    assert store.points_since(seq) is None  # fell behind: the client must resync


def state(**overrides: Any) -> DashboardState:
    return DashboardState(parse_checked({**overrides}), "gw")


def test_feed_coalesces_and_resyncs_a_client_whose_queue_overflows() -> None:
    st = state()
    feed = ClientFeed(limit_bytes=20_000)
    first = json.loads(feed.plan(st, T0) or "")
    assert first["type"] == "snapshot"
    assert feed.plan(st, T0) is None  # nothing new: no frame
    for i in range(1, 4):  # three samples between two pushes -> one frame with three points
        st.receive("metrics", sample(T0 + i, float(i)).to_dict(), T0 + i)
    delta = json.loads(feed.plan(st, T0 + 5) or "")
    assert delta["type"] == "delta" and len(delta["series"][0]["points"]) == 3 and "alerts" not in delta
    # A client that never reads: frames pile up until the byte bound, then everything queued is dropped.
    big = {"name": "x" * 200, "value": 1.0, "unit": "", "labels": {}}
    queued = []
    for i in range(200):
        doc = {"schema": "edgewatch.metrics/1", "thing": "gw", "ts": T0 + 1000 + i,
               "metrics": [{**big, "name": f"m.n{j}"} for j in range(40)]}  # fmt: skip
        st.receive("metrics", doc, T0 + 1000 + i)
        text = feed.plan(st, T0 + 1000 + i)
        if text is not None:
            queued.append(feed.enqueue(text))
        assert feed.queued_bytes <= 20_000 or len(feed) == 1  # a lone frame may exceed the bound
    assert False in queued and feed.dropped_frames > 0 and feed.resyncs > 0
    while feed.take() is not None:
        pass
    assert json.loads(feed.plan(st, T0 + 5000) or "")["type"] == "snapshot"


def test_feed_waits_with_the_resync_while_a_send_is_in_flight() -> None:
    st = state()
    feed = ClientFeed(limit_bytes=20_000)
    assert feed.plan(st, T0, sending=True) is None
    assert feed.plan(st, T0) is not None


def test_login_limiter_slows_repeated_failures_exponentially_per_client() -> None:
    now = [0.0]
    limiter = LoginLimiter(lambda: now[0], free_failures=3)
    delays = [limiter.failed("10.0.0.1") for _ in range(6)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0]
    assert limiter.retry_after("10.0.0.1") == 8.0 and limiter.retry_after("10.0.0.2") == 0.0
    now[0] = 8.0
    assert limiter.retry_after("10.0.0.1") == 0.0
    limiter.succeeded("10.0.0.1")
    assert limiter.failed("10.0.0.1") == 0.0


def test_sessions_expire_and_can_be_dropped() -> None:
    now = [0.0]
    sessions = Sessions(60, lambda: now[0])
    token = sessions.create()
    assert sessions.valid(token) and not sessions.valid("nope") and not sessions.valid(None)
    now[0] = 61
    assert not sessions.valid(token)
    other = sessions.create()
    sessions.drop(other)
    assert not sessions.valid(other)


def test_password_file_is_created_0600_once_and_reused(tmp_path: Any) -> None:
    password, path, created = load_password_file(tmp_path)
    assert created and len(password) >= 20 and path.stat().st_mode & 0o777 == 0o600
    again, _, created_again = load_password_file(tmp_path)
    assert again == password and not created_again


@pytest.mark.parametrize("raw, path", [
    ({"port": "eighty"}, "port:"), ({"port": 70000}, "port:"), ({"listenAddress": "localhost"}, "listenAddress:"),
    ({"historySeconds": -1}, "historySeconds:"), ({"allowedOrigins": ["https://x/path"]}, "allowedOrigins[0]:"),
    ({"tlsCertFile": "/nonexistent.pem", "tlsKeyFile": "/nonexistent.key"}, "tlsCertFile:"),
    ({"maxSeries": 10**400}, "maxSeries:"), ({"metricsTopic": "edgewatch/#"}, "metricsTopic:"),
    ([1, 2], "(root):"), ("text", "(root):"), ({"pushIntervalSeconds": math.inf}, "pushIntervalSeconds:"),
])  # fmt: skip
def test_invalid_configuration_is_rejected_with_its_path(raw: Any, path: str) -> None:
    reason = validity_reason(raw)
    assert reason is not None and reason.startswith(path.rstrip(":")), reason


def test_tls_key_must_be_0600(tmp_path: Any) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    key.chmod(0o644)
    reason = validity_reason({"tlsCertFile": str(cert), "tlsKeyFile": str(key)})
    assert reason is not None and reason.startswith("tlsKeyFile:") and "0600" in reason
    key.chmod(0o600)
    assert validity_reason({"tlsCertFile": str(cert), "tlsKeyFile": str(key)}) is None


def test_defaults_and_recipe_agree() -> None:
    import yaml

    from tests.dashboard.conftest import ROOT

    recipe = yaml.safe_load((ROOT / "recipes" / "com.edgewatch.LocalDashboard.yaml").read_text())
    defaults = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert {k: v for k, v in defaults.items() if k != "accessControl"} == DEFAULTS
    assert validity_reason(defaults) is None


def test_silence_request_is_checked_and_becomes_a_silence_document() -> None:
    doc = silence_request({"matchers": [{"name": "alertname", "op": "=", "value": "HighCpu"}], "durationSeconds": 600,
                           "author": "ana", "comment": "maintenance"}, T0, "sid-1")  # fmt: skip
    assert doc == {"schema": "edgewatch.silence/1", "action": "create", "id": "sid-1", "startsAt": T0,
                   "endsAt": T0 + 600_000, "author": "ana", "comment": "maintenance",
                   "matchers": [{"name": "alertname", "op": "=", "value": "HighCpu"}]}  # fmt: skip
    for bad, where in [({"matchers": [], "durationSeconds": 600, "author": "a", "comment": "c"}, "matchers"),
                       ({"matchers": [{"name": "a", "op": "=~", "value": "(" * 300}], "durationSeconds": 600,
                         "author": "a", "comment": "c"}, "matchers[0].value"),
                       ({"matchers": ["a=b"], "durationSeconds": 1, "author": "a", "comment": "c"}, "durationSeconds"),
                       ({"matchers": ["a=b"], "durationSeconds": 600, "author": "", "comment": "c"},
                        "author")]:  # fmt: skip
        with pytest.raises(InputError, match=rf"^{where.replace('[', '.').replace(']', '.')}"):
            silence_request(bad, T0, "x")


def test_malformed_and_oversized_messages_are_counted_not_fatal() -> None:
    st = state(maxMessageBytes=2048)
    assert not st.receive("metrics", {"schema": "edgewatch.metrics/1"}, T0)
    assert not st.receive("metrics", b"x" * 5000, T0)
    assert not st.receive("alerts", {"schema": "edgewatch.alerts/1", "alerts": [{"fingerprint": "f" * 4000}]}, T0)
    assert not st.receive("health", [[[[]]]], T0)
    nested: Any = []
    for _ in range(100):
        nested = [nested]
    assert not st.receive("silences", nested, T0)
    assert st.malformed == {"metrics": 2, "alerts": 1, "health": 1, "silences": 1}
    assert st.receive("metrics", sample(T0, 1.0).to_dict(), T0)


def test_prometheus_names_and_labels_are_valid() -> None:
    store = HistoryStore(history_s=60, downsample_s=10, long_history_s=0, max_series=10)
    store.ingest(sample(T0, 12.5, "disk.percent", {"mount": '/a"b'}), T0)
    text = render(store.latest(), "gw-1")
    assert '# TYPE edgewatch_disk_percent gauge\nedgewatch_disk_percent{mount="/a\\"b",thing="gw-1"} 12.5' in text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from([*sorted(DEFAULTS), "accessControl", "unknown"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=6)))
def test_validation_answers_for_any_json_value(raw: Any) -> None:
    reason = validity_reason(raw)
    assert reason is None or (isinstance(reason, str) and ":" in reason)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["metrics", "alerts", "health", "silences"]), st.one_of(
    JSON, st.fixed_dictionaries({"schema": st.sampled_from(["edgewatch.metrics/1", "edgewatch.alerts/1",
                                                             "edgewatch.health/1", "edgewatch.silence/1"])},
                                optional={"alerts": JSON, "metrics": JSON, "matchers": JSON, "ts": JSON,
                                          "action": st.sampled_from(["create", "expire", "x"]), "id": JSON,
                                          "endsAt": JSON, "startsAt": JSON, "thing": JSON})))  # fmt: skip
def test_any_message_is_applied_or_counted_never_raises(kind: str, doc: Any) -> None:
    st_ = state()
    ok = st_.receive(kind, doc, T0)
    assert ok or st_.malformed[kind] == 1
    json.loads(ClientFeed(1 << 20).plan(st_, T0) or "")  # whatever was accepted still encodes


def test_silence_file_round_trips_and_a_corrupt_one_is_quarantined(tmp_path: Any) -> None:
    from local_dashboard import silence_store
    from local_dashboard.books import SilenceBook

    book = SilenceBook()
    book.apply(silence_request({"matchers": ["alertname=HighCpu"], "durationSeconds": 600, "author": "ana",
                                "comment": "c"}, T0, "sid-1"), T0)  # fmt: skip
    path = tmp_path / silence_store.FILE_NAME
    silence_store.save(path, book.to_documents())
    assert path.stat().st_mode & 0o777 == 0o600
    again = SilenceBook()
    for doc in silence_store.load(path, T0 / 1000):
        again.apply(doc, T0)
    assert again.to_list(T0) == book.to_list(T0)
    path.write_text('{"not": "a list"')
    assert silence_store.load(path, T0 / 1000) == []
    assert not path.exists() and len(list(tmp_path.glob(f"{silence_store.FILE_NAME}.corrupt-*"))) == 1


def test_health_turns_silent_after_three_intervals_and_alerts_resolve() -> None:
    st_ = state()
    doc = {"schema": "edgewatch.health/1", "component": "com.edgewatch.MetricsCollector", "thing": "gw", "ts": T0,
           "intervalSeconds": 10, "status": "healthy", "reasons": [], "counters": {}}  # fmt: skip
    assert st_.receive("health", doc, T0)
    version = st_.versions()[2]
    st_.tick(T0 + 30_000)
    assert st_.health.to_list((T0 + 30_000) / 1000)[0]["status"] == "healthy"
    st_.tick(T0 + 30_001)
    assert st_.health.to_list((T0 + 30_001) / 1000)[0]["status"] == "silent"
    assert st_.versions()[2] > version  # a client is told without any new message
    alert = {"fingerprint": "f1", "status": "firing", "labels": {"alertname": "A"}, "value": 1, "startsAt": T0,
             "annotations": {"summary": "s"}}  # fmt: skip
    note = {"schema": "edgewatch.alerts/1", "alerts": [alert]}
    st_.receive("alerts", note, T0)
    st_.receive("alerts", {**note, "alerts": [{**alert, "status": "resolved", "endsAt": T0 + 5}]}, T0 + 5)
    (shown,) = st_.alert_list(T0 + 5)
    assert shown["state"] == "resolved" and shown["endsAt"] == T0 + 5
    st_.receive("alerts", {**note, "alerts": [{**alert, "fingerprint": "f2"}]}, T0 + 3_700_000)
    assert [a["id"] for a in st_.alert_list(T0 + 3_700_000)] == ["f2"]  # resolved ones go after an hour


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_measure_is_the_compact_encoded_size_of_any_json_value(doc: Any) -> None:
    expected = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    assert measure(doc, 10**6) == expected
    if expected > 1:
        with pytest.raises(OversizedError, match="larger than"):
            measure(doc, expected - 1)


def test_measure_refuses_deep_nesting_and_many_elements_before_encoding() -> None:
    nested: Any = {}
    for _ in range(MAX_NESTING + 1):
        nested = {"a": nested}
    with pytest.raises(OversizedError, match="nested deeper"):
        measure(nested, 10**6)
    with pytest.raises(OversizedError, match="larger than 100 bytes"):
        measure([0] * 101, 100)


def test_a_binary_message_is_measured_by_its_length_and_still_checked_for_depth() -> None:
    nested: Any = {}
    for _ in range(MAX_NESTING + 1):
        nested = {"a": nested}
    with pytest.raises(OversizedError, match="nested deeper"):
        measure(nested, 10**6, encoded_size=10)
    assert measure({"a": [1, 2]}, 100, encoded_size=57) == 57  # the text's own length, spaces and all
    with pytest.raises(OversizedError, match="larger than 50 bytes"):
        measure({"a": [1, 2]}, 50, encoded_size=57)


def test_a_binary_metrics_message_is_sized_by_its_length_and_keeps_only_its_known_fields() -> None:
    st = state(maxMessageBytes=2048)
    doc = sample(T0, 3.5).to_dict()
    deep: Any = []
    for _ in range(MAX_NESTING + 5):
        deep = [deep]
    doc["metrics"][0]["extra"] = deep  # an unknown field, ignored by validation and never stored
    assert st.receive("metrics", json.dumps(doc).encode(), T0)
    (series,) = st.store.series.values()
    assert series.raw[-1] == (T0, 3.5) and "extra" not in series.header()
    assert not st.receive("metrics", doc, T0 + 1000)  # the same, decoded by the IPC client: walked, refused
    assert not st.receive("metrics", json.dumps({**doc, "pad": "x" * 2048}).encode(), T0 + 2000)
    assert st.malformed == {"metrics": 2}


def test_clients_at_the_same_point_share_one_encoded_frame_per_push_cycle() -> None:
    st = state()
    feeds = [ClientFeed(limit_bytes=1 << 20) for _ in range(3)]
    for feed in feeds:
        feed.plan(st, T0)  # each one's snapshot
    st.receive("metrics", sample(T0, 1.0).to_dict(), T0)
    feeds[2].plan(st, T0)  # this one is a sample ahead of the others
    st.receive("metrics", sample(T0 + 1000, 2.0).to_dict(), T0 + 1000)
    shared: dict[Any, str | None] = {}
    first, second, ahead = (feed.plan(st, T0 + 1000, shared=shared) for feed in feeds)
    assert first is second and first is not None  # encoded once
    assert [p[1] for p in json.loads(first)["series"][0]["points"]] == [1.0, 2.0]
    assert ahead is not None and [p[1] for p in json.loads(ahead)["series"][0]["points"]] == [2.0]
    assert all(feed.plan(st, T0 + 1000, shared=shared) is None for feed in feeds)  # nothing new
