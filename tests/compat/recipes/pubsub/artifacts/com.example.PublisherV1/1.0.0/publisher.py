# In the style of the developer guide's "Publish/subscribe local messages" example (IPC client V1).
import sys

import awsiot.greengrasscoreipc
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage, PublishToTopicRequest, UnauthorizedError

TIMEOUT = 10


def publish(ipc_client, topic, message):
    request = PublishToTopicRequest()
    request.topic = topic
    publish_message = PublishMessage()
    publish_message.binary_message = BinaryMessage()
    publish_message.binary_message.message = bytes(message, "utf-8")
    request.publish_message = publish_message
    operation = ipc_client.new_publish_to_topic()
    operation.activate(request)
    future_response = operation.get_response()
    future_response.result(TIMEOUT)


topic, message, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ipc_client = awsiot.greengrasscoreipc.connect()
for i in range(count):
    publish(ipc_client, topic, f"{message} {i}")
    print("Successfully published to topic: " + topic)
try:
    publish(ipc_client, "not/granted", message)
except UnauthorizedError:
    with open("unauthorized.txt", "w") as handle:
        handle.write("not/granted")
ipc_client.close().result(TIMEOUT)
