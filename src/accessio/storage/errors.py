"""Errors of object storage, under :class:`accessio.errors.AccessioError`.

    StorageError                  502  the storage service failed or answered nonsense
    ├── ObjectNotFound            404  no object at that URL
    ├── AccessDenied              403  the integration's credentials may not read it
    ├── UrlOutsideIntegration     400  the URL does not belong to this integration
    ├── AddressNotAllowed         400  the host resolves to an address reads may not reach
    ├── ReadNotAllowed            409  the access mode forbids reading object bytes
    ├── WriteNotAllowed           409  the integration may not write there (no write prefix)
    ├── OperationNotSupported     400  the provider cannot do that (list over plain HTTP)
    └── IntegrationInvalid        400  settings that cannot make a working integration
        └── CredentialsInvalid    400  a credential reference that is malformed or unresolvable

Messages never carry secrets: URLs are shown with their signature query values
redacted, and credential references are named, never their values.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from accessio.errors import AccessioError

_SECRET_PARAM = re.compile(r"sig|signature|token|credential|key|secret|password|sas", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL as it may be shown: query values that look like signatures or tokens replaced.

    >>> redact("https://h/k?X-Amz-Signature=abc&x=1")
    'https://h/k?X-Amz-Signature=REDACTED&x=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    if not parts.query:
        return url[:300] + ("…" if len(url) > 300 else "")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    shown = [(k, "REDACTED" if _SECRET_PARAM.search(k) else v) for k, v in pairs]
    result = urlunsplit(parts._replace(query=urlencode(shown, safe="/:")))
    return result[:300] + ("…" if len(result) > 300 else "")


class StorageError(AccessioError):
    """The storage service failed, or an operation on it could not be completed."""

    status = 502
    code = "storage"


class ObjectNotFound(StorageError):
    """No object at the URL."""

    status = 404
    code = "storage.not_found"

    def __init__(self, url: str) -> None:
        super().__init__(f"no object at {redact(url)}")
        self.url = url


class AccessDenied(StorageError):
    """The storage refused the integration's credentials for this object."""

    status = 403
    code = "storage.access_denied"

    def __init__(self, url: str) -> None:
        super().__init__(f"access to {redact(url)} was denied by the storage service")
        self.url = url


class ExpiryTooLong(StorageError):
    """A signed URL asked to live longer than its integration allows."""

    status = 400
    code = "storage.expiry_too_long"

    def __init__(self, integration: str, asked_s: int, limit_s: int) -> None:
        super().__init__(
            f"{asked_s:,} seconds is longer than the integration {integration!r} lets a signed URL live "
            f"({limit_s:,} seconds)"
        )
        self.integration = integration
        self.asked_s = asked_s
        self.limit_s = limit_s


class UrlOutsideIntegration(StorageError):
    """The URL does not belong to the integration it was given to."""

    status = 400
    code = "url.outside_integration"

    def __init__(self, url: str, integration: str, reason: str) -> None:
        super().__init__(f"{redact(url)} is outside the integration {integration!r}: {reason}")
        self.url = url
        self.integration = integration
        self.reason = reason


class AddressNotAllowed(StorageError):
    """A host that resolves to an address outbound reads may not reach."""

    status = 400
    code = "storage.address_not_allowed"

    def __init__(self, host: str, address: str, reason: str = "not a public address") -> None:
        super().__init__(f"{host} resolves to {address} ({reason}); reads from it are refused")
        self.host = host
        self.address = address
        self.reason = reason


class ReadNotAllowed(StorageError):
    """The integration's access mode forbids reading object bytes."""

    status = 409
    code = "storage.read_not_allowed"

    def __init__(self, integration: str, access_mode: str) -> None:
        super().__init__(f"the integration {integration!r} is {access_mode}: Accessio may not read its objects")
        self.integration = integration
        self.access_mode = access_mode


class WriteNotAllowed(StorageError):
    """The integration may not write this object: it has no write prefix, or the URL is not under it."""

    status = 409
    code = "storage.write_not_allowed"

    def __init__(self, integration: str, reason: str) -> None:
        super().__init__(f"the integration {integration!r} may not write here: {reason}")
        self.integration = integration
        self.reason = reason


class OperationNotSupported(StorageError):
    """An operation the integration's provider cannot perform."""

    status = 400
    code = "storage.not_supported"


class IntegrationInvalid(StorageError):
    """Integration settings that cannot make a working integration."""

    status = 400
    code = "integration.invalid"


class CredentialsInvalid(IntegrationInvalid):
    """A credential reference that is malformed, looks like a secret, or cannot be resolved."""

    code = "integration.credentials_invalid"
