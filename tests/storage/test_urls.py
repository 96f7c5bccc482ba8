"""Object URL parsing: every supported form, every refusal, and "nothing but UrlNotUnderstood"."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accessio.errors import UrlNotUnderstood
from accessio.storage.urls import ObjectLocation, Provider, parse_object_url

S3, S3C, GCP, AZURE, HTTP, LOCAL = (
    Provider.S3,
    Provider.S3_COMPATIBLE,
    Provider.GCP,
    Provider.AZURE,
    Provider.HTTP,
    Provider.LOCAL,
)
MINIO = "https://minio.example.com:9000"
AZURITE = "http://127.0.0.1:10000"


def where(provider: Provider, bucket: str | None, key: str, **more: Any) -> dict[str, Any]:
    """The expected fields of an ObjectLocation, all but ``url``."""
    return {"provider": provider, "bucket": bucket, "key": key, **more}


AWS = [
    (
        "https://cats.s3.eu-west-2.amazonaws.com/a/b.jpg",
        where(S3, "cats", "a/b.jpg", region="eu-west-2"),
    ),
    (
        "http://cats.s3.eu-west-2.amazonaws.com/b.jpg",
        where(S3, "cats", "b.jpg", region="eu-west-2"),
    ),
    (
        "https://cats.s3-eu-west-1.amazonaws.com/b.jpg",
        where(S3, "cats", "b.jpg", region="eu-west-1"),
    ),
    (
        "https://cats.s3-external-1.amazonaws.com/b.jpg",
        where(S3, "cats", "b.jpg", region="us-east-1"),
    ),
    ("https://cats.s3.amazonaws.com/b.jpg", where(S3, "cats", "b.jpg")),
    ("https://cats.s3-fips.us-east-2.amazonaws.com/k", where(S3, "cats", "k", region="us-east-2")),
    (
        "https://cats.s3.dualstack.us-east-1.amazonaws.com/b.jpg",
        where(S3, "cats", "b.jpg", region="us-east-1", dualstack=True),
    ),
    (
        "https://my.bucket.s3.eu-west-2.amazonaws.com/b.jpg",
        where(S3, "my.bucket", "b.jpg", region="eu-west-2"),
    ),
    ("https://a.s3.b.s3.amazonaws.com/k", where(S3, "a.s3.b", "k")),
    (
        "https://cats.s3.cn-north-1.amazonaws.com.cn/b.jpg",
        where(S3, "cats", "b.jpg", region="cn-north-1"),
    ),
    (
        "https://cats.s3.us-gov-west-1.amazonaws.com/k",
        where(S3, "cats", "k", region="us-gov-west-1"),
    ),
    (
        "https://CATS.S3.EU-WEST-2.AMAZONAWS.COM/K.jpg",
        where(S3, "cats", "K.jpg", region="eu-west-2"),
    ),
    (
        "https://s3.eu-west-2.amazonaws.com/cats/a/b.jpg",
        where(S3, "cats", "a/b.jpg", region="eu-west-2"),
    ),
    (
        "https://s3-eu-west-2.amazonaws.com/cats/b.jpg",
        where(S3, "cats", "b.jpg", region="eu-west-2"),
    ),
    ("https://s3.amazonaws.com/cats/b.jpg", where(S3, "cats", "b.jpg")),
    ("https://s3.amazonaws.com:443/cats/b.jpg", where(S3, "cats", "b.jpg")),
    (
        "https://s3.dualstack.ap-south-1.amazonaws.com/cats/b.jpg",
        where(S3, "cats", "b.jpg", region="ap-south-1", dualstack=True),
    ),
    (
        "https://s3.cn-northwest-1.amazonaws.com.cn/cats/b.jpg",
        where(S3, "cats", "b.jpg", region="cn-northwest-1"),
    ),
    (
        "https://cats.s3.eu-west-2.amazonaws.com/b.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab",
        where(S3, "cats", "b.jpg", region="eu-west-2"),
    ),
    ("https://cats.s3.amazonaws.com/b.jpg#part", where(S3, "cats", "b.jpg")),
]

SCHEMES = [
    ("s3://cats/a/b.jpg", where(S3, "cats", "a/b.jpg")),
    ("S3://cats/b.jpg", where(S3, "cats", "b.jpg")),
    ("s3://cats/b.jpg?versionId=3#x", where(S3, "cats", "b.jpg")),
    ("s3://cats//leading-slash", where(S3, "cats", "/leading-slash")),
    ("s3://cats/dir/", where(S3, "cats", "dir/")),
    ("gs://dogs/a/b.jpg", where(GCP, "dogs", "a/b.jpg")),
    ("GS://dogs_and.more/b.jpg", where(GCP, "dogs_and.more", "b.jpg")),
    ("gs://" + "d" * 63 + "." + "e" * 63 + "/k", where(GCP, "d" * 63 + "." + "e" * 63, "k")),
]

ENCODING = [
    ("s3://cats/tom%20cat.jpg", where(S3, "cats", "tom cat.jpg")),
    ("s3://cats/a+b.jpg", where(S3, "cats", "a+b.jpg")),
    ("s3://cats/a%2Bb.jpg", where(S3, "cats", "a+b.jpg")),
    ("s3://cats/a%2Fb.jpg", where(S3, "cats", "a/b.jpg")),
    ("s3://cats/100%.jpg", where(S3, "cats", "100%.jpg")),
    ("s3://cats/%zz%4", where(S3, "cats", "%zz%4")),
    ("s3://cats/%C3%A9t%C3%A9.jpg", where(S3, "cats", "été.jpg")),
    ("s3://cats/données/été.jpg", where(S3, "cats", "données/été.jpg")),
    ("s3://cats/what%3F%23.jpg", where(S3, "cats", "what?#.jpg")),
    ("https://s3.amazonaws.com/cats/%E7%8C%AB.jpg", where(S3, "cats", "猫.jpg")),
    (
        "https://example.com/données/%C3%A9t%C3%A9.jpg",
        where(HTTP, None, "/données/été.jpg", endpoint="https://example.com"),
    ),
    (
        "https://bücher.example/été.jpg",
        where(HTTP, None, "/été.jpg", endpoint="https://bücher.example"),
    ),
]

GCS = [
    ("https://storage.googleapis.com/dogs/a/b.jpg", where(GCP, "dogs", "a/b.jpg")),
    ("https://storage.cloud.google.com/dogs/b.jpg", where(GCP, "dogs", "b.jpg")),
    ("https://dogs.storage.googleapis.com/a/b.jpg", where(GCP, "dogs", "a/b.jpg")),
    ("https://my.dogs.storage.googleapis.com/b.jpg", where(GCP, "my.dogs", "b.jpg")),
    ("https://storage.googleapis.com/dogs/b.jpg?X-Goog-Signature=ab", where(GCP, "dogs", "b.jpg")),
    (
        "https://storage.googleapis.com/storage/v1/b/dogs/o/a%2Fb.jpg?alt=media",
        where(GCP, "dogs", "a/b.jpg"),
    ),
    (
        "https://storage.googleapis.com/download/storage/v1/b/dogs/o/b.jpg",
        where(GCP, "dogs", "b.jpg"),
    ),
]

AZURE_FORMS = [
    (
        "https://acct1.blob.core.windows.net/photos/a/b/c.jpg",
        where(AZURE, "photos", "a/b/c.jpg", account="acct1"),
    ),
    (
        "https://acct1.blob.core.windows.net/photos/b.jpg?sv=2022-11-02&sig=abc%3D",
        where(AZURE, "photos", "b.jpg", account="acct1"),
    ),
    (
        "https://acct1.blob.core.windows.net/photos/tom%20cat.jpg",
        where(AZURE, "photos", "tom cat.jpg", account="acct1"),
    ),
    (
        "https://acct1.blob.core.windows.net/$web/index.html",
        where(AZURE, "$web", "index.html", account="acct1"),
    ),
    (
        "https://acct1.blob.core.chinacloudapi.cn/photos/b.jpg",
        where(AZURE, "photos", "b.jpg", account="acct1"),
    ),
    (
        "http://127.0.0.1:10000/devstoreaccount1/photos/a/b.jpg",
        where(AZURE, "photos", "a/b.jpg", account="devstoreaccount1", endpoint=AZURITE),
    ),
]

COMPATIBLE = [
    ("https://minio.example.com:9000/cats/a/b.jpg", where(S3C, "cats", "a/b.jpg", endpoint=MINIO)),
    ("HTTPS://MINIO.example.com:9000/cats/b.jpg", where(S3C, "cats", "b.jpg", endpoint=MINIO)),
    ("https://cats.minio.example.com:9000/a/b.jpg", where(S3C, "cats", "a/b.jpg", endpoint=MINIO)),
    (
        "https://ceph.example.org/cats/b.jpg",
        where(S3C, "cats", "b.jpg", endpoint="https://ceph.example.org"),
    ),
    (
        "https://ceph.example.org:443/cats/b.jpg",
        where(S3C, "cats", "b.jpg", endpoint="https://ceph.example.org"),
    ),
    (
        "https://xn--dpt-bma0d.example/cats/b.jpg",
        where(S3C, "cats", "b.jpg", endpoint="https://dépôt.example"),
    ),
    # Same host, other port or scheme: not the endpoint, so a plain web object.
    (
        "https://minio.example.com/cats/b.jpg",
        where(HTTP, None, "/cats/b.jpg", endpoint="https://minio.example.com"),
    ),
    (
        "http://ceph.example.org/cats/b.jpg",
        where(HTTP, None, "/cats/b.jpg", endpoint="http://ceph.example.org"),
    ),
]
ENDPOINTS = {
    "s3_compatible_endpoints": [MINIO, "HTTPS://Ceph.Example.org:443/", "https://dépôt.example"],
    "azure_endpoints": [AZURITE + "/"],
}

LOCAL_AND_WEB = [
    ("file:///data/cats/b.jpg", where(LOCAL, None, "/data/cats/b.jpg")),
    ("FILE://localhost/data/b.jpg", where(LOCAL, None, "/data/b.jpg")),
    ("file:/data/b.jpg", where(LOCAL, None, "/data/b.jpg")),
    ("file:///data/tom%20cat/%C3%A9t%C3%A9.jpg", where(LOCAL, None, "/data/tom cat/été.jpg")),
    ("/data/cats/b.jpg", where(LOCAL, None, "/data/cats/b.jpg")),
    ("/data/tom cat/100%20.jpg", where(LOCAL, None, "/data/tom cat/100%20.jpg")),
    ("https://example.com/a/b.jpg", where(HTTP, None, "/a/b.jpg", endpoint="https://example.com")),
    (
        "HTTP://Example.COM:80/b.jpg?x=1#y",
        where(HTTP, None, "/b.jpg", endpoint="http://example.com"),
    ),
    (
        "https://example.com:8443/a%20b.jpg",
        where(HTTP, None, "/a b.jpg", endpoint="https://example.com:8443"),
    ),
    ("http://[::1]:8080/b.jpg", where(HTTP, None, "/b.jpg", endpoint="http://[::1]:8080")),
    (
        "https://cdn.example.com/cats.s3.amazonaws.com/b.jpg",
        where(HTTP, None, "/cats.s3.amazonaws.com/b.jpg", endpoint="https://cdn.example.com"),
    ),
    (
        "https://ec2.eu-west-2.amazonaws.com/b.jpg",
        where(HTTP, None, "/b.jpg", endpoint="https://ec2.eu-west-2.amazonaws.com"),
    ),
]


FORMS = AWS + SCHEMES + ENCODING + GCS + AZURE_FORMS + COMPATIBLE + LOCAL_AND_WEB


@pytest.mark.parametrize(("url", "expected"), FORMS)
def test_url_forms(url: str, expected: dict[str, Any]) -> None:
    assert parse_object_url(url, **ENDPOINTS) == ObjectLocation(url=url, **expected)


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://minio.example.com:9000/cats/b.jpg", HTTP),
        ("https://cats.minio.example.com:9000/b.jpg", HTTP),
        ("http://127.0.0.1:10000/devstoreaccount1/photos/b.jpg", HTTP),
    ],
)
def test_endpoints_only_count_when_configured(url: str, provider: Provider) -> None:
    assert parse_object_url(url).provider is provider


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        (" s3://cats/b.jpg", "leading or trailing whitespace"),
        ("s3://cats/b.jpg\n", "leading or trailing whitespace"),
        ("s3://cats/tom cat.jpg", "whitespace inside the URL"),
        ("https://example.com/a\u00a0b", "whitespace inside the URL"),
        ("s3://cats/a\tb", "control character"),
        ("/data/a\x00b", "control character"),
        ("s3://cats/a\x7fb", "control character"),  # DEL: ASCII, but not printable
        ("s3://cats/tom cat\x1f.jpg", "whitespace inside the URL"),  # the first offending character is named
        ("https://example.com/a\x1fb", "control character"),  # a control character that str.isspace() accepts
        ("s3://cats/\ud800", "lone surrogate"),
        ("ftp://example.com/b.jpg", "scheme 'ftp' is not supported"),
        ("mailto:someone@example.com", "scheme 'mailto' is not supported"),
        ("C:\\data\\b.jpg", "Windows drive path"),
        ("path/to/x.jpg", "a relative path; write a file:// URL or a full URL"),
        ("b.jpg", "a relative path"),
        ("//example.com/b.jpg", "scheme-relative"),
        ("s3://cats", "names the bucket 'cats' but no object key"),
        ("s3://cats/", "no object key"),
        ("s3://cats/?versionId=1", "no object key"),
        ("s3:///b.jpg", "no bucket"),
        ("s3:cats/b.jpg", "no // after s3:"),
        ("s3://user@cats/b.jpg", "a user or port"),
        ("s3://cats:9000/b.jpg", "a user or port"),
        ("s3://Cats/b.jpg", "S3 bucket names are 3–63"),
        ("s3://ca/b.jpg", "S3 bucket names are 3–63"),
        ("s3://my_cats/b.jpg", "S3 bucket names are 3–63"),
        ("s3://-cats/b.jpg", "S3 bucket names are 3–63"),
        ("s3://" + "c" * 64 + "/b.jpg", "S3 bucket names are 3–63"),
        ("gs://_dogs/b.jpg", "GCS bucket names"),
        ("gs://" + "d" * 64 + "/b.jpg", "GCS bucket names"),
        ("gs://" + "d" * 64 + ".x/b.jpg", "GCS bucket names"),
        ("s3://cats/%C3%28.jpg", "key percent-decodes to bytes that are not UTF-8"),
        ("s3://cats/%FF", "not UTF-8"),
        ("https://example.com/%FF.jpg", "path percent-decodes to bytes that are not UTF-8"),
        ("https://s3.amazonaws.com/", "no bucket in the path"),
        ("https://s3.eu-west-2.amazonaws.com/cats", "names the bucket 'cats' but no object key"),
        ("https://cats.s3.amazonaws.com/", "no object key"),
        ("https://my_cats.s3.amazonaws.com/b.jpg", "S3 bucket names"),
        ("https://cats.s3-website-us-east-1.amazonaws.com/b.jpg", "amazonaws.com S3 host"),
        (
            "https://ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com/b.jpg",
            "amazonaws.com S3 host",
        ),
        ("https://storage.googleapis.com/dogs", "names the bucket 'dogs' but no object key"),
        ("https://storage.googleapis.com/", "no bucket in the path"),
        ("https://storage.googleapis.com/Dogs/b.jpg", "GCS bucket names"),
        ("https://acct1.blob.core.windows.net/", "no container"),
        (
            "https://acct1.blob.core.windows.net/photos",
            "names the container 'photos' but no object key",
        ),
        ("https://acct1.blob.core.windows.net/ph--otos/b.jpg", "Azure container names"),
        ("https://acct1.blob.core.windows.net/Photos/b.jpg", "Azure container names"),
        ("https://my-acct.blob.core.windows.net/photos/b.jpg", "Azure storage account names"),
        (
            "https://" + "a" * 25 + ".blob.core.windows.net/photos/b.jpg",
            "Azure storage account names",
        ),
        ("file://otherhost/data/b.jpg", "a file URL on another host ('otherhost')"),
        ("file:data/b.jpg", "a relative file URL"),
        ("file:", "a relative file URL"),
        ("file:///data/what?.jpg", "a query or fragment in a file URL"),
        ("file:///data/b.jpg#x", "a query or fragment in a file URL"),
        ("file:///data/", "names a directory"),
        ("/data/", "names a directory"),
        ("file:///data/a%00b", "NUL"),
        ("file:///data/%FF", "not UTF-8"),
        ("https://example.com", "no path after the host"),
        ("https://example.com/", "no path after the host"),
        ("https:///b.jpg", "no host"),
        ("https:b.jpg", "no host"),
        ("https://user:secret@example.com/b.jpg", "credentials"),
        ("https://example.com:99999/b.jpg", "host or port cannot be read"),
        ("https://example.com:port/b.jpg", "host or port cannot be read"),
        ("https://[::1/b.jpg", "cannot be split into URL parts"),
    ],
)
def test_refusals_say_why(url: str, reason: str) -> None:
    with pytest.raises(UrlNotUnderstood) as raised:
        parse_object_url(url)
    assert reason in raised.value.reason
    assert raised.value.url == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:10000/devstoreaccount1", "no container"),
        ("http://127.0.0.1:10000/Dev_Store/photos/b.jpg", "Azure storage account names"),
        ("https://minio.example.com:9000/cats", "no object key"),
        ("https://minio.example.com:9000/", "no bucket in the path"),
        ("https://my_cats.minio.example.com:9000/b.jpg", "S3 bucket names"),
    ],
)
def test_refusals_at_configured_endpoints(url: str, reason: str) -> None:
    with pytest.raises(UrlNotUnderstood) as raised:
        parse_object_url(url, **ENDPOINTS)
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    "endpoint",
    ["minio.example.com", "ftp://minio.example.com", "https://minio.example.com/s3", "https://"],
)
def test_malformed_endpoints_are_configuration_errors(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        parse_object_url("s3://cats/b.jpg", s3_compatible_endpoints=[endpoint])


def test_provider_values_are_spec_names() -> None:
    assert [p.value for p in Provider] == ["s3", "s3Compatible", "gcp", "azure", "http", "local"]


URLISH = st.one_of(
    st.text(),
    st.builds(
        str.__add__,
        st.sampled_from(
            [
                "s3://",
                "gs://",
                "file://",
                "file:",
                "/",
                "http://",
                "https://",
                "https://[",
                "https://example.com:",
                "file://[",
                "https://s3.amazonaws.com/",
                "https://a.s3.eu-west-2.amazonaws.com/",
                "https://storage.googleapis.com/",
                "https://acct.blob.core.windows.net/",
                MINIO + "/",
                "https://x.minio.example.com:9000/",
                AZURITE + "/",
                "s3://cats/%",
            ]
        ),
        st.text(),
    ),
)


@settings(max_examples=500, deadline=None)
@given(URLISH)
@example("https://example.com:x/b.jpg")
@example("https://[::1/b.jpg")
@example("https://a\uff03b.example/c")
@example("s3://cats/%FF")
@example("https://\u2100.example/c")
def test_nothing_but_url_not_understood(url: str) -> None:
    try:
        location = parse_object_url(url, **ENDPOINTS)
    except UrlNotUnderstood as error:
        refusal: tuple[str, str] | None = (error.url, error.reason)
    else:
        refusal = None
        assert location.url == url
    assert refusal is None or (refusal[0] == url and refusal[1])


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1),
)
def test_any_quoted_key_reads_back(bucket: str, key: str) -> None:
    location = parse_object_url(f"s3://{bucket}/{quote(key, safe='/')}")
    assert (location.provider, location.bucket, location.key) == (S3, bucket, key)
