"""The IoT Core bridge: PublishToIoTCore/SubscribeToIoTCore through a real Mosquitto over mutual TLS."""

from __future__ import annotations

import queue
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from awsiot.greengrasscoreipc.model import IoTCoreMessage, ServiceError

from edgewatch.local.mqtt_uplink import MqttEndpoint, UplinkError
from edgewatch.local.testing import ComponentSpec, wait_until
from edgewatch_testkit.mosquitto import Mosquitto, start_mosquitto

ACL = {"aws.greengrass.ipc.mqttproxy": {"p": {
    "operations": ["aws.greengrass#PublishToIoTCore", "aws.greengrass#SubscribeToIoTCore"],
    "resources": ["dt/edgewatch/{iot:thingName}/#", "cmd/{iot:thingName}/#"]}}}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = start_mosquitto(tmp_path_factory.mktemp("mosquitto"), ("gw-bridge", "cloud-app"))
    yield server
    server.stop()


def endpoint(broker: Mosquitto) -> MqttEndpoint:
    folder = broker.folder
    return MqttEndpoint.parse(f"localhost:{broker.port}", folder / "gw-bridge.pem", folder / "gw-bridge.key",
                              folder / "ca.pem")


def mosquitto_sub(broker: Mosquitto, topic: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(["mosquitto_sub", *broker.client_args("cloud-app"), "-t", topic, "-C", str(count),
                             "-W", "20", "-v", "-q", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_publishes_reach_the_broker_and_broker_messages_reach_subscribers(ipc_runtime, broker: Mosquitto) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(ACL)}, thing_name="gw-bridge", mqtt_endpoint=endpoint(broker))
    assert wait_until(lambda: runtime.services.iot_core.uplink.connected, what="bridge connected")
    client = runtime.client("A")
    received: queue.Queue[IoTCoreMessage] = queue.Queue()
    client.subscribe_to_iot_core(topic_name="cmd/gw-bridge/#", qos="1", on_stream_event=received.put)

    cloud = mosquitto_sub(broker, "dt/edgewatch/gw-bridge/#", 2)
    # mosquitto_sub subscribes asynchronously; publish until it has seen both messages
    def delivered() -> bool:
        client.publish_to_iot_core(topic_name="dt/edgewatch/gw-bridge/metrics", qos="1", payload=b'{"n":1}')
        return cloud.poll() is not None
    wait_until(delivered, timeout=20, interval=0.2, what="mosquitto_sub to receive")
    output, errors = cloud.communicate(timeout=5)
    assert cloud.returncode == 0, errors
    assert output.splitlines()[0] == 'dt/edgewatch/gw-bridge/metrics {"n":1}'
    assert runtime.services.iot_core.log.read()[0]["topic"] == "dt/edgewatch/gw-bridge/metrics"

    published = subprocess.run(["mosquitto_pub", *broker.client_args("cloud-app"), "-t", "cmd/gw-bridge/reboot",
                                "-m", "now", "-q", "1"], capture_output=True, text=True, timeout=20)
    assert published.returncode == 0, published.stderr
    message = received.get(timeout=10).message
    assert (message.topic_name, message.payload) == ("cmd/gw-bridge/reboot", b"now")


def test_the_broker_requires_a_client_certificate(broker: Mosquitto) -> None:
    anonymous = subprocess.run(["mosquitto_pub", *broker.client_args(None), "-t", "x", "-m", "y"],
                               capture_output=True, text=True, timeout=20)
    assert anonymous.returncode != 0


def test_unreachable_broker_fails_publishes_like_the_nucleus_and_bad_paths_are_named(
        ipc_runtime, broker: Mosquitto, tmp_path: Path) -> None:
    folder = broker.folder
    dead = MqttEndpoint("localhost", 1, folder / "gw-bridge.pem", folder / "gw-bridge.key", folder / "ca.pem")
    runtime = ipc_runtime({"A": ComponentSpec(ACL)}, thing_name="gw-bridge", mqtt_endpoint=dead)
    with pytest.raises(ServiceError) as info:
        runtime.client("A").publish_to_iot_core(topic_name="dt/edgewatch/gw-bridge/m", qos="1", payload=b"x")
    assert "Failed to publish to IoT Core: not connected to localhost:1" in info.value.message
    with pytest.raises(UplinkError, match="certificate file not found"):
        MqttEndpoint.parse("localhost", tmp_path / "missing.pem", folder / "gw-bridge.key", None)
