"""`edgewatch local up`: build the suite, run it on the local runtime, say where to look; Ctrl-C stops."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edgewatch.local import event_loop
from edgewatch.local.command_support import CommandError, build_runtime, layout_of, out, setup_runtime_logging
from edgewatch.local.deployment_plan import DeploymentRequest, DeploymentStatus
from edgewatch.local.runtime import LocalRuntime
from edgewatch.local.runtime_info import running_pid
from edgewatch.local.runtime_main import serve

log = logging.getLogger(__name__)

DASHBOARD = "com.edgewatch.LocalDashboard"


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

    async def deploy(rt: LocalRuntime) -> int | None:
        """Deploy the suite; an exit code ends `up` (a failed deployment, or --exit-after-deploy)."""
        out(f"runtime started under {layout.root} (thing {rt.thing_name}); deploying ...")
        if not args.dev_python:
            out("  first run: each component's Install creates its venv and installs its pinned requirements;")
            out(f"  follow it in {layout.logs()}/<ComponentName>.log (later starts reuse the venvs)")
        record = await rt.deploy(request)
        if record.status != DeploymentStatus.SUCCEEDED:
            out(f"deployment FAILED: {record.reason}")
            return 1
        out("deployment SUCCEEDED; the suite is running:")
        for name, deployed in sorted(rt.deployed.items()):
            out(f"  {name} {deployed.version}: {rt.component_state(name)}")
        out("where to look:")
        out(f"  component logs   {layout.logs()}/<ComponentName>.log")
        out(f"                   (edgewatch local logs NAME --follow --root {layout.root})")
        out(f"  runtime log      {layout.runtime_log()}")
        out(f"  IoT Core         {layout.iot_core_log()}  (what the cloud would receive)")
        out(f"  IPC socket       {layout.socket_path}")
        if DASHBOARD in rt.deployed:
            port = (rt.configuration(DASHBOARD) or {}).get("port", 8600)
            out(f"  dashboard        http://127.0.0.1:{port}/  (password: {layout.work(DASHBOARD)}/dashboard-password)")
        else:
            out("  dashboard        not deployed")
        out("Ctrl-C stops everything.")
        return 0 if args.exit_after_deploy else None

    code = event_loop.run(serve(runtime, deploy))
    out("stopped.")
    return code or 0
