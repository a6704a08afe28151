"""The dashboard's only contact with Greengrass IPC: `ComponentIpc` as it is, with its four topic
streams (`set_subscriptions`), the password secret (`get_secret_value`) and, in hub mode, the fleet's
IoT Core topic filters (`set_iot_core_subscriptions`, SubscribeToIoTCore QoS 1).

Handlers get the decoded JSON of a JSON message and the raw bytes of a binary one (size-checked by
the dashboard before it parses them); IoT Core handlers get (topic, raw payload bytes). They run on
the IPC client's thread pool, so they only hand data over.
"""

from __future__ import annotations

from edgewatch_shared.component_ipc import ComponentIpc


class DashboardIpc(ComponentIpc):
    stream_label = "dashboard IPC stream"
