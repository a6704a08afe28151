#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite: lint, then pytest. pytest's "no tests ran" (exit 5)
# is a failure like any other non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
