"""``Storage``: everything Accessio does with one integration's objects.

How each read travels (the access mode is checked first: ``strictClientOnly`` reads nothing):

=================================================  =========================================
local files                                        ``open`` + ``pread`` (:mod:`.local`), after
                                                   the path is confined to the root
``directAccess`` and ``http`` URLs                 the URL as given (``s3://``/``gs://`` as
                                                   their public https form), guarded web client
integrations with an ``endpoint``                  URL signed by obstore (plain when anonymous),
                                                   guarded web client
AWS S3, GCS, Azure on their own hosts              obstore, with the integration's credentials
=================================================  =========================================

The guarded web client (:mod:`accessio.storage.web`) refuses private, loopback,
link-local and metadata addresses unless the integration allows private networks, and
connects only to addresses it checked. Listing uses obstore everywhere; with a
configured endpoint its addresses are checked first (obstore connects on its own, so a
DNS answer that changes between the check and the listing is not caught there).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import obstore

from accessio.errors import AccessioError, UrlNotUnderstood
from accessio.storage import local
from accessio.storage.addresses import AddressPolicy
from accessio.storage.confine import Admission, Locator
from accessio.storage.errors import (
    IntegrationInvalid,
    ObjectNotFound,
    OperationNotSupported,
    ReadNotAllowed,
    UrlOutsideIntegration,
    WriteNotAllowed,
)
from accessio.storage.integration import MAX_SIGN_TTL_S, AccessMode, Integration
from accessio.storage.reader import Fetched, RangedReader, RangeFetch
from accessio.storage.stores import FAILURES, Stores, fetch, fetch_async, public_url, storage_error, too_large
from accessio.storage.urls import ObjectLocation, Provider
from accessio.storage.web import WebClient

_KEY_SAFE = "/~!$&'()*+,;=:@"
_READ_SIGN_TTL_S = 900


@dataclass(frozen=True)
class ObjectInfo:
    """What one ranged GET told of an object."""

    url: str
    size: int
    content_type: str | None
    etag: str | None


@dataclass(frozen=True)
class ListedObject:
    """One object found by :meth:`Storage.list`; ``url`` locates back to it."""

    url: str
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None


def _shutdown(web: WebClient, executor: ThreadPoolExecutor) -> None:
    web.close()
    executor.shutdown(wait=False)


class Storage:
    """One integration's objects: locate, probe, read, sign and list (see the module docstring).

    >>> storage = open_storage(Integration("media", Provider.S3, root="cats"))  # doctest: +SKIP
    >>> info, head = await storage.probe_head("s3://cats/tom.jpg")  # doctest: +SKIP
    """

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self._locator = Locator(integration)
        self._stores = Stores(integration, self._locator.real_root)
        self.policy = AddressPolicy(allow_private=integration.allow_private_network)
        confined = integration.provider is Provider.HTTP and integration.endpoint is not None
        self.web = WebClient(self.policy, check_redirect=self._locator.check_redirect if confined else None)
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="accessio-web")
        self._read_urls: dict[tuple[str | None, str | None, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _shutdown, self.web, self._executor)

    def __repr__(self) -> str:
        return f"<Storage {self.integration.describe()}>"

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections and worker threads (also done when the object is collected)."""
        self._finalizer()

    def locate(self, url: str) -> ObjectLocation:
        """Where ``url`` points, if it belongs to this integration; else ``UrlOutsideIntegration``."""
        return self._locator.locate(url)

    def admission(self) -> Admission:
        """A checker that refuses URLs as :meth:`locate` does, at the cost of a dictionary
        lookup per URL (one ``lstat`` for a local file) when many share directories; make
        one per batch (what it learns of directories lasts as long as it does)."""
        return self._locator.admission()

    def _readable(self, url: str) -> ObjectLocation:
        loc = self.locate(url)
        if self.integration.access_mode is AccessMode.STRICT_CLIENT_ONLY:
            raise ReadNotAllowed(self.integration.name, self.integration.access_mode)
        return loc

    async def probe_head(self, url: str, length: int = 65536) -> tuple[ObjectInfo, bytes]:
        """One ranged GET of the first ``length`` bytes: the object's size, type, ETag and those bytes."""
        if length < 1:
            raise ValueError("length must be at least 1")
        loc = self._readable(url)
        got = await self._fetch_async(loc, 0, length)
        return ObjectInfo(url, got.size, got.content_type, got.etag), got.data

    async def read_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end - 1`` (end exclusive); fewer at the end of the object, none past it."""
        if start < 0 or end < start:
            raise ValueError(f"not a byte range: {start} to {end}")
        loc = self._readable(url)
        if start == end:
            return b""
        return (await self._fetch_async(loc, start, end)).data

    def reader(
        self, url: str, *, block_size: int = 65536, max_blocks: int = 8, cached_only: bool = False
    ) -> RangedReader:
        """A seekable binary file over the object, for parsers (use it from a worker thread).

        ``cached_only``: a local file whose first block is not in the page cache raises
        :class:`~accessio.storage.local.NotCached` at that read instead of waiting for
        the disk (other providers ignore it)."""
        loc = self._readable(url)
        fetch: RangeFetch = partial(self._fetch, loc)
        if cached_only and loc.provider is Provider.LOCAL:  # confined when it was located, as in _fetch
            fetch = local.CachedFirst(loc.key, loc.url)
        return RangedReader(fetch, url=url, block_size=block_size, max_blocks=max_blocks)

    def sign(self, url: str, expires_s: int | None = None) -> str:
        """A URL that GETs the object without credentials, valid for ``expires_s`` seconds.

        Bounded by the integration's ``sign_ttl_s`` and by 7 days. ``directAccess`` and
        ``http`` URLs come back unchanged; a local object comes back as its resolved
        ``file://`` URL (useful on the same machine only); an anonymous integration
        returns the object's plain public URL.
        """
        loc = self.locate(url)
        ttl = self.integration.sign_ttl_s if expires_s is None else expires_s
        if ttl < 1:
            raise ValueError("expires_s must be at least 1 second")
        ttl = min(ttl, self.integration.sign_ttl_s, MAX_SIGN_TTL_S)
        if self.integration.access_mode is AccessMode.DIRECT_ACCESS or loc.provider is Provider.HTTP:
            return url
        if loc.provider is Provider.LOCAL:
            return Path(os.path.realpath(loc.key)).as_uri()
        if self._stores.anonymous:
            return public_url(self.integration, loc)
        return self._stores.sign(loc, loc.key, ttl)

    def sign_put(self, url: str, expires_s: int) -> str | None:
        """A URL that PUTs the object's bytes without credentials, for ``expires_s`` seconds;
        ``None`` for local and plain-web integrations (the server receives those itself)."""
        loc = self.locate(url)
        if loc.provider in (Provider.LOCAL, Provider.HTTP) or self.integration.access_mode is AccessMode.DIRECT_ACCESS:
            return None
        ttl = min(expires_s, MAX_SIGN_TTL_S)
        return self._stores.sign(loc, loc.key, ttl, method="PUT")

    def local_path(self, url: str) -> str:
        """The absolute path of the file a local integration's URL names, confined to
        its root (links resolved)."""
        loc = self.locate(url)
        if loc.provider is not Provider.LOCAL:
            raise OperationNotSupported(f"{url}: not a local file")
        assert self._locator.real_root is not None
        return os.path.join(self._locator.real_root, self._locator.local_path(loc))

    def list(self, prefix_url: str) -> AsyncIterator[ListedObject]:
        """Every object under a bucket prefix or local directory, recursively.

        ``async for obj in storage.list("s3://cats/2024/"): ...``. A prefix matches whole
        path segments (``s3://b/a`` lists ``a/...``, not ``ab``). Refusals (outside the
        integration, ``strictClientOnly``, plain ``http``) are raised by this call.
        """
        loc = self._locator.locate_prefix(prefix_url)
        if self.integration.access_mode is AccessMode.STRICT_CLIENT_ONLY:
            raise ReadNotAllowed(self.integration.name, self.integration.access_mode)
        if loc.provider is Provider.HTTP:
            raise OperationNotSupported(f"{prefix_url}: plain http(s) servers cannot be listed")
        return self._list(loc)

    def walk(self, prefix_url: str) -> Iterator[local.File]:
        """The files under a local integration's directory, as :meth:`list` finds them,
        as ``(url, size, mtime_ns)``, in this thread: no event loop, no hand-over between
        threads (a listing of 100,000 files spent more time handing its entries over than
        walking), and no object built per file; ``OperationNotSupported`` for other
        providers."""
        loc = self._locator.locate_prefix(prefix_url)
        if self.integration.access_mode is AccessMode.STRICT_CLIENT_ONLY:
            raise ReadNotAllowed(self.integration.name, self.integration.access_mode)
        if loc.provider is not Provider.LOCAL:
            raise OperationNotSupported(f"{prefix_url}: only local directories are walked; list the others")
        return self._walk(loc)

    def _walk(self, loc: ObjectLocation) -> Iterator[local.File]:
        assert self._locator.real_root is not None
        file_url = local.file_url
        for path, size, mtime_ns in local.walk(os.path.realpath(loc.key), self._locator.real_root):
            yield file_url(path), size, mtime_ns

    async def _list(self, loc: ObjectLocation) -> AsyncIterator[ListedObject]:
        loop = asyncio.get_running_loop()
        if loc.provider is Provider.LOCAL:
            assert self._locator.real_root is not None
            entries = local.walk(os.path.realpath(loc.key), self._locator.real_root)
            while batch := await loop.run_in_executor(self._executor, local.take, entries):
                for path, size, mtime_ns in batch:
                    yield ListedObject(local.file_url(path), path, size, None, local.modified_at(mtime_ns))
            return
        endpoint = self.integration.endpoint
        if endpoint is not None:
            parts = urlsplit(endpoint)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            await loop.run_in_executor(self._executor, self.policy.resolve, parts.hostname or "", port)
        store = self._stores.store_for(loc)
        try:
            async for chunk in obstore.list(store, loc.key or None, chunk_size=1000):
                for meta in chunk:
                    yield ListedObject(
                        self._object_url(loc, meta["path"]),
                        meta["path"],
                        meta["size"],
                        meta["e_tag"],
                        meta["last_modified"],
                    )
        except FAILURES as exc:
            raise storage_error(exc, loc.url) from exc

    def url_of_key(self, prefix_url: str, bucket: str, key: str) -> str | None:
        """The URL of object ``key`` of ``bucket`` (as a bucket notification names it), in
        the form this integration's listings give; ``None`` when the bucket is not the prefix's."""
        loc = self._locator.locate_prefix(prefix_url)
        if loc.provider is Provider.LOCAL or loc.bucket != bucket:
            return None
        return self._object_url(loc, key)

    def under_prefix(self, url: str, prefix_url: str) -> bool:
        """Whether the object ``url`` is under ``prefix_url`` (whole path segments), in this integration."""
        try:
            loc, prefix = self.locate(url), self._locator.locate_prefix(prefix_url)
        except AccessioError:
            return False
        if loc.provider is not prefix.provider or (loc.bucket, loc.account) != (prefix.bucket, prefix.account):
            return False
        return not prefix.key or loc.key.startswith(prefix.key.rstrip("/") + "/")

    def _object_url(self, loc: ObjectLocation, key: str) -> str:
        quoted = quote(key, safe=_KEY_SAFE)
        if loc.provider is Provider.S3:
            return f"s3://{loc.bucket}/{quoted}"
        if loc.provider is Provider.GCP:
            return f"gs://{loc.bucket}/{quoted}"
        parts = urlsplit(loc.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if loc.provider is Provider.AZURE and loc.endpoint is not None:
            return f"{origin}/{loc.account}/{loc.bucket}/{quoted}"
        if loc.provider is Provider.AZURE:
            return f"{origin}/{loc.bucket}/{quoted}"
        return f"{loc.endpoint}/{loc.bucket}/{quoted}"  # s3Compatible, path style

    def _web_url(self, loc: ObjectLocation) -> str | None:
        """The URL to GET through the guarded client, or ``None`` when obstore reads ``loc``."""
        integration = self.integration
        if loc.provider is Provider.LOCAL:
            return None
        if integration.access_mode is AccessMode.DIRECT_ACCESS or loc.provider is Provider.HTTP:
            return public_url(integration, loc)
        if integration.endpoint is None:
            return None
        if self._stores.anonymous:
            return public_url(integration, loc)
        ttl = min(_READ_SIGN_TTL_S, integration.sign_ttl_s)
        cache_key = (loc.bucket, loc.account, loc.key)
        now = time.monotonic()
        with self._lock:
            cached = self._read_urls.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        signed = self._stores.sign(loc, loc.key, ttl, for_reading=True)
        with self._lock:
            if len(self._read_urls) >= 4096:
                self._read_urls.pop(next(iter(self._read_urls)))
            self._read_urls[cache_key] = (signed, now + ttl * 2 / 3)
        return signed

    def _fetch(self, loc: ObjectLocation, start: int, end: int) -> Fetched:
        if loc.provider is Provider.LOCAL:  # ``loc`` was confined to the root when it was located
            return local.read_range(loc.key, start, end, loc.url)
        url = self._web_url(loc)
        if url is not None:
            return self.web.get_range(url, start, end, object_url=loc.url)
        return fetch(self._stores.store_for(loc), loc.key, start, end, loc.url)

    async def _fetch_async(self, loc: ObjectLocation, start: int, end: int) -> Fetched:
        if loc.provider is Provider.LOCAL:
            read = partial(local.read_range, loc.key, start, end, loc.url)
            return await asyncio.get_running_loop().run_in_executor(self._executor, read)
        url = self._web_url(loc)
        if url is not None:
            get = partial(self.web.get_range, url, start, end, object_url=loc.url)
            return await asyncio.get_running_loop().run_in_executor(self._executor, get)
        return await fetch_async(self._stores.store_for(loc), loc.key, start, end, loc.url)

    def read_object(self, url: str, max_bytes: int) -> Fetched:
        """The whole object in one GET, refused (``StorageError``) past ``max_bytes``
        (use it from a worker thread)."""
        loc = self._readable(url)
        got = self._fetch(loc, 0, max_bytes + 1)
        if got.size > max_bytes:
            raise too_large(url, got.size, max_bytes)
        return got

    # Writes: only under the integration's write prefix, through obstore on every
    # provider (with an endpoint, its addresses are checked first, as for listing).

    def write_url(self, name: str) -> str:
        """The URL of ``name`` (a relative key such as ``videos/a.mp4``) under the write prefix."""
        prefix = self._write_prefix()
        if not name or name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
            raise ValueError(f"{name!r} is not a relative object name")
        if prefix.provider is Provider.LOCAL:
            return Path(prefix.key, *name.split("/")).as_uri()
        key = f"{prefix.key}/{name}" if prefix.key else name
        return self._object_url(prefix, key)

    def _write_prefix(self) -> ObjectLocation:
        integration = self.integration
        if integration.write_prefix is None:
            raise WriteNotAllowed(integration.name, "it has no write prefix (it is read-only)")
        return self._locator.locate_prefix(integration.write_prefix)

    def _writable(self, url: str) -> ObjectLocation:
        prefix = self._write_prefix()
        loc = self.locate(url)
        if loc.provider is Provider.LOCAL:
            inside = self._locator.local_path(loc).startswith(self._locator.local_path(prefix).rstrip("/") + "/")
            inside = inside or self._locator.local_path(prefix) == ""
        else:
            inside = loc.bucket == prefix.bucket and (not prefix.key or loc.key.startswith(prefix.key + "/"))
        if not inside:
            raise WriteNotAllowed(self.integration.name, f"{url} is not under its write prefix")
        endpoint = self.integration.endpoint
        if endpoint is not None:
            parts = urlsplit(endpoint)
            self.policy.resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        return loc

    def _store_path(self, loc: ObjectLocation) -> str:
        """The path of ``loc`` in its obstore store (writes go through obstore on every provider)."""
        return self._locator.local_path(loc) if loc.provider is Provider.LOCAL else loc.key

    def _write_store(self, url: str) -> tuple[Any, str, ObjectLocation]:
        loc = self._writable(url)
        return self._stores.store_for(loc), self._store_path(loc), loc

    def head(self, url: str) -> ObjectInfo | None:
        """What the store says of an object under the write prefix; ``None`` when there is none."""
        store, path, _ = self._write_store(url)
        try:
            meta = obstore.head(store, path)
        except FAILURES as exc:
            error = storage_error(exc, url)
            if isinstance(error, ObjectNotFound):
                return None
            raise error from exc
        return ObjectInfo(url, meta["size"], None, meta["e_tag"])

    def put_file(self, url: str, path: str | Path, content_type: str) -> None:
        """Upload a local file to ``url`` (under the write prefix); the object appears whole or not at all."""
        store, key, loc = self._write_store(url)
        attributes = None if loc.provider is Provider.LOCAL else {"Content-Type": content_type}  # files have none
        try:
            obstore.put(store, key, Path(path), attributes=attributes)
        except FAILURES as exc:
            raise storage_error(exc, url) from exc

    def move(self, source_url: str, target_url: str) -> None:
        """Move an object to another name under the write prefix, replacing what is there."""
        store, source, _ = self._write_store(source_url)
        _, target, _ = self._write_store(target_url)
        try:
            obstore.rename(store, source, target, overwrite=True)
        except FAILURES as exc:
            raise storage_error(exc, source_url) from exc
        self._prune(source_url)

    def delete(self, url: str) -> None:
        """Delete an object under the write prefix (nothing to do when it is gone)."""
        store, path, _ = self._write_store(url)
        try:
            obstore.delete(store, path)
        except FAILURES as exc:
            error = storage_error(exc, url)
            if not isinstance(error, ObjectNotFound):
                raise error from exc
        self._prune(url)

    def _prune(self, url: str) -> None:
        """Local files: remove the directories a write left empty, up to the write prefix."""
        loc, prefix = self.locate(url), self._write_prefix()
        if loc.provider is not Provider.LOCAL:
            return  # object stores have no directories
        assert self._locator.real_root is not None
        top = os.path.join(self._locator.real_root, self._locator.local_path(prefix))
        directory = os.path.dirname(os.path.join(self._locator.real_root, self._locator.local_path(loc)))
        while directory.startswith(top.rstrip(os.sep) + os.sep):
            try:
                os.rmdir(directory)
            except OSError:  # not empty (or gone): what is above is not empty either
                return
            directory = os.path.dirname(directory)

    def list_written(self, prefix_url: str) -> tuple[ListedObject, ...]:
        """The objects under a prefix of the write prefix (a short listing; from a worker thread)."""
        loc = self._locator.locate_prefix(prefix_url)
        self._writable(prefix_url.rstrip("/") + "/x")
        if loc.provider is Provider.LOCAL:
            assert self._locator.real_root is not None
            directory = os.path.realpath(loc.key)
            if not os.path.isdir(directory):
                return ()
            entries = local.walk(directory, self._locator.real_root)
            return tuple(
                ListedObject(local.file_url(path), path, size, None, local.modified_at(mtime_ns))
                for path, size, mtime_ns in entries
            )
        store = self._stores.store_for(loc)
        try:
            return tuple(
                ListedObject(self._object_url(loc, m["path"]), m["path"], m["size"], m["e_tag"], m["last_modified"])
                for chunk in obstore.list(store, (loc.key + "/") if loc.key else None, chunk_size=1000)
                for m in chunk
            )
        except FAILURES as exc:
            raise storage_error(exc, prefix_url) from exc


def open_storage(integration: Integration) -> Storage:
    """The :class:`Storage` of ``integration``, refusing settings that cannot work.

    A local root must be an existing directory; an endpoint given as a literal IP
    address must be one the integration may reach (host names are checked when used).
    """
    if integration.provider is Provider.LOCAL and not os.path.isdir(integration.root or ""):
        raise IntegrationInvalid(f"the root {integration.root!r} of a local integration is not a directory")
    if integration.write_prefix is not None:
        try:
            Locator(integration).locate_prefix(integration.write_prefix)
        except (UrlOutsideIntegration, UrlNotUnderstood) as exc:
            raise IntegrationInvalid(f"the write prefix is not a place in this integration: {exc.message}") from None
    if integration.endpoint is not None:
        host = urlsplit(integration.endpoint).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            AddressPolicy(allow_private=integration.allow_private_network).check(host, [address])
    return Storage(integration)
