"""alert_router.windows: the per-series sample window and its aggregations, directly."""

from __future__ import annotations

import pytest
from alert_router.windows import STALE_AFTER_SECONDS, SeriesWindow


def window(points: list[tuple[float, float]], keep: float = 600.0) -> SeriesWindow:
    w = SeriesWindow(keep)
    for ts, value in points:
        w.add(ts, value)
    return w


def test_an_empty_window_has_no_value_for_any_aggregation() -> None:
    w = SeriesWindow(60.0)
    assert [w.aggregate(how, 60.0, 0.0) for how in ("last", "avg", "min", "max", "rate")] == [None] * 5


def test_add_drops_points_older_than_keep_but_always_keeps_the_newest() -> None:
    w = window([(0, 1), (10, 2), (20, 3), (30, 4)], keep=15.0)
    assert list(w.points) == [(20, 3), (30, 4)]
    w = window([(0, 1)], keep=0.0)
    w.add(100, 2)
    assert list(w.points) == [(100, 2)]  # keep 0 ("last" rules) still holds the last sample


def test_an_out_of_order_sample_is_ignored() -> None:
    w = window([(10, 1), (20, 2)])
    w.add(15, 99)
    assert list(w.points) == [(10, 1), (20, 2)]
    w.add(20, 3)  # the same time is not out of order
    assert w.aggregate("last", 0, 20) == 3


def test_last_is_stale_after_five_minutes_unless_the_window_is_longer() -> None:
    w = window([(0, 7)])
    assert w.aggregate("last", 0, STALE_AFTER_SECONDS) == 7
    assert w.aggregate("last", 0, STALE_AFTER_SECONDS + 1) is None
    assert w.aggregate("last", 600, 500) == 7  # a 10 min window looks back 10 min


def test_avg_min_max_see_only_the_window() -> None:
    w = window([(0, 100), (50, 10), (60, 20), (70, 30)])
    assert w.aggregate("avg", 30, 70) == pytest.approx(20)
    assert w.aggregate("min", 30, 70) == 10
    assert w.aggregate("max", 30, 70) == 30
    assert w.aggregate("max", 100, 70) == 100
    assert w.aggregate("avg", 5, 200) is None  # nothing in the last 5 s


def test_rate_is_the_per_second_increase_and_a_reset_counts_from_zero() -> None:
    assert window([(0, 100), (10, 150), (20, 200)]).aggregate("rate", 60, 20) == pytest.approx(5)
    # 100 -> 150 (+50), reset to 20 (+20), 20 -> 30 (+10): 80 over 30 s
    assert window([(0, 100), (10, 150), (20, 20), (30, 30)]).aggregate("rate", 60, 30) == pytest.approx(80 / 30)


def test_rate_needs_two_points_apart_in_time() -> None:
    assert window([(0, 5)]).aggregate("rate", 60, 0) is None
    assert window([(10, 5), (10, 9)]).aggregate("rate", 60, 10) is None


def test_an_aggregate_that_is_not_finite_is_no_value() -> None:
    w = window([(0, 0.0), (1e-300, 1e308)])
    assert w.aggregate("rate", 60, 1) is None  # 1e308 / 1e-300 overflows to inf
    assert window([(0, 1e308), (1, 1e308)]).aggregate("avg", 60, 1) == 1e308
