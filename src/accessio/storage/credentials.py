"""Credential references: where an integration's secrets are, never the secrets.

Forms (anything else is refused, and the refusal does not echo it, in case it is a secret):

* ``env``: the provider's standard environment, read by obstore (``AWS_ACCESS_KEY_ID``...,
  ``AZURE_STORAGE_ACCOUNT_KEY``..., ``GOOGLE_SERVICE_ACCOUNT``...);
* ``env:PREFIX``: ``PREFIX_ACCESS_KEY_ID``, ``PREFIX_SECRET_ACCESS_KEY`` and optional
  ``PREFIX_SESSION_TOKEN`` (S3); ``PREFIX_ACCOUNT_KEY`` or ``PREFIX_SAS_TOKEN`` (Azure);
  ``PREFIX_SERVICE_ACCOUNT_KEY`` (JSON text) or ``PREFIX_SERVICE_ACCOUNT_PATH`` (GCS);
* ``profile:NAME``: static keys of an AWS shared-credentials profile (S3 only; the files
  named by ``AWS_SHARED_CREDENTIALS_FILE`` / ``AWS_CONFIG_FILE`` or ``~/.aws``; SSO and
  role profiles are not followed);
* ``file:/ABSOLUTE/PATH``: a JSON file; for GCS a service-account key file, for S3
  ``{"access_key_id", "secret_access_key", "session_token"?}`` (or the AWS CLI spelling
  ``AccessKeyId``...), for Azure ``{"account_key"}`` or ``{"sas_token"}``.

References are checked when an integration is built; values are read when a store is
first needed, so a worker's environment can differ from the machine that stored it.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accessio.storage.errors import CredentialsInvalid

_FORMS = "env, env:PREFIX, profile:NAME or file:/absolute/path.json"
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PROFILE = re.compile(r"[A-Za-z0-9_.+@-]{1,64}")
# Shapes of well-known key ids, and long unbroken letter+digit runs: secrets, not names.
_KEY_SHAPED = re.compile(
    r"(?:AKIA|ASIA|AIDA|AROA|AGPA|AIza)[A-Za-z0-9_-]{12,}|(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{16,}"
)


@dataclass(frozen=True)
class AwsKeys:
    """Static AWS-style keys (also used for S3-compatible stores)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"AwsKeys(access_key_id={self.access_key_id[:4]}…)"


@dataclass(frozen=True)
class CredentialRef:
    """A parsed credential reference: ``kind`` is env, profile or file; ``value`` its argument."""

    kind: str
    value: str | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> CredentialRef:
        """Read a reference, refusing anything that is not one of the documented forms.

        >>> CredentialRef.parse("env:MEDIA")
        CredentialRef(kind='env', value='MEDIA')
        """
        kind, sep, value = text.partition(":")
        if kind == "env" and not sep:
            return cls("env")
        if kind == "env" and _PREFIX.fullmatch(value) and not _KEY_SHAPED.fullmatch(value):
            return cls("env", value)
        if kind == "profile" and _PROFILE.fullmatch(value) and not _KEY_SHAPED.fullmatch(value):
            return cls("profile", value)
        if kind == "file" and value.startswith("/") and not value.startswith("//") and value.isprintable():
            return cls("file", value)
        raise CredentialsInvalid(
            f"credentials must be a reference ({_FORMS}); the value given is not one and is not shown"
        )

    def aws_keys(self) -> AwsKeys | None:
        """The keys this reference points at; ``None`` for ``env`` (obstore reads the standard variables)."""
        if self.kind == "env" and self.value is None:
            return None
        if self.kind == "env":
            found = _env(self.value, "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN")
            return _keys(found.get("ACCESS_KEY_ID"), found.get("SECRET_ACCESS_KEY"), found.get("SESSION_TOKEN"), self)
        if self.kind == "profile":
            return _profile_keys(self)
        data = _json_file(self)
        pick = {k.lower().replace("_", ""): v for k, v in data.items() if isinstance(v, str)}
        return _keys(pick.get("accesskeyid"), pick.get("secretaccesskey"), pick.get("sessiontoken"), self)

    def azure_config(self) -> dict[str, Any]:
        """obstore AzureStore settings for this reference (``{}`` for ``env``)."""
        if self.kind == "env" and self.value is None:
            return {}
        if self.kind == "env":
            found = _env(self.value, "ACCOUNT_KEY", "SAS_TOKEN")
        elif self.kind == "file":
            found = {k.upper(): v for k, v in _json_file(self).items() if isinstance(v, str)}
        else:
            raise CredentialsInvalid(f"{self.kind} references do not apply to Azure; use {_FORMS}")
        if found.get("ACCOUNT_KEY"):
            return {"account_key": found["ACCOUNT_KEY"]}
        if found.get("SAS_TOKEN"):
            return {"sas_key": found["SAS_TOKEN"].lstrip("?")}
        raise CredentialsInvalid(f"the credential reference {self} holds neither ACCOUNT_KEY nor SAS_TOKEN")

    def gcs_config(self) -> dict[str, Any]:
        """obstore GCSStore settings for this reference (``{}`` for ``env``)."""
        if self.kind == "env" and self.value is None:
            return {}
        if self.kind == "file":
            _json_file(self)
            return {"service_account": self.value}
        if self.kind == "env":
            found = _env(self.value, "SERVICE_ACCOUNT_KEY", "SERVICE_ACCOUNT_PATH")
            if found.get("SERVICE_ACCOUNT_KEY"):
                return {"service_account_key": found["SERVICE_ACCOUNT_KEY"]}
            if found.get("SERVICE_ACCOUNT_PATH"):
                return {"service_account": found["SERVICE_ACCOUNT_PATH"]}
            raise CredentialsInvalid(
                f"neither {self.value}_SERVICE_ACCOUNT_KEY nor {self.value}_SERVICE_ACCOUNT_PATH is set"
            )
        raise CredentialsInvalid(f"{self.kind} references do not apply to GCS; use {_FORMS}")


def _env(prefix: str | None, *names: str) -> dict[str, str]:
    return {name: os.environ[f"{prefix}_{name}"] for name in names if os.environ.get(f"{prefix}_{name}")}


def _keys(key_id: str | None, secret: str | None, token: str | None, ref: CredentialRef) -> AwsKeys:
    if not key_id or not secret:
        where = f"{ref.value}_ACCESS_KEY_ID and {ref.value}_SECRET_ACCESS_KEY" if ref.kind == "env" else str(ref)
        raise CredentialsInvalid(f"no access key id and secret access key found in {where}")
    return AwsKeys(key_id, secret, token or None)


def _json_file(ref: CredentialRef) -> dict[str, Any]:
    path = Path(ref.value or "")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialsInvalid(f"the credentials file {path} cannot be read ({exc.strerror})") from None
    except ValueError:
        raise CredentialsInvalid(f"the credentials file {path} is not JSON") from None
    if not isinstance(data, dict):
        raise CredentialsInvalid(f"the credentials file {path} does not hold a JSON object")
    return data


def _profile_keys(ref: CredentialRef) -> AwsKeys:
    home = Path.home() / ".aws"
    files = [
        (Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", home / "credentials")), ref.value or ""),
        (Path(os.environ.get("AWS_CONFIG_FILE", home / "config")), f"profile {ref.value}"),
    ]
    for path, section in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            raise CredentialsInvalid(f"the AWS file {path} cannot be parsed") from None
        if parser.has_section(section) and parser.has_option(section, "aws_access_key_id"):
            get = parser[section].get
            return _keys(get("aws_access_key_id"), get("aws_secret_access_key"), get("aws_session_token"), ref)
    raise CredentialsInvalid(f"no AWS profile {ref.value!r} with static keys in {files[0][0]} or {files[1][0]}")
