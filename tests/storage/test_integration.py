"""Integrations: settings checked up front, credentials by reference only, errors with status and code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import accessio.storage
from accessio.errors import AccessioError
from accessio.storage import (
    AccessDenied,
    AccessMode,
    AddressNotAllowed,
    CredentialsInvalid,
    Integration,
    IntegrationInvalid,
    ObjectNotFound,
    OperationNotSupported,
    Provider,
    ReadNotAllowed,
    StorageError,
    UrlOutsideIntegration,
    open_storage,
)
from accessio.storage.credentials import CredentialRef
from accessio.storage.errors import redact

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_public_names_are_pinned() -> None:
    assert sorted(accessio.storage.__all__) == [
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
    for name in accessio.storage.__all__:
        assert getattr(accessio.storage, name) is not None


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (StorageError("x"), 502, "storage"),
        (ObjectNotFound("s3://b/k"), 404, "storage.not_found"),
        (AccessDenied("s3://b/k"), 403, "storage.access_denied"),
        (UrlOutsideIntegration("s3://b/k", "media", "why"), 400, "url.outside_integration"),
        (AddressNotAllowed("h", "10.0.0.1"), 400, "storage.address_not_allowed"),
        (ReadNotAllowed("media", "strictClientOnly"), 409, "storage.read_not_allowed"),
        (CredentialsInvalid("x"), 400, "integration.credentials_invalid"),
        (IntegrationInvalid("x"), 400, "integration.invalid"),
        (OperationNotSupported("x"), 400, "storage.not_supported"),
    ],
)
def test_errors_carry_status_and_code(error: StorageError, status: int, code: str) -> None:
    assert isinstance(error, AccessioError)
    assert (error.status, error.code) == (status, code)


def test_errors_redact_signatures_in_urls() -> None:
    url = "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAXXXX%2F1&X-Amz-Signature=deadbeef&versionId=3"
    message = str(ObjectNotFound(url))
    assert "deadbeef" not in message
    assert "AKIAXXXX" not in message
    assert "versionId=3" in message
    assert "sig=REDACTED" in redact("https://a.blob.core.windows.net/c/b?sv=1&sig=abc")


@pytest.mark.parametrize(
    "reference", ["env", "env:MEDIA", "env:media_2", "profile:prod-eu", "file:/etc/accessio/gcs.json"]
)
def test_credential_references_are_accepted(reference: str) -> None:
    assert str(CredentialRef.parse(reference)) == reference


@pytest.mark.parametrize(
    "literal",
    [
        SECRET,
        "AKIAIOSFODNN7EXAMPLE",
        f"env:{SECRET}",
        "env:AKIAIOSFODNN7EXAMPLE",
        "profile:AKIAIOSFODNN7EXAMPLE",
        "profile:a1b2c3d4e5f6a7b8c9d0",
        "file:relative/creds.json",
        '{"private_key": "-----BEGIN PRIVATE KEY-----"}',
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc==",
        "",
    ],
)
def test_literal_secrets_are_refused_without_being_echoed(literal: str) -> None:
    with pytest.raises(CredentialsInvalid) as caught:
        Integration("media", Provider.S3, credentials=literal)
    if literal:
        assert literal not in str(caught.value)
        assert literal.partition(":")[2] not in str(caught.value) or not literal.partition(":")[2]


def test_describe_names_the_reference_never_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.setenv("MEDIA_SECRET_ACCESS_KEY", SECRET)
    integration = Integration("media", Provider.S3, root="cats/2024", region="eu-west-2", credentials="env:MEDIA")
    storage = open_storage(integration)
    described = integration.describe()
    assert described == "s3 integration 'media' (server): root cats/2024, region eu-west-2, credentials env:MEDIA"
    assert SECRET not in repr(storage) + repr(integration) + described
    assert "anonymous" in Integration("pub", Provider.GCP).describe()


def test_env_prefix_keys_are_read_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("MEDIA_SECRET_ACCESS_KEY", SECRET)
    keys = CredentialRef.parse("env:MEDIA").aws_keys()
    assert keys is not None
    assert (keys.access_key_id, keys.secret_access_key, keys.session_token) == ("id", SECRET, None)
    assert SECRET not in repr(keys)
    monkeypatch.delenv("MEDIA_SECRET_ACCESS_KEY")
    with pytest.raises(CredentialsInvalid, match="MEDIA_SECRET_ACCESS_KEY"):
        CredentialRef.parse("env:MEDIA").aws_keys()


def test_profile_and_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[prod]\naws_access_key_id = id1\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing"))
    keys = CredentialRef.parse("profile:prod").aws_keys()
    assert keys is not None
    assert keys.access_key_id == "id1"
    with pytest.raises(CredentialsInvalid, match="no AWS profile 'other'"):
        CredentialRef.parse("profile:other").aws_keys()
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps({"AccessKeyId": "id2", "SecretAccessKey": SECRET, "SessionToken": "tok"}))
    keys = CredentialRef.parse(f"file:{keyfile}").aws_keys()
    assert keys is not None
    assert (keys.access_key_id, keys.session_token) == ("id2", "tok")
    keyfile.write_text("not json " + SECRET)
    with pytest.raises(CredentialsInvalid) as caught:
        CredentialRef.parse(f"file:{keyfile}").aws_keys()
    assert SECRET not in str(caught.value)
    keyfile.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))
    assert CredentialRef.parse(f"file:{keyfile}").gcs_config() == {"service_account": str(keyfile)}
    with pytest.raises(CredentialsInvalid, match="AWS profiles"):
        Integration("g", Provider.GCP, credentials="profile:prod")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"provider": Provider.S3_COMPATIBLE}, "needs its endpoint"),
        ({"provider": Provider.S3_COMPATIBLE, "endpoint": "ftp://minio:9000"}, "not an http"),
        ({"provider": Provider.S3_COMPATIBLE, "endpoint": "https://u:p@minio:9000"}, "user or password"),
        ({"provider": Provider.S3_COMPATIBLE, "endpoint": "https://minio:9000/bucket"}, "has a path"),
        ({"provider": Provider.LOCAL}, "needs a root"),
        ({"provider": Provider.LOCAL, "root": "relative/dir"}, "absolute path"),
        ({"provider": Provider.LOCAL, "root": "/data", "credentials": "env"}, "take no credentials"),
        ({"provider": Provider.HTTP, "root": "x"}, "not a root"),
        ({"provider": Provider.GCP, "endpoint": "https://x"}, "take no endpoint"),
        ({"provider": Provider.S3, "root": "bucket/../other"}, "not BUCKET"),
        ({"provider": Provider.S3, "sign_ttl_s": 604801}, "7 days"),
        ({"provider": Provider.S3, "sign_ttl_s": 0}, "sign_ttl_s"),
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(IntegrationInvalid, match=message):
        Integration("bad", **settings)  # type: ignore[arg-type]


def test_open_storage_checks_local_root_and_literal_endpoints(tmp_path: Path) -> None:
    with pytest.raises(IntegrationInvalid, match="not a directory"):
        open_storage(Integration("l", Provider.LOCAL, root=str(tmp_path / "missing")))
    with pytest.raises(AddressNotAllowed, match=r"127\.0\.0\.1"):
        open_storage(Integration("m", Provider.S3_COMPATIBLE, endpoint="http://127.0.0.1:9000"))
    with pytest.raises(AddressNotAllowed, match="cloud metadata"):
        open_storage(Integration("m", Provider.HTTP, endpoint="http://169.254.169.254", allow_private_network=True))
    opted_in = Integration("m", Provider.S3_COMPATIBLE, endpoint="http://127.0.0.1:9000", allow_private_network=True)
    assert open_storage(opted_in).integration.access_mode is AccessMode.SERVER
