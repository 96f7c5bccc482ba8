"""The structural scan beside the decoder, in C and in its pure-Python stand-in."""

from __future__ import annotations

import pytest

from accessio.errors import SpecInvalid
from accessio.spec import jsonscan, parse_json
from accessio.spec.jsonscan import ScanResult, _scan_python, scan

pytestmark = pytest.mark.skipif(not jsonscan.ACCELERATED, reason="the C scanner was not built")


@pytest.mark.parametrize(
    ("text", "duplicates"),
    [
        (b'{"a": 1, "b": 2}', []),
        (b'{"a": 1, "a": 2}', ["$.a"]),
        (b'{"x": [{"k": 1}, {"k": 1, "k": 2}]}', ["$.x[1].k"]),
        (b'{"\\u0061": 1, "a": 2}', ["$.a"]),
        (b'{"\\ud83d\\ude00": 1, "\xf0\x9f\x98\x80": 2}', ["$.\U0001f600"]),
        (b'{"a": {"a": {"a": 1}}, "b": [[{"c": 1, "c": 1}]]}', ["$.b[0][0].c"]),
        (b'{"s": "a\\"b", "s\\"": 1, "s": 2}', ["$.s"]),
    ],
)
def test_duplicate_keys_agree_with_python(text: bytes, duplicates: list[str]) -> None:
    fast = scan(text)
    slow = _scan_python(text, 64)
    assert [path for _, path in fast.duplicates] == duplicates
    assert [path for _, path in slow.duplicates] == duplicates
    assert fast.max_depth == slow.max_depth
    assert fast.complete
    assert slow.complete


def test_many_keys_in_one_object_use_the_hash_table() -> None:
    keys = ", ".join(f'"k{i}": {i}' for i in range(50_000))
    text = ("{" + keys + ', "k777": 0, "k49999": 1}').encode()
    assert [path for _, path in scan(text).duplicates] == ["$.k777", "$.k49999"]


def test_depth_limit_and_offsets() -> None:
    deep = b"[" * 65 + b"]" * 65
    found = scan(deep)
    assert found.too_deep_at == 64
    assert _scan_python(deep, 64).too_deep_at == 64
    assert scan(b"[" * 64 + b"]" * 64).too_deep_at is None


def test_malformed_text_never_breaks_the_scan() -> None:
    for text in (b"", b'{"a', b"}}}]]]", b'"\\', b"{" * 10_000, b'{"a": 1, "a"'):
        found = scan(text)
        assert isinstance(found, ScanResult)


def test_suspects_flag_strings_that_need_an_exact_check() -> None:
    assert scan(b'{"images": [{"objectUrl": "s3://b/a.jpg", "title": "t"}]}').suspects == 0
    assert scan(b'{"images": [{"objectUrl": "s3://b/a b.jpg"}]}').suspects == 1
    assert scan(b'{"images": [{"objectUrl": "s3://b/\\u00e9.jpg"}]}').suspects == 1
    assert scan(b'{"images": [{"objectUrl": 5, "title": null}]}').suspects == 1
    assert scan(b'{"images": [{"objectUrl": "s3://b/a.jpg", "title": ""}]}').suspects == 1
    assert scan(b'{"images": [{"objectUrl": "s3://b/a.jpg", "title": true}]}').suspects == 1
    long_title = b'{"images": [{"objectUrl": "s3://b/a.jpg", "title": "' + b"t" * 301 + b'"}]}'
    assert scan(long_title).suspects == 1


def test_the_parser_gives_the_same_answers_without_the_c_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [
        b'{"images": [{"objectUrl": "s3://b/a.jpg", "title": "x", "title": "y"}]}',
        b'{"images": [{"objectUrl": "s3://b/a b.jpg"}], "image_groups": [{"objectUrl_0": "s3://b/g.jpg"}]}',
        b'{"images": [{"objectUrl": "s3://b/a.jpg", "clientMetadata": {"k": 1}}]}',
        b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}",
    ]

    def outcome(doc: bytes) -> object:
        try:
            return parse_json(doc)
        except SpecInvalid as exc:
            return [(i.location, i.code) for i in exc.issues]

    with_c = [outcome(doc) for doc in docs]
    monkeypatch.setattr(jsonscan, "_jsonscan", None)
    assert [outcome(doc) for doc in docs] == with_c
