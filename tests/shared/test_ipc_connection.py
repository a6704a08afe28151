from __future__ import annotations

from typing import Any

from edgewatch_shared.backoff import Backoff
from edgewatch_shared.ipc_connection import IpcClientConnection


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeClient:
    def __init__(self) -> None:
        self.closed = False

    def close(self, *, executor_wait: bool = True) -> None:
        self.closed = True


def test_backoff_grows_to_its_ceiling_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, random_fraction=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0
    assert Backoff(initial=4.0, random_fraction=lambda: 0.0).next_delay() == 2.0


def test_reconnects_with_backoff_after_failures_and_disconnects() -> None:
    clock = FakeClock()
    attempts: list[float] = []
    handlers: list[Any] = []
    fail = [True, True, False, False]
    connected: list[FakeClient] = []

    def factory(handler: Any) -> FakeClient:
        attempts.append(clock.now)
        handlers.append(handler)
        if fail.pop(0):
            raise ConnectionRefusedError("no nucleus")
        return FakeClient()

    connection = IpcClientConnection(
        client_factory=factory,  # type: ignore[arg-type]
        on_connected=connected.append,  # type: ignore[arg-type]
        clock=clock,
        backoff=Backoff(initial=1.0, maximum=4.0, random_fraction=lambda: 1.0),
    )
    assert connection.ensure_connected() is None
    assert connection.ensure_connected() is None  # within the backoff: no attempt
    clock.advance(1.0)
    assert connection.ensure_connected() is None
    clock.advance(2.0)
    client = connection.ensure_connected()
    assert client is not None and connected == [client]
    assert attempts == [1000.0, 1001.0, 1003.0]

    handlers[-1].on_disconnect(RuntimeError("socket closed"))
    assert connection.client is None and connection.disconnects == 1
    assert connection.ensure_connected() is None  # backoff restarted at its initial delay
    clock.advance(1.0)
    assert connection.ensure_connected() is not None
    assert connection.connects == 2


def test_gives_up_after_repeated_access_denied_but_never_for_a_missing_nucleus() -> None:
    from awsiot.eventstreamrpc import AccessDeniedError

    clock = FakeClock()
    errors: list[Exception] = [ConnectionRefusedError("no socket")] * 10 + [AccessDeniedError("denied")] * 2
    errors += [ConnectionRefusedError("down again")] + [AccessDeniedError("denied")] * 3
    attempts = 0

    def factory(handler: Any) -> FakeClient:
        nonlocal attempts
        attempts += 1
        raise errors.pop(0)

    reasons: list[str] = []
    connection = IpcClientConnection(
        client_factory=factory,  # type: ignore[arg-type]
        clock=clock,
        backoff=Backoff(initial=1.0, maximum=1.0, random_fraction=lambda: 1.0),
        on_give_up=reasons.append,
    )
    # Ten refusals of a nucleus that is down, two denials, another refusal (the count restarts), two
    # more denials: still trying.
    for _ in range(15):
        assert connection.ensure_connected() is None
        clock.advance(1.0)
    assert not connection.gave_up and reasons == []
    assert connection.ensure_connected() is None  # the third denial in a row
    assert connection.gave_up
    assert reasons == ["the nucleus refused this component's SVCUID 3 times in a row"]
    clock.advance(100.0)
    assert connection.ensure_connected() is None
    assert attempts == 16  # no attempt after giving up


def test_a_successful_connect_resets_the_denial_count() -> None:
    from awsiot.eventstreamrpc import AccessDeniedError

    clock = FakeClock()
    outcomes: list[Exception | None] = [AccessDeniedError("d"), AccessDeniedError("d"), None]

    def factory(handler: Any) -> FakeClient:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return FakeClient()

    connection = IpcClientConnection(
        client_factory=factory,  # type: ignore[arg-type]
        clock=clock,
        backoff=Backoff(initial=1.0, maximum=1.0, random_fraction=lambda: 1.0),
    )
    for _ in range(2):
        assert connection.ensure_connected() is None
        clock.advance(1.0)
    assert connection.ensure_connected() is not None
    connection.mark_broken()
    outcomes.extend([AccessDeniedError("d"), AccessDeniedError("d")])
    for _ in range(2):
        clock.advance(1.0)
        assert connection.ensure_connected() is None
    assert not connection.gave_up
