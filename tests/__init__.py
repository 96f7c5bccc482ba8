"""Accessio's tests (a package, so shared fixtures import as ``tests.servers``)."""
