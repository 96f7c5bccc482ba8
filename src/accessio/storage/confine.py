"""Whether a URL belongs to an integration: provider, endpoint, root bucket/prefix, root directory.

A URL is accepted only when it parses (:func:`~accessio.storage.urls.parse_object_url`)
to the integration's provider; an ``s3Compatible`` URL must be on the integration's
endpoint (an ``s3`` integration with an endpoint override accepts ``s3://`` URLs and
URLs on that endpoint); an ``azure`` integration with an emulator endpoint accepts only
URLs on it; an ``http`` integration with an endpoint accepts only URLs under that base
URL. A ``root`` bucket (``BUCKET/PREFIX``) confines keys to the prefix, at a ``/``
boundary. Keys with ``.`` or ``..`` segments are refused everywhere: on a web server they
walk out of a prefix, and obstore refuses them anyway. A local path must not contain
``..`` and must resolve (following every symlink, with ``os.path.realpath``) inside the
root directory. A symlink swapped in after the check can still escape; only someone who
can already write inside the root can do that. :class:`Admission` makes the same
decision for many URLs at the cost of one ``lstat`` per local file.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from urllib.parse import unquote, urlsplit

from accessio.errors import UrlNotUnderstood
from accessio.storage.errors import UrlOutsideIntegration, redact
from accessio.storage.integration import Integration
from accessio.storage.urls import ObjectLocation, Provider, parse_object_url

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PLAIN_NAME = re.compile(r"[^/%?#\\]+")  # a last URL segment that is the object's name as written
_ADMITTED_MOST = 65_536


def _is_link(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False  # nothing there (or not reachable): it resolves to itself, inside its directory


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port if parts.port != _DEFAULT_PORTS.get(scheme) else None
    return scheme, (parts.hostname or "").lower(), port


class Locator:
    """Parses URLs and refuses those outside one integration."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        endpoint, provider = integration.endpoint, integration.provider
        self._s3_endpoints = (endpoint,) if endpoint and provider in (Provider.S3, Provider.S3_COMPATIBLE) else ()
        self._azure_endpoints = (endpoint,) if endpoint and provider is Provider.AZURE else ()
        self.real_root = os.path.realpath(integration.root) if provider is Provider.LOCAL and integration.root else None

    def _refuse(self, url: str, reason: str) -> UrlOutsideIntegration:
        return UrlOutsideIntegration(url, self.integration.name, reason)

    def _parse(self, url: str) -> ObjectLocation:
        return parse_object_url(url, s3_compatible_endpoints=self._s3_endpoints, azure_endpoints=self._azure_endpoints)

    def locate(self, url: str) -> ObjectLocation:
        """Where ``url``'s object lives, if it belongs to the integration (see the module docstring)."""
        loc = self._parse(url)
        self._check(loc, directory=False)
        return loc

    def check_redirect(self, target: str, shown: str) -> None:
        """Refuse a redirect hop that leaves the integration (an ``http`` base URL, for one)."""
        try:
            self.locate(target)
        except (UrlOutsideIntegration, UrlNotUnderstood) as exc:
            raise self._refuse(target, f"the server redirected {redact(shown)} there ({exc.reason})") from None

    def admission(self) -> Admission:
        """A checker of many URLs that decides as :meth:`locate` does, faster (see :class:`Admission`)."""
        return Admission(self)

    def locate_prefix(self, url: str) -> ObjectLocation:
        """A bucket prefix or local directory to list; ``key`` is the prefix without a trailing ``/``."""
        try:
            loc = self._parse(url)
        except UrlNotUnderstood as first:
            probe = url + ("x" if url.endswith("/") else "/x")
            try:
                loc = self._parse(probe)
            except UrlNotUnderstood:
                raise first from None
            loc = replace(loc, url=url, key=loc.key[:-1])
        loc = replace(loc, key=loc.key.rstrip("/") if loc.provider is not Provider.LOCAL else loc.key)
        self._check(loc, directory=True)
        return loc

    def local_path(self, loc: ObjectLocation) -> str:
        """The object's path relative to the resolved root (``""`` for the root itself)."""
        assert self.real_root is not None
        relative = os.path.relpath(os.path.realpath(loc.key), self.real_root)
        return "" if relative == "." else relative

    def _check(self, loc: ObjectLocation, *, directory: bool) -> None:
        integration, provider = self.integration, loc.provider
        if not self._provider_matches(loc):
            raise self._refuse(loc.url, self._mismatch(loc))
        if provider is Provider.LOCAL:
            self._check_local(loc, directory=directory)
            return
        if any(part in (".", "..") for part in loc.key.split("/")):
            raise self._refuse(loc.url, "the path has . or .. segments")
        if provider is Provider.HTTP:
            self._check_base_url(loc)
            return
        bucket, prefix = integration.root_bucket, integration.root_prefix
        if bucket is not None and loc.bucket != bucket:
            raise self._refuse(loc.url, f"the bucket {loc.bucket!r} is not the integration's root {integration.root!r}")
        if prefix and not (loc.key == prefix or loc.key.startswith(prefix + "/")):
            raise self._refuse(loc.url, f"the key is not under the integration's root {integration.root!r}")
        if prefix and loc.key == prefix and not directory:
            raise self._refuse(loc.url, "the key names the root prefix itself")

    def _mismatch(self, loc: ObjectLocation) -> str:
        ours, theirs = self.integration.provider, loc.provider
        reason = f"a {theirs} URL, and this is a {ours} integration"
        endpoint = self.integration.endpoint
        if ours is Provider.S3_COMPATIBLE and theirs is Provider.S3 and endpoint and loc.bucket:
            # s3:// names AWS; the store behind an endpoint is reached by URLs on that endpoint
            example = f"{endpoint.rstrip('/')}/{loc.bucket}/{loc.key}"
            reason += f"; register its objects by their URL on the endpoint, like {example}"
        return reason

    def _provider_matches(self, loc: ObjectLocation) -> bool:
        ours, theirs = self.integration.provider, loc.provider
        if ours is Provider.S3 and theirs is Provider.S3_COMPATIBLE:
            return bool(self._s3_endpoints)
        if ours is Provider.AZURE and self._azure_endpoints:
            return theirs is Provider.AZURE and loc.endpoint is not None
        return ours is theirs

    def _check_base_url(self, loc: ObjectLocation) -> None:
        base = self.integration.endpoint
        if base is None:
            return
        if _origin(loc.url) != _origin(base):
            raise self._refuse(loc.url, f"it is not on {base}")
        base_path = unquote(urlsplit(base).path).rstrip("/") + "/"
        if not loc.key.startswith(base_path):
            raise self._refuse(loc.url, f"it is not under {base}")

    def _check_local(self, loc: ObjectLocation, *, directory: bool) -> None:
        root = self.real_root
        assert root is not None
        if ".." in loc.key.split("/"):
            raise self._refuse(loc.url, "the path has .. segments")
        real = os.path.realpath(loc.key)
        inside = real.startswith(root.rstrip(os.sep) + os.sep) or (directory and real == root)
        if not inside:
            raise self._refuse(loc.url, f"the path resolves outside the root directory {self.integration.root}")


class Admission:
    """Refuses URLs exactly as :meth:`Locator.locate` does, faster for many URLs in few
    directories; what it learns of directories lasts as long as it does (a job makes one
    per chunk, so a directory replaced by a link later is seen by the next chunk).

    The check of a URL whose last segment is a plain name depends only on its directory,
    except for a local file that is itself a link: so the directory's verdict is kept
    (for a local root, the directory's real path, once found inside the root) and each
    local file gets one ``lstat``; a link gets the full check, and so does anything unusual.
    """

    def __init__(self, locator: Locator) -> None:
        self._locator = locator
        # URL directory -> "" (every plain name in it belongs) or, for a local root, its
        # real path inside the root with a final separator (a plain name belongs unless
        # it is a link)
        self._admitted: dict[str, str] = {}

    def admit(self, url: str) -> None:
        """Raise ``UrlOutsideIntegration`` (or ``UrlNotUnderstood``) unless ``url`` belongs."""
        directory, _, name = url.rpartition("/")
        plain = bool(directory) and name not in (".", "..") and _PLAIN_NAME.fullmatch(name) is not None
        if plain:
            known = self._admitted.get(directory)
            if known == "":
                return
            if known is not None and not _is_link(known + name):
                return
        loc = self._locator.locate(url)
        if not plain:
            return
        if len(self._admitted) >= _ADMITTED_MOST:
            self._admitted.clear()
        if loc.provider is not Provider.LOCAL:
            self._admitted[directory] = ""
            return
        root = self._locator.real_root
        assert root is not None
        real = os.path.realpath(os.path.dirname(loc.key))
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            self._admitted[directory] = real.rstrip(os.sep) + os.sep
