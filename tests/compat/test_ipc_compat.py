"""Publish/subscribe components written as in the developer guide's examples, with the unmodified IPC
clients V1 (`awsiot.greengrasscoreipc.connect()`, `new_publish_to_topic()`, stream handlers) and V2
(`GreengrassCoreIPCClientV2`), every pairing of publisher and subscriber, on the real runtime."""

from __future__ import annotations

import pytest

from edgewatch.local.testing import wait_until
from tests.compat.conftest import RECIPES, Compat


@pytest.mark.parametrize(("publisher", "subscriber"), [("V1", "V1"), ("V2", "V2"), ("V1", "V2"), ("V2", "V1")])
def test_pubsub_publisher_and_subscriber(compat: Compat, publisher: str, subscriber: str) -> None:
    """Developer guide, "Publish/subscribe local messages": PublishToTopic and SubscribeToTopic examples
    (IPC client V1 and V2, binary messages, `context.topic` on receipt), authorized by an
    aws.greengrass.ipc.pubsub policy on `test/topic/*`; publishing elsewhere is UnauthorizedError."""
    pub, sub = f"com.example.Publisher{publisher}", f"com.example.Subscriber{subscriber}"
    compat.add_recipe_folder(RECIPES / "pubsub")
    record = compat.deploy({sub: "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    received = compat.work(sub) / "received.txt"
    wait_until(lambda: received.exists() and "subscribed" in received.read_text(),
               what=f"{sub} subscribed ({compat.log(sub)[-400:]})")

    record = compat.deploy({pub: "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    compat.wait_state(pub, "FINISHED", "BROKEN")
    assert compat.state(pub) == "FINISHED", compat.log(pub)
    expected = [f"test/topic/java: Hello, World! {i}" for i in range(3)]
    # Each message exactly once. Not in order: the V2 client runs stream callbacks on a thread pool,
    # several at once, so a V2 subscriber may record them in any order (V1 calls one at a time).
    wait_until(lambda: sorted(received.read_text().splitlines()[1:]) == expected,
               what=f"the three messages, once each (got {received.read_text()!r})")
    if subscriber == "V1":
        assert received.read_text().splitlines()[1:] == expected
    assert (compat.work(pub) / "unauthorized.txt").read_text() == "not/granted"
    assert compat.state(sub) == "RUNNING"
