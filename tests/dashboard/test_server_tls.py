"""TLS: HTTPS with the configured certificate, Secure cookie and HSTS; a key readable by others is refused."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.dashboard.conftest import DashboardHandle


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
