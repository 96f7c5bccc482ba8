"""An integration: how to reach one storage provider, as configuration without secrets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from accessio.storage.credentials import CredentialRef
from accessio.storage.errors import CredentialsInvalid, IntegrationInvalid
from accessio.storage.urls import Provider

MAX_SIGN_TTL_S = 7 * 24 * 3600


class AccessMode(StrEnum):
    """What Accessio may do with an integration's objects; the values are the wire names."""

    SERVER = "server"
    STRICT_CLIENT_ONLY = "strictClientOnly"
    DIRECT_ACCESS = "directAccess"


@dataclass(frozen=True)
class Integration:
    """A named, configured way to reach one storage provider; holds no secret.

    >>> Integration("media", Provider.S3, root="cats/2024", credentials="env:MEDIA").describe()
    "s3 integration 'media' (server): root cats/2024, credentials env:MEDIA"

    ``root`` confines it: for ``local`` the directory every path must resolve into
    (required); for ``s3``/``s3Compatible``/``gcp``/``azure`` a ``BUCKET`` or
    ``BUCKET/PREFIX`` (for Azure ``CONTAINER[/PREFIX]``). ``endpoint`` is the store's
    address for ``s3Compatible`` (required), an emulator or private endpoint for
    ``azure`` and ``s3`` (like ``AWS_ENDPOINT_URL``), and for ``http`` a base URL every
    object URL must start with. ``credentials`` is a reference (see
    :mod:`accessio.storage.credentials`), ``None`` meaning anonymous access.
    ``write_prefix`` is a prefix URL inside the integration under which Accessio may
    write (the videos of image sequences); ``None`` keeps the integration read-only.
    """

    name: str
    provider: Provider
    access_mode: AccessMode = AccessMode.SERVER
    root: str | None = None
    endpoint: str | None = None
    region: str | None = None
    credentials: str | None = None
    allow_private_network: bool = False
    sign_ttl_s: int = 3600
    write_prefix: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise IntegrationInvalid("an integration needs a name")
        if not 1 <= self.sign_ttl_s <= MAX_SIGN_TTL_S:
            raise IntegrationInvalid(
                f"sign_ttl_s must be 1 to {MAX_SIGN_TTL_S} seconds (7 days), not {self.sign_ttl_s}"
            )
        self._check_endpoint()
        self._check_root()
        self._check_write_prefix()
        if self.credentials is not None:
            ref = CredentialRef.parse(self.credentials)
            if self.provider in (Provider.LOCAL, Provider.HTTP):
                raise IntegrationInvalid(
                    f"{self.provider} integrations take no credentials (got a {ref.kind} reference)"
                )
            if ref.kind == "profile" and self.provider not in (Provider.S3, Provider.S3_COMPATIBLE):
                raise CredentialsInvalid(
                    f"profile references name AWS profiles; a {self.provider} integration cannot use one"
                )

    def _check_endpoint(self) -> None:
        endpoint, provider = self.endpoint, self.provider
        if endpoint is None:
            if provider is Provider.S3_COMPATIBLE:
                raise IntegrationInvalid("an s3Compatible integration needs its endpoint (https://host[:port])")
            return
        if provider in (Provider.GCP, Provider.LOCAL):
            raise IntegrationInvalid(f"{provider} integrations take no endpoint")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise IntegrationInvalid(f"the endpoint {endpoint!r} is not an http(s)://host[:port] URL")
        if "@" in parts.netloc:
            raise IntegrationInvalid("the endpoint may not carry a user or password; use a credential reference")
        if provider is not Provider.HTTP and parts.path.strip("/"):
            raise IntegrationInvalid(f"the endpoint {endpoint!r} has a path; give scheme://host[:port] only")

    def _check_root(self) -> None:
        root = self.root
        if root is None:
            if self.provider is Provider.LOCAL:
                raise IntegrationInvalid("a local integration needs a root directory")
            return
        if self.provider is Provider.HTTP:
            raise IntegrationInvalid("http integrations are confined by their endpoint (a base URL), not a root")
        if self.provider is Provider.LOCAL:
            if not root.startswith("/"):
                raise IntegrationInvalid(f"the root {root!r} of a local integration must be an absolute path")
            return
        bucket, _, prefix = root.strip("/").partition("/")
        if not bucket or "//" in prefix or any(part in (".", "..") for part in prefix.split("/")):
            raise IntegrationInvalid(f"the root {root!r} is not BUCKET or BUCKET/PREFIX")

    def _check_write_prefix(self) -> None:
        if self.write_prefix is None:
            return
        if not self.write_prefix.strip():
            raise IntegrationInvalid("the write prefix is empty; give a prefix URL, or none to keep it read-only")
        if self.provider is Provider.HTTP:
            raise IntegrationInvalid("http integrations cannot be written to; a write prefix needs a storage provider")
        if self.access_mode is not AccessMode.SERVER:
            raise IntegrationInvalid(
                f"a {self.access_mode} integration cannot have a write prefix: writing a video means reading its "
                "frames, which only the server access mode allows"
            )

    @property
    def root_bucket(self) -> str | None:
        """The bucket (container) a cloud integration is confined to, if any."""
        if self.root is None or self.provider is Provider.LOCAL:
            return None
        return self.root.strip("/").partition("/")[0]

    @property
    def root_prefix(self) -> str:
        """The key prefix inside ``root_bucket`` (no slashes around it), or ``""``."""
        if self.root is None or self.provider is Provider.LOCAL:
            return ""
        return self.root.strip("/").partition("/")[2].strip("/")

    def describe(self) -> str:
        """One line naming the integration's settings; credentials shown as their reference only."""
        shown = [f"root {self.root}"] if self.root else []
        shown += [f"endpoint {self.endpoint}"] if self.endpoint else []
        shown += [f"region {self.region}"] if self.region else []
        shown.append(f"credentials {CredentialRef.parse(self.credentials)}" if self.credentials else "anonymous")
        shown += ["private network allowed"] if self.allow_private_network else []
        shown += [f"writes under {self.write_prefix}"] if self.write_prefix else []
        return f"{self.provider} integration {self.name!r} ({self.access_mode}): " + ", ".join(shown)
