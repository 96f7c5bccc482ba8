#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the tests.
# This is the command CI runs (.ci/run); it needs nothing installed beforehand but
# python3, node and npm: the Python packages go into .venv, Azurite (the Azure Blob
# emulator) into .test-tools/, Debian's chromium with apt when it is missing. The tests
# start their own servers on 127.0.0.1 (PostgreSQL from pgserver, moto's S3 server,
# Azurite, a local HTTP server, accessio serve, Redis from Debian's redis-server) and stop
# them when they end.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ ! -x .test-tools/node_modules/.bin/azurite-blob ]; then
  npm install --silent --no-audit --no-fund --prefix .test-tools azurite@3 >/dev/null
fi
# The browser tests drive the Chromium Debian packages (Playwright never downloads one).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# The Celery workers' tests run Debian's Redis as their broker (tests/cluster_servers.py).
if ! command -v redis-server >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
