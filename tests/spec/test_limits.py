"""The limits of one spec file (SPEC section 4), at and just past each boundary,
and the JSON text rules that must give located errors, never crashes (SPEC section 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from accessio.errors import SpecInvalid
from accessio.spec import DEFAULT_LIMITS, Limits, UploadSpec, parse_csv, parse_json, parse_object
from accessio.spec.issues import line_column

MAX_URL = 16_384
MAX_META = 10 * 1024 * 1024
PREFIX = "s3://bucket/"


def codes(call: Callable[[], UploadSpec]) -> list[tuple[str, str]]:
    with pytest.raises(SpecInvalid) as caught:
        call()
    return [(issue.location, str(issue.code)) for issue in caught.value.issues]


def json_ways(doc: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> list[Callable[[], UploadSpec]]:
    """The ways a JSON spec arrives: bytes (fast path), pretty text, and decoded (thorough path)."""
    compact = msgspec.json.encode(doc)
    return [
        lambda: parse_json(compact, limits=limits),
        lambda: parse_json(json.dumps(doc, indent=2, ensure_ascii=False), limits=limits),
        lambda: parse_json(json.dumps(doc, ensure_ascii=True).encode(), limits=limits),
        lambda: parse_object(json.loads(compact), limits=limits),
    ]


def accepted(doc: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> UploadSpec:
    specs = [way() for way in json_ways(doc, limits)]
    assert all(spec == specs[0] for spec in specs)
    return specs[0]


def rejected(doc: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, str]]:
    found = [codes(way) for way in json_ways(doc, limits)]
    assert all(sorted(f) == sorted(found[0]) for f in found), found
    return found[0]


# --------------------------------------------------------------------------- URL bytes


def url_of_bytes(size: int, filler: str = "a") -> str:
    """A URL of exactly ``size`` UTF-8 bytes, ``filler`` repeated (then ASCII to fit)."""
    width = len(filler.encode())
    count = (size - len(PREFIX)) // width
    url = PREFIX + filler * count
    url += "a" * (size - len(url.encode()))
    assert len(url.encode()) == size
    return url


@pytest.mark.parametrize("filler", ["a", "é", "€", "😀"])
def test_url_of_exactly_the_limit_in_bytes_is_fine(filler: str) -> None:
    url = url_of_bytes(MAX_URL, filler)
    assert accepted({"images": [{"objectUrl": url}]}).images[0].object_url == url


@pytest.mark.parametrize("filler", ["a", "é", "€", "😀"])
def test_url_one_byte_past_the_limit_is_too_long(filler: str) -> None:
    url = url_of_bytes(MAX_URL + 1, filler)
    assert rejected({"images": [{"objectUrl": url}]}) == [("images[0].objectUrl", "url.too_long")]


def test_url_limit_counts_bytes_not_characters() -> None:
    url = PREFIX + "é" * 8_190  # 8,202 characters, 16,392 bytes
    assert len(url) < MAX_URL < len(url.encode())
    assert rejected({"images": [{"objectUrl": url}]}) == [("images[0].objectUrl", "url.too_long")]


def test_url_limit_in_groups_points_at_the_member() -> None:
    good, bad = url_of_bytes(MAX_URL), url_of_bytes(MAX_URL + 1)
    assert rejected({"image_groups": [{"objectUrl_0": good, "objectUrl_1": bad}]}) == [
        ("image_groups[0].objectUrl_1", "url.too_long")
    ]
    assert rejected({"imageGroups": [{"images": [{"url": good}, {"url": bad}]}]}) == [
        ("imageGroups[0].images[1].url", "url.too_long")
    ]


def test_url_limit_in_csv() -> None:
    good, bad = url_of_bytes(MAX_URL, "é"), url_of_bytes(MAX_URL + 1, "é")
    assert parse_csv(f"ObjectUrl,Image title\n{good},\n").images[0].object_url == good
    assert codes(lambda: parse_csv(f"ObjectUrl,Image title\n{good},\n{bad},t\n".encode())) == [
        ('line 3, column "ObjectUrl"', "url.too_long")
    ]


def test_custom_url_limit() -> None:
    limits = Limits(max_url_bytes=20)
    assert accepted({"videos": [{"objectUrl": url_of_bytes(20)}]}, limits)
    assert rejected({"videos": [{"objectUrl": url_of_bytes(21)}]}, limits) == [("videos[0].objectUrl", "url.too_long")]


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize("char", ["t", "é", "😀"])
def test_title_of_300_characters_is_fine(char: str) -> None:
    title = char * 300
    assert accepted({"images": [{"objectUrl": PREFIX + "a.jpg", "title": title}]}).images[0].title == title
    assert parse_csv(f"ObjectUrl,Image title\n{PREFIX}a.jpg,{title}\n").images[0].title == title


@pytest.mark.parametrize("char", ["t", "é", "😀"])
def test_title_of_301_characters_is_too_long(char: str) -> None:
    title = char * 301
    assert rejected({"images": [{"objectUrl": PREFIX + "a.jpg", "title": title}]}) == [
        ("images[0].title", "title.too_long")
    ]
    assert rejected({"dicom_series": [{"objectUrl_0": PREFIX + "a.dcm", "title": title}]}) == [
        ("dicom_series[0].title", "title.too_long")
    ]
    assert codes(lambda: parse_csv(f"ObjectUrl,Image group title\n{PREFIX}a.jpg,{title}\n")) == [
        ('line 2, column "Image group title"', "title.too_long")
    ]


# --------------------------------------------------------------------------- client metadata size


def metadata_of_size(size: int) -> dict[str, Any]:
    meta = {"k": "x" * (size - len(b'{"k":""}'))}
    assert len(msgspec.json.encode(meta)) == size
    return meta


def test_client_metadata_of_exactly_10_mib_is_fine() -> None:
    meta = metadata_of_size(MAX_META)
    spec = accepted({"images": [{"objectUrl": PREFIX + "a.jpg", "clientMetadata": meta}]})
    assert spec.images[0].client_metadata == meta


def test_client_metadata_one_byte_past_10_mib_is_too_large() -> None:
    meta = metadata_of_size(MAX_META + 1)
    assert rejected({"images": [{"objectUrl": PREFIX + "a.jpg", "clientMetadata": meta}]}) == [
        ("images[0].clientMetadata", "metadata.too_large")
    ]
    assert rejected({"image_groups": [{"objectUrl_0": PREFIX + "a.jpg", "clientMetadata": meta}]}) == [
        ("image_groups[0].clientMetadata", "metadata.too_large")
    ]


def test_client_metadata_is_measured_compact_not_as_written() -> None:
    # 10 MiB compact, but much larger as written: the limit is on the compact form
    meta = {f"k{i:07d}": i for i in range(400_000)}
    size = len(msgspec.json.encode(meta))
    meta["pad"] = "x" * (MAX_META - size - len(b',"pad":""'))
    assert len(msgspec.json.encode(meta)) == MAX_META
    doc = {"images": [{"objectUrl": PREFIX + "a.jpg", "clientMetadata": meta}]}
    pretty = json.dumps(doc, indent=4).encode()
    assert len(pretty) > MAX_META + 1_000_000
    assert parse_json(pretty).images[0].client_metadata == meta
    meta["pad"] += "x"
    assert codes(lambda: parse_json(json.dumps(doc, indent=4).encode())) == [
        ("images[0].clientMetadata", "metadata.too_large")
    ]


# --------------------------------------------------------------------------- depth


def nested_spec(depth: int) -> bytes:
    """A valid spec whose deepest container sits at ``depth`` (the top object is 1)."""
    inner = "1"
    for _ in range(depth - 4):  # the top object, "images", the item, then clientMetadata
        inner = '{"a":' + inner + "}"
    return ('{"images":[{"objectUrl":"s3://bucket/a.jpg","clientMetadata":{"a":' + inner + "}}]}").encode()


def test_nesting_of_64_levels_is_fine() -> None:
    data = nested_spec(64)
    assert data.count(b"{") + data.count(b"[") == 64
    spec = parse_json(data)
    meta: Any = spec.images[0].client_metadata
    levels = 0
    while isinstance(meta, dict):
        meta, levels = meta["a"], levels + 1
    assert levels == 61


def test_nesting_of_65_levels_is_too_deep() -> None:
    data = nested_spec(65)
    offset = [i for i, b in enumerate(data) if b in b"{["][64]  # the 65th container opens here
    line, column = line_column(data, offset)
    assert codes(lambda: parse_json(data)) == [(f"line {line}, column {column}", "json.too_deep")]
    assert codes(lambda: parse_json(data.decode())) == [(f"line {line}, column {column}", "json.too_deep")]


def test_custom_depth_limit() -> None:
    limits = Limits(max_depth=6)
    assert parse_json(nested_spec(6), limits=limits)
    assert [code for _, code in codes(lambda: parse_json(nested_spec(7), limits=limits))] == ["json.too_deep"]


def test_parse_object_rejects_nesting_deeper_than_64_levels() -> None:
    # SPEC section 2: nesting deeper than 64 levels is an error, whatever path the spec takes
    doc = json.loads(nested_spec(65))
    assert [code for _, code in codes(lambda: parse_object(doc))] == ["json.too_deep"]


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_parse_object_survives_absurd_nesting(depth: int) -> None:
    meta: Any = 1
    for _ in range(depth):
        meta = {"a": meta}
    doc = {"images": [{"objectUrl": PREFIX + "a.jpg", "clientMetadata": meta}]}
    with pytest.raises(SpecInvalid):  # not RecursionError
        parse_object(doc)


# --------------------------------------------------------------------------- units and URLs

SMALL = Limits(max_units=3, max_urls=5)


def images(count: int) -> dict[str, Any]:
    return {"images": [{"objectUrl": f"{PREFIX}{i}.jpg"} for i in range(count)]}


def test_units_at_the_limit_are_fine() -> None:
    assert accepted(images(3), SMALL).unit_count() == 3
    mixed = {"videos": [{"objectUrl": PREFIX + "v.mp4"}], "image_groups": [{"objectUrl_0": PREFIX + "a.jpg"}] * 2}
    assert accepted(mixed, SMALL).unit_count() == 3


def test_units_past_the_limit_reject_the_spec() -> None:
    assert rejected(images(4), SMALL) == [("$", "limit.units")]
    mixed = {"videos": [{"objectUrl": PREFIX + "v.mp4"}] * 2, "imageGroups": [{"images": [{"url": PREFIX}]}] * 2}
    assert rejected(mixed, SMALL) == [("$", "limit.units")]
    # the limit is structural: it is reported alone, even over item errors
    bad = {"images": [{"objectUrl": ""}, {"bogus": 1}, {"objectUrl": PREFIX + "a"}, {"objectUrl": " "}]}
    assert rejected(bad, SMALL) == [("$", "limit.units")]


def test_urls_at_the_limit_are_fine() -> None:
    group = {f"objectUrl_{i}": f"{PREFIX}{i}.jpg" for i in range(4)}
    assert accepted({"image_groups": [group], "images": [{"objectUrl": PREFIX + "x.jpg"}]}, SMALL).url_count() == 5
    series = {"dicomSeries": [{"title": "S", "dicomFiles": [{"url": f"{PREFIX}{i}.dcm"} for i in range(5)]}]}
    assert accepted(series, SMALL).url_count() == 5


def test_urls_past_the_limit_reject_the_spec() -> None:
    group = {f"objectUrl_{i}": f"{PREFIX}{i}.jpg" for i in range(5)}
    assert rejected({"image_groups": [group], "images": [{"objectUrl": PREFIX + "x.jpg"}]}, SMALL) == [
        ("$", "limit.urls")
    ]
    series = {"dicomSeries": [{"title": "S", "dicomFiles": [{"url": f"{PREFIX}{i}.dcm"} for i in range(6)]}]}
    assert rejected(series, SMALL) == [("$", "limit.urls")]
    # URLs of items that are otherwise wrong count too
    broken = dict(group, objectUrl_5=PREFIX + "5.jpg", bogus=1)
    assert rejected({"image_groups": [broken]}, SMALL) == [("$", "limit.urls")]


def csv_rows(header: str, rows: list[str]) -> str:
    return "ObjectUrl," + header + "\n" + "".join(row + "\n" for row in rows)


def test_csv_units_and_urls_at_and_past_the_limits() -> None:
    assert parse_csv(csv_rows("Image title", [f"{PREFIX}{i}.jpg," for i in range(3)]), limits=SMALL).unit_count() == 3
    four = csv_rows("Image title", [f"{PREFIX}{i}.jpg," for i in range(4)])
    assert codes(lambda: parse_csv(four, limits=SMALL)) == [("$", "limit.units")]
    five = csv_rows("Image group title", [f"{PREFIX}{i}.jpg,g" for i in range(5)])
    assert parse_csv(five, limits=SMALL).url_count() == 5
    six = csv_rows("Image group title", [f"{PREFIX}{i}.jpg,g" for i in range(6)])
    assert codes(lambda: parse_csv(six.encode(), limits=SMALL)) == [("$", "limit.urls")]
    sections = csv_rows("Series title", [f"{PREFIX}{i}.dcm,S" for i in range(3)]) + csv_rows(
        "Video title", [f"{PREFIX}{i}.mp4," for i in range(3)]
    )
    assert sorted(codes(lambda: parse_csv(sections, limits=SMALL))) == [("$", "limit.units"), ("$", "limit.urls")]


# --------------------------------------------------------------------------- flags and JSON text rules


def test_upsert_metadata_needs_skip_duplicate_urls() -> None:
    one = {"images": [{"objectUrl": PREFIX + "a.jpg"}]}
    assert rejected(dict(one, upsert_metadata=True)) == [("upsert_metadata", "spec.flags")]
    assert rejected(dict(one, upsertMetadata=True)) == [("upsertMetadata", "spec.flags")]
    assert rejected(dict(one, upsert_metadata=True, skip_duplicate_urls=False)) == [("upsert_metadata", "spec.flags")]
    spec = accepted(dict(one, upsert_metadata=True, skip_duplicate_urls=True))
    assert (spec.skip_duplicate_urls, spec.upsert_metadata) == (True, True)


@pytest.mark.parametrize("token", ["NaN", "Infinity"])
def test_non_finite_numbers_are_located(token: str) -> None:
    data = (
        '{\n  "images": [\n    {"objectUrl": "s3://bucket/a.jpg",\n'
        f'     "clientMetadata": {{"x": 1, "y": {token}}}}}\n  ]\n}}\n'
    ).encode()
    line, column = line_column(data, data.index(token.encode()))
    assert (line, column) == (4, 38)
    assert codes(lambda: parse_json(data)) == [(f"line {line}, column {column}", "json.non_finite")]


def test_negative_infinity_is_located() -> None:
    data = b'{"images": [{"objectUrl": "s3://bucket/a.jpg", "imageMetadata": {"width": -Infinity}}]}'
    minus = data.index(b"-Infinity")
    allowed = {f"line 1, column {minus + 1}", f"line 1, column {minus + 2}"}  # at "-" or at "I"
    [(location, code)] = codes(lambda: parse_json(data))
    assert code == "json.non_finite"
    assert location in allowed


@pytest.mark.parametrize(
    ("data", "location"),
    [
        (b'{"images": [{"objectUrl": "s3://b/a", "title": "x", "title": "y"}]}', "images[0].title"),
        (b'{"images": [{"objectUrl": "s3://b/a"}], "images": [{"objectUrl": "s3://b/b"}]}', "images"),
        (b'{"images": [{"objectUrl": "s3://b/a", "clientMetadata": {"a": 1, "a": 2}}]}', "images[0].clientMetadata.a"),
        (b'{"imageGroups": [{"images": [{"url": "s3://b/a"}, {"url": "s3://b/a", "url": "s3://b/c"}]}]}',
         "imageGroups[0].images[1].url"),
        (b'{"image_groups": [{"objectUrl_0": "s3://b/a", "objectUrl_\\u0030": "s3://b/b"}]}',
         "image_groups[0].objectUrl_0"),
    ],
)  # fmt: skip
def test_duplicate_keys_are_located(data: bytes, location: str) -> None:
    assert codes(lambda: parse_json(data)) == [(location, "json.duplicate_key")]


@pytest.mark.parametrize(
    "width",
    ["2147483648", "9223372036854775808", "18446744073709551616", "1" + "0" * 30, "1" + "0" * 400, "-" + "9" * 40],
)
def test_huge_integer_in_image_metadata_is_a_located_error(width: str) -> None:
    data = (
        '{"images": [{"objectUrl": "s3://b/a.jpg", "imageMetadata": '
        f'{{"mimeType": "image/png", "fileSize": 1, "width": {width}, "height": 1}}}}]}}'
    ).encode()
    [(location, code)] = codes(lambda: parse_json(data))
    assert location == "images[0].imageMetadata.width"
    assert code in ("field.range", "field.type")
    [(location, code)] = codes(lambda: parse_object(json.loads(data)))
    assert location == "images[0].imageMetadata.width"
    assert code in ("field.range", "field.type")


def test_huge_file_size_is_a_located_error() -> None:
    meta = {"mimeType": "image/png", "fileSize": 2**63, "width": 1, "height": 1}
    assert rejected({"images": [{"objectUrl": PREFIX + "a", "imageMetadata": meta}]}) == [
        ("images[0].imageMetadata.fileSize", "field.range")
    ]
    meta["fileSize"] = 2**63 - 1
    assert accepted({"images": [{"objectUrl": PREFIX + "a", "imageMetadata": meta}]})


# --------------------------------------------------------------------------- every item error reported

N_ERRORS = 10_000


ALL = Limits(max_issues=N_ERRORS)


def test_ten_thousand_item_errors_are_all_reported_when_asked() -> None:
    doc = {"images": [{"objectUrl": ""} if i % 2 else {"title": "t"} for i in range(N_ERRORS)]}
    found = rejected(doc, ALL)
    assert len(found) == N_ERRORS
    expected = [(f"images[{i}].objectUrl", "url.empty" if i % 2 else "field.missing") for i in range(N_ERRORS)]
    assert sorted(found) == sorted(expected)
    assert len({location for location, _ in found}) == N_ERRORS


def test_ten_thousand_duplicate_key_errors_are_all_reported_when_asked() -> None:
    items = ",".join(f'{{"objectUrl": "s3://b/{i}", "title": "a", "title": "b"}}' for i in range(N_ERRORS))
    found = codes(lambda: parse_json(('{"images": [' + items + "]}").encode(), limits=ALL))
    assert found == [(f"images[{i}].title", "json.duplicate_key") for i in range(N_ERRORS)]


def test_ten_thousand_csv_row_errors_are_all_reported_when_asked() -> None:
    rows = [f"s3://b/{i} x.jpg," for i in range(N_ERRORS)]
    found = codes(lambda: parse_csv(csv_rows("Image title", rows), limits=ALL))
    assert found == [(f'line {i + 2}, column "ObjectUrl"', "url.whitespace") for i in range(N_ERRORS)]


def test_by_default_the_first_thousand_issues_are_kept_and_all_counted() -> None:
    """Whatever path finds them, the issues kept are the first ones in file order."""
    # item problems found by the thorough path, URL problems by the rules after it: the
    # first thousand in file order mix both kinds
    doc = {"images": [{"objectUrl": ""} if i % 2 else {"title": "t"} for i in range(N_ERRORS)]}
    for way in json_ways(doc):
        with pytest.raises(SpecInvalid) as caught:
            way()
        assert caught.value.total == N_ERRORS
        assert caught.value.truncated
        assert sorted((i.location, str(i.code)) for i in caught.value.issues) == sorted(
            (f"images[{i}].objectUrl", "url.empty" if i % 2 else "field.missing") for i in range(1000)
        )
        assert caught.value.message.endswith(f"(and {N_ERRORS - 1:,} more)")
    items = ",".join(f'{{"objectUrl": "s3://b/{i}", "title": "a", "title": "b"}}' for i in range(N_ERRORS))
    with pytest.raises(SpecInvalid) as caught:
        parse_json(('{"images": [' + items + "]}").encode())
    assert [i.location for i in caught.value.issues] == [f"images[{i}].title" for i in range(1000)]
    assert caught.value.total == N_ERRORS
    rows = [f"s3://b/{i} x.jpg," if i % 3 else ",title" for i in range(N_ERRORS)]  # URL problems of two kinds
    with pytest.raises(SpecInvalid) as caught:
        parse_csv(csv_rows("Image title", rows))
    assert [i.location for i in caught.value.issues] == [f'line {i + 2}, column "ObjectUrl"' for i in range(1000)]
    assert caught.value.total == N_ERRORS
