"""Object storage: where an object URL points, and how to reach it.

>>> from accessio.storage import Integration, Provider, open_storage
>>> storage = open_storage(Integration("media", Provider.S3, root="cats", credentials="env:MEDIA"))
>>> storage.locate("s3://cats/tom.jpg").key
'tom.jpg'

An :class:`Integration` is configuration (credentials by reference only); its
:class:`Storage` locates URLs, probes and reads objects (``probe_head``, ``read_range``,
``reader``), signs them and lists prefixes. The errors are drawn in
:mod:`accessio.storage.errors`.
"""

from accessio.storage.errors import (
    AccessDenied,
    AddressNotAllowed,
    CredentialsInvalid,
    IntegrationInvalid,
    ObjectNotFound,
    OperationNotSupported,
    ReadNotAllowed,
    StorageError,
    UrlOutsideIntegration,
    WriteNotAllowed,
)
from accessio.storage.integration import AccessMode, Integration
from accessio.storage.reader import RangedReader
from accessio.storage.storage import ListedObject, ObjectInfo, Storage, open_storage
from accessio.storage.urls import ObjectLocation, Provider, parse_object_url

__all__ = [
    "AccessDenied",
    "AccessMode",
    "AddressNotAllowed",
    "CredentialsInvalid",
    "Integration",
    "IntegrationInvalid",
    "ListedObject",
    "ObjectInfo",
    "ObjectLocation",
    "ObjectNotFound",
    "OperationNotSupported",
    "Provider",
    "RangedReader",
    "ReadNotAllowed",
    "Storage",
    "StorageError",
    "UrlOutsideIntegration",
    "WriteNotAllowed",
    "open_storage",
    "parse_object_url",
]
