"""`edgewatch fleet watch` against a real Mosquitto: mTLS, WebSocket over TLS, SigV4, the ACL, a broker restart."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from edgewatch.local.testing import wait_until
from edgewatch_testkit.fleet_broker import FleetBroker, start_fleet_broker

THINGS = ("dev-1", "dev-2", "dev-3")
EDGEWATCH = [sys.executable, "-m", "edgewatch.cli"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetBroker]:
    server = start_fleet_broker(tmp_path_factory.mktemp("fleet"), THINGS)
    yield server
    server.stop()


def batch(thing: str, to_ms: int, cpu: float = 10.0) -> str:
    return json.dumps({"schema": "edgewatch.metrics-batch/1", "thing": thing, "mode": "summary", "from": to_ms - 10,
                       "to": to_ms, "sampleCount": 1, "part": 0, "parts": 1,
                       "metrics": [{"name": "cpu.percent", "unit": "%", "labels": {"cpu": "total"}, "last": cpu}]})


def mosquitto_pub(broker: FleetBroker, who: str, topic: str, message: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mosquitto_pub", *broker.client_args(who), "-V", "5", "-q", "1", "-t", topic,
                           "-m", message], capture_output=True, text=True, timeout=20)


class Watch:
    """`edgewatch fleet watch --json` as a subprocess; its JSON lines are collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen([*EDGEWATCH, "fleet", "watch", "--json", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] == kind]

    def wait_subscribed(self) -> None:
        wait_until(lambda: self.of("subscribed") or self.process.poll() is not None, timeout=20, what="subscribed")
        assert self.process.poll() is None, self.stop()

    def stop(self) -> str:
        self.process.terminate()
        try:
            _, errors = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, errors = self.process.communicate(timeout=5)
        self._reader.join(5)
        return errors


def mtls_args(broker: FleetBroker, who: str = "operator") -> list[str]:
    return ["--endpoint", f"localhost:{broker.port}", "--cert", str(broker.cert(who)), "--key", str(broker.key(who)),
            "--ca", str(broker.ca)]


def test_watch_over_mtls_sees_every_device_and_its_values(broker: FleetBroker) -> None:
    watch = Watch([*mtls_args(broker), "--client-id", "edgewatch-fleet-watch-t1"])
    try:
        watch.wait_subscribed()
        for i, thing in enumerate(THINGS):
            result = mosquitto_pub(broker, thing, f"dt/edgewatch/{thing}/metrics", batch(thing, 1000, cpu=10 + i))
            assert result.returncode == 0 and not result.stderr, result.stderr
        seen = wait_until(lambda: len(watch.of("device_seen")) == 3 and watch.of("device_seen"), what="3 devices")
        assert sorted(e["thing"] for e in seen) == list(THINGS)
        assert {e["thing"]: e["cpu"] for e in watch.of("batch")} == {"dev-1": 10, "dev-2": 11, "dev-3": 12}
        alert = {"schema": "edgewatch.notification/1", "thing": "dev-2", "status": "firing", "alerts": [
            {"status": "firing", "fingerprint": "f1", "labels": {"alertname": "HighCpu", "severity": "warning"}}]}
        assert mosquitto_pub(broker, "dev-2", "dt/edgewatch/dev-2/alerts", json.dumps(alert)).returncode == 0
        firing = wait_until(lambda: watch.of("alert_firing"), what="alert_firing")
        assert (firing[0]["thing"], firing[0]["alertname"], firing[0]["severity"]) == ("dev-2", "HighCpu", "warning")
    finally:
        watch.stop()


def test_a_device_cannot_publish_under_another_things_topic(broker: FleetBroker) -> None:
    watch = Watch([*mtls_args(broker), "--client-id", "edgewatch-fleet-watch-t2"])
    try:
        watch.wait_subscribed()
        forged = mosquitto_pub(broker, "dev-1", "dt/edgewatch/dev-2/metrics", batch("dev-2", 7777))
        assert "Not authorized" in forged.stderr  # MQTT5 PUBACK reason code 0x87 from the ACL
        assert mosquitto_pub(broker, "dev-2", "dt/edgewatch/dev-2/metrics", batch("dev-2", 8888)).returncode == 0
        wait_until(lambda: any(e["to"] == 8888 for e in watch.of("batch")), what="dev-2's own batch")
        assert [e["to"] for e in watch.of("batch")] == [8888], "the forged batch must never reach the watcher"
    finally:
        watch.stop()


def test_a_device_certificate_cannot_read_the_fleet(broker: FleetBroker) -> None:
    device = Watch([*mtls_args(broker, who="dev-3"), "--client-id", "edgewatch-fleet-watch-t3"])
    operator = Watch([*mtls_args(broker), "--client-id", "edgewatch-fleet-watch-t3-control"])
    try:
        device.wait_subscribed()
        operator.wait_subscribed()
        assert mosquitto_pub(broker, "dev-1", "dt/edgewatch/dev-1/metrics", batch("dev-1", 3333)).returncode == 0
        wait_until(lambda: operator.of("batch"), what="the operator (control) to see dev-1's batch")
        assert device.of("batch") == [], "a device identity must not read other devices' batches"
    finally:
        device.stop()
        operator.stop()


def test_watch_over_websocket_tls_without_signing(broker: FleetBroker) -> None:
    before = len(broker.ws_requests)
    watch = Watch(["--endpoint", f"localhost:{broker.ws_port}", "--ca", str(broker.ca), "--no-sign",
                   "--client-id", "edgewatch-fleet-watch-ws"])
    try:
        watch.wait_subscribed()
        assert mosquitto_pub(broker, "dev-3", "dt/edgewatch/dev-3/metrics", batch("dev-3", 4242)).returncode == 0
        wait_until(lambda: any(e["to"] == 4242 for e in watch.of("batch")), what="batch over wss")
        assert broker.ws_requests[before:] == ["/mqtt"]
    finally:
        watch.stop()


def sigv4_query_signature(path: str, query: dict[str, str], headers: dict[str, str], secret: str, region: str,
                          service: str) -> str:
    """SigV4 recomputed from the AWS specification, independently of awscrt (the session token is unsigned)."""
    import hashlib
    import hmac
    from urllib.parse import quote

    signed = query["X-Amz-SignedHeaders"].split(";")
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    params = sorted((k, v) for k, v in query.items() if k not in ("X-Amz-Signature", "X-Amz-Security-Token"))
    canonical = "\n".join([
        "GET", path, "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params),
        "".join(f"{h}:{lower[h]}\n" for h in signed), ";".join(signed), hashlib.sha256(b"").hexdigest()])
    date = query["X-Amz-Date"][:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"], scope, digest])
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


FAKE_AWS = {"AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_SESSION_TOKEN": "testing-token", "AWS_DEFAULT_REGION": "eu-west-1"}


def test_the_websocket_handshake_is_sigv4_presigned_from_the_credential_chain(broker: FleetBroker) -> None:
    # Mosquitto does not check SigV4; the front records the URL the client really sent, signed on the way.
    before = len(broker.ws_requests)
    watch = Watch(["--endpoint", f"localhost:{broker.ws_port}", "--ca", str(broker.ca),
                   "--client-id", "edgewatch-fleet-watch-sig"], env=FAKE_AWS)
    try:
        watch.wait_subscribed()
    finally:
        watch.stop()
    url = urlsplit(broker.ws_requests[before])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/mqtt"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    access_key, _date, region, service, terminator = query["X-Amz-Credential"].split("/")
    assert (access_key, region, service, terminator) == ("AKIDTESTING", "eu-west-1", "iotdevicegateway",
                                                         "aws4_request")
    assert query["X-Amz-SignedHeaders"] == "connection;host"
    assert query["X-Amz-Signature"] == sigv4_query_signature(
        "/mqtt", query, broker.ws_headers[before], "testing-secret", "eu-west-1", "iotdevicegateway")
    assert query["X-Amz-Security-Token"] == "testing-token"  # appended after signing, as IoT Core wants
    assert "testing-secret" not in broker.ws_requests[before]


def test_the_endpoint_comes_from_describe_endpoint_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    from edgewatch.fleet.watch import resolve_endpoint

    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        endpoint = resolve_endpoint(argparse.Namespace(endpoint=None, profile=None, region="eu-west-1"), 443)
    # moto answers a fresh random ATS address per call: check its shape (the region's ATS data endpoint)
    assert re.fullmatch(r"[a-z0-9]+-ats\.iot\.eu-west-1\.amazonaws\.com", endpoint.host) and endpoint.port == 443
    given = resolve_endpoint(argparse.Namespace(endpoint="example.com:8443", profile=None, region=None), 443)
    assert (given.host, given.port) == ("example.com", 8443)


def test_the_default_client_id_is_one_the_policy_allows() -> None:
    from edgewatch.cloud.policies import FLEET_WATCH_CLIENT_PREFIX
    from edgewatch.fleet.transport import CLIENT_ID_PREFIX, default_client_id

    assert CLIENT_ID_PREFIX == FLEET_WATCH_CLIENT_PREFIX and default_client_id().startswith(CLIENT_ID_PREFIX)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", default_client_id())


def test_bad_arguments_are_named() -> None:
    result = subprocess.run([*EDGEWATCH, "fleet", "watch", "--json", "--cert", "/nope.pem", "--endpoint", "x"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--cert and --key go together" in result.stderr
    result = subprocess.run([*EDGEWATCH, "fleet", "watch", "--json", "--cert", "/nope.pem", "--key", "/nope.key",
                             "--endpoint", "x"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "certificate file not found: /nope.pem" in result.stderr


def test_a_broker_restart_loses_no_batch_a_qos1_publisher_resent(broker: FleetBroker, tmp_path: Path) -> None:
    from awscrt import mqtt5
    from awsiot import mqtt5_client_builder

    watch = Watch([*mtls_args(broker), "--client-id", "edgewatch-fleet-watch-restart"])
    connected = threading.Event()
    publisher = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=broker.port, cert_filepath=str(broker.cert("dev-1")),
        pri_key_filepath=str(broker.key("dev-1")), ca_filepath=str(broker.ca), client_id="dev-1",
        clean_start=False, session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
        session_expiry_interval_sec=600, enable_metrics_collection=False, min_reconnect_delay_ms=100,
        max_reconnect_delay_ms=500, on_lifecycle_connection_success=lambda _: connected.set())
    publisher.start()
    try:
        watch.wait_subscribed()
        assert connected.wait(10)
        sent: list[Any] = []

        def publish(n: int) -> None:
            sent.append(publisher.publish(mqtt5.PublishPacket(
                topic="dt/edgewatch/dev-1/metrics", payload=batch("dev-1", 100_000 + n).encode(),
                qos=mqtt5.QoS.AT_LEAST_ONCE)))

        for n in range(50):
            publish(n)
        broker.restart()  # in-flight publishes are re-sent; queued deliveries survive in the persistent session
        for n in range(50, 100):
            publish(n)  # some while the clients are still reconnecting: awscrt's offline queue keeps QoS 1
        for future in sent:
            assert future.result(30).puback.reason_code == mqtt5.PubackReasonCode.SUCCESS
        expected = {100_000 + n for n in range(100)}
        wait_until(lambda: {e["to"] for e in watch.of("batch") if e["thing"] == "dev-1"} >= expected, timeout=30,
                   what="all 100 batches at the watcher")
        assert {e["to"] for e in watch.of("batch") if e["thing"] == "dev-1"} == expected
        assert watch.of("disconnected") and len(watch.of("connected")) >= 2, "the restart must have been seen"
    finally:
        publisher.stop()
        watch.stop()


def test_the_table_after_a_watcher_restart_shows_what_was_queued_for_its_session(broker: FleetBroker) -> None:
    client = ["--client-id", "edgewatch-fleet-watch-table"]
    first = Watch([*mtls_args(broker), *client])
    first.wait_subscribed()
    first.stop()  # the broker keeps the session (expiry 1 h) and queues QoS 1 messages for it
    assert mosquitto_pub(broker, "dev-2", "dt/edgewatch/dev-2/metrics", batch("dev-2", 9999, cpu=42)).returncode == 0
    table = subprocess.run([*EDGEWATCH, "fleet", "watch", *mtls_args(broker), *client, "--duration", "3",
                            "--sort", "cpu"], capture_output=True, text=True, timeout=30, env={**os.environ,
                                                                                            "COLUMNS": "120"})
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "dev-2" in line)
    assert "OK" in row and "42%" in row, table.stdout
