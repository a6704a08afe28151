"""TLS (HTTPS, Secure cookie, HSTS; a key readable by others is refused), the SecretManager password and the
Prometheus bearer token."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.dashboard.conftest import DashboardHandle, metric_doc


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    cert_path, key_path = folder / "dash.crt", folder / "dash.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    return cert_path, key_path


def test_https_with_secure_cookie_and_a_world_readable_key_is_rejected(dashboard_factory: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    handle: DashboardHandle = dashboard_factory(config={"tlsCertFile": str(cert), "tlsKeyFile": str(key)})
    assert handle.url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(handle.url + "/login", data={"password": handle.password}, ssl=context,
                              headers={"Origin": handle.url}, allow_redirects=False) as r:  # fmt: skip
                assert r.status == 303
                assert "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
                assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            async with s.ws_connect(handle.url + "/ws", ssl=context, headers={"Origin": handle.url}) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
            # The plain-HTTP origin of the same host is another origin.
            try:
                async with s.ws_connect(handle.url + "/ws", ssl=context,
                                        headers={"Origin": handle.url.replace("https", "http")}):  # fmt: skip
                    raise AssertionError("an http:// origin was accepted on the https server")
            except aiohttp.WSServerHandshakeError as err:
                assert err.status == 403

    asyncio.run(asyncio.wait_for(scenario(), 60))
    loose = tmp_path / "loose.key"
    loose.write_bytes(key.read_bytes())
    loose.chmod(0o644)
    record = handle.deploy_config({"tlsKeyFile": str(loose)})
    assert record.status == "FAILED" and f"tlsKeyFile: {loose} has mode 0644; it must be 0600" in record.reason


ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edgewatch/dashboard-AbCdEf"


def test_password_from_secret_manager_and_prometheus_bearer_token(dashboard_factory: Any, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps([{"arn": ARN, "secretString": json.dumps({"password": "pw-from-secret-XYZ"})}]))
    secrets.chmod(0o600)
    token = tmp_path / "prom.token"
    token.write_text("scrape-token-123\n")
    token.chmod(0o600)
    grant = {"aws.greengrass.SecretManager": {"com.edgewatch.LocalDashboard:secrets:1": {
        "operations": ["aws.greengrass#GetSecretValue"], "resources": [ARN]}}}  # fmt: skip
    handle: DashboardHandle = dashboard_factory(
        config={"passwordSecretArn": ARN, "prometheusEnabled": True, "prometheusTokenFile": str(token),
                "accessControl": {**grant, **_recipe_access()}},
        secrets_file=secrets, expect_password_file=False)  # fmt: skip
    handle.publish("edgewatch/metrics", metric_doc("load.1m", 0.5, unit=""))

    async def scenario() -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            for _ in range(200):  # the secret is read right after start
                async with s.post(handle.url + "/login", data={"password": "pw-from-secret-XYZ"},
                                  headers={"Origin": handle.url}, allow_redirects=False) as r:  # fmt: skip
                    if r.status != 503:
                        break
                await asyncio.sleep(0.05)
            assert r.status == 303 and r.headers["Location"] == "/"
        async with aiohttp.ClientSession() as s:
            async with s.get(handle.url + "/metrics") as r:
                assert r.status == 401
            async with s.get(handle.url + "/metrics", headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            for _ in range(200):
                async with s.get(handle.url + "/metrics", headers={"Authorization": "Bearer scrape-token-123"}) as r:
                    assert r.status == 200
                    text = await r.text()
                if "edgewatch_load_1m" in text:
                    break
                await asyncio.sleep(0.05)
            assert 'edgewatch_load_1m{thing="gw-test"} 0.5 ' in text

    asyncio.run(asyncio.wait_for(scenario(), 60))
    work = handle.root / "work" / "com.edgewatch.LocalDashboard"
    assert not (work / "dashboard-password").exists()
    assert "pw-from-secret-XYZ" not in handle.log() and "scrape-token-123" not in handle.log()
    assert f"password read from SecretManager secret {ARN}" in handle.log()


def _recipe_access() -> dict[str, Any]:
    import yaml

    from tests.dashboard.conftest import ROOT

    recipe = yaml.safe_load((ROOT / "recipes" / "com.edgewatch.LocalDashboard.yaml").read_text())
    return dict(recipe["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"])
