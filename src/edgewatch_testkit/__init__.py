"""Test support shared by tests/ and bench/: real stand-ins for what EdgeWatch talks to.

`fake_slack` (a local HTTP server that behaves like Slack's webhook and chat.postMessage),
`mosquitto` (certificates, free ports and a mutual-TLS Mosquitto) and `fleet_broker` (a fleet-shaped
Mosquitto whose ACL mirrors the IoT policies, with a WebSocket front). Not product code:
`python -m edgewatch.devtools.imports` fails if a product module imports it.
"""
