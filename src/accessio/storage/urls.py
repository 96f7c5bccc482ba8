"""Parse an object URL into where the object lives: provider, bucket, key.

Forms understood, tried in this order:

* ``s3://BUCKET/KEY`` and ``gs://BUCKET/KEY`` (scheme case-insensitive);
* ``file:///ABS/PATH`` (or ``file://localhost/...``) and bare absolute paths ``/ABS/PATH``;
* for ``http(s)://`` URLs, first the configured endpoints:
  Azure emulators (``ENDPOINT/ACCOUNT/CONTAINER/BLOB``), then S3-compatible stores
  (``ENDPOINT/BUCKET/KEY``, or ``https://BUCKET.ENDPOINT_HOST/KEY``);
* AWS S3, virtual-hosted ``BUCKET.s3[.dualstack].REGION.amazonaws.com[.cn]``, legacy
  ``BUCKET.s3-REGION.amazonaws.com`` and ``BUCKET.s3.amazonaws.com``, or path-style
  ``s3[.dualstack][.REGION].amazonaws.com/BUCKET/KEY``;
* GCS ``storage.googleapis.com/BUCKET/KEY``, ``storage.cloud.google.com/BUCKET/KEY``,
  ``BUCKET.storage.googleapis.com/KEY`` and JSON API ``.../storage/v1/b/BUCKET/o/KEY``;
* Azure Blob ``ACCOUNT.blob.core.windows.net/CONTAINER/BLOB`` (and sovereign clouds);
* any other ``http(s)://`` URL, as a plain web object.

Keys are percent-decoded as UTF-8 (``+`` stays ``+``; escapes that are not two hex
digits stay as written); query strings (presigned URLs, SAS tokens) and fragments are
ignored for the key, while ``ObjectLocation.url`` keeps the URL exactly as given.
Anything else raises :class:`~accessio.errors.UrlNotUnderstood` with the reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from accessio.errors import UrlNotUnderstood


class Provider(StrEnum):
    """A storage provider; the values are the names upload specs use."""

    S3 = "s3"
    S3_COMPATIBLE = "s3Compatible"
    GCP = "gcp"
    AZURE = "azure"
    HTTP = "http"
    LOCAL = "local"


@dataclass(frozen=True)
class ObjectLocation:
    """Where one object lives, as read from its URL (see the module docstring)."""

    provider: Provider
    url: str
    bucket: str | None
    key: str
    region: str | None = None
    account: str | None = None
    endpoint: str | None = None
    dualstack: bool = False


class _Origin(NamedTuple):
    """Scheme, lowercase host (no brackets) and port (``None`` when the default)."""

    scheme: str
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port is None else f":{self.port}")

    def same_as(self, other: _Origin) -> bool:
        return (self.scheme, _ascii(self.host), self.port) == (
            other.scheme,
            _ascii(other.host),
            other.port,
        )


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_AWS_S3_HOST = re.compile(
    r"(?:(?P<bucket>.+)\.)?s3(?:-fips)?"
    rf"(?:(?P<dualstack>\.dualstack)?\.(?P<region>{_REGION})|-(?P<legacy>{_REGION}|external-1))?"
    r"\.amazonaws\.com(?:\.cn)?"
)
_AWS_HOST = re.compile(r"(?:.+\.)?s3[^.]*\.(?:.+\.)?amazonaws\.com(?:\.cn)?")
_GCS_PATH_HOSTS = frozenset({"storage.googleapis.com", "storage.cloud.google.com"})
_GCS_VIRTUAL_HOST = re.compile(r"(?P<bucket>.+)\.storage\.googleapis\.com")
_GCS_JSON_PATH = re.compile(r"/(?:download/)?storage/v1/b/(?P<bucket>[^/]+)/o/(?P<key>.*)")
_AZURE_CLOUDS = r"(?:windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)"
_AZURE_HOST = re.compile(rf"(?P<account>[^.]+)\.blob\.core\.{_AZURE_CLOUDS}")
_NAME_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "s3": (
        re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
        "S3 bucket names are 3–63 lowercase letters, digits, dots and hyphens,"
        " starting and ending with a letter or digit",
    ),
    "gcs": (
        re.compile(r"(?=[^.]{3,63}$|.*\.)(?!.*[^.]{64})[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"),
        "GCS bucket names are 3–63 lowercase letters, digits, dots, hyphens and"
        " underscores (up to 222 with dots, 63 between dots), starting and ending with a"
        " letter or digit",
    ),
    "container": (
        re.compile(r"\$root|\$web|\$logs|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]"),
        "Azure container names are 3–63 lowercase letters, digits and single hyphens,"
        " starting and ending with a letter or digit",
    ),
    "account": (
        re.compile(r"[a-z0-9]{3,24}"),
        "Azure storage account names are 3–24 lowercase letters and digits",
    ),
}


def parse_object_url(
    url: str,
    *,
    s3_compatible_endpoints: Sequence[str] = (),
    azure_endpoints: Sequence[str] = (),
) -> ObjectLocation:
    """Read where the object at ``url`` lives, or raise ``UrlNotUnderstood`` saying why.

    >>> parse_object_url("https://cats.s3.eu-west-2.amazonaws.com/tom%20cat.jpg").key
    'tom cat.jpg'

    Endpoints are ``scheme://host[:port]`` strings; a malformed one raises ``ValueError``.
    """
    s3_origins = [_endpoint(e) for e in s3_compatible_endpoints]
    azure_origins = [_endpoint(e) for e in azure_endpoints]
    _check_characters(url)
    if url.startswith("//"):
        raise UrlNotUnderstood(url, "a scheme-relative URL (//host/...); add a scheme")
    if url.startswith("/"):
        return _local(url, url)
    match = _SCHEME.match(url)
    if match is None:
        raise UrlNotUnderstood(url, "a relative path; write a file:// URL or a full URL")
    scheme = match.group()[:-1].lower()
    if scheme in ("s3", "gs"):
        return _bucket_scheme(url, scheme)
    if scheme == "file":
        return _file_url(url)
    if scheme in _DEFAULT_PORTS:
        return _web_url(url, s3_origins, azure_origins)
    if len(scheme) == 1:
        raise UrlNotUnderstood(url, "a Windows drive path; write a file:// URL")
    raise UrlNotUnderstood(url, f"the scheme {scheme!r} is not supported (s3, gs, http(s), file)")


def _check_characters(url: str) -> None:
    if not url:
        raise UrlNotUnderstood(url, "the URL is empty")
    if url != url.strip():
        raise UrlNotUnderstood(url, "leading or trailing whitespace")
    if url.isascii() and url.isprintable():  # the common case, decided without a loop in Python:
        if " " in url and not url.startswith("/"):  # no control character, and a space is the only whitespace
            raise UrlNotUnderstood(url, "whitespace inside the URL; percent-encode it (%20)")
        return
    for char in url:
        category = unicodedata.category(char)
        if category == "Cc":
            raise UrlNotUnderstood(url, f"a control character ({char!r})")
        if category == "Cs":
            raise UrlNotUnderstood(url, "a lone surrogate, which is not valid Unicode")
        if char.isspace() and not url.startswith("/"):
            raise UrlNotUnderstood(url, "whitespace inside the URL; percent-encode it (%20)")


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise UrlNotUnderstood(url, f"it cannot be split into URL parts ({exc})") from None


def _decode(url: str, text: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        reason = f"the {what} percent-decodes to bytes that are not UTF-8"
        raise UrlNotUnderstood(url, reason) from None


def _ascii(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _check_name(url: str, rule: str, name: str) -> str:
    pattern, text = _NAME_RULES[rule]
    if pattern.fullmatch(name) is None:
        raise UrlNotUnderstood(url, f"{name!r} is not a valid name: {text}")
    return name


def _local(url: str, path: str) -> ObjectLocation:
    if "\0" in path:
        raise UrlNotUnderstood(url, "the path contains a NUL character")
    if path.endswith("/"):
        raise UrlNotUnderstood(url, "the path names a directory (ends with /), not a file")
    return ObjectLocation(Provider.LOCAL, url, None, path)


def _file_url(url: str) -> ObjectLocation:
    parts = _split(url)
    if parts.netloc.lower() not in ("", "localhost"):
        reason = f"a file URL on another host ({parts.netloc!r}); only file:///path is local"
        raise UrlNotUnderstood(url, reason)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise UrlNotUnderstood(url, "a query or fragment in a file URL; write ? as %3F, # as %23")
    if not parts.path.startswith("/"):
        raise UrlNotUnderstood(url, "a relative file URL; write file:///absolute/path")
    return _local(url, _decode(url, parts.path, "path"))


def _bucket_scheme(url: str, scheme: str) -> ObjectLocation:
    form = f"write {scheme}://BUCKET/KEY"
    if not url[len(scheme) + 1 :].startswith("//"):
        raise UrlNotUnderstood(url, f"no // after {scheme}:; {form}")
    parts = _split(url)
    if not parts.netloc:
        raise UrlNotUnderstood(url, f"no bucket; {form}")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise UrlNotUnderstood(url, f"a user or port in a {scheme}:// URL; {form}")
    provider, rule = (Provider.S3, "s3") if scheme == "s3" else (Provider.GCP, "gcs")
    bucket = _check_name(url, rule, parts.netloc)
    return ObjectLocation(provider, url, bucket, _key(url, bucket, parts.path[1:]))


def _key(url: str, bucket: str, raw: str, noun: str = "bucket") -> str:
    key = _decode(url, raw, "key")
    if not key:
        raise UrlNotUnderstood(url, f"it names the {noun} {bucket!r} but no object key")
    return key


def _bucket_and_key(url: str, path: str, rule: str) -> tuple[str, str]:
    bucket_raw, _, key_raw = path[1:].partition("/")
    if not bucket_raw:
        raise UrlNotUnderstood(url, "no bucket in the path; expected /BUCKET/KEY")
    bucket = _check_name(url, rule, _decode(url, bucket_raw, "bucket"))
    return bucket, _key(url, bucket, key_raw)


def _origin(url: str, parts: SplitResult) -> _Origin:
    if "@" in parts.netloc:
        raise UrlNotUnderstood(url, "credentials (user@) in the URL are not supported")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UrlNotUnderstood(url, f"the host or port cannot be read ({exc})") from None
    if not host:
        raise UrlNotUnderstood(url, "no host after the scheme")
    scheme = parts.scheme.lower()
    return _Origin(scheme, host, None if port == _DEFAULT_PORTS.get(scheme) else port)


def _endpoint(endpoint: str) -> _Origin:
    parts = urlsplit(endpoint.rstrip("/"))
    if parts.scheme.lower() not in _DEFAULT_PORTS or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{endpoint!r} is not an endpoint of the form scheme://host[:port]")
    try:
        return _origin(endpoint, parts)
    except UrlNotUnderstood as exc:
        raise ValueError(f"{endpoint!r} is not a usable endpoint: {exc.reason}") from None


def _web_url(url: str, s3_origins: list[_Origin], azure_origins: list[_Origin]) -> ObjectLocation:
    parts = _split(url)
    origin = _origin(url, parts)
    host, path = origin.host, parts.path
    for azure in azure_origins:
        if origin.same_as(azure):
            account_raw, _, rest = path[1:].partition("/")
            account = _check_name(url, "account", _decode(url, account_raw, "account"))
            return _azure(url, rest, account, str(azure))
    for s3 in s3_origins:
        if origin.same_as(s3):
            bucket, key = _bucket_and_key(url, path, "s3")
            return ObjectLocation(Provider.S3_COMPATIBLE, url, bucket, key, endpoint=str(s3))
        suffix = "." + _ascii(s3.host)
        if (origin.scheme, origin.port) == (s3.scheme, s3.port) and _ascii(host).endswith(suffix):
            bucket = _check_name(url, "s3", _ascii(host)[: -len(suffix)])
            key = _key(url, bucket, path[1:])
            return ObjectLocation(Provider.S3_COMPATIBLE, url, bucket, key, endpoint=str(s3))
    if match := _AWS_S3_HOST.fullmatch(host):
        return _aws(url, match, path)
    if _AWS_HOST.fullmatch(host):
        raise UrlNotUnderstood(url, "an amazonaws.com S3 host form not supported (access point?)")
    json_api = _GCS_JSON_PATH.fullmatch(path)
    if json_api and host in {*_GCS_PATH_HOSTS, "www.googleapis.com"}:
        bucket = _check_name(url, "gcs", _decode(url, json_api["bucket"], "bucket"))
        return ObjectLocation(Provider.GCP, url, bucket, _key(url, bucket, json_api["key"]))
    if host in _GCS_PATH_HOSTS:
        return ObjectLocation(Provider.GCP, url, *_bucket_and_key(url, path, "gcs"))
    if match := _GCS_VIRTUAL_HOST.fullmatch(host):
        bucket = _check_name(url, "gcs", match["bucket"])
        return ObjectLocation(Provider.GCP, url, bucket, _key(url, bucket, path[1:]))
    if match := _AZURE_HOST.fullmatch(host):
        return _azure(url, path[1:], _check_name(url, "account", match["account"]), None)
    key = _decode(url, path, "path")
    if key in ("", "/"):
        raise UrlNotUnderstood(url, "no path after the host, so nothing names an object")
    return ObjectLocation(Provider.HTTP, url, None, key, endpoint=str(origin))


def _aws(url: str, match: re.Match[str], path: str) -> ObjectLocation:
    region = match["region"] or match["legacy"]
    region = "us-east-1" if region == "external-1" else region
    dualstack = match["dualstack"] is not None
    if match["bucket"] is None:
        bucket, key = _bucket_and_key(url, path, "s3")
    else:
        bucket = _check_name(url, "s3", match["bucket"])
        key = _key(url, bucket, path[1:])
    return ObjectLocation(Provider.S3, url, bucket, key, region=region, dualstack=dualstack)


def _azure(url: str, path: str, account: str, endpoint: str | None) -> ObjectLocation:
    container_raw, _, blob_raw = path.partition("/")
    if not container_raw:
        raise UrlNotUnderstood(url, "no container; expected /CONTAINER/BLOB after the account")
    container = _check_name(url, "container", _decode(url, container_raw, "container"))
    blob = _key(url, container, blob_raw, "container")
    return ObjectLocation(Provider.AZURE, url, container, blob, account=account, endpoint=endpoint)
