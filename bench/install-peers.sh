#!/usr/bin/env bash
# Installs the peers bench/collector_overhead.py compares against (Debian/Ubuntu, as root).
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-node-exporter collectd-core
