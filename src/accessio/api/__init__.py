"""The REST API of ``accessio serve``: Encord's public storage API and Accessio's own.

>>> from accessio.api import ServerSettings, create_app
>>> asgi = create_app(ServerSettings(catalog="catalog.db"))  # doctest: +SKIP
"""

from accessio.api.app import create_app
from accessio.api.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
