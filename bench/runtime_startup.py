"""Local runtime: time from `deployment create` to RUNNING for a trivial component, and idle RSS.

    .venv/bin/python bench/runtime_startup.py [--rounds 5]

Runs a detached runtime (`edgewatch local start --detach`) in a temporary root, then deploys a
trivial component (`Run: sleep`) several times under new versions, timing each deployment through
the CLI (`deployment create --wait`, includes CLI start-up) and through the runtime's own IPC
(CreateLocalDeployment → component RUNNING, polled every 5 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.testing import connect_client

RECIPE = """RecipeFormatVersion: '2020-01-25'
ComponentName: com.bench.Trivial
ComponentVersion: {version}
Manifests:
  - Platform: {{os: linux}}
    Lifecycle: {{Run: exec sleep 600}}
"""


def edgewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch.cli", *args], capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ew-bench-") as tmp:
        root, recipes = Path(tmp) / "root", Path(tmp) / "recipes"
        recipes.mkdir()
        for i in range(2 * args.rounds):
            (recipes / f"com.bench.Trivial-1.0.{i}.yaml").write_text(RECIPE.format(version=f"1.0.{i}"))
        edgewatch("local", "start", "--root", str(root), "--thing-name", "bench", "--detach")
        layout = RuntimeLayout(root.resolve())
        runtime_pid = json.loads(layout.runtime_file().read_text())["pid"]
        try:
            time.sleep(1.0)  # let the runtime settle before reading its idle memory
            idle_rss = psutil.Process(runtime_pid).memory_info().rss
            cli_s = []
            for i in range(args.rounds):
                t0 = time.perf_counter()
                edgewatch("local", "deployment", "create", "--root", str(root), "--recipeDir", str(recipes),
                          "--merge", f"com.bench.Trivial=1.0.{i}", "--wait")
                cli_s.append(time.perf_counter() - t0)
            client = connect_client(layout.socket_path, layout.cli_token_file().read_text())
            ipc_s = []
            for i in range(args.rounds, 2 * args.rounds):
                version = f"1.0.{i}"
                t0 = time.perf_counter()
                client.create_local_deployment(recipe_directory_path=str(recipes),
                                               root_component_versions_to_add={"com.bench.Trivial": version})
                while True:
                    components = {c.component_name: c for c in client.list_components().components}
                    trivial = components.get("com.bench.Trivial")
                    if trivial is not None and trivial.version == version and trivial.state == "RUNNING":
                        break
                    time.sleep(0.005)
                ipc_s.append(time.perf_counter() - t0)
            client.close()
            loaded_rss = psutil.Process(runtime_pid).memory_info().rss
        finally:
            edgewatch("local", "stop", "--root", str(root))
    print(f"local runtime, trivial component, {args.rounds} deployments each way")
    print(f"  deployment create --wait (CLI, incl. its start-up)  median {statistics.median(cli_s) * 1000:7.0f} ms")
    print(f"  CreateLocalDeployment -> RUNNING (IPC)              median {statistics.median(ipc_s) * 1000:7.0f} ms")
    print(f"  runtime idle RSS                                    {idle_rss / 2**20:7.1f} MiB")
    print(f"  runtime RSS after {2 * args.rounds} deployments                     {loaded_rss / 2**20:7.1f} MiB")


if __name__ == "__main__":
    main()
