"""The local sample's JSON bytes, written from per-series text, decode to exactly the message's
document, and the same series key the summary batch."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from metrics_collector.batching import SummaryBatcher
from metrics_collector.config import parse_config
from metrics_collector.health import CollectorHealth
from metrics_collector.sample_encoding import SeriesCatalog, encode_sample
from metrics_collector.sampler import Sampler

from edgewatch_shared.metrics_message import Metric, MetricsMessage, from_dict
from tests.metrics_collector.fakes import FakeSource

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z0-9_]{1,8}){0,2}", fullmatch=True)
texts = st.text(max_size=12)  # any Unicode: quotes, backslashes, control characters, °C
values = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53).map(float)
metrics = st.builds(Metric, names, values, texts, st.dictionaries(texts, texts, max_size=3))


@given(st.lists(metrics, max_size=20), texts.filter(bool), st.integers(0, 2**45))
def test_encoded_bytes_decode_to_the_messages_document(items: list[Metric], thing: str, ts: int) -> None:
    message = MetricsMessage(thing=thing, ts=ts, metrics=tuple(items))
    catalog = SeriesCatalog()
    first = encode_sample(message, catalog.series_of(message.metrics))
    assert json.loads(first) == message.to_dict()
    assert encode_sample(message, catalog.series_of(message.metrics)) == first  # from the cached text


def test_a_real_sample_round_trips_and_its_series_are_reused() -> None:
    sampler = Sampler(FakeSource(), "gw-01", CollectorHealth())
    config = parse_config({})
    catalog = SeriesCatalog()
    message = sampler.sample(config, now=0.0, wall_time=1_763_800_000.0)
    series = catalog.series_of(message.metrics)
    assert from_dict(json.loads(encode_sample(message, series))) == message
    later = sampler.sample(config, now=1.0, wall_time=1_763_800_001.0)
    again = catalog.series_of(later.metrics)
    known = {s.key: s for s in series}
    shared = [a for a in again if a.key in known]
    assert shared and all(known[a.key] is a for a in shared)  # the text is encoded once per series
    assert json.loads(encode_sample(later, again)) == later.to_dict()


def test_the_catalog_starts_again_past_its_bound() -> None:
    catalog = SeriesCatalog(max_series=10)
    for pid in range(30):  # top-process series come and go with their pids
        catalog.series_of([Metric("process.cpu_percent", 1.0, "%", {"pid": str(pid)})])
    assert len(catalog) <= 11


def test_summary_batches_are_the_same_with_the_ticks_series_or_without() -> None:
    sampler = Sampler(FakeSource(), "gw-01", CollectorHealth())
    config = parse_config({})
    catalog = SeriesCatalog()
    given_series, found_here = SummaryBatcher(), SummaryBatcher()
    for i in range(3):
        message = sampler.sample(config, now=float(i), wall_time=1_763_800_000.0 + i)
        given_series.add(message, catalog.series_of(message.metrics))
        found_here.add(message)
    a, b = given_series.take("gw-01"), found_here.take("gw-01")
    assert a is not None and b is not None
    assert a.header == b.header and a.items == b.items and a.header["sampleCount"] == 3
