"""Building the cloud and fleet parsers loads no AWS SDK: `edgewatch --help` must stay fast."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("boto3", "botocore", "s3transfer", "awscrt", "awsiot", "yaml", "edgewatch.build.suite")


def test_registering_the_cloud_and_fleet_parsers_imports_no_sdk() -> None:
    code = (
        "import argparse, json, sys\n"
        "from edgewatch.cloud.cli import add_cloud_parsers\n"
        "from edgewatch.fleet.cli import add_fleet_parser\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "add_cloud_parsers(sub); add_fleet_parser(sub)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    loaded = json.loads(out)
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
    assert "edgewatch.cloud.cli" in loaded  # the probe did import what it claims to check
