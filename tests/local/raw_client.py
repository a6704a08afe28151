"""A bare event stream client over a socket, for what the SDK will not do (garbage, never reading)."""

from __future__ import annotations

import json
import socket

from edgewatch.local import eventstream as es
from edgewatch.local.ipc_protocol import MessageType


class RawClient:
    def __init__(self, socket_path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(socket_path)
        self.decoder = es.Decoder()

    def send(self, message_type: int, stream_id: int = 0, flags: int = 0, payload: bytes = b"", **extra: str) -> None:
        headers = {":message-type": es.int32(message_type), ":message-flags": es.int32(flags),
                   ":stream-id": es.int32(stream_id)}
        headers.update({name.replace("_", "-"): es.string(value) for name, value in extra.items()})
        self.sock.sendall(es.encode(headers, payload))

    def connect(self, token: str) -> es.Message:
        self.sock.sendall(es.encode({":message-type": es.int32(MessageType.CONNECT), ":message-flags": es.int32(0),
                                     ":stream-id": es.int32(0), ":version": es.string("0.1.0")},
                                    json.dumps({"authToken": token}).encode()))
        return self.receive()

    def request(self, stream_id: int, operation: str, body: dict) -> None:
        self.send(MessageType.APPLICATION_MESSAGE, stream_id, payload=json.dumps(body).encode(),
                  operation="aws.greengrass#" + operation, service_model_type=f"aws.greengrass#{operation}Request")

    def receive(self) -> es.Message:
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            messages = list(self.decoder.feed(data))
            if messages:
                return messages[0]

    def closed_by_server(self) -> bool:
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()
