#!/usr/bin/env bash
# Creates .venv with the pinned dependencies and the edgewatch package (editable). Idempotent: when
# requirements-dev.txt and pyproject.toml are unchanged since the last run it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
# System packages the tests use: Mosquitto (the MQTT bridge's mutual-TLS broker) and openssl;
# Chromium (the dashboard's browser tests drive /usr/bin/chromium, since `playwright install` cannot
# download); node and npm (the dashboard's assets pin uPlot in web/package-lock.json).
need=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need="$need mosquitto"
command -v mosquitto_sub >/dev/null 2>&1 || need="$need mosquitto-clients"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing$need" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  else
    echo "setup: please install$need (apt-get install$need); the MQTT bridge and dashboard tests need them" >&2
  fi
fi
stamp=.venv/.edgewatch-setup
want=$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: creating .venv with $($PY --version)" >&2
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c "import ensurepip" >/dev/null 2>&1; then
  # Debian splits venv out of the interpreter; install it when we may (CI runs as root).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "setup: $PY cannot create virtual environments; install python3-venv" >&2
    exit 1
  fi
fi
rm -rf .venv
"$PY" -m venv .venv
# pip warns about index folders of this machine's pip.conf that do not exist; that noise is dropped.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
echo "$want" > "$stamp"
