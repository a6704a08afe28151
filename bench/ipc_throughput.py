"""Greengrass IPC throughput of the local runtime, measured through the real SDK client.

Prints: SDK publish round trips/s (sequential and with many in flight), publish→subscriber latency
p50/p99, and server CPU µs per publish (server in its own process, one subscriber).

    .venv/bin/python bench/ipc_throughput.py [--count 5000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil
from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

from edgewatch.local.testing import ComponentSpec, SubprocessIpcRuntime, connect_client

ACL = {"aws.greengrass.ipc.pubsub": {"all": {"operations": ["*"], "resources": ["*"]}}}


def message(i: int) -> PublishMessage:
    return PublishMessage(json_message=JsonMessage(message={"i": i, "t": time.perf_counter()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--window", type=int, default=64, help="publishes in flight in the pipelined run")
    args = parser.parse_args()
    n = args.count
    with tempfile.TemporaryDirectory() as tmp, SubprocessIpcRuntime(
        Path(tmp), {"pub": ComponentSpec(ACL), "sub": ComponentSpec(ACL)}
    ) as runtime:
        assert runtime.process is not None
        server = psutil.Process(runtime.process.pid)
        pub = connect_client(runtime.socket_path, runtime.svcuid("pub"))
        sub = connect_client(runtime.socket_path, runtime.svcuid("sub"))
        latencies: list[float] = []
        done = threading.Event()
        lock = threading.Lock()

        def on_event(event) -> None:
            now = time.perf_counter()
            with lock:
                latencies.append(now - event.json_message.message["t"])
                if len(latencies) >= expected[0]:
                    done.set()

        expected = [n]
        sub.subscribe_to_topic(topic="bench/latency", on_stream_event=on_event)
        for i in range(200):  # warm-up
            pub.publish_to_topic(topic="bench/warm", publish_message=message(i))

        cpu0 = sum(server.cpu_times()[:2])
        me = psutil.Process()
        client_cpu0 = sum(me.cpu_times()[:2])
        t0 = time.perf_counter()
        for i in range(n):
            pub.publish_to_topic(topic="bench/latency", publish_message=message(i))
        sequential_s = time.perf_counter() - t0
        client_cpu_us = (sum(me.cpu_times()[:2]) - client_cpu0) / n * 1e6
        done.wait(60)
        cpu_per_publish_us = (sum(server.cpu_times()[:2]) - cpu0) / n * 1e6
        latency_ms = sorted(x * 1000 for x in latencies)
        latencies.clear()

        me_cpu0, cpu0, t0 = sum(me.cpu_times()[:2]), sum(server.cpu_times()[:2]), time.perf_counter()
        for i in range(n):
            pub.publish_to_topic(topic="bench/nobody", publish_message=message(i))
        bare_s = time.perf_counter() - t0
        bare_client_us = (sum(me.cpu_times()[:2]) - me_cpu0) / n * 1e6
        bare_server_us = (sum(server.cpu_times()[:2]) - cpu0) / n * 1e6

        expected[0] = n
        done.clear()
        cpu0 = sum(server.cpu_times()[:2])
        t0 = time.perf_counter()
        pending = []
        for i in range(n):
            pending.append(pub.publish_to_topic_async(topic="bench/latency", publish_message=message(i)))
            if len(pending) >= args.window:
                pending.pop(0).result(30)
        for future in pending:
            future.result(30)
        pipelined_s = time.perf_counter() - t0
        done.wait(60)
        pipelined_cpu_us = (sum(server.cpu_times()[:2]) - cpu0) / n * 1e6

        sub.close()
        pub.close()

    print(f"IPC throughput, {n} publishes, server in its own process, awsiotsdk GreengrassCoreIPCClientV2")
    print(f"  sequential round trips/s        {n / sequential_s:10.0f} (one subscriber)")
    print(f"  sequential round trips/s        {n / bare_s:10.0f} (no subscriber; client CPU {bare_client_us:.0f} us, "
          f"server CPU {bare_server_us:.0f} us per round trip)")
    print(f"  pipelined round trips/s ({args.window:>3}) {n / pipelined_s:10.0f}")
    print(f"  publish->subscriber latency p50 {statistics.median(latency_ms):10.3f} ms")
    print(f"  publish->subscriber latency p99 {latency_ms[int(len(latency_ms) * 0.99) - 1]:10.3f} ms")
    print(f"  server CPU per publish, seq.    {cpu_per_publish_us:10.1f} us (one subscriber)")
    print(f"  client CPU per round trip, seq. {client_cpu_us:10.1f} us (SDK publisher + subscriber threads)")
    print(f"  server CPU per publish, pipel.  {pipelined_cpu_us:10.1f} us (one subscriber)")


if __name__ == "__main__":
    main()
