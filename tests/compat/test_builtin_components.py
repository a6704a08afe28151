"""aws.greengrass.* dependencies resolve to the runtime's stand-ins, and the IPC operations the nucleus
and its AWS components provide (issue 12, items 3 and 6), with the unmodified awsiotsdk V2 client."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import sys
import time
from pathlib import Path

import pytest
import yaml
from awsiot.greengrasscoreipc.model import (
    ConflictError,
    InvalidArgumentsError,
    Metric,
    ResourceNotFoundError,
    ServiceError,
    UnauthorizedError,
)

from edgewatch.local.cli_service import CliService
from edgewatch.local.component_updates import SKIP, UpdatePolicy
from edgewatch.local.testing import wait_until
from tests.compat.conftest import Compat

RUN_FOREVER = "Run: exec python3 -c 'import time; time.sleep(600)'"


def _component(compat: Compat, name: str, version: str = "1.0.0", *, dependencies: str = "",
               access: str = "{}", run: str = RUN_FOREVER, files: dict[str, str] | None = None) -> None:
    access = " ".join(access.split())  # one line: the recipe body is dedented YAML
    compat.recipe(name, version, f"""
        ComponentDependencies: {dependencies or '{}'}
        ComponentConfiguration:
          DefaultConfiguration:
            accessControl: {access}
        Manifests:
          - Platform: {{os: linux}}
            Lifecycle:
              {run}
        """, files)


READ_REGION = """\
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

client = GreengrassCoreIPCClientV2()
response = client.get_configuration(component_name="aws.greengrass.Nucleus", key_path=["awsRegion"])
with open("region.txt", "w") as handle:
    handle.write(response.value["awsRegion"])
client.close()
"""


def test_soft_dependency_on_nucleus_reads_aws_region(compat: Compat) -> None:
    """Developer guide, recipe reference: ComponentDependencies, DependencyType SOFT ("the component
    doesn't restart if the dependency changes state"); Greengrass nucleus component, configuration
    `awsRegion`; IPC GetConfiguration: "componentName (optional) the name of the component" to read.
    Public components (e.g. the Greengrass CLI, the log manager) declare aws.greengrass.Nucleus so."""
    compat.start(region="eu-west-3")
    _component(compat, "com.example.ReadRegion",
               dependencies="{aws.greengrass.Nucleus: {VersionRequirement: '>=2.0.0 <3.0.0', DependencyType: SOFT}}",
               run="Run: python3 -u {artifacts:path}/read_region.py", files={"read_region.py": READ_REGION})
    record = compat.deploy({"com.example.ReadRegion": "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    compat.wait_state("com.example.ReadRegion", "FINISHED")
    assert (compat.work("com.example.ReadRegion") / "region.txt").read_text() == "eu-west-3"
    deployed = compat.runtime.deployed
    assert deployed["aws.greengrass.Nucleus"].version.startswith("2.") and not deployed["aws.greengrass.Nucleus"].root

    # config/effectiveConfig.yaml, as the nucleus writes it; it holds configuration values: 0600
    effective = compat.root / "config" / "effectiveConfig.yaml"
    assert stat.S_IMODE(effective.stat().st_mode) == 0o600
    services = yaml.safe_load(effective.read_text())["services"]
    assert services["com.example.ReadRegion"]["version"] == "1.0.0"
    assert services["com.example.ReadRegion"]["dependencies"] == ["aws.greengrass.Nucleus:SOFT"]
    assert "read_region.py" in json.dumps(services["com.example.ReadRegion"]["lifecycle"])
    assert services["aws.greengrass.Nucleus"]["configuration"]["awsRegion"] == "eu-west-3"
    assert services["aws.greengrass.Nucleus"]["configuration"]["componentStoreMaxSizeBytes"] > 0


def test_nucleus_configuration_readable_without_a_dependency(compat: Compat) -> None:
    """Developer guide, Greengrass nucleus: it is always on the device, so GetConfiguration of
    aws.greengrass.Nucleus works for any component; a missing key is ResourceNotFoundError."""
    _component(compat, "com.example.Plain")
    assert compat.deploy({"com.example.Plain": "1.0.0"}).status == "SUCCEEDED"
    client = compat.client("com.example.Plain")
    try:
        value = client.get_configuration(component_name="aws.greengrass.Nucleus", key_path=["mqtt"]).value
        assert value["spooler"]["maxSizeInBytes"] == 2621440 and value["maxInFlightPublishes"] == 5
        assert client.get_configuration(component_name="aws.greengrass.Nucleus",
                                        key_path=["iotDataEndpoint"]).value["iotDataEndpoint"]
        with pytest.raises(ResourceNotFoundError):
            client.get_configuration(component_name="aws.greengrass.Nucleus", key_path=["noSuchKey"])
    finally:
        client.close()
    rt = compat.started()
    listed = rt.call(lambda: CliService(rt.runtime).list_components({}))["components"]
    assert [c["componentName"] for c in listed] == ["aws.greengrass.Nucleus", "com.example.Plain"]
    assert listed[0]["version"] == "2.14.0" and listed[0]["state"] == "RUNNING"

    # a dependent deployed, then removed (and the Nucleus with it): its configuration stays readable
    _component(compat, "com.example.Dependent",
               dependencies="{aws.greengrass.Nucleus: {VersionRequirement: '^2.0.0', DependencyType: SOFT}}")
    assert compat.deploy({"com.example.Dependent": "1.0.0"}).status == "SUCCEEDED"
    assert "aws.greengrass.Nucleus" in compat.runtime.deployed
    assert compat.deploy(remove=["com.example.Dependent"]).status == "SUCCEEDED"
    assert "aws.greengrass.Nucleus" not in compat.runtime.deployed
    client = compat.client("com.example.Plain")
    try:
        assert client.get_configuration(component_name="aws.greengrass.Nucleus",
                                        key_path=["awsRegion"]).value == {"awsRegion": "us-east-1"}
    finally:
        client.close()


READ_SECRET = """\
import hashlib
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

client = GreengrassCoreIPCClientV2()
response = client.get_secret_value(secret_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf")
with open("secret.sha256", "w") as handle:  # never the value itself
    handle.write(hashlib.sha256(response.secret_value.secret_string.encode()).hexdigest())
client.close()
"""


def test_hard_dependency_on_secret_manager_reads_a_secret(compat: Compat, tmp_path: Path) -> None:
    """Developer guide, secret manager component (aws.greengrass.SecretManager) and IPC GetSecretValue:
    a component declares a HARD dependency on it and an accessControl policy under
    aws.greengrass.SecretManager naming the secret ARN. Here the secret comes from --secrets-file."""
    import hashlib

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf"
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps([{"arn": arn, "secretString": "xoxb-very-secret"}]))
    os.chmod(secrets, 0o600)
    compat.start(secrets_file=secrets)
    access = ("{aws.greengrass.SecretManager: {com.example.ReadSecret:secrets:1: {operations: "
              f"['aws.greengrass#GetSecretValue'], resources: ['{arn}']}}}}}}")
    _component(compat, "com.example.ReadSecret", access=access,
               dependencies="{aws.greengrass.SecretManager: {VersionRequirement: '^2.0.0', DependencyType: HARD}}",
               run="Run: python3 -u {artifacts:path}/read_secret.py", files={"read_secret.py": READ_SECRET})
    record = compat.deploy({"com.example.ReadSecret": "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    compat.wait_state("com.example.ReadSecret", "FINISHED")
    digest = (compat.work("com.example.ReadSecret") / "secret.sha256").read_text()
    assert digest == hashlib.sha256(b"xoxb-very-secret").hexdigest()
    assert "aws.greengrass.SecretManager" in compat.runtime.deployed


def test_every_unresolved_dependency_is_named(compat: Compat) -> None:
    """Developer guide, troubleshooting deployments: a dependency that no version satisfies fails the
    deployment (no state change). Every unresolved dependency is named, not only the first."""
    _component(compat, "com.example.Needy", dependencies=(
        "{com.example.MissingA: {VersionRequirement: '^1.0.0'}, com.example.MissingB: {VersionRequirement: '>=2.0.0'},"
        " aws.greengrass.Nucleus: {VersionRequirement: '<2.0.0', DependencyType: SOFT}}"))
    record = compat.deploy({"com.example.Needy": "1.0.0"})
    assert record.status == "FAILED" and record.error_types == ["DEPENDENCY_NOT_FOUND"]
    for name in ("com.example.MissingA", "com.example.MissingB", "aws.greengrass.Nucleus"):
        assert name in record.reason, record.reason
    assert "3 unresolved dependencies" in record.reason
    assert "available: 2.14.0" in record.reason  # what the stand-in offers instead
    assert "com.example.Needy" not in compat.runtime.deployed


def test_what_a_stand_in_cannot_provide_is_one_warning(compat: Compat, caplog: pytest.LogCaptureFixture) -> None:
    """Developer guide, token exchange service (aws.greengrass.TokenExchangeService): it provides AWS
    credentials to components. Without AWS it cannot; the dependency still resolves, with one WARNING
    saying what will not work; the stand-ins show in `component list` (ListComponents)."""
    caplog.set_level(logging.WARNING, logger="edgewatch.local.builtin_components")
    deps = ("{aws.greengrass.TokenExchangeService: {VersionRequirement: '^2.0.0'}, "
            "aws.greengrass.LogManager: {VersionRequirement: '^2.0.0', DependencyType: SOFT}}")
    _component(compat, "com.example.Uploader", dependencies=deps)
    _component(compat, "com.example.Uploader", "1.0.1", dependencies=deps)
    assert compat.deploy({"com.example.Uploader": "1.0.0"}).status == "SUCCEEDED"
    assert compat.deploy({"com.example.Uploader": "1.0.1"}).status == "SUCCEEDED"
    warnings = [r.getMessage() for r in caplog.records if "TokenExchangeService" in r.getMessage()]
    assert len(warnings) == 1 and "no AWS credentials" in warnings[0], warnings
    assert any("LogManager" in r.getMessage() and "CloudWatch" in r.getMessage() for r in caplog.records)
    rt = compat.started()
    rt.call(lambda: CliService(rt.runtime).install(rt.runtime.services.server))
    listed = {c["componentName"]: c for c in rt.call(lambda: CliService(rt.runtime).list_components({}))["components"]}
    assert listed["aws.greengrass.TokenExchangeService"]["state"] == "RUNNING"
    assert listed["com.example.Uploader"]["version"] == "1.0.1"


# -- local shadows (aws.greengrass.ShadowManager)

SHADOW_ACCESS = """{aws.greengrass.ShadowManager: {com.example.Shadows:shadow:1: {operations: [
    'aws.greengrass#GetThingShadow', 'aws.greengrass#UpdateThingShadow', 'aws.greengrass#DeleteThingShadow'],
    resources: ['$aws/things/{iot:thingName}/shadow', '$aws/things/{iot:thingName}/shadow/name/*']},
  com.example.Shadows:shadow:2: {operations: ['aws.greengrass#ListNamedShadowsForThing'],
    resources: ['$aws/things/{iot:thingName}/shadow']}}}"""


def _update(client: object, payload: dict, shadow: str = "") -> dict:
    response = client.update_thing_shadow(thing_name="gw-compat", shadow_name=shadow,  # type: ignore[attr-defined]
                                          payload=json.dumps(payload).encode())
    return json.loads(response.payload)


def test_local_shadow_get_update_delete_list(compat: Compat) -> None:
    """Developer guide, "Interact with local shadows" (GetThingShadow, UpdateThingShadow,
    DeleteThingShadow, ListNamedShadowsForThing; authorization under aws.greengrass.ShadowManager with
    $aws/things/<thing>/shadow[/name/<shadow>] resources) and the AWS IoT Device Shadow document
    semantics: desired/reported merged, null deletes, version increments, metadata timestamps, delta."""
    _component(compat, "com.example.Shadows", access=SHADOW_ACCESS,
               dependencies="{aws.greengrass.ShadowManager: {VersionRequirement: '^2.0.0'}}")
    assert compat.deploy({"com.example.Shadows": "1.0.0"}).status == "SUCCEEDED"
    client = compat.client("com.example.Shadows")
    try:
        first = _update(client, {"state": {"desired": {"color": "red", "fan": {"speed": 2}}}, "clientToken": "t1"})
        assert first["version"] == 1 and first["clientToken"] == "t1"
        assert first["metadata"]["desired"]["color"]["timestamp"] >= int(time.time()) - 5
        second = _update(client, {"state": {"reported": {"color": "blue"}, "desired": {"fan": {"speed": None}}}})
        assert second["version"] == 2
        document = json.loads(client.get_thing_shadow(thing_name="gw-compat", shadow_name="").payload)
        assert document["state"]["desired"] == {"color": "red", "fan": {}}
        assert document["state"]["reported"] == {"color": "blue"}
        assert document["state"]["delta"] == {"color": "red", "fan": {}}
        assert document["version"] == 2 and "color" in document["metadata"]["reported"]
        with pytest.raises(ConflictError):
            _update(client, {"state": {"reported": {"x": 1}}, "version": 1})
        with pytest.raises(InvalidArgumentsError) as raised:
            _update(client, {"state": {"reported": {"blob": "x" * 8200}}})
        assert re.search("maximum size", raised.value.message), raised.value.message

        _update(client, {"state": {"reported": {"on": True}}}, shadow="lamp")
        _update(client, {"state": {"reported": {"on": False}}}, shadow="door")
        listed = client.list_named_shadows_for_thing(thing_name="gw-compat")
        assert listed.results == ["door", "lamp"] and listed.timestamp is not None
        deleted = json.loads(client.delete_thing_shadow(thing_name="gw-compat", shadow_name="lamp").payload)
        assert deleted["version"] == 1
        with pytest.raises(ResourceNotFoundError):
            client.get_thing_shadow(thing_name="gw-compat", shadow_name="lamp")
        assert client.list_named_shadows_for_thing(thing_name="gw-compat").results == ["door"]
        assert _update(client, {"state": {"reported": {"on": True}}}, shadow="lamp")["version"] == 2  # kept
        with pytest.raises(UnauthorizedError) as raised:
            client.get_thing_shadow(thing_name="other-thing", shadow_name="")
        assert "aws.greengrass.ShadowManager:aws.greengrass#GetThingShadow" in raised.value.message
    finally:
        client.close()
    stored = compat.root / "shadows" / "gw-compat" / "classic.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["version"] == 2

    # stored on disk: a restart of the runtime keeps them
    compat.stop()
    compat.start()
    client = compat.client("com.example.Shadows")
    try:
        assert json.loads(client.get_thing_shadow(thing_name="gw-compat", shadow_name="door").payload)[
            "state"]["reported"] == {"on": False}
    finally:
        client.close()


def test_shadow_changes_are_published_on_local_pubsub(compat: Compat) -> None:
    """Developer guide, "Interact with local shadows": "To enable custom components to react to changes
    in local shadow states, you can also use the publish/subscribe IPC service to subscribe to shadow
    events" (the Device Shadow MQTT topics: update/accepted, update/documents, update/delta,
    delete/accepted)."""
    access = SHADOW_ACCESS[:-1] + (", aws.greengrass.ipc.pubsub: {com.example.Shadows:pubsub:1: {operations: "
                                   "['aws.greengrass#SubscribeToTopic'], "
                                   "resources: ['$aws/things/{iot:thingName}/shadow/*']}}}")
    _component(compat, "com.example.Shadows", access=access,
               dependencies="{aws.greengrass.ShadowManager: {VersionRequirement: '^2.0.0'}}")
    assert compat.deploy({"com.example.Shadows": "1.0.0"}).status == "SUCCEEDED", compat.runtime.deployment_history()
    client = compat.client("com.example.Shadows")
    events: list[tuple[str, dict]] = []
    _, operation = client.subscribe_to_topic(
        topic="$aws/things/gw-compat/shadow/#",
        on_stream_event=lambda e: events.append((e.binary_message.context.topic, json.loads(e.binary_message.message))))
    try:
        _update(client, {"state": {"reported": {"temp": 20}}})
        _update(client, {"state": {"desired": {"temp": 22}}})
        _update(client, {"state": {"reported": {"on": True}}}, shadow="lamp")
        client.delete_thing_shadow(thing_name="gw-compat", shadow_name="lamp")
        base = "$aws/things/gw-compat/shadow"
        wanted = [f"{base}/update/accepted", f"{base}/update/documents", f"{base}/update/accepted",
                  f"{base}/update/documents", f"{base}/update/delta", f"{base}/name/lamp/update/accepted",
                  f"{base}/name/lamp/update/documents", f"{base}/name/lamp/delete/accepted"]
        wait_until(lambda: [t for t, _ in events] == wanted, what=f"the shadow topics (got {[t for t, _ in events]})")
        assert events[4][1]["state"] == {"temp": 22} and events[4][1]["version"] == 2
        assert events[3][1]["previous"]["state"] == {"reported": {"temp": 20}}
        assert events[3][1]["current"]["state"] == {"desired": {"temp": 22}, "reported": {"temp": 20}}
        assert events[7][1]["version"] == 1
    finally:
        operation.close()
        client.close()


def test_shadows_need_the_shadow_manager(compat: Compat) -> None:
    """Developer guide, "Interact with local shadows": "include the shadow manager component as a
    dependency"; an operation whose provider component is not deployed is a ServiceError."""
    _component(compat, "com.example.NoShadowManager", access=SHADOW_ACCESS.replace("Shadows", "NoShadowManager"))
    assert compat.deploy({"com.example.NoShadowManager": "1.0.0"}).status == "SUCCEEDED"
    client = compat.client("com.example.NoShadowManager")
    try:
        with pytest.raises(ServiceError) as raised:
            client.get_thing_shadow(thing_name="gw-compat", shadow_name="")
        assert re.search("GetThingShadow is not supported", raised.value.message), raised.value.message
    finally:
        client.close()


# -- the Greengrass CLI IPC service (aws.greengrass.Cli) for components

CLI_ACCESS = """{aws.greengrass.Cli: {com.example.Operator:cli:1: {operations: [
    'aws.greengrass#ListComponents'], resources: ['*']},
  com.example.Operator:cli:2: {operations: ['aws.greengrass#RestartComponent', 'aws.greengrass#StopComponent',
    'aws.greengrass#GetComponentDetails'], resources: ['com.example.Worker']}}}"""


def test_cli_operations_granted_and_refused(compat: Compat) -> None:
    """Developer guide, "Manage local deployments and components": IPC service identifier
    aws.greengrass.Cli; ListComponents on `*`; GetComponentDetails, RestartComponent and StopComponent
    on a component name. A refusal names aws.greengrass.Cli, as the nucleus's does."""
    _component(compat, "com.example.Operator", access=CLI_ACCESS,
               dependencies="{aws.greengrass.Cli: {VersionRequirement: '>=2.6.0'}}")
    _component(compat, "com.example.Worker", run="Run: exec python3 -c 'import os, time; "
               "open(\"starts\", \"a\").write(str(os.getpid()) + chr(10)); time.sleep(600)'")
    rt = compat.started()
    rt.call(lambda: CliService(rt.runtime).install(rt.runtime.services.server))  # as `edgewatch local start` does
    record = compat.deploy({"com.example.Operator": "1.0.0", "com.example.Worker": "1.0.0"})
    assert record.status == "SUCCEEDED", record.reason
    starts = compat.work("com.example.Worker") / "starts"
    wait_until(lambda: starts.exists() and len(starts.read_text().split()) == 1, what="the worker started")
    client = compat.client("com.example.Operator")
    try:
        names = {c.component_name: c for c in client.list_components().components}
        assert {"com.example.Operator", "com.example.Worker", "aws.greengrass.Cli"} <= set(names)
        assert names["com.example.Worker"].state == "RUNNING"
        details = client.get_component_details(component_name="com.example.Worker").component_details
        assert details.version == "1.0.0"
        assert client.restart_component(component_name="com.example.Worker").restart_status == "SUCCEEDED"
        wait_until(lambda: len(starts.read_text().split()) == 2, what="the worker restarted")
        with pytest.raises(UnauthorizedError) as refused:
            client.restart_component(component_name="com.example.Operator")
        assert refused.value.message == ("Principal com.example.Operator is not authorized to perform "
                                         "aws.greengrass.Cli:aws.greengrass#RestartComponent on resource "
                                         "com.example.Operator")
        with pytest.raises(UnauthorizedError) as raised:
            client.list_local_deployments()
        assert "aws.greengrass.Cli:aws.greengrass#ListLocalDeployments" in raised.value.message
        assert client.stop_component(component_name="com.example.Worker").stop_status == "SUCCEEDED"
        compat.wait_state("com.example.Worker", "FINISHED")
    finally:
        client.close()


# -- PutComponentMetric

def test_put_component_metric_is_accepted_and_recorded(compat: Compat) -> None:
    """Developer guide, "Publish component metrics" (PutComponentMetric; authorization under
    aws.greengrass.ipc.componentmetric, resource `*`; metrics with name, unit, value)."""
    access = ("{aws.greengrass.ipc.componentmetric: {com.example.Metered:metrics:1: {operations: "
              "['aws.greengrass#PutComponentMetric'], resources: ['*']}}}")
    _component(compat, "com.example.Metered", access=access)
    _component(compat, "com.example.Unmetered")
    assert compat.deploy({"com.example.Metered": "1.0.0", "com.example.Unmetered": "1.0.0"}).status == "SUCCEEDED"
    client = compat.client("com.example.Metered")
    other = compat.client("com.example.Unmetered")
    try:
        client.put_component_metric(metrics=[Metric(name="queueDepth", unit="Count", value=12.0),
                                             Metric(name="latency", unit="Milliseconds", value=3.5)])
        with pytest.raises(InvalidArgumentsError) as raised:
            client.put_component_metric(metrics=[Metric(name="x", unit="Furlongs", value=1.0)])
        assert re.search(r"metrics\[0\].unit", raised.value.message), raised.value.message
        with pytest.raises(UnauthorizedError) as raised:
            other.put_component_metric(metrics=[Metric(name="x", unit="Count", value=1.0)])
        assert re.search("aws.greengrass.ipc.componentmetric", raised.value.message), raised.value.message
    finally:
        client.close()
        other.close()
    path = compat.root / "metrics" / "component_metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["component"] == "com.example.Metered"
    assert lines[0]["metrics"] == [{"name": "queueDepth", "unit": "Count", "value": 12.0},
                                   {"name": "latency", "unit": "Milliseconds", "value": 3.5}]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- SubscribeToComponentUpdates / DeferComponentUpdate

DEFERRER = """\
import time
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

client = GreengrassCoreIPCClientV2()
seen = []


def log(text):
    with open("updates.log", "a") as handle:
        handle.write(text + "\\n")


def on_event(event):
    if event.pre_update_event is not None:
        seen.append(event.pre_update_event.deployment_id)
        # busy the first time: ask to be asked again in 1.5 s; then let the update go ahead
        recheck = 1500 if len(seen) == 1 else 0
        log(f"pre {time.monotonic():.3f} defer {recheck}")
        client.defer_component_update(deployment_id=event.pre_update_event.deployment_id,
                                      message="finishing a job", recheck_after_ms=recheck)


client.subscribe_to_component_updates(on_stream_event=on_event)
log("subscribed")
while True:
    time.sleep(1)
"""


def _deferrer(compat: Compat, version: str) -> None:
    _component(compat, "com.example.Deferrer", version, run="Run: exec python3 -u {artifacts:path}/deferrer.py",
               files={"deferrer.py": DEFERRER})


def test_component_defers_its_update_then_it_proceeds(compat: Compat) -> None:
    """Developer guide, IPC "Manage component lifecycle": SubscribeToComponentUpdates
    (PreComponentUpdateEvent before the nucleus updates a component, PostComponentUpdateEvent after)
    and DeferComponentUpdate (recheckAfterMs: "the amount of time in milliseconds for which to defer
    the update. Greengrass waits for this amount of time and then sends another PreComponentUpdateEvent");
    deployment componentUpdatePolicy NOTIFY_COMPONENTS with timeoutInSeconds."""
    _deferrer(compat, "1.0.0")
    _deferrer(compat, "1.1.0")
    _component(compat, "com.example.Observer")
    assert compat.deploy({"com.example.Deferrer": "1.0.0", "com.example.Observer": "1.0.0"}).status == "SUCCEEDED"
    updates = compat.work("com.example.Deferrer") / "updates.log"
    wait_until(lambda: updates.exists() and "subscribed" in updates.read_text(), what="the deferrer subscribed")
    observed: list[str] = []
    observer = compat.client("com.example.Observer")  # a second subscriber: it accepts at once

    def on_observer_event(event: object) -> None:
        pre, post = event.pre_update_event, event.post_update_event  # type: ignore[attr-defined]
        if pre is not None:
            observed.append("pre")
            observer.defer_component_update(deployment_id=pre.deployment_id, recheck_after_ms=0)
        if post is not None:
            observed.append("post")

    _, operation = observer.subscribe_to_component_updates(on_stream_event=on_observer_event)
    try:
        started = time.monotonic()
        record = compat.deploy({"com.example.Deferrer": "1.1.0"}, update_policy=UpdatePolicy(timeout_s=30))
        waited = time.monotonic() - started
        assert record.status == "SUCCEEDED", record.reason
        assert waited >= 1.4, waited  # the deferral was honoured
        assert compat.runtime.deployed["com.example.Deferrer"].version == "1.1.0"
        pre_lines = [line for line in updates.read_text().splitlines() if line.startswith("pre")]
        assert [line.split()[-1] for line in pre_lines[:2]] == ["1500", "0"]
        assert float(pre_lines[1].split()[1]) - float(pre_lines[0].split()[1]) >= 1.4
        wait_until(lambda: observed == ["pre", "pre", "post"], what=f"pre, pre, post (got {observed})")

        # SKIP_NOTIFY_COMPONENTS: nobody is asked, nobody is waited for
        observed.clear()
        record = compat.deploy({"com.example.Deferrer": "1.0.0"}, update_policy=UpdatePolicy(SKIP, 30))
        assert record.status == "SUCCEEDED" and observed == []
    finally:
        operation.close()
        observer.close()


def test_deferrals_are_honoured_only_up_to_the_policy_timeout(compat: Compat) -> None:
    """Developer guide, deployment componentUpdatePolicy timeoutInSeconds: "The amount of time in seconds
    that each component has to notify that it's ready for the update ... If the component doesn't
    notify within this timeout, the deployment proceeds." A subscriber that never answers holds the
    deployment only that long."""
    _component(compat, "com.example.Silent")
    _component(compat, "com.example.Silent", "1.0.1")
    assert compat.deploy({"com.example.Silent": "1.0.0"}).status == "SUCCEEDED"
    silent = compat.client("com.example.Silent")
    events: list[object] = []
    _, operation = silent.subscribe_to_component_updates(on_stream_event=events.append)
    try:
        started = time.monotonic()
        record = compat.deploy({"com.example.Silent": "1.0.1"}, update_policy=UpdatePolicy(timeout_s=1.0))
        waited = time.monotonic() - started
        assert record.status == "SUCCEEDED", record.reason
        assert 0.9 <= waited < 10, waited
        assert events and events[0].pre_update_event is not None  # type: ignore[attr-defined]
    finally:
        operation.close()
        silent.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
