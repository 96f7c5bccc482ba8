"""Default item names: the object's path under the integration's root, in every URL form."""

from __future__ import annotations

import pytest

from accessio.jobs.names import namer
from accessio.storage import Integration, Provider


@pytest.mark.parametrize(
    ("integration", "url", "name"),
    [
        (Integration("m", Provider.LOCAL, root="/data/media"), "file:///data/media/cars/a%201.jpg", "cars/a 1.jpg"),
        (Integration("m", Provider.LOCAL, root="/data/media/"), "file:///data/media/a.jpg", "a.jpg"),
        # not under the root as written: the whole path, as SPEC section 2's title
        (Integration("m", Provider.LOCAL, root="/data/media"), "file:///data/mediax/a.jpg", "/data/mediax/a.jpg"),
        (Integration("s", Provider.S3, root="bucket/shots"), "s3://bucket/shots/cars/a.jpg", "cars/a.jpg"),
        (Integration("s", Provider.S3, root="bucket"), "s3://bucket/shots/a.jpg", "shots/a.jpg"),
        (Integration("s", Provider.S3), "s3://bucket/shots/a.jpg", "shots/a.jpg"),
        (
            Integration("s", Provider.S3, root="bucket/shots"),
            "https://bucket.s3.eu-west-2.amazonaws.com/shots/cars/a.jpg",
            "cars/a.jpg",
        ),
        (
            Integration("s", Provider.S3, root="bucket/shots"),
            "https://s3.eu-west-2.amazonaws.com/bucket/shots/cars/a.jpg",
            "cars/a.jpg",
        ),
        (
            Integration("c", Provider.S3_COMPATIBLE, root="bucket", endpoint="http://127.0.0.1:9000"),
            "http://127.0.0.1:9000/bucket/cars/a.jpg",
            "cars/a.jpg",
        ),
        (Integration("g", Provider.GCP, root="scans/2024"), "gs://scans/2024/ct/1.dcm", "ct/1.dcm"),
        (
            Integration("a", Provider.AZURE, root="container/pre"),
            "https://acct.blob.core.windows.net/container/pre/x.png",
            "x.png",
        ),
        (
            Integration("h", Provider.HTTP, endpoint="https://cdn.example.com/media/"),
            "https://cdn.example.com/media/v/1.mp4",
            "v/1.mp4",
        ),
        # the root itself is not a name
        (Integration("s", Provider.S3, root="bucket/shots"), "s3://bucket/shots/", "/shots/"),
    ],
)
def test_default_name_is_the_path_under_the_root(integration: Integration, url: str, name: str) -> None:
    assert namer(integration)(url) == name
