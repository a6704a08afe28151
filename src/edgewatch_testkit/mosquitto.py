"""A real Mosquitto broker with mutual TLS for tests: its own CA, server and client certificates."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgewatch.local.testing import stop_process


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path, clients: tuple[str, ...]) -> None:
    """ca.pem/ca.key, server.pem/server.key (localhost) and <client>.pem/<client>.key for each client."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=edgewatch-test-ca", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "san.ext"]), *((c, []) for c in clients)):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={'localhost' if name == 'server' else name}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", *ext, cwd=folder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mosquitto:
    folder: Path
    port: int
    process: subprocess.Popen[bytes]

    def client_args(self, client: str | None) -> list[str]:
        args = ["-h", "localhost", "-p", str(self.port), "--cafile", str(self.folder / "ca.pem")]
        if client:
            args += ["--cert", str(self.folder / f"{client}.pem"), "--key", str(self.folder / f"{client}.key")]
        return args

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def start_mosquitto(folder: Path, clients: tuple[str, ...]) -> Mosquitto:
    binary = mosquitto_binary()
    assert binary, "mosquitto is not installed (scripts/setup.sh installs it as root)"
    make_certificates(folder, clients)
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {folder / 'ca.pem'}\ncertfile {folder / 'server.pem'}\nkeyfile {folder / 'server.key'}\n"
        "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n"
        "persistence false\nlog_dest stderr\n"
        # Started as root, mosquitto would switch to its own user, which cannot read the test's files.
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
    )
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=open(folder / "mosquitto.log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(folder / 'mosquitto.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Mosquitto(folder, port, process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("mosquitto did not start listening within 15 s")
