# In the style of the developer guide's "Publish/subscribe local messages" example (IPC client V2).
import sys
import traceback

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage, UnauthorizedError


def main():
    topic, message, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        ipc_client = GreengrassCoreIPCClientV2()
        for i in range(count):
            publish_binary_message_to_topic(ipc_client, topic, f"{message} {i}")
            print("Successfully published to topic: " + topic)
        try:
            publish_binary_message_to_topic(ipc_client, "not/granted", message)
        except UnauthorizedError:
            print("Unauthorized error while publishing to topic: not/granted", file=sys.stderr)
            with open("unauthorized.txt", "w") as handle:
                handle.write("not/granted")
        ipc_client.close()
    except Exception:
        print("Exception occurred", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)


def publish_binary_message_to_topic(ipc_client, topic, message):
    binary_message = BinaryMessage(message=bytes(message, "utf-8"))
    publish_message = PublishMessage(binary_message=binary_message)
    return ipc_client.publish_to_topic(topic=topic, publish_message=publish_message)


if __name__ == "__main__":
    main()
