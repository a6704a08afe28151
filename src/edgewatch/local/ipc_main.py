"""Run only the IPC services from a JSON spec; prints READY when listening (tests and benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from edgewatch.local import event_loop
from edgewatch.local.ipc_services import IpcServices


async def serve(spec: dict) -> None:
    services = IpcServices(
        spec["socketPath"], Path(spec["root"]), spec.get("thingName", "test-thing"),
        Path(spec["secretsFile"]) if spec.get("secretsFile") else None,
        connect_timeout_s=spec.get("connectTimeoutSeconds"),
    )
    for name, component in spec.get("components", {}).items():
        services.add_component(
            name, component.get("accessControl"), component.get("configuration"), component.get("svcuid")
        )
    await services.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    await stop.wait()
    await services.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    event_loop.run(serve(json.loads(args.spec.read_text())))


if __name__ == "__main__":
    main()
