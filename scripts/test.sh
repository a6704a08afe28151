#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite: lint, then pytest. pytest's "no tests ran" (exit 5)
# is a failure like any other non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Two workers, each taking whole test files (fixtures stay per file); EDGEWATCH_TEST_WORKERS=0 runs serially.
exec .venv/bin/python -m pytest -q -n "${EDGEWATCH_TEST_WORKERS:-2}" --dist loadfile "$@"
