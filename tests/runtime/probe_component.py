"""A test component: real IPC client; what it sees goes to events.log in its work directory.

Behaviour comes from its configuration: `reportRunning` (send UpdateState RUNNING), `rejectIf`
(reject a proposed configuration containing that key, with the value as the reason). It exits 1
once a file named `crash` appears in its work directory.
"""

import json
import os
import sys
import time

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ConfigurationValidityReport


def event(text: str) -> None:
    with open("events.log", "a") as handle:
        handle.write(text + "\n")


client = GreengrassCoreIPCClientV2()
config = client.get_configuration(key_path=[]).value
with open("env.json", "w") as handle:
    json.dump({k: os.environ.get(k) for k in ("SVCUID", "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT",
                                               "AWS_IOT_THING_NAME", "AWS_REGION", "PROBE_SETENV")}, handle)
event(f"started {os.getpid()} {json.dumps(config, sort_keys=True)} argv={sys.argv[1:]}")


def on_update(message) -> None:
    event("config-update " + "/".join(message.configuration_update_event.key_path))


def on_validate(message) -> None:
    proposed = message.validate_configuration_update_event.configuration
    reason = proposed.get(config.get("rejectIf", "\0"))
    client.send_configuration_validity_report(configuration_validity_report=ConfigurationValidityReport(
        status="REJECTED" if reason else "ACCEPTED", message=str(reason or ""),
        deployment_id=message.validate_configuration_update_event.deployment_id))
    event(f"validated {'REJECTED' if reason else 'ACCEPTED'}")


client.subscribe_to_configuration_update(key_path=[], on_stream_event=on_update)
client.subscribe_to_validate_configuration_updates(on_stream_event=on_validate)
event("ready")  # subscriptions are open: validation requests and updates now reach this component
if config.get("reportRunning"):
    client.update_state(state="RUNNING")
while not os.path.exists("crash"):
    time.sleep(0.05)
event("crashing")
sys.exit(1)
