"""Probing through the real storage stack: moto's S3 server, an s3Compatible integration, RangedReader."""

from __future__ import annotations

import pytest

from accessio.probe import probe
from accessio.storage import Integration, Provider, open_storage
from tests.media import Entry
from tests.probe.test_values import mismatches
from tests.servers import MOTO_KEY_ID, MOTO_SECRET, MotoS3, moto_s3  # noqa: F401

BUCKET = "probe-media"
CASES = {"mp4-moov-end": 3, "mp4-moov-start": 1, "jpeg": 1, "ogg-opus": 2, "pdf-10mb": 2, "dicom-10mb": 1}


def test_probes_over_s3_cost_the_requests_the_design_says(
    moto_s3: MotoS3,  # noqa: F811
    by_name: dict[str, Entry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROBE_ACCESS_KEY_ID", MOTO_KEY_ID)
    monkeypatch.setenv("PROBE_SECRET_ACCESS_KEY", MOTO_SECRET)
    for name in CASES:
        moto_s3.put(BUCKET, f"media/{name}", by_name[name].path.read_bytes())
    integration = Integration(
        "media", Provider.S3_COMPATIBLE, endpoint=moto_s3.endpoint, credentials="env:PROBE", allow_private_network=True
    )
    with open_storage(integration) as storage:
        for name, most in CASES.items():
            entry = by_name[name]
            moto_s3.clear()
            url = f"{moto_s3.endpoint}/{BUCKET}/media/{name}"
            info = probe(storage.reader(url), entry.kind, url=url)
            assert not mismatches(info, entry.truth), name
            gets = moto_s3.requests(path=f"/{BUCKET}/media/{name}", method="GET")
            assert 1 <= len(gets) <= most, (name, [g.range for g in gets])
            assert all(g.range for g in gets), name  # ranged GETs only, never the whole object
            assert not moto_s3.requests(method="HEAD"), name  # the first ranged GET tells the size
