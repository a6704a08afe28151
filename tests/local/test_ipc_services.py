"""IoT Core, configuration, validation, state and secrets through the real GreengrassCoreIPCClientV2."""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path

import pytest
from awsiot.greengrasscoreipc.model import (
    ConfigurationValidityReport,
    InvalidArgumentsError,
    IoTCoreMessage,
    ResourceNotFoundError,
    ServiceError,
    UnauthorizedError,
)

from edgewatch.local.secrets import SecretStore, SecretStoreError
from edgewatch.local.testing import ComponentSpec, wait_until

IOT_ACL = {"aws.greengrass.ipc.mqttproxy": {"p": {
    "operations": ["aws.greengrass#PublishToIoTCore", "aws.greengrass#SubscribeToIoTCore"],
    "resources": ["dt/edgewatch/{iot:thingName}/#", "cmd/+/in"],
}}}


def test_iot_core_loopback_delivers_qos0_and_qos1_and_logs_them(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(IOT_ACL)}, thing_name="gw-01")
    client = runtime.client("A")
    received: queue.Queue[IoTCoreMessage] = queue.Queue()
    client.subscribe_to_iot_core(topic_name="dt/edgewatch/gw-01/#", qos="1", on_stream_event=received.put)
    client.publish_to_iot_core(topic_name="dt/edgewatch/gw-01/metrics", qos="0", payload=b'{"n":0}')
    client.publish_to_iot_core(topic_name="dt/edgewatch/gw-01/metrics", qos="1", payload=b"\xff\x00")
    first, second = received.get(timeout=5), received.get(timeout=5)
    assert (first.message.topic_name, first.message.payload) == ("dt/edgewatch/gw-01/metrics", b'{"n":0}')
    assert second.message.payload == b"\xff\x00"
    records = runtime.services.iot_core.log.read()
    assert [(r["qos"], r.get("payload"), r.get("payloadBase64")) for r in records] == [
        (0, '{"n":0}', None), (1, None, "/wA=")]
    assert all(r["from"] == "A" and r["topic"] == "dt/edgewatch/gw-01/metrics" for r in records)


def test_iot_core_policy_uses_thing_name_and_mqtt_wildcards(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(IOT_ACL)}, thing_name="gw-01")
    client = runtime.client("A")
    client.publish_to_iot_core(topic_name="cmd/x/in", qos="1", payload=b"{}")
    with pytest.raises(UnauthorizedError) as info:
        client.publish_to_iot_core(topic_name="dt/edgewatch/gw-02/metrics", qos="1", payload=b"{}")
    assert info.value.message.endswith(
        "aws.greengrass.ipc.mqttproxy:aws.greengrass#PublishToIoTCore on resource dt/edgewatch/gw-02/metrics")
    with pytest.raises(UnauthorizedError):
        client.subscribe_to_iot_core(topic_name="#", qos="0", on_stream_event=print)


def test_iot_core_limits_and_simulated_outage(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(IOT_ACL)}, thing_name="gw-01")
    client = runtime.client("A")
    with pytest.raises(InvalidArgumentsError) as big:
        client.publish_to_iot_core(topic_name="dt/edgewatch/gw-01/m", qos="1", payload=b"x" * (128 * 1024 + 1))
    assert "131072" in big.value.message
    with pytest.raises(InvalidArgumentsError):
        client.publish_to_iot_core(topic_name="dt/edgewatch/gw-01/#", qos="1", payload=b"x")
    runtime.services.iot_core.fail_publishes = "connection lost"
    with pytest.raises(ServiceError) as outage:
        client.publish_to_iot_core(topic_name="dt/edgewatch/gw-01/m", qos="1", payload=b"x")
    assert "connection lost" in outage.value.message
    assert runtime.services.iot_core.log.read() == []


def test_get_and_update_configuration_with_update_events(ipc_runtime) -> None:
    config = {"sampleIntervalSeconds": 5, "nested": {"list": [1, 2], "k": "v"}}
    runtime = ipc_runtime({"A": ComponentSpec({}, config), "B": ComponentSpec({}, {"other": True})})
    a, b = runtime.client("A"), runtime.client("B")
    assert a.get_configuration(key_path=[]).value == config
    assert a.get_configuration(key_path=["nested"]).value == {"list": [1, 2], "k": "v"}
    assert a.get_configuration(key_path=["sampleIntervalSeconds"]).value == {"sampleIntervalSeconds": 5}
    assert a.get_configuration(component_name="B", key_path=[]).value == {"other": True}
    with pytest.raises(ResourceNotFoundError):
        a.get_configuration(key_path=["missing"])
    events: queue.Queue = queue.Queue()
    a.subscribe_to_configuration_update(key_path=["nested"], on_stream_event=events.put)
    b.subscribe_to_configuration_update(component_name="A", key_path=[], on_stream_event=events.put)
    a.update_configuration(key_path=["nested"], value_to_merge={"list": [9]})
    seen = {(e.configuration_update_event.component_name, tuple(e.configuration_update_event.key_path))
            for e in (events.get(timeout=5), events.get(timeout=5))}
    assert seen == {("A", ("nested", "list"))}
    assert a.get_configuration(key_path=["nested"]).value == {"list": [9], "k": "v"}  # lists replaced whole
    # an unrelated key does not wake the subscriber of "nested"
    a.update_configuration(key_path=[], value_to_merge={"sampleIntervalSeconds": 10})
    event = events.get(timeout=5)
    assert event.configuration_update_event.key_path == ["sampleIntervalSeconds"]
    assert events.empty()


@pytest.mark.parametrize(("verdict", "reason"), [("ACCEPTED", ""), ("REJECTED", "sampleIntervalSeconds: must be > 0")])
def test_configuration_validation_round_trip(ipc_runtime, verdict: str, reason: str) -> None:
    runtime = ipc_runtime({"A": ComponentSpec({}, {"sampleIntervalSeconds": 5})})
    client = runtime.client("A")
    seen: queue.Queue = queue.Queue()

    def on_validate(event) -> None:
        seen.put(event.validate_configuration_update_event.configuration)
        # V2 runs callbacks on its executor; answering from another thread is what components do
        threading.Thread(target=client.send_configuration_validity_report, kwargs={
            "configuration_validity_report": ConfigurationValidityReport(
                status=verdict, deployment_id=event.validate_configuration_update_event.deployment_id,
                message=reason)}).start()

    client.subscribe_to_validate_configuration_updates(on_stream_event=on_validate)
    result = runtime.run(runtime.services.configuration.validate("A", {"sampleIntervalSeconds": -1}, "dep-1", 10))
    assert seen.get(timeout=5) == {"sampleIntervalSeconds": -1}
    assert (result.accepted, result.message) == (verdict == "ACCEPTED", reason)


def test_validity_report_without_a_request_is_refused(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec({}, {})})
    with pytest.raises(InvalidArgumentsError):
        runtime.client("A").send_configuration_validity_report(
            configuration_validity_report=ConfigurationValidityReport(status="ACCEPTED", deployment_id="nope"))


def test_update_state_reaches_the_runtime(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec({})})
    runtime.client("A").update_state(state="RUNNING")
    assert runtime.services.reported_states == {"A": "RUNNING"}
    with pytest.raises(InvalidArgumentsError):
        runtime.client("A").update_state(state="BROKEN")


def write_secrets(path: Path, mode: int = 0o600) -> Path:
    path.write_text(json.dumps([
        {"arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-AbCdEf", "name": "slack",
         "secretString": "xoxb-secret-token"},
        {"arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-XyZ", "name": "other",
         "secretString": "nope"},
    ]))
    os.chmod(path, mode)
    return path


SECRET_ACL = {"aws.greengrass.SecretManager": {"p": {
    "operations": ["aws.greengrass#GetSecretValue"],
    "resources": ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-*"]}}}


def test_secrets_allowed_by_arn_or_name_and_denied_otherwise(ipc_runtime, tmp_path: Path) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(SECRET_ACL)}, secrets_file=write_secrets(tmp_path / "s.json"))
    client = runtime.client("A")
    by_name = client.get_secret_value(secret_id="slack")
    assert by_name.secret_value.secret_string == "xoxb-secret-token"
    assert by_name.secret_id.endswith(":secret:slack-AbCdEf")
    assert by_name.version_stage == ["AWSCURRENT"]
    with pytest.raises(UnauthorizedError) as denied:
        client.get_secret_value(secret_id="other")
    assert "aws.greengrass.SecretManager:aws.greengrass#GetSecretValue on resource arn:aws:" in denied.value.message
    with pytest.raises(ResourceNotFoundError):
        client.get_secret_value(secret_id="arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-missing")


def test_without_a_secret_store_get_secret_value_is_not_provided(ipc_runtime) -> None:
    runtime = ipc_runtime({"A": ComponentSpec(SECRET_ACL)})
    with pytest.raises(ServiceError) as info:
        runtime.client("A").get_secret_value(secret_id="slack")
    assert "GetSecretValue is not supported" in info.value.message


def test_a_secret_store_readable_by_others_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="0600"):
        SecretStore.load(write_secrets(tmp_path / "s.json", 0o644))
    assert "xoxb" not in repr(SecretStore.load(write_secrets(tmp_path / "t.json")).find("slack"))


def test_configuration_survives_a_runtime_restart(ipc_runtime, tmp_path: Path) -> None:
    first = ipc_runtime({"A": ComponentSpec({}, {"a": 1})})
    first.client("A").update_configuration(key_path=["b"], value_to_merge={"c": 2})
    root = first.services.root
    first.stop()
    from edgewatch.local.testing import ThreadedIpcRuntime

    with ThreadedIpcRuntime(root, {"A": ComponentSpec({})}) as second:
        assert wait_until(lambda: second.client("A").get_configuration(key_path=[]).value) == {"a": 1, "b": {"c": 2}}
