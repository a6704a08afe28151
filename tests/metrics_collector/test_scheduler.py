from __future__ import annotations

from metrics_collector.scheduler import FixedRateSchedule


def test_deadlines_do_not_drift_with_tick_duration() -> None:
    schedule = FixedRateSchedule.starting_at(100.0, 1.0)
    fired = []
    now = 100.0
    for _ in range(50):
        now = schedule.next_due
        fired.append(now)
        now += 0.37  # the tick's own duration must not push later deadlines
        schedule.advance(now)
    assert fired == [100.0 + k for k in range(50)]
    assert schedule.skipped == 0


def test_no_burst_after_suspend_one_tick_then_back_on_the_grid() -> None:
    schedule = FixedRateSchedule.starting_at(0.0, 10.0)
    schedule.advance(0.1)
    assert schedule.next_due == 10.0
    # Suspended at 10 s for an hour: the clock jumps to 3612 s.
    resume = 3_612.0
    assert schedule.is_due(resume)
    schedule.advance(resume)
    assert not schedule.is_due(resume)  # no catch-up burst
    assert schedule.next_due == 3_620.0  # the next point of the original grid
    assert schedule.skipped == 360


def test_interval_change_starts_a_new_grid_from_now() -> None:
    schedule = FixedRateSchedule.starting_at(0.0, 60.0)
    schedule.change_interval(5.0, now=12.0)
    assert schedule.next_due == 17.0
    assert schedule.seconds_until_due(12.0) == 5.0
