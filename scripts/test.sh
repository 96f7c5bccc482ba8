#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the tests.
# This is the command CI runs (.ci/run); it needs nothing installed beforehand but
# python3, node and npm: the Python packages go into .venv, Azurite (the Azure Blob
# emulator) into .test-tools/. The tests start their own servers on 127.0.0.1
# (PostgreSQL from pgserver, moto's S3 server, Azurite, a local HTTP server) and stop
# them when they end.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ ! -x .test-tools/node_modules/.bin/azurite-blob ]; then
  npm install --silent --no-audit --no-fund --prefix .test-tools azurite@3 >/dev/null
fi

.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
