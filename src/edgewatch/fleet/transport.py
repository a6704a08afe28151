"""The MQTT adapter of `fleet watch`: awscrt MQTT5 over mutual TLS, or over WebSocket signed with SigV4.

Sessions are persistent (clean_start false, REJOIN_ALWAYS, a session expiry): after a broker restart
or a network cut the broker delivers what it queued for us, so no QoS 1 batch is lost. Messages are
handed to `on_message(topic, payload)` on awscrt's thread; the caller queues them.

WebSocket signing is a seam (`HandshakeSigner`): `sigv4_signer` presigns the upgrade request's URL
exactly as awsiotsdk's `websockets_with_default_aws_signing` does (service `iotdevicegateway`, query
parameters, session token added unsigned, as IoT Core wants); `unsigned` leaves it untouched (for a
broker that does not check SigV4, e.g. the tests' Mosquitto front).
"""

from __future__ import annotations

import getpass
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 3600
# fleet-watch-policy.json allows iot:Connect on client/<prefix>* (edgewatch.cloud.policies, a test keeps them equal)
CLIENT_ID_PREFIX = "edgewatch-fleet-watch-"
HandshakeSigner = Callable[[Any], "Future[None]"]  # awscrt.http.HttpRequest -> done when signed


def default_client_id() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return CLIENT_ID_PREFIX + (re.sub(r"[^A-Za-z0-9_-]", "-", user)[:40] or "operator")


class TransportError(Exception):
    pass


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int) -> Endpoint:
        host, sep, port = text.rpartition(":")
        if sep and port.isdigit() and host:
            return cls(host, int(port))
        return cls(text, default_port)


def sigv4_signer(region: str, credentials_provider: Any) -> HandshakeSigner:
    from awscrt import auth

    config = auth.AwsSigningConfig(
        algorithm=auth.AwsSigningAlgorithm.V4, signature_type=auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS,
        credentials_provider=credentials_provider, region=region, service="iotdevicegateway",
        omit_session_token=True)  # IoT Core wants X-Amz-Security-Token appended, not signed

    def sign(request: Any) -> Future[None]:
        done: Future[None] = Future()
        signing = auth.aws_sign_request(request, config)
        signing.add_done_callback(lambda f: done.set_exception(f.exception()) if f.exception()
                                  else done.set_result(None))
        return done
    return sign


def unsigned(request: Any) -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def boto_credentials_provider(session: Any) -> Any:
    """An awscrt provider over boto3's credential chain (profile, env, SSO, instance role...), refreshed."""
    from awscrt import auth

    credentials = session.get_credentials()
    if credentials is None:
        raise TransportError("no AWS credentials found (boto3 chain; use --profile or AWS_* variables)")

    def current() -> Any:
        frozen = credentials.get_frozen_credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)
    return auth.AwsCredentialsProvider.new_delegate(current)


class FleetSubscriber:
    """One MQTT5 client that subscribes to `filters` on every connection and forwards messages."""

    def __init__(self, client_id: str, filters: Sequence[str], on_message: Callable[[str, bytes], None]) -> None:
        self.client_id = client_id
        self.filters = tuple(filters)
        self._on_message = on_message
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connections = 0
        self.disconnections = 0
        self.last_error: str | None = None
        self._client: Any = None

    def _common(self) -> dict[str, Any]:
        from awscrt import mqtt5

        return dict(
            client_id=self.client_id, clean_start=False, session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
            session_expiry_interval_sec=SESSION_EXPIRY_S, enable_metrics_collection=False,
            min_reconnect_delay_ms=200, max_reconnect_delay_ms=5000,
            on_publish_received=self._received, on_lifecycle_connection_success=self._connection_success,
            on_lifecycle_connection_failure=self._connection_failure, on_lifecycle_disconnection=self._disconnection)

    def start_mtls(self, endpoint: Endpoint, cert: Path, key: Path, ca: Path | None) -> None:
        from awsiot import mqtt5_client_builder

        for label, path in (("certificate", cert), ("private key", key), ("CA", ca)):
            if path is not None and not Path(path).is_file():
                raise TransportError(f"{label} file not found: {path}")
        self._client = mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint.host, port=endpoint.port, cert_filepath=str(cert), pri_key_filepath=str(key),
            ca_filepath=str(ca) if ca else None, **self._common())
        self._client.start()

    def start_websocket(self, endpoint: Endpoint, signer: HandshakeSigner, ca: Path | None) -> None:
        from awsiot import mqtt5_client_builder

        if ca is not None and not Path(ca).is_file():
            raise TransportError(f"CA file not found: {ca}")

        def transform(transform_args: Any, **_: Any) -> None:  # awscrt passes it by keyword
            try:
                signer(transform_args.http_request).add_done_callback(lambda f: transform_args.set_done(f.exception()))
            except Exception as err:  # a signing failure must end the handshake, not hang it
                transform_args.set_done(err)
        self._client = mqtt5_client_builder.websockets_with_custom_handshake(
            transform, endpoint=endpoint.host, port=endpoint.port, ca_filepath=str(ca) if ca else None,
            **self._common())
        self._client.start()

    def stop(self) -> None:
        if self._client is not None:
            self._client.stop()
            self._client = None

    # ---- awscrt callbacks (its event-loop thread) ---------------------------------------------
    def _received(self, data: Any) -> None:
        packet = data.publish_packet
        self._on_message(packet.topic, bytes(packet.payload or b""))

    def _connection_success(self, data: Any) -> None:
        from awscrt import mqtt5

        self.connections += 1
        self.connected.set()
        session_present = bool(getattr(data.connack_packet, "session_present", False))
        log.info("connected (session present: %s)", session_present)
        if session_present and self.subscribed.is_set():
            return  # the broker kept our subscriptions and queued messages
        packet = mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(f, mqtt5.QoS.AT_LEAST_ONCE)
                                                      for f in self.filters])
        self._client.subscribe(packet).add_done_callback(self._subscribed)

    def _subscribed(self, future: Any) -> None:
        try:
            codes = [int(c) for c in future.result().reason_codes]
        except Exception as err:
            self.last_error = f"subscribe failed: {err}"
            log.error("%s", self.last_error)
            return
        refused = [f for f, c in zip(self.filters, codes, strict=False) if c >= 0x80]
        if refused:
            self.last_error = f"subscription refused for {', '.join(refused)} (check the IoT policy)"
            log.error("%s", self.last_error)
        self.subscribed.set()

    def _connection_failure(self, data: Any) -> None:
        self.last_error = f"connection failed: {data.exception}"
        log.warning("%s", self.last_error)

    def _disconnection(self, data: Any) -> None:
        self.connected.clear()
        self.disconnections += 1
        log.warning("disconnected: %s", data.exception)
