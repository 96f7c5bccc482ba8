"""The CSV form of a spec (SPEC section 3)."""

from __future__ import annotations

import pytest

from accessio.errors import SpecInvalid
from accessio.spec import DicomSeries, Image, ImageGroup, Video, parse_csv, parse_json


def issues_of(text: str | bytes) -> list[tuple[str, str]]:
    with pytest.raises(SpecInvalid) as caught:
        parse_csv(text)
    return [(i.location, i.code) for i in caught.value.issues]


def test_headers_are_case_insensitive_and_trimmed() -> None:
    spec = parse_csv(" OBJECTURL ,  image TITLE \ns3://b/a.jpg,A\n")
    assert spec.images == [Image(object_url="s3://b/a.jpg", title="A")]
    assert parse_csv("ObjectURL,Video title\ns3://b/v.mp4,\n").videos == [Video(object_url="s3://b/v.mp4")]


def test_bom_and_quoting() -> None:
    text = (
        '\ufeffObjectUrl,Image title\n"s3://b/a,b.jpg","A ""quoted"", title"\n'
        '"s3://b/c.jpg","two\nlines"\ns3://b/d e.jpg,\n'
    )
    with pytest.raises(SpecInvalid) as caught:
        parse_csv(text.encode("utf-8"))
    # the multi-line cell spans lines 3 and 4, so the bad URL is on physical line 5
    assert [(i.location, i.code) for i in caught.value.issues] == [('line 5, column "ObjectUrl"', "url.whitespace")]
    spec = parse_csv(text.replace("d e.jpg", "d.jpg"))
    assert [i.title for i in spec.images] == ['A "quoted", title', "two\nlines", None]
    assert spec.images[0].object_url == "s3://b/a,b.jpg"


def test_sections_of_every_type() -> None:
    spec = parse_csv(
        "ObjectUrl,Audio title\ns3://b/a.mp3,Song\n"
        "ObjectUrl,PDF title\ns3://b/d.pdf,\n"
        "ObjectUrl,Text title\ns3://b/t.txt,Notes\n"
        "ObjectUrl,NIfTI title\ns3://b/n.nii.gz,\n"
        "ObjectUrl,Dicom title\ns3://b/1.dcm,S\ns3://b/2.dcm,S\n"
    )
    assert spec.counts() == {"dicomSeries": 1, "audio": 1, "plainText": 1, "pdf": 1, "nifti": 1}
    assert spec.dicom_series == [DicomSeries(urls=("s3://b/1.dcm", "s3://b/2.dcm"), title="S")]


def test_groups_gather_by_title_even_when_rows_are_apart() -> None:
    spec = parse_csv(
        "ObjectUrl,Image group title,Create video\n"
        "s3://b/1.jpg,A,false\ns3://b/2.jpg,B,\ns3://b/3.jpg,A,FALSE\ns3://b/4.jpg,B,True\n"
    )
    assert spec.image_groups == [
        ImageGroup(urls=("s3://b/1.jpg", "s3://b/3.jpg"), title="A", create_video=False),
        ImageGroup(urls=("s3://b/2.jpg", "s3://b/4.jpg"), title="B", create_video=True),
    ]


def test_image_group_without_create_video_column_is_a_sequence() -> None:
    spec = parse_csv("ObjectUrl,Image group title\ns3://b/1.jpg,A\n")
    assert spec.image_groups[0].create_video is True


def test_blank_dicom_title_makes_its_own_series() -> None:
    spec = parse_csv("ObjectUrl,Series title\ns3://b/x/1.dcm,\ns3://b/x/2.dcm,\n")
    assert [s.urls for s in spec.dicom_series] == [("s3://b/x/1.dcm",), ("s3://b/x/2.dcm",)]
    assert spec.dicom_series[0].title == "/x/1.dcm"


def test_create_video_rules() -> None:
    assert issues_of("ObjectUrl,Image title,Create video\ns3://b/a.jpg,A,true\n") == [
        ('line 2, column "Create video"', "field.create_video")
    ]
    assert issues_of("ObjectUrl,Image group title,Create video\ns3://b/a.jpg,A,yes\n") == [
        ('line 2, column "Create video"', "field.create_video")
    ]
    assert issues_of("ObjectUrl,Image group title,Create video\ns3://b/a.jpg,A,true\ns3://b/b.jpg,A,false\n") == [
        ('line 3, column "Create video"', "csv.group")
    ]
    assert parse_csv("ObjectUrl,Video title,Create video\ns3://b/a.mp4,V,false\n").videos[0].title == "V"


def test_image_group_title_is_mandatory() -> None:
    assert issues_of("ObjectUrl,Image group title,Create video\ns3://b/a.jpg,,true\n") == [
        ('line 2, column "Image group title"', "title.missing")
    ]


def test_header_problems() -> None:
    assert issues_of("ObjectUrl,Imag title\ns3://b/a.jpg,x\n") == [('line 1, column "Imag title"', "csv.header")]
    assert issues_of("s3://b/a.jpg,x\n") == [("line 1", "csv.header")]
    assert issues_of("ObjectUrl,Image title,Video title\ns3://b/a.jpg,x,y\n") == [
        ('line 1, column "Video title"', "csv.header")
    ]
    with pytest.raises(SpecInvalid) as caught:
        parse_csv("ObjectUrl,Imag title\ns3://b/a.jpg,x\n")
    assert 'did you mean "Image title"' in caught.value.issues[0].message


def test_row_problems() -> None:
    assert issues_of("ObjectUrl,Image title\ns3://b/a.jpg,x,extra\n") == [("line 2", "csv.row")]
    assert issues_of("ObjectUrl,Image title\n,x\n") == [('line 2, column "ObjectUrl"', "url.empty")]
    assert issues_of('ObjectUrl,Image title\n"s3://b/a.jpg"x,y\n') == [("line 2", "csv.row")]
    assert issues_of(b"ObjectUrl,Image title\ns3://b/\xff.jpg,x\n") == [("line 2, column 8", "spec.encoding")]


def test_blank_rows_and_trailing_header_cells_are_ignored() -> None:
    spec = parse_csv("ObjectUrl,Image title,,\n\ns3://b/a.jpg,A,,\n,,\n")
    assert spec.images == [Image(object_url="s3://b/a.jpg", title="A")]


def test_single_column_is_a_video_upload() -> None:
    assert parse_csv("ObjectUrl\ns3://b/a.mp4\ns3://b/unknown\n").counts() == {"video": 2}
    with pytest.raises(SpecInvalid) as caught:
        parse_csv("ObjectUrl\ns3://b/a.mp4\ns3://b/cat.jpg\ns3://b/song.mp3\n")
    assert [(i.location, i.message) for i in caught.value.issues] == [
        ('line 3, column "ObjectUrl"', "Expected a video, got a file of type image/jpeg"),
        ('line 4, column "ObjectUrl"', "Expected a video, got a file of type audio/mpeg"),
    ]


def test_every_error_at_once_with_lines() -> None:
    found = issues_of(
        "ObjectUrl,Video title\ns3://b/a b.mp4,\ns3://b/ok.mp4,"
        + "t" * 301
        + "\nObjectUrl,Image group title,Create video\ns3://b/1.jpg,,\n"
    )
    assert found == [
        ('line 2, column "ObjectUrl"', "url.whitespace"),
        ('line 3, column "Video title"', "title.too_long"),
        ('line 5, column "Image group title"', "title.missing"),
    ]


def test_csv_and_json_forms_give_equal_specs() -> None:
    csv_spec = parse_csv(
        "ObjectUrl,Video title\ns3://b/v.mp4,Drive\ns3://b/w.mp4,\n"
        "ObjectUrl,Image group title,Create video\ns3://b/1.jpg,G,false\ns3://b/2.jpg,G,false\n"
        "ObjectUrl,Series title\ns3://b/1.dcm,S\n"
    )
    json_spec = parse_json(
        '{"videos": [{"objectUrl": "s3://b/v.mp4", "title": "Drive"}, {"objectUrl": "s3://b/w.mp4"}],'
        ' "image_groups": [{"title": "G", "objectUrl_0": "s3://b/1.jpg", "objectUrl_1": "s3://b/2.jpg"}],'
        ' "dicom_series": [{"title": "S", "objectUrl_0": "s3://b/1.dcm"}]}'
    )
    assert csv_spec == json_spec
