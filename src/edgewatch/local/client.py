"""An IPC client of the local runtime: the unmodified GreengrassCoreIPCClientV2 from awsiotsdk.

`edgewatch local ...` talks to a running runtime with it, as greengrass-cli does; tests use it too.
"""

from __future__ import annotations

from typing import Any


def connect_client(socket_path: str, svcuid: str, timeout: float = 10.0) -> Any:
    """A real GreengrassCoreIPCClientV2 connected with the given token (SVCUID)."""
    # Imported here: awsiotsdk and awscrt take a while to load, and only commands that talk to the runtime need them.
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    return GreengrassCoreIPCClientV2(client=connect(ipc_socket=socket_path, authtoken=svcuid, timeout=timeout))
