"""Shared test configuration.

Under CI (``CI`` set) Hypothesis runs derandomized, so a run is repeatable; local runs
stay random and keep their example database, which is how new failures get found.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
