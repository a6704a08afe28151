#!/usr/bin/env bash
# Sets up .venv, builds the suite's components and runs them on the local Greengrass runtime
# (`edgewatch local up`). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/edgewatch local up "$@"
