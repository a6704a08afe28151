#!/usr/bin/env bash
# Creates .venv with the pinned dependencies and the edgewatch package (editable). Idempotent: when
# requirements-dev.txt and pyproject.toml are unchanged since the last run it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv/.edgewatch-setup
want=$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: creating .venv with $($PY --version)" >&2
"$PY" -m venv .venv
# pip warns about index folders of this machine's pip.conf that do not exist; that noise is dropped.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
echo "$want" > "$stamp"
