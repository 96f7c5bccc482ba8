"""The JSON forms of a spec (SPEC section 2): every key, every rule, every issue located."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from accessio.errors import SpecInvalid
from accessio.spec import (
    DicomMetadata,
    ImageGroup,
    ImageMetadata,
    UploadSpec,
    Video,
    VideoMetadata,
    parse_json,
    parse_object,
)
from accessio.spec.convert import REQUIRED_DICOM_TAGS

URL = "s3://bucket/path/a.mp4"


def issues_of(doc: Any) -> list[tuple[str, str]]:
    """(location, code) of every issue, through the fast path and the thorough path alike."""
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    with pytest.raises(SpecInvalid) as fast:
        parse_json(data)
    found = [(i.location, i.code) for i in fast.value.issues]
    if not isinstance(doc, bytes):
        with pytest.raises(SpecInvalid) as thorough:
            parse_object(doc)
        assert sorted(found) == sorted((i.location, i.code) for i in thorough.value.issues)
    return found


def parsed(doc: dict[str, Any]) -> UploadSpec:
    spec = parse_json(json.dumps(doc))
    assert parse_object(doc) == spec
    return spec


def test_every_top_level_key_holds_its_type() -> None:
    spec = parsed(
        {
            "videos": [{"objectUrl": "s3://b/v.mp4"}],
            "audio": [{"objectUrl": "s3://b/a.mp3"}],
            "images": [{"objectUrl": "s3://b/i.jpg"}],
            "image_groups": [{"objectUrl_0": "s3://b/g0.jpg"}, {"objectUrl_0": "s3://b/s0.jpg", "createVideo": True}],
            "dicom_series": [{"title": "S", "objectUrl_0": "s3://b/1.dcm", "objectUrl_1": "s3://b/2.dcm"}],
            "pdf": [{"objectUrl": "s3://b/d.pdf"}],
            "text": [{"objectUrl": "s3://b/t.txt"}],
            "nifti": [{"objectUrl": "s3://b/n.nii.gz"}],
        }
    )
    assert spec.counts() == {
        "video": 1,
        "image": 1,
        "imageGroup": 1,
        "imageSequence": 1,
        "dicomSeries": 1,
        "audio": 1,
        "plainText": 1,
        "pdf": 1,
        "nifti": 1,
    }
    assert spec.url_count() == 10
    assert spec.skip_duplicate_urls is False
    assert spec.upsert_metadata is False


def test_pdfs_is_another_name_for_pdf() -> None:
    assert parsed({"pdfs": [{"objectUrl": "s3://b/d.pdf"}]}) == parsed({"pdf": [{"objectUrl": "s3://b/d.pdf"}]})
    assert ("pdfs", "spec.conflict") in issues_of({"pdf": [], "pdfs": []})


@pytest.mark.parametrize(
    "metadata",
    [
        {"fps": 25, "duration": 10.5, "width": 640, "height": 480, "file_size": 100, "mime_type": "video/mp4"},
        {"fps": 25, "duration": 10.5, "width": 640, "height": 480, "fileSize": 100, "mimeType": "video/mp4"},
    ],
)
def test_video_metadata_in_both_spellings(metadata: dict[str, Any]) -> None:
    spec = parsed({"videos": [{"objectUrl": URL, "videoMetadata": metadata}]})
    assert spec.videos[0].video_metadata == VideoMetadata(25.0, 10.5, 640, 480, 100, "video/mp4")


def test_image_and_audio_metadata_in_both_spellings() -> None:
    snake = parsed(
        {
            "images": [
                {"objectUrl": URL, "imageMetadata": {"mime_type": "image/png", "file_size": 3, "width": 2, "height": 1}}
            ]
        }
    )
    assert snake.images[0].image_metadata == ImageMetadata("image/png", 3, 2, 1)
    camel = parsed(
        {
            "audio": [
                {
                    "objectUrl": URL,
                    "audioMetadata": {
                        "duration": 1.5,
                        "fileSize": 10,
                        "mimeType": "audio/wav",
                        "sampleRate": 8000,
                        "bitDepth": 16,
                        "codec": "pcm",
                        "numChannels": 1,
                    },
                }
            ]
        }
    )
    meta = camel.audio[0].audio_metadata
    assert meta is not None
    assert (meta.duration, meta.sample_rate, meta.num_channels) == (1.5, 8000, 1)


def test_both_spellings_of_one_field_conflict() -> None:
    doc = {
        "images": [
            {
                "objectUrl": URL,
                "imageMetadata": {
                    "mimeType": "image/png",
                    "mime_type": "image/png",
                    "fileSize": 1,
                    "width": 1,
                    "height": 1,
                },
            }
        ]
    }
    assert issues_of(doc) == [("images[0].imageMetadata.mime_type", "spec.conflict")]


def test_metadata_needs_every_field() -> None:
    doc = {"videos": [{"objectUrl": URL, "videoMetadata": {"fps": 30, "duration": 2, "width": 4, "height": 4}}]}
    assert sorted(issues_of(doc)) == [
        ("videos[0].videoMetadata.file_size", "field.missing"),
        ("videos[0].videoMetadata.mime_type", "field.missing"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("width", 0, "field.range"),
        ("width", -3, "field.range"),
        ("width", 1.5, "field.type"),
        ("width", "640", "field.type"),
        ("width", 10**30, "field.range"),
        ("fps", 0, "field.range"),
        ("file_size", -1, "field.range"),
        ("mime_type", "", "field.range"),
    ],
)
def test_bad_metadata_values_are_located(field: str, value: Any, code: str) -> None:
    meta = {"fps": 30, "duration": 2, "width": 4, "height": 4, "file_size": 1, "mime_type": "video/mp4", field: value}
    assert issues_of({"videos": [{"objectUrl": URL, "videoMetadata": meta}]}) == [
        (f"videos[0].videoMetadata.{field}", code)
    ]


def test_unknown_keys_get_a_hint() -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_json(json.dumps({"vidoes": [], "images": [{"objectUrl": URL, "titel": "x"}]}))
    messages = {i.location: i.message for i in caught.value.issues}
    # an unknown top-level key does not hide the issues of the rest of the file
    assert messages == {
        "vidoes": "unknown key 'vidoes' (did you mean \"videos\"?)",
        "images[0].titel": "unknown key 'titel' (did you mean \"title\"?)",
    }
    with pytest.raises(SpecInvalid) as caught:
        parse_json(json.dumps({"images": [{"objectUrl": URL, "titel": "x", "objecturl": "y"}]}))
    messages = {i.location: i.message for i in caught.value.issues}
    assert messages["images[0].titel"] == "unknown key 'titel' (did you mean \"title\"?)"
    assert 'did you mean "objectUrl"' in messages["images[0].objecturl"]


def test_duplicate_keys_are_errors_with_their_path() -> None:
    data = b'{"images": [{"objectUrl": "s3://b/a.jpg"}, {"objectUrl": "s3://b/b.jpg", "title": "x", "title": "y"}]}'
    assert issues_of(data) == [("images[1].title", "json.duplicate_key")]
    escaped = b'{"videos": [{"objectUrl": "s3://b/a.mp4", "obj\\u0065ctUrl": "s3://b/b.mp4"}]}'
    assert issues_of(escaped) == [("videos[0].objectUrl", "json.duplicate_key")]
    nested = b'{"images": [{"objectUrl": "s3://b/a.jpg", "clientMetadata": {"a": {"k": 1, "k": 2}}}]}'
    assert issues_of(nested) == [("images[0].clientMetadata.a.k", "json.duplicate_key")]


@pytest.mark.parametrize(
    ("text", "code", "location"),
    [
        (b'{"videos": [{"objectUrl": "s3://b/a.mp4", "x": NaN}]}', "json.non_finite", "line 1, column 48"),
        (b'{"videos": [\n  {"objectUrl": Infinity}]}', "json.non_finite", "line 2, column 17"),
        (b'{"videos": [] // no\n}', "json.syntax", "line 1, column 15"),
        (b'{"videos": [],}', "json.syntax", "line 1, column 15"),
        (b'{"videos": [', "json.syntax", "line 1, column 13"),
        (b"", "json.syntax", "line 1, column 1"),
        (b'{"videos": ["\xff"]}', "spec.encoding", "line 1, column 14"),
    ],
)
def test_malformed_json_is_located(text: bytes, code: str, location: str) -> None:
    assert issues_of(text) == [(location, code)]


def test_a_bom_is_accepted() -> None:
    assert parse_json(b'\xef\xbb\xbf{"videos": [{"objectUrl": "s3://b/a.mp4"}]}').counts() == {"video": 1}


@pytest.mark.parametrize("doc", [[], "videos", 3, None])
def test_a_spec_is_an_object(doc: Any) -> None:
    assert issues_of(doc) == [("$", "spec.shape")]


def test_an_empty_spec_is_an_error() -> None:
    assert issues_of({}) == [("$", "spec.empty")]
    assert issues_of({"videos": [], "skip_duplicate_urls": True}) == [("$", "spec.empty")]


def test_lists_and_items_must_have_the_right_shape() -> None:
    assert issues_of({"videos": {"objectUrl": URL}}) == [("videos", "spec.shape")]
    assert issues_of({"videos": ["s3://b/a.mp4"]}) == [("videos[0]", "spec.shape")]
    assert issues_of({"videos": [{"objectUrl": URL}], "skip_duplicate_urls": "yes"}) == [
        ("skip_duplicate_urls", "field.type")
    ]


def test_upsert_needs_skip() -> None:
    doc = {"videos": [{"objectUrl": URL}], "upsert_metadata": True}
    assert issues_of(doc) == [("upsert_metadata", "spec.flags")]
    assert parsed({**doc, "skip_duplicate_urls": True}).upsert_metadata is True


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "url.empty"),
        ("s3://b/a b.mp4", "url.whitespace"),
        ("s3://b/a\tb.mp4", "url.whitespace"),
        (" s3://b/a.mp4", "url.whitespace"),
        ("s3://b/a\u00a0b.mp4", "url.whitespace"),
        ("s3://b/a\u3000b.mp4", "url.whitespace"),
        ("s3://b/a\x07b.mp4", "url.control"),
    ],
)
def test_bad_urls_fail_their_item(url: str, code: str) -> None:
    doc = {"videos": [{"objectUrl": URL}, {"objectUrl": url}]}
    assert issues_of(doc) == [("videos[1].objectUrl", code)]


def test_unicode_and_percent_encoded_urls_are_fine() -> None:
    spec = parsed({"images": [{"objectUrl": "s3://b/données/été%20photo.jpg"}]})
    assert spec.images[0].display_title == "/données/été photo.jpg"


def test_titles() -> None:
    assert issues_of({"videos": [{"objectUrl": URL, "title": ""}]}) == [("videos[0].title", "title.empty")]
    assert issues_of({"videos": [{"objectUrl": URL, "title": "x" * 301}]}) == [("videos[0].title", "title.too_long")]
    assert issues_of({"videos": [{"objectUrl": URL, "title": 3}]}) == [("videos[0].title", "field.type")]
    assert parsed({"videos": [{"objectUrl": URL, "title": None}]}).videos[0].title is None
    assert parsed({"videos": [{"objectUrl": URL, "title": "é" * 300}]}).videos[0].title == "é" * 300


def test_create_video_is_only_true_on_image_groups() -> None:
    assert issues_of({"videos": [{"objectUrl": URL, "createVideo": True}]}) == [
        ("videos[0].createVideo", "field.create_video")
    ]
    assert issues_of({"images": [{"objectUrl": URL, "createVideo": True}]}) == [
        ("images[0].createVideo", "field.create_video")
    ]
    assert parsed({"videos": [{"objectUrl": URL, "createVideo": False}]}).videos == [Video(object_url=URL)]
    assert issues_of({"image_groups": [{"objectUrl_0": URL, "createVideo": "yes"}]}) == [
        ("image_groups[0].createVideo", "field.type")
    ]


def test_group_positions() -> None:
    group = parsed(
        {
            "image_groups": [
                {"objectUrl_2": "s3://b/2.jpg", "objectUrl_0": "s3://b/0.jpg", "objectUrl_1": "s3://b/1.jpg"}
            ]
        }
    ).image_groups[0]
    assert group.urls == ("s3://b/0.jpg", "s3://b/1.jpg", "s3://b/2.jpg")
    assert group.display_title == "/0.jpg"
    assert issues_of({"image_groups": [{"objectUrl_1": URL}]}) == [("image_groups[0].objectUrl_0", "group.positions")]
    assert issues_of({"image_groups": [{"title": "x"}]}) == [("image_groups[0].objectUrl_0", "field.missing")]
    assert issues_of({"image_groups": [{"objectUrl_0": URL, "objectUrl_01": URL}]}) == [
        ("image_groups[0].objectUrl_01", "group.positions")
    ]
    assert issues_of({"image_groups": [{"objectUrl_0": 5}]}) == [("image_groups[0].objectUrl_0", "field.type")]


def test_group_members_may_carry_image_metadata() -> None:
    meta = {"mimeType": "image/png", "fileSize": 10, "width": 2, "height": 2}
    group = parsed(
        {"image_groups": [{"objectUrl_0": "s3://b/0.png", "objectUrl_1": "s3://b/1.png", "imageMetadata_1": meta}]}
    ).image_groups[0]
    assert group.member_metadata == (None, ImageMetadata("image/png", 10, 2, 2))
    assert issues_of({"image_groups": [{"objectUrl_0": URL, "imageMetadata_3": meta}]}) == [
        ("image_groups[0].imageMetadata_3", "group.positions")
    ]


def test_dicom_series_need_a_title() -> None:
    assert issues_of({"dicom_series": [{"objectUrl_0": "s3://b/1.dcm"}]}) == [
        ("dicom_series[0].title", "title.missing")
    ]
    assert issues_of({"dicomSeries": [{"dicomFiles": [{"url": "s3://b/1.dcm"}]}]}) == [
        ("dicomSeries[0].title", "title.missing")
    ]


def test_the_structured_form_equals_the_upload_form() -> None:
    meta = {"mimeType": "image/png", "fileSize": 10, "width": 2, "height": 2}
    structured = parsed(
        {
            "videos": [{"objectUrl": URL, "externalFileType": "VIDEO", "clientMetadata": {}}],
            "imageGroups": [
                {
                    "title": "G",
                    "images": [{"url": "s3://b/0.png", "title": None}, {"url": "s3://b/1.png", "imageMetadata": meta}],
                    "createVideo": True,
                    "externalFileType": "IMG_GROUP",
                }
            ],
            "dicomSeries": [{"title": "S", "dicomFiles": [{"url": "s3://b/1.dcm"}]}],
            "skipDuplicateUrls": True,
        }
    )
    upload = parsed(
        {
            "videos": [{"objectUrl": URL, "clientMetadata": {}}],
            "image_groups": [
                {
                    "title": "G",
                    "objectUrl_0": "s3://b/0.png",
                    "objectUrl_1": "s3://b/1.png",
                    "imageMetadata_1": meta,
                    "createVideo": True,
                }
            ],
            "dicom_series": [{"title": "S", "objectUrl_0": "s3://b/1.dcm"}],
            "skip_duplicate_urls": True,
        }
    )
    assert structured == upload
    assert structured.source.form == "structured"
    assert upload.source.form == "json"
    assert structured.image_groups[0] == ImageGroup(
        urls=("s3://b/0.png", "s3://b/1.png"),
        title="G",
        create_video=True,
        member_metadata=(None, ImageMetadata("image/png", 10, 2, 2)),
    )


def test_structured_form_rules() -> None:
    assert issues_of({"videos": [{"objectUrl": URL, "externalFileType": "IMAGE"}]}) == [
        ("videos[0].externalFileType", "field.external_file_type")
    ]
    assert issues_of({"imageGroups": [{"images": []}]}) == [("imageGroups[0].images", "group.positions")]
    assert issues_of({"imageGroups": [{"images": [{"url": "s3://b/a b.jpg"}]}]}) == [
        ("imageGroups[0].images[0].url", "url.whitespace")
    ]
    assert issues_of({"imageGroupsFromItems": [{"imageItems": []}]}) == [("imageGroupsFromItems", "spec.unsupported")]
    assert ("imageGroups", "spec.conflict") in issues_of(
        {"image_groups": [{"objectUrl_0": URL}], "imageGroups": [{"images": [{"url": URL}]}]}
    )
    assert ("skipDuplicateUrls", "spec.conflict") in issues_of(
        {"videos": [{"objectUrl": URL}], "skip_duplicate_urls": True, "skipDuplicateUrls": True}
    )


def test_dicom_metadata_tags() -> None:
    tags = dict.fromkeys(REQUIRED_DICOM_TAGS) | {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe"}]}}
    series = parsed(
        {"dicomSeries": [{"title": "S", "dicomFiles": [{"url": "s3://b/1.dcm", "dicomMetadata": {"tags": tags}}]}]}
    ).dicom_series[0]
    assert series.member_metadata is not None
    meta = series.member_metadata[0]
    assert isinstance(meta, DicomMetadata)
    assert meta.tags["00100010"] is not None
    partial = {"00080018": None}
    found = issues_of(
        {"dicomSeries": [{"title": "S", "dicomFiles": [{"url": "s3://b/1.dcm", "dicomMetadata": {"tags": partial}}]}]}
    )
    assert found == [("dicomSeries[0].dicomFiles[0].dicomMetadata.tags", "field.missing")]


def test_every_issue_is_reported_at_once_in_file_order() -> None:
    doc = {
        "videos": [{"objectUrl": URL}, {"objectUrl": "a b"}, {"objectUrl": URL, "videoMetadata": {"fps": -1}}],
        "images": [{"title": "no url"}, {"objectUrl": URL, "clientMetadata": []}],
    }
    found = issues_of(doc)
    assert found[0] == ("videos[1].objectUrl", "url.whitespace")
    assert ("videos[2].videoMetadata.fps", "field.range") in found
    assert ("images[0].objectUrl", "field.missing") in found
    assert found[-1] == ("images[1].clientMetadata", "field.type")
    assert [loc.split(".")[0] for loc, _ in found] == sorted(
        (loc.split(".")[0] for loc, _ in found), key=lambda s: (not s.startswith("videos"), s)
    )


def test_client_metadata_is_any_json_object() -> None:
    meta = {"site": "Oran", "frames": 120, "reviewed": False, "tags": ["a", "b"], "nested": {"x": None}}
    assert parsed({"images": [{"objectUrl": URL, "clientMetadata": meta}]}).images[0].client_metadata == meta
    assert issues_of({"images": [{"objectUrl": URL, "clientMetadata": "site=Oran"}]}) == [
        ("images[0].clientMetadata", "field.type")
    ]


def test_fast_path_does_not_hide_issues_in_large_specs() -> None:
    # above the size where the key scan runs on another thread
    items = [{"objectUrl": f"s3://bucket/{i:08d}/image.jpg", "title": f"image {i}"} for i in range(30_000)]
    items[12_345]["objectUrl"] = "s3://bucket/has space.jpg"
    items[20_000]["title"] = "t" * 400
    data = msgspec.json.encode({"images": items})
    assert len(data) > 1 << 20
    with pytest.raises(SpecInvalid) as caught:
        parse_json(data)
    assert [(i.location, i.code) for i in caught.value.issues] == [
        ("images[12345].objectUrl", "url.whitespace"),
        ("images[20000].title", "title.too_long"),
    ]
