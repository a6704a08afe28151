from __future__ import annotations

from edgewatch_shared.backoff import Backoff


def test_counted_and_pure_forms_give_the_same_delays() -> None:
    counted = Backoff(initial=1.0, maximum=8.0, random_fraction=lambda: 1.0)
    pure = Backoff(initial=1.0, maximum=8.0, random_fraction=lambda: 1.0)
    assert [counted.next_delay() for _ in range(5)] == [pure.delay(a) for a in range(5)] == [1, 2, 4, 8, 8]


def test_jitter_never_goes_below_half_and_retry_after_is_the_receivers_word() -> None:
    low = Backoff(initial=4.0, random_fraction=lambda: 0.0)
    assert low.delay(0) == 2.0
    assert low.delay(0, retry_after=30.0) == 30.0  # Slack said when: not earlier, not jittered
    assert low.delay(5, retry_after=-1.0) == 0.0  # a nonsense Retry-After is not a negative wait
