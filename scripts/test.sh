#!/usr/bin/env bash
# Install everything the tests need into .venv, then lint, type-check and run the tests.
# This is the command CI runs (.ci/run); it needs nothing installed beforehand but python3.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest "$@"
