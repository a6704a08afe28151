"""The dashboard's only contact with Greengrass IPC: `ComponentIpc` as it is, with its four topic
streams (`set_subscriptions`) and the password secret (`get_secret_value`).

Handlers get the decoded JSON of a JSON message and the raw bytes of a binary one (size-checked by
the dashboard before it parses them). They run on the IPC client's thread pool, so they only hand
data over.
"""

from __future__ import annotations

from edgewatch_shared.component_ipc import ComponentIpc


class DashboardIpc(ComponentIpc):
    stream_label = "dashboard IPC stream"
