"""obstore stores for an integration: one per bucket (container), built on first use.

Reads through obstore are used where obstore talks to the provider's own service
(AWS S3, GCS, Azure Blob on ``*.windows.net``) and for local files; there the
host names are fixed and public, so there is no address for a URL to steer.
Integrations with a configured endpoint use obstore to list and to sign, and read
object bytes through the signed URL with :mod:`accessio.storage.web`.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError, PermissionDeniedError, UnauthenticatedError
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store

from accessio.storage.azure_sas import blob_sas_url
from accessio.storage.credentials import AwsKeys, CredentialRef
from accessio.storage.errors import (
    AccessDenied,
    CredentialsInvalid,
    ObjectNotFound,
    OperationNotSupported,
    StorageError,
    redact,
)
from accessio.storage.integration import Integration
from accessio.storage.reader import Fetched
from accessio.storage.urls import ObjectLocation, Provider

if TYPE_CHECKING:
    from obstore import GetResult
    from obstore.store import ClientConfig, ObjectStore, RetryConfig, S3Credential

# obstore raises its own classes, and builtin ones for some (FileNotFoundError for "not found")
FAILURES = (BaseError, OSError)
_RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
_KEY_SAFE = "/~!$&'()*+,;=:@"


def storage_error(exc: Exception, url: str) -> StorageError:
    """The Accessio error for an obstore failure on ``url`` (raise it ``from exc``)."""
    if isinstance(exc, NotFoundError | FileNotFoundError):
        return ObjectNotFound(url)
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError | PermissionError):
        return AccessDenied(url)
    return StorageError(f"{redact(url)}: the storage service failed ({type(exc).__name__})")


def too_large(url: str, size: int, limit: int) -> StorageError:
    """The error for an object read whole that is bigger than allowed."""
    return StorageError(f"{redact(url)} is {size:,} bytes, more than the {limit:,} read whole")


def _static(keys: AwsKeys) -> Any:
    credential: S3Credential = {
        "access_key_id": keys.access_key_id,
        "secret_access_key": keys.secret_access_key,
        "token": keys.session_token,
        "expires_at": None,
    }
    return lambda: credential


# What ``--credentials env`` lets obstore read, per provider: with none of them set, a
# read would fail later with a bare "access denied" (or wait on an instance metadata service).
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
GCS_VARIABLES = (
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
AZURE_VARIABLES = (
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_ID",
)


def _require_environment(variables: tuple[str, ...], named: str) -> None:
    if not any(os.environ.get(name) for name in variables):
        raise CredentialsInvalid(
            f"--credentials env reads {named} from the environment, and none is set here "
            "(or use env:PREFIX, profile:NAME or file:PATH)"
        )


class Stores:
    """The obstore stores of one integration, keyed by what distinguishes them."""

    def __init__(self, integration: Integration, local_root: str | None = None) -> None:
        self.integration = integration
        self._ref = CredentialRef.parse(integration.credentials) if integration.credentials else None
        self._local_root = local_root
        self._stores: dict[tuple[str | None, ...], ObjectStore] = {}
        self._lock = threading.Lock()

    @property
    def anonymous(self) -> bool:
        return self._ref is None

    def store_for(self, loc: ObjectLocation) -> ObjectStore:
        """The store holding ``loc`` (the local store is rooted at the integration's root)."""
        key = (loc.bucket, loc.account, loc.region)
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = self._build(loc)
            return store

    def _client_options(self) -> ClientConfig:
        options: ClientConfig = {"connect_timeout": timedelta(seconds=10), "timeout": timedelta(seconds=120)}
        endpoint = self.integration.endpoint
        if endpoint is not None and endpoint.startswith("http://"):
            options["allow_http"] = True
        return options

    def _build(self, loc: ObjectLocation) -> ObjectStore:
        provider, integration, ref = loc.provider, self.integration, self._ref
        common: dict[str, Any] = {"client_options": self._client_options(), "retry_config": _RETRY}
        if provider is Provider.LOCAL:
            return LocalStore(self._local_root)
        if ref is None:
            common["skip_signature"] = True
        if provider in (Provider.S3, Provider.S3_COMPATIBLE):
            region = loc.region or integration.region or ("us-east-1" if integration.endpoint else None)
            common.update({"region": region} if region else {})
            common.update({"endpoint": integration.endpoint.rstrip("/")} if integration.endpoint else {})
            if ref is not None and ref.kind == "env" and ref.value is None:
                _require_environment(AWS_VARIABLES, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            keys = ref.aws_keys() if ref is not None else None
            if keys is not None:
                common["credential_provider"] = _static(keys)
            return S3Store(loc.bucket, **common)
        if provider is Provider.GCP:
            if ref is not None and ref.kind == "env" and ref.value is None:
                _require_environment(GCS_VARIABLES, " or ".join(GCS_VARIABLES))
            return GCSStore(loc.bucket, **common, **(ref.gcs_config() if ref else {}))
        if provider is Provider.AZURE:
            if ref is not None and ref.kind == "env" and ref.value is None:
                _require_environment(AZURE_VARIABLES, "AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN")
            if integration.endpoint:
                common["endpoint"] = f"{integration.endpoint.rstrip('/')}/{loc.account}"
            return AzureStore(loc.bucket, account_name=loc.account, **common, **(ref.azure_config() if ref else {}))
        raise StorageError(f"{provider} objects are not read through obstore")

    def sign(
        self, loc: ObjectLocation, path: str, expires_s: int, *, for_reading: bool = False, method: str = "GET"
    ) -> str:
        """A presigned GET (or PUT) URL for ``path`` in ``loc``'s bucket.

        Azure URLs are signed here with the account key (see :mod:`.azure_sas`). An Azure
        integration holding only a SAS token reads with it, but cannot hand out URLs: its
        token may live longer than ``sign_ttl_s`` allows.
        """
        if loc.provider is Provider.AZURE and loc.account and loc.bucket:
            key, sas = self._azure_secrets()
            base = _azure_base(self.integration, loc)
            if key:
                permissions = "cw" if method == "PUT" else "r"
                return blob_sas_url(base, loc.account, loc.bucket, path, key, expires_s, permissions=permissions)
            if sas and (not for_reading or method != "GET"):
                raise OperationNotSupported("an Azure integration with a SAS token cannot sign; give it an account key")
            if sas:
                return f"{base}/{loc.bucket}/{quote(path, safe='/~')}?{sas}"
        store = self.store_for(loc)
        if not isinstance(store, S3Store | GCSStore | AzureStore):
            raise StorageError(f"{loc.provider} objects cannot be signed")
        try:
            return obstore.sign(store, "PUT" if method == "PUT" else "GET", path, timedelta(seconds=expires_s))
        except FAILURES as exc:
            raise StorageError(f"{redact(loc.url)}: signing failed ({type(exc).__name__})") from exc

    def _azure_secrets(self) -> tuple[str | None, str | None]:
        """The account key and SAS token the reference points at (either may be ``None``)."""
        ref = self._ref
        if ref is None:
            return None, None
        if ref.kind == "env" and ref.value is None:
            names = ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_MASTER_KEY")
            return next((os.environ[n] for n in names if os.environ.get(n)), None), None
        config = ref.azure_config()
        return config.get("account_key"), config.get("sas_key")


def _azure_base(integration: Integration, loc: ObjectLocation) -> str:
    if integration.endpoint:
        return f"{integration.endpoint.rstrip('/')}/{loc.account}"
    parts = urlsplit(loc.url)
    return f"{parts.scheme}://{parts.netloc}"


def public_url(integration: Integration, loc: ObjectLocation) -> str:
    """A URL that fetches ``loc`` with no credentials: the URL itself when it is http(s)."""
    if loc.url.lower().startswith(("http://", "https://")):
        return loc.url
    key = quote(loc.key, safe=_KEY_SAFE)
    if integration.endpoint and loc.provider is Provider.S3:
        return f"{integration.endpoint.rstrip('/')}/{loc.bucket}/{key}"
    if loc.provider is Provider.S3:
        region = loc.region or integration.region
        host = f"{loc.bucket}.s3.{region}.amazonaws.com" if region else f"{loc.bucket}.s3.amazonaws.com"
        return f"https://{host}/{key}"
    return f"https://storage.googleapis.com/{loc.bucket}/{key}"


def _options(start: int, end: int) -> Any:
    return {"range": (start, end)}


def _fetched(result: GetResult, data: bytes) -> Fetched:
    meta = result.meta
    return Fetched(data, meta["size"], result.attributes.get("Content-Type"), meta["e_tag"])


def _satisfiable_failure(exc: Exception) -> bool:
    # obstore reports 416 (and the local store a range past the end) as a generic error
    text = str(exc)
    return "416" in text or "Range" in text or "range" in text


def fetch(store: ObjectStore, path: str, start: int, end: int, url: str) -> Fetched:
    """Bytes ``start`` to ``end - 1`` of ``path`` (fewer at the end; none past it), synchronously."""
    try:
        result = obstore.get(store, path, options=_options(start, end))
        return _fetched(result, bytes(result.bytes()))
    except FAILURES as exc:
        if not _satisfiable_failure(exc):
            raise storage_error(exc, url) from exc
        failure = exc
    try:
        if start == 0:  # an empty object: a ranged GET of it is not satisfiable, a plain GET is
            result = obstore.get(store, path)
            data = b""
            for chunk in result.stream(min_chunk_size=max(end, 1)):
                data += bytes(chunk)
                if len(data) >= end:
                    break
            return _fetched(result, data[:end])
        meta = obstore.head(store, path)
    except FAILURES as again:
        raise storage_error(again, url) from again
    if start < meta["size"]:
        raise storage_error(failure, url) from failure
    return Fetched(b"", meta["size"], None, meta["e_tag"])


async def fetch_async(store: ObjectStore, path: str, start: int, end: int, url: str) -> Fetched:
    """:func:`fetch`, without blocking the event loop."""
    try:
        result = await obstore.get_async(store, path, options=_options(start, end))
        return _fetched(result, bytes(await result.bytes_async()))
    except FAILURES as exc:
        if not _satisfiable_failure(exc):
            raise storage_error(exc, url) from exc
        failure = exc
    try:
        if start == 0:
            result = await obstore.get_async(store, path)
            data = b""
            async for chunk in result.stream(min_chunk_size=max(end, 1)):
                data += bytes(chunk)
                if len(data) >= end:
                    break
            return _fetched(result, data[:end])
        meta = await obstore.head_async(store, path)
    except FAILURES as again:
        raise storage_error(again, url) from again
    if start < meta["size"]:
        raise storage_error(failure, url) from failure
    return Fetched(b"", meta["size"], None, meta["e_tag"])
