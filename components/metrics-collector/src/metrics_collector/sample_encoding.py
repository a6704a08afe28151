"""A sample as the JSON bytes of its `edgewatch.metrics/1` document, from text cached per series.

The series of one tick are nearly all those of the last one, so each one's JSON (name, unit,
labels) is encoded once and kept in a `SeriesCatalog`; a tick then writes only the values. This
is a third of what building the message's dicts and `json.dumps` cost, and the same `Series` is
the summary batch's key (see `batching.SummaryBatcher`). The bytes are exactly what
`json.loads` turns back into `MetricsMessage.to_dict()` (a test checks).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from edgewatch_shared.metrics_message import Metric, MetricsMessage

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, str, Labels]  # name, unit, labels sorted by name

# Top processes carry pid labels, so series come and go; past this many the catalog starts again.
MAX_SERIES = 4096


class Series:
    """One series' identity (`key`) and its JSON around the value; equal keys are equal series."""

    __slots__ = ("_hash", "key", "prefix", "suffix")

    def __init__(self, name: str, unit: str, labels: dict[str, str]) -> None:
        self.key: SeriesKey = (name, unit, tuple(sorted(labels.items())))
        self.prefix = '{"name":' + _json(name) + ',"value":'
        self.suffix = ',"unit":' + _json(unit) + ',"labels":' + _json(labels) + "}"
        self._hash = hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Series) and other.key == self.key

    def __repr__(self) -> str:
        return f"Series{self.key!r}"


class SeriesCatalog:
    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self._series: dict[SeriesKey, Series] = {}  # by name, unit and labels in the metric's own order
        self._max = max_series

    def __len__(self) -> int:
        return len(self._series)

    def series_of(self, metrics: Sequence[Metric]) -> list[Series]:
        known = self._series
        if len(known) > self._max:
            known.clear()
        found = []
        for m in metrics:
            # Each metric spec builds its labels in one fixed order, so the items need no sorting here.
            lookup = (m.name, m.unit, tuple(m.labels.items()))
            series = known.get(lookup)
            if series is None:
                series = known[lookup] = Series(m.name, m.unit, dict(m.labels))
            found.append(series)
        return found


def encode_sample(message: MetricsMessage, series: Sequence[Series]) -> bytes:
    """`message` as compact JSON; `series` are those of its metrics, in order."""
    head = (
        '{"schema":' + _json(message.schema) + ',"thing":' + _json(message.thing) + ',"ts":' + str(int(message.ts))
        + ',"metrics":['
    )  # fmt: skip
    # Values are finite floats (the sampler drops the rest); float repr is what json.dumps writes.
    body = ",".join([f"{s.prefix}{float(m.value)!r}{s.suffix}" for s, m in zip(series, message.metrics, strict=True)])
    return (head + body + "]}").encode()


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
