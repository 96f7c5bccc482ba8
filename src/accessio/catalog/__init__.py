"""The catalog: integrations, nested folders, items and jobs, in SQLite or PostgreSQL."""

from accessio.catalog.db import CatalogError, create_engine, default_catalog_url
from accessio.catalog.errors import AlreadyExists, InvalidName, NotFound

__all__ = ["AlreadyExists", "CatalogError", "InvalidName", "NotFound", "create_engine", "default_catalog_url"]
