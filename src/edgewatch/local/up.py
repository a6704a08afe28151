"""`edgewatch local up`: build the suite, run it on the local runtime, say where to look; Ctrl-C stops."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edgewatch.local import event_loop
from edgewatch.local.commands import CommandError, build_runtime, layout_of, out, setup_runtime_logging
from edgewatch.local.runtime import DeploymentRequest, LocalRuntime
from edgewatch.local.runtime_main import running_pid, serve

log = logging.getLogger(__name__)


def run_up(args: argparse.Namespace) -> int:
    from edgewatch.build.suite import BuildError, build_components, find_repo_root

    layout = layout_of(args)
    if running_pid(layout) is not None:
        raise CommandError(f"a runtime already runs under {layout.root}; `edgewatch local stop --root "
                           f"{layout.root}` first, or use another --root")
    repo_root = (args.repo_root or find_repo_root(Path.cwd())).resolve()
    out_dir = repo_root / "greengrass-build"
    out(f"building components from {repo_root} ...")
    try:
        built = build_components(repo_root, None, out_dir)
    except BuildError as exc:
        raise CommandError(f"build failed: {exc}") from None
    for component in built:
        out(f"  built {component.name} {component.version}")
    setup_runtime_logging(layout)
    extra_env = {"EDGEWATCH_PYTHON": sys.executable} if args.dev_python else {}
    runtime = build_runtime(args, extra_env)
    # Our own recipes are deployed strictly: a typo in a recipe variable fails instead of staying as written.
    request = DeploymentRequest(out_dir / "recipes", out_dir / "artifacts", {c.name: c.version for c in built},
                                strict_recipes=True)
    outcome: dict[str, int] = {}

    async def deploy(rt: LocalRuntime) -> None:
        out(f"runtime started under {layout.root} (thing {rt.thing_name}); deploying ...")
        if not args.dev_python:
            out("  first run: each component's Install creates its venv and installs its pinned requirements;")
            out(f"  follow it in {layout.logs()}/<ComponentName>.log (later starts reuse the venvs)")
        record = await rt.deploy(request)
        if record.status != "SUCCEEDED":
            out(f"deployment FAILED: {record.reason}")
            outcome["code"] = 1
            raise CommandError(record.reason)
        out("deployment SUCCEEDED; the suite is running:")
        for name in sorted(rt.deployed):
            out(f"  {name} {rt.deployed[name].version}: {rt.component_state(name)}")
        out("where to look:")
        out(f"  component logs   {layout.logs()}/<ComponentName>.log")
        out(f"                   (edgewatch local logs NAME --follow --root {layout.root})")
        out(f"  runtime log      {layout.runtime_log()}")
        out(f"  IoT Core         {layout.iot_core_log()}  (what the cloud would receive)")
        out(f"  IPC socket       {layout.socket_path}")
        if "com.edgewatch.LocalDashboard" in rt.deployed:
            port = rt.services.configuration.get("com.edgewatch.LocalDashboard").get("port", 8600)
            out(f"  dashboard        http://127.0.0.1:{port}/  (password: "
                f"{layout.work('com.edgewatch.LocalDashboard')}/dashboard-password)")
        else:
            out("  dashboard        not deployed")
        out("Ctrl-C stops everything.")
        if args.exit_after_deploy:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)

    event_loop.run(serve(runtime, deploy))
    out("stopped.")
    return outcome.get("code", 0)
