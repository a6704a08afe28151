# In the style of the developer guide's "Publish/subscribe local messages" example (IPC client V2).
import sys
import time
import traceback

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import SubscriptionResponseMessage, UnauthorizedError


def main():
    topic = sys.argv[1]
    try:
        ipc_client = GreengrassCoreIPCClientV2()
        _, operation = ipc_client.subscribe_to_topic(topic=topic, on_stream_event=on_stream_event,
                                                     on_stream_error=on_stream_error, on_stream_closed=on_stream_closed)
        print("Successfully subscribed to topic: " + topic)
        with open("received.txt", "a") as handle:
            handle.write("subscribed\n")
        try:
            while True:
                time.sleep(10)
        except InterruptedError:
            print("Subscribe interrupted.")
        operation.close()
    except UnauthorizedError:
        print("Unauthorized error while subscribing to topic: " + topic, file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    except Exception:
        print("Exception occurred", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)


def on_stream_event(event: SubscriptionResponseMessage) -> None:
    try:
        message = str(event.binary_message.message, "utf-8")
        topic = event.binary_message.context.topic
        print(f"Received new message on topic {topic}: {message}")
        with open("received.txt", "a") as handle:
            handle.write(f"{topic}: {message}\n")
    except Exception:
        traceback.print_exc()


def on_stream_error(error: Exception) -> bool:
    print("Received a stream error.", file=sys.stderr)
    traceback.print_exc()
    return False  # Return True to close stream, False to keep stream open.


def on_stream_closed() -> None:
    print("Subscribe to topic stream closed.")


if __name__ == "__main__":
    main()
