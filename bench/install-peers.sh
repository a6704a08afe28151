#!/usr/bin/env bash
# Installs the peers the benchmarks compare against (Debian/Ubuntu, as root):
# bench/collector_overhead.py (node_exporter, collectd) and bench/dashboard_vs_netdata.py (netdata).
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-node-exporter collectd-core netdata
