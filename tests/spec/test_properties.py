"""Properties of spec parsing (SPEC sections 2 and 3), checked on generated specs.

Round trips (CSV and both JSON forms), agreement of the fast and thorough JSON paths,
agreement of the C and Python JSON scanners, and "nothing but SpecInvalid".
"""

from __future__ import annotations

import copy
import csv
import io
import json
import string
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accessio.errors import SpecInvalid
from accessio.spec import (
    Audio,
    AudioMetadata,
    DicomAttribute,
    DicomMetadata,
    DicomSeries,
    Image,
    ImageGroup,
    ImageMetadata,
    Nifti,
    Pdf,
    PdfMetadata,
    PlainText,
    TextMetadata,
    UploadSpec,
    Video,
    VideoMetadata,
    parse_csv,
    parse_json,
    parse_object,
    write_json,
)
from accessio.spec.convert import REQUIRED_DICOM_TAGS
from accessio.spec.jsonscan import _scan_python, scan

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

_URL_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII, no space

url_segments = st.one_of(
    st.text(alphabet=_URL_ASCII, min_size=1, max_size=24),
    st.text(min_size=1, max_size=8).map(lambda t: quote(t, safe="")),  # percent-encoded unicode
)
urls = st.lists(url_segments, min_size=1, max_size=4).map(lambda parts: "s3://bucket/" + "/".join(parts))

# any character but surrogates; titles have no leading or trailing whitespace
_title_chars = st.characters(exclude_categories=["Cs"])
titles = st.one_of(
    st.text(alphabet=_title_chars, min_size=1, max_size=20),
    st.text(alphabet=string.ascii_letters + " ,\"'\n", min_size=1, max_size=60),
    st.integers(280, 300).flatmap(lambda n: st.text(alphabet=_title_chars, min_size=n, max_size=n)),
).map(lambda t: t.strip() or "x")
optional_titles = st.none() | titles

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
client_metadata = st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4)

positive = st.floats(min_value=0, exclude_min=True, allow_infinity=False, allow_nan=False)
dimension = st.integers(1, 2**31 - 1)
file_size = st.integers(0, 2**63 - 1)
mime = st.text(min_size=1, max_size=255)

video_meta = st.builds(VideoMetadata, positive, positive, dimension, dimension, file_size, mime)
image_meta = st.builds(ImageMetadata, mime, file_size, dimension, dimension)
audio_meta = st.builds(
    AudioMetadata, positive, file_size, mime, dimension, dimension, st.text(min_size=1, max_size=64), dimension
)
pdf_meta = st.builds(PdfMetadata, file_size, dimension)
text_meta = st.builds(TextMetadata, file_size, mime)
dicom_attribute = st.none() | st.builds(
    DicomAttribute,
    vr=st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2),
    value=st.none() | st.lists(json_values, max_size=3),
)
dicom_meta = st.builds(
    DicomMetadata,
    tags=st.fixed_dictionaries(dict.fromkeys(REQUIRED_DICOM_TAGS, dicom_attribute)),
)

_SINGLE_TYPES: dict[str, tuple[type[Any], str | None, st.SearchStrategy[Any]]] = {
    "videos": (Video, "video_metadata", video_meta),
    "images": (Image, "image_metadata", image_meta),
    "audio": (Audio, "audio_metadata", audio_meta),
    "text": (PlainText, "text_metadata", text_meta),
    "pdf": (Pdf, "pdf_metadata", pdf_meta),
    "nifti": (Nifti, None, st.none()),
}


def _optional_tuple(values: list[Any]) -> tuple[Any, ...] | None:
    return tuple(values) if any(v is not None for v in values) else None


@st.composite
def _single(draw: st.DrawFn, kind: str, with_metadata: bool) -> Any:
    cls, meta_field, meta_strategy = _SINGLE_TYPES[kind]
    fields: dict[str, Any] = {"object_url": draw(urls), "title": draw(optional_titles)}
    if with_metadata:
        fields["client_metadata"] = draw(client_metadata)
        if meta_field is not None:
            fields[meta_field] = draw(st.none() | meta_strategy)
    return cls(**fields)


@st.composite
def _group(draw: st.DrawFn, with_metadata: bool, *, titled: bool) -> ImageGroup:
    members = draw(st.lists(urls, min_size=1, max_size=5))
    fields: dict[str, Any] = {
        "urls": tuple(members),
        "title": draw(titles if titled else optional_titles),
        "create_video": draw(st.booleans()),
    }
    if with_metadata:
        fields["client_metadata"] = draw(client_metadata)
        fields["member_metadata"] = _optional_tuple([draw(st.none() | image_meta) for _ in members])
        fields["member_titles"] = _optional_tuple([draw(optional_titles) for _ in members])
    return ImageGroup(**fields)


@st.composite
def _series(draw: st.DrawFn, with_metadata: bool) -> DicomSeries:
    members = draw(st.lists(urls, min_size=1, max_size=5))
    fields: dict[str, Any] = {"urls": tuple(members), "title": draw(titles)}
    if with_metadata:
        fields["client_metadata"] = draw(client_metadata)
        fields["member_metadata"] = _optional_tuple([draw(st.none() | dicom_meta) for _ in members])
        fields["member_titles"] = _optional_tuple([draw(optional_titles) for _ in members])
    return DicomSeries(**fields)


@st.composite
def upload_specs(draw: st.DrawFn, *, with_metadata: bool = False, flags: bool = False) -> UploadSpec:
    """A valid spec. Without metadata it is also expressible as CSV: group and series
    titles are given and unique per kind, no flags."""
    spec = UploadSpec()
    for kind in _SINGLE_TYPES:
        spec.units_of(kind).extend(draw(st.lists(_single(kind, with_metadata), max_size=3)))  # type: ignore[arg-type]
    spec.image_groups.extend(
        draw(st.lists(_group(with_metadata, titled=not with_metadata), max_size=3, unique_by=lambda g: g.title))
    )
    spec.dicom_series.extend(draw(st.lists(_series(with_metadata), max_size=3, unique_by=lambda s: s.title)))
    if spec.unit_count() == 0:
        spec.images.append(draw(_single("images", with_metadata)))
    if flags:
        spec.skip_duplicate_urls = draw(st.booleans())
        spec.upsert_metadata = spec.skip_duplicate_urls and draw(st.booleans())
    return spec


def without_member_titles(spec: UploadSpec) -> UploadSpec:
    """The spec as the upload file form can hold it: group members carry no titles."""
    out = copy.copy(spec)
    out.image_groups = [msgspec.structs.replace(g, member_titles=None) for g in spec.image_groups]
    out.dicom_series = [msgspec.structs.replace(s, member_titles=None) for s in spec.dicom_series]
    return out


# --------------------------------------------------------------------------- CSV writer

CSV_HEADERS = {
    "videos": "Video title",
    "images": "Image title",
    "image_groups": "Image group title",
    "dicom_series": "Series title",
    "audio": "Audio title",
    "pdf": "PDF title",
    "text": "Text title",
    "nifti": "NIfTI title",
}


def to_csv(spec: UploadSpec, blank_means_sequence: bool = False) -> str:
    """One section per kind, header names as SPEC section 3 writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for kind, header in CSV_HEADERS.items():
        units = spec.units_of(kind)  # type: ignore[arg-type]
        if not units:
            continue
        if kind == "image_groups":
            writer.writerow(["ObjectUrl", header, "Create video"])
            for group in units:
                create = "" if (group.create_video and blank_means_sequence) else str(group.create_video).lower()
                for url in group.urls:
                    writer.writerow([url, group.title, create])
        elif kind == "dicom_series":
            writer.writerow(["ObjectUrl", header])
            for series in units:
                for url in series.urls:
                    writer.writerow([url, series.title])
        else:
            writer.writerow(["ObjectUrl", header])
            for unit in units:
                writer.writerow([unit.object_url, unit.title or ""])
        out.write("\r\n")  # a blank line between sections is allowed
    return out.getvalue()


# --------------------------------------------------------------------------- round trips


@FAST
@given(spec=upload_specs(), blank=st.booleans())
def test_csv_and_json_round_trips(spec: UploadSpec, blank: bool) -> None:
    text = to_csv(spec, blank_means_sequence=blank)
    from_csv = parse_csv(text)
    assert from_csv == spec
    assert parse_csv(text.encode("utf-8")) == spec
    assert from_csv.source.form == "csv"
    for form in ("json", "structured"):
        again = parse_json(write_json(from_csv, form=form))
        assert again == spec
        assert again.counts() == spec.counts()
        assert again.url_count() == spec.url_count()


@FAST
@given(spec=upload_specs(with_metadata=True, flags=True))
def test_json_round_trip_with_metadata(spec: UploadSpec) -> None:
    # the structured form keeps everything; the upload file form loses member titles
    assert parse_json(write_json(spec, form="structured")) == spec
    assert parse_json(write_json(spec, form="structured", indent=0)) == spec
    assert parse_json(write_json(spec, form="json")) == without_member_titles(spec)
    assert parse_json(write_json(spec, form="json").decode("utf-8")) == without_member_titles(spec)


# --------------------------------------------------------------------------- fast vs thorough


@FAST
@given(spec=upload_specs(with_metadata=True, flags=True), form=st.sampled_from(["json", "structured"]))
def test_fast_and_thorough_paths_agree_on_valid_specs(spec: UploadSpec, form: str) -> None:
    data = write_json(spec, form=form)  # type: ignore[arg-type]
    fast = parse_json(data)
    thorough = parse_object(msgspec.json.decode(data))
    assert fast == thorough
    assert fast.source.form == thorough.source.form  # a spec of single-file units is both forms
    assert fast.source.keys == thorough.source.keys


_Mutation = Callable[[dict[str, Any], list[tuple[str, dict[str, Any]]], st.DrawFn], None]


def _items(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (key, item) for key, value in doc.items() if isinstance(value, list) for item in value if isinstance(item, dict)
    ]


def _url_keys(key: str, item: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(object, key) of every URL of an item that is still a string (an earlier
    mutation may have replaced a URL or a member list with something else)."""
    if key in ("imageGroups", "dicomSeries"):
        members = item.get("images", item.get("dicomFiles", []))
        if not isinstance(members, list):
            return []
        return [(m, "url") for m in members if isinstance(m, dict) and isinstance(m.get("url"), str)]
    return [
        (item, k) for k, v in item.items() if (k == "objectUrl" or k.startswith("objectUrl_")) and isinstance(v, str)
    ]


def _drop_required(doc: dict[str, Any], items: list[tuple[str, dict[str, Any]]], draw: st.DrawFn) -> None:
    key, item = draw(st.sampled_from(items))
    if key == "imageGroups":
        item.pop("images", None)
    elif key == "dicomSeries":
        draw(st.sampled_from([lambda: item.pop("dicomFiles", None), lambda: item.pop("title", None)]))()
    elif key == "dicom_series":
        draw(st.sampled_from([lambda: item.pop("objectUrl_0", None), lambda: item.pop("title", None)]))()
    elif key == "image_groups":
        item.pop("objectUrl_0", None)
    else:
        item.pop("objectUrl", None)
    if key in ("image_groups", "dicom_series") and "objectUrl_0" not in item and "objectUrl_1" not in item:
        item.pop("imageMetadata_0", None)  # otherwise a group of metadata only; still invalid either way


def _wrong_type(doc: dict[str, Any], items: list[tuple[str, dict[str, Any]]], draw: st.DrawFn) -> None:
    key, item = draw(st.sampled_from(items))
    choice = draw(st.sampled_from(["url", "title", "client", "create", "meta", "list", "flag"]))
    bad = draw(st.sampled_from([5, 1.5, True, [1], {"a": 1}, "x"]))
    if choice == "url" and _url_keys(key, item):
        obj, name = draw(st.sampled_from(_url_keys(key, item)))
        obj[name] = bad if not isinstance(bad, str) else 7
    elif choice == "title":
        item["title"] = bad if not isinstance(bad, str) else 7
    elif choice == "client":
        item["clientMetadata"] = draw(st.sampled_from([5, "x", [1], True]))
    elif choice == "create":
        item["createVideo"] = draw(st.sampled_from(["yes", 1, [True], {}]))
    elif choice == "meta" and key in ("images", "videos"):
        item["imageMetadata" if key == "images" else "videoMetadata"] = {"width": "wide"}
    elif choice == "list":
        doc[key] = draw(st.sampled_from(["x", 5, {"a": 1}, True]))
    elif choice == "flag":
        doc["skip_duplicate_urls" if key not in ("imageGroups", "dicomSeries") else "skipDuplicateUrls"] = "yes"
    else:
        item["title"] = 7


def _unknown_key(doc: dict[str, Any], items: list[tuple[str, dict[str, Any]]], draw: st.DrawFn) -> None:
    name = draw(st.sampled_from(["objectURL", "titel", "bogus", "createvideo", "image_metadata", "x_0"]))
    if draw(st.booleans()):
        doc[name if name != "image_metadata" else "imagegroups"] = []
    else:
        _, item = draw(st.sampled_from(items))
        item[name] = 1


def _bad_url(value: Callable[[str], str]) -> _Mutation:
    def mutate(doc: dict[str, Any], items: list[tuple[str, dict[str, Any]]], draw: st.DrawFn) -> None:
        key, item = draw(st.sampled_from(items))
        found = _url_keys(key, item)
        if not found:
            item["title"] = 7
            return
        obj, name = draw(st.sampled_from(found))
        obj[name] = value(obj[name])

    return mutate


def _long_title(doc: dict[str, Any], items: list[tuple[str, dict[str, Any]]], draw: st.DrawFn) -> None:
    _, item = draw(st.sampled_from(items))
    item["title"] = draw(st.sampled_from(["x" * 301, "é" * 301, " " * 2, ""]))


def _create_video(doc: dict[str, Any], items: list[tuple[str, dict[str, Any]]], draw: st.DrawFn) -> None:
    singles = [(k, i) for k, i in items if k in ("videos", "images")]
    if not singles:
        doc["videos"] = [{"objectUrl": "s3://bucket/v.mp4", "createVideo": True}]
        return
    _, item = draw(st.sampled_from(singles))
    item["createVideo"] = True


MUTATIONS: list[_Mutation] = [
    _drop_required,
    _wrong_type,
    _unknown_key,
    _bad_url(lambda url: ""),
    _bad_url(lambda url: url[:8] + " " + url[8:]),
    _bad_url(lambda url: url + "\t"),
    _bad_url(lambda url: url + "\u2003x"),
    _bad_url(lambda url: url + "\x07"),
    _long_title,
    _create_video,
]


def _codes(exc: SpecInvalid) -> Counter[tuple[str, str]]:
    return Counter((issue.location, str(issue.code)) for issue in exc.issues)


def _outcome(call: Callable[[], UploadSpec]) -> UploadSpec | Counter[tuple[str, str]]:
    try:
        return call()
    except SpecInvalid as exc:
        caught = exc
    assert caught.issues, "SpecInvalid without issues"
    return _codes(caught)


@FAST
@given(
    spec=upload_specs(with_metadata=True, flags=True),
    form=st.sampled_from(["json", "structured"]),
    data=st.data(),
)
def test_fast_and_thorough_paths_agree_on_invalid_specs(spec: UploadSpec, form: str, data: st.DataObject) -> None:
    doc = msgspec.json.decode(write_json(spec, form=form))  # type: ignore[arg-type]
    for mutation in data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        items = _items(doc)
        if not items:
            break
        mutation(doc, items, data.draw)
    encoded = msgspec.json.encode(doc)
    fast = _outcome(lambda: parse_json(encoded))
    thorough = _outcome(lambda: parse_object(msgspec.json.decode(encoded)))
    assert isinstance(fast, Counter), f"the mutated spec was accepted: {encoded[:300]!r}"
    assert fast == thorough


# --------------------------------------------------------------------------- scanner agreement

_KEYS = ["a", "b", "é", "objectUrl", "title", "a.b", "k\n", "😀", ""]


def _escape_key(key: str, style: int) -> str:
    if style == 0:
        return json.dumps(key, ensure_ascii=False)
    if style == 1:
        return json.dumps(key, ensure_ascii=True)
    # every character as a \\u escape (surrogate pairs above the BMP)
    raw = key.encode("utf-16-be")
    units = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return '"' + "".join(f"\\u{u:04x}" if style == 2 else f"\\u{u:04X}" for u in units) + '"'


json_docs = st.deferred(
    lambda: st.one_of(
        st.sampled_from(["null", "true", "false", "0", "-1.5e3", '"s"', '"\\"x\\\\"', '"[{"', '"}"']),
        st.lists(json_docs, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(
            st.tuples(st.sampled_from(_KEYS), st.integers(0, 3), json_docs, st.sampled_from(["", " ", "\n\t"])),
            max_size=5,
        ).map(lambda pairs: "{" + ",".join(f"{ws}{_escape_key(k, s)}{ws}:{ws}{v}" for k, s, v, ws in pairs) + "}"),
    )
)


@settings(max_examples=200, deadline=None)
@given(text=json_docs)
def test_c_and_python_scanners_agree(text: str) -> None:
    data = text.encode("utf-8")
    json.loads(data)  # the generator writes valid JSON
    fast, slow = scan(data), _scan_python(data, 64)
    assert fast.complete == slow.complete
    assert fast.max_depth == slow.max_depth
    assert fast.too_deep_at == slow.too_deep_at
    assert {path for _, path in fast.duplicates} == {path for _, path in slow.duplicates}


def test_scanners_find_duplicates_spelt_with_escapes() -> None:
    data = b'{"images": [{"objectUrl": "s3://b/a", "\\u006fbjectUrl": "s3://b/b"}], "a": {"\\u00e9": 1, "\xc3\xa9": 2}}'
    expected = {"$.images[0].objectUrl", "$.a.é"}
    assert {path for _, path in scan(data).duplicates} == expected
    assert {path for _, path in _scan_python(data, 64).duplicates} == expected


def test_scanners_agree_on_duplicates_inside_a_replaced_value() -> None:
    # the first "a" is replaced by the second when decoded, but its own repeated key is
    # still a repeated key in the text: both scanners must report it
    data = b'{"a": {"b": 1, "b": 2}, "a": 3}'
    assert {path for _, path in scan(data).duplicates} == {"$.a", "$.a.b"}
    assert {path for _, path in _scan_python(data, 64).duplicates} == {"$.a", "$.a.b"}


# --------------------------------------------------------------------------- nothing but SpecInvalid


def _only_spec_invalid(call: Callable[[], UploadSpec]) -> None:
    try:
        result: UploadSpec | SpecInvalid = call()
    except SpecInvalid as exc:
        result = exc
    if isinstance(result, SpecInvalid):
        assert result.issues
        assert all(isinstance(i.location, str) and i.code and i.message for i in result.issues)
    else:
        assert isinstance(result, UploadSpec)
        assert result.unit_count() >= 1


_JSON_TOKENS = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"images"',
    '"videos"',
    '"image_groups"',
    '"imageGroups"',
    '"dicom_series"',
    '"objectUrl"',
    '"objectUrl_0"',
    '"objectUrl_1"',
    '"url"',
    '"title"',
    '"createVideo"',
    '"clientMetadata"',
    '"imageMetadata"',
    '"width"',
    '"s3://b/a.jpg"',
    '""',
    '" "',
    "1",
    "-0",
    "1e999",
    "99999999999999999999999",
    "null",
    "true",
    "NaN",
    "Infinity",
    '"\\u0000"',
    '"\\ud800"',
    "\xff",
    "//",
]
json_soup = st.lists(st.sampled_from(_JSON_TOKENS), max_size=40).map("".join)


@QUICK
@given(data=st.binary(max_size=200))
def test_parse_json_on_any_bytes(data: bytes) -> None:
    _only_spec_invalid(lambda: parse_json(data))


@QUICK
@given(text=st.text(alphabet=st.characters(exclude_categories=()), max_size=200))
def test_parse_json_on_any_text(text: str) -> None:
    _only_spec_invalid(lambda: parse_json(text))


@settings(max_examples=200, deadline=None)
@given(text=json_soup)
def test_parse_json_on_json_like_soup(text: str) -> None:
    _only_spec_invalid(lambda: parse_json(text.encode("utf-8", errors="surrogateescape")))


_CSV_TOKENS = [
    "ObjectUrl",
    "objecturl ",
    "Image group title",
    "Series title",
    "Video title",
    "Create video",
    "Image Title",
    "s3://b/a.jpg",
    "s3://b/v.mp4",
    "g",
    "true",
    "false",
    "TRUE",
    "maybe",
    ",",
    ",",
    "\n",
    "\r\n",
    '"',
    '""',
    " ",
    "\ufeff",
    "\x00",
]
csv_soup = st.lists(st.sampled_from(_CSV_TOKENS), max_size=40).map("".join)


@QUICK
@given(text=st.text(alphabet=st.characters(exclude_categories=()), max_size=200) | csv_soup)
def test_parse_csv_on_any_text(text: str) -> None:
    _only_spec_invalid(lambda: parse_csv(text))


@QUICK
@given(data=st.binary(max_size=200) | csv_soup.map(lambda t: t.encode("utf-8")))
def test_parse_csv_on_any_bytes(data: bytes) -> None:
    _only_spec_invalid(lambda: parse_csv(data))


_ITEM_KEYS = [
    "objectUrl",
    "objectUrl_0",
    "objectUrl_1",
    "objectUrl_01",
    "title",
    "clientMetadata",
    "createVideo",
    "imageMetadata",
    "imageMetadata_0",
    "videoMetadata",
    "audioMetadata",
    "pdfMetadata",
    "textMetadata",
    "dicomMetadata_0",
    "images",
    "dicomFiles",
    "url",
    "externalFileType",
    "placeholderItemUuid",
    "width",
    "tags",
]
_TOP_KEYS = [
    "videos",
    "images",
    "audio",
    "text",
    "pdf",
    "pdfs",
    "nifti",
    "image_groups",
    "imageGroups",
    "dicom_series",
    "dicomSeries",
    "imageGroupsFromItems",
    "skip_duplicate_urls",
    "upsert_metadata",
    "skipDuplicateUrls",
    "upsertMetadata",
    "bogus",
]
_leaf = (
    json_scalars
    | st.integers()
    | st.floats()
    | st.sampled_from(["s3://b/a.jpg", "", " ", "IMAGE", "VIDEO", "IMG_GROUP", "DICOM", "0020000E"])
)
spec_like_values = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_ITEM_KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
spec_like = st.dictionaries(
    st.sampled_from(_TOP_KEYS),
    st.lists(st.dictionaries(st.sampled_from(_ITEM_KEYS), spec_like_values, max_size=4) | spec_like_values, max_size=3)
    | spec_like_values,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(obj=spec_like | spec_like_values)
def test_parse_object_on_any_json_like_value(obj: Any) -> None:
    _only_spec_invalid(lambda: parse_object(copy.deepcopy(obj)))
