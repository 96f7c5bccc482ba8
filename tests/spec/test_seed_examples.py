"""Every example of the product documentation the format comes from, as a fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from accessio.spec import (
    AudioMetadata,
    ImageMetadata,
    PdfMetadata,
    TextMetadata,
    VideoMetadata,
    load_spec,
    parse_json,
    write_json,
)

SEED = Path(__file__).parent / "fixtures" / "seed"
BUCKET = "https://encord-solutions-bucket.s3.eu-west-2.amazonaws.com/path/to/my/bucket"


@pytest.mark.parametrize(
    ("name", "counts", "urls"),
    [
        ("videos.json", {"video": 2}, 2),
        ("audio.json", {"audio": 2}, 2),
        ("pdfs.json", {"pdf": 2}, 2),
        ("text.json", {"plainText": 2}, 2),
        ("images.json", {"image": 2}, 2),
        ("image_groups.json", {"imageGroup": 2}, 4),
        ("image_sequences.json", {"imageSequence": 2}, 4),
        ("dicom.json", {"dicomSeries": 3}, 6),
        ("mixed.json", {"video": 1, "image": 1, "imageGroup": 1, "dicomSeries": 1, "audio": 1}, 6),
        ("update_metadata.json", {"video": 1, "image": 1}, 2),
        ("embeddings_images.json", {"image": 1}, 1),
        ("embeddings_videos.json", {"video": 1}, 1),
        ("videos.csv", {"video": 4}, 4),
        ("images.csv", {"image": 4}, 4),
        ("image_groups.csv", {"imageGroup": 2}, 4),
        ("image_sequences.csv", {"imageSequence": 2}, 4),
        ("dicom.csv", {"dicomSeries": 3}, 5),
        ("mixed.csv", {"image": 2, "imageGroup": 1, "imageSequence": 2}, 8),
        ("legacy_videos.csv", {"video": 2}, 2),
    ],
)
def test_seed_example_parses(name: str, counts: dict[str, int], urls: int) -> None:
    spec = load_spec(SEED / name)
    assert spec.counts() == counts
    assert spec.url_count() == urls
    # and it survives the canonical writer
    assert parse_json(write_json(spec)) == spec


def test_default_titles_are_the_decoded_url_path() -> None:
    titles = {
        "videos.json": "/path/to/my/bucket/video23.mp4",
        "audio.json": "/path/to/my/bucket/song23.mp3",
        "pdfs.json": "/path/to/my/bucket/my-document.pdf",
        "text.json": "/path/to/my/bucket/my-file.html",
        "images.json": "/path/to/my/bucket/image23.jpg",
    }
    for name, title in titles.items():
        units = [unit for _, _, unit in load_spec(SEED / name).units()]
        assert units[0].title is None
        assert units[0].display_title == title


def test_media_metadata_is_read_in_the_documented_spellings() -> None:
    video = load_spec(SEED / "videos.json").videos[1]
    assert video.video_metadata == VideoMetadata(23.98, 29.09, 1280, 720, 5468354, "video/mp4")
    assert video.client_metadata == {
        "site_location": "Algiers",
        "project_phase": "foundation",
        "weather_conditions": "sunny",
    }
    audio = load_spec(SEED / "audio.json").audio[1]
    assert audio.audio_metadata == AudioMetadata(183.4, 2934123, "audio/mpeg", 44100, 16, "mp3", 2)
    image = load_spec(SEED / "images.json").images[1]
    assert image.image_metadata == ImageMetadata("image/jpeg", 340120, 1920, 1080)
    assert load_spec(SEED / "pdfs.json").pdf[1].pdf_metadata == PdfMetadata(120300, 12)
    assert load_spec(SEED / "text.json").text[1].text_metadata == TextMetadata(4096, "application/xml")


def test_csv_groups_gather_rows_by_title_in_row_order() -> None:
    spec = load_spec(SEED / "dicom.csv")
    assert [s.title for s in spec.dicom_series] == ["dicom series 1", "dicom series 2", "dicom series 3"]
    assert [len(s.urls) for s in spec.dicom_series] == [2, 2, 1]
    assert spec.dicom_series[0].urls == (
        "path/to/storage-location/frame1.dcm",
        "path/to/storage-location/frame2.dcm",
    )


def test_csv_blank_title_keeps_the_file_name() -> None:
    spec = load_spec(SEED / "videos.csv")
    assert [v.title for v in spec.videos] == ["Video 1", "Video 2", None, "Video 3"]
    assert spec.videos[2].display_title == "path/to/storage-location/frame3.mp4"


def test_csv_and_json_of_the_same_data_are_equal() -> None:
    assert load_spec(SEED / "image_sequences.csv") == parse_json(
        b'{"image_groups": ['
        b'{"title": "Sequence 1", "createVideo": true, "objectUrl_0": "path/to/storage-location/frame1.jpg",'
        b' "objectUrl_1": "path/to/storage-location/frame2.jpg"},'
        b'{"title": "Sequence 2", "createVideo": true, "objectUrl_0": "path/to/storage-location/frame3.jpg",'
        b' "objectUrl_1": "path/to/storage-location/frame4.jpg"}]}'
    )


def test_update_spec_carries_both_flags() -> None:
    spec = load_spec(SEED / "update_metadata.json")
    assert spec.skip_duplicate_urls
    assert spec.upsert_metadata


def test_video_embeddings_travel_as_client_metadata() -> None:
    video = load_spec(SEED / "embeddings_videos.json").videos[0]
    assert video.client_metadata is not None
    frames = video.client_metadata["$encord"]["frames"]
    assert frames["25"]["$encord"] == {"keyframe": False}
    assert frames["50"]["my_embedding"] == [0.7, 0.8, 0.9]
    assert video.urls == (f"{BUCKET}/video23.mp4",)
