# In the style of the developer guide's "Publish/subscribe local messages" example (IPC client V1).
import sys
import time
import traceback

import awsiot.greengrasscoreipc
import awsiot.greengrasscoreipc.client as client
from awsiot.greengrasscoreipc.model import SubscribeToTopicRequest, SubscriptionResponseMessage

TIMEOUT = 10


class StreamHandler(client.SubscribeToTopicStreamHandler):
    def __init__(self):
        super().__init__()

    def on_stream_event(self, event: SubscriptionResponseMessage) -> None:
        try:
            message = str(event.binary_message.message, "utf-8")
            topic = event.binary_message.context.topic
            with open("received.txt", "a") as handle:
                handle.write(f"{topic}: {message}\n")
        except Exception:
            traceback.print_exc()

    def on_stream_error(self, error: Exception) -> bool:
        traceback.print_exc()
        return True  # Return True to close stream, False to keep stream open.

    def on_stream_closed(self) -> None:
        pass


topic = sys.argv[1]
ipc_client = awsiot.greengrasscoreipc.connect()
request = SubscribeToTopicRequest()
request.topic = topic
handler = StreamHandler()
operation = ipc_client.new_subscribe_to_topic(handler)
future = operation.activate(request)
future.result(TIMEOUT)
print("Successfully subscribed to topic: " + topic)
with open("received.txt", "a") as handle:
    handle.write("subscribed\n")
while True:
    time.sleep(10)
