"""GCS integrations: URL handling and signing configuration only.

There is no GCS emulator available offline and obstore's GCS store needs real
credentials to read, so reads are not exercised here. Signing needs no network: the
signature is checked against the service account's public key, following Google's V4
signing layout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from accessio.storage import (
    AccessMode,
    Integration,
    Provider,
    ReadNotAllowed,
    UrlOutsideIntegration,
    open_storage,
)

EMAIL = "signer@accessio-test.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def service_account(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    document = {
        "type": "service_account",
        "project_id": "accessio-test",
        "private_key_id": "k1",
        "private_key": pem.decode(),
        "client_email": EMAIL,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(document))
    return path


def verify_v4_signature(url: str, key: rsa.RSAPrivateKey) -> dict[str, str]:
    """Rebuild the V4 string to sign from the URL and check the signature with the public key."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs) if k != "X-Goog-Signature"
    )
    signed_headers = query["X-Goog-SignedHeaders"]
    lines = ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", signed_headers, "UNSIGNED-PAYLOAD"]
    canonical_request = "\n".join(lines)
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [query["X-Goog-Algorithm"], query["X-Goog-Date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signature = bytes.fromhex(query["X-Goog-Signature"])
    key.public_key().verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return query


def test_locate_gcs_urls_and_confinement() -> None:
    storage = open_storage(Integration("gcs", Provider.GCP, root="frames/2024"))
    assert storage.locate("gs://frames/2024/a.jpg").key == "2024/a.jpg"
    assert storage.locate("https://storage.googleapis.com/frames/2024/a%20b.jpg").key == "2024/a b.jpg"
    assert storage.locate("https://frames.storage.googleapis.com/2024/x.jpg").bucket == "frames"
    for outside in ["gs://other/2024/a.jpg", "gs://frames/2025/a.jpg", "gs://frames/2024x/a.jpg", "s3://frames/2024/a"]:
        with pytest.raises(UrlOutsideIntegration):
            storage.locate(outside)


def test_sign_with_a_service_account_file(service_account: Path, key: rsa.RSAPrivateKey) -> None:
    integration = Integration("gcs", Provider.GCP, credentials=f"file:{service_account}", sign_ttl_s=900)
    storage = open_storage(integration)
    signed = storage.sign("gs://frames/2024/a%20b.jpg")
    assert signed.startswith("https://storage.googleapis.com/frames/2024/a%20b.jpg?")
    query = verify_v4_signature(signed, key)
    assert query["X-Goog-Credential"].startswith(EMAIL + "/")
    assert query["X-Goog-Expires"] == "900"
    assert verify_v4_signature(storage.sign("gs://frames/k.jpg", 30), key)["X-Goog-Expires"] == "30"
    assert verify_v4_signature(storage.sign("gs://frames/k.jpg", 10**6), key)["X-Goog-Expires"] == "900"


def test_sign_with_a_key_in_the_environment(
    service_account: Path, key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCS_SERVICE_ACCOUNT_KEY", service_account.read_text())
    storage = open_storage(Integration("gcs", Provider.GCP, credentials="env:GCS"))
    signed = storage.sign("https://storage.googleapis.com/frames/x.png")
    verify_v4_signature(signed, key)
    assert "PRIVATE KEY" not in storage.integration.describe() + repr(storage)


def test_modes_without_signing() -> None:
    anonymous = open_storage(Integration("pub", Provider.GCP))
    assert anonymous.sign("gs://frames/a%20b.jpg") == "https://storage.googleapis.com/frames/a%20b.jpg"
    direct = open_storage(Integration("direct", Provider.GCP, access_mode=AccessMode.DIRECT_ACCESS))
    given = "https://storage.googleapis.com/frames/a.jpg?X-Goog-Signature=abc"
    assert direct.sign(given) == given
    strict = open_storage(Integration("strict", Provider.GCP, access_mode=AccessMode.STRICT_CLIENT_ONLY))
    with pytest.raises(ReadNotAllowed):
        asyncio.run(strict.probe_head("gs://frames/a.jpg"))
