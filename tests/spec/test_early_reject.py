"""A file that is no spec is refused from its first 64 KiB, before the rest is read:
a 200 MB binary or foreign CSV costs no more memory than a tiny spec."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.peak_memory import peak_rss_mb

from accessio.errors import SpecInvalid
from accessio.spec import load_spec, parse_spec
from accessio.spec.load import HEAD_BYTES

MB = 1 << 20
NOT_A_HEADER = "the first row must be a header row starting with ObjectUrl"


def issues_of(call: Callable[[], object]) -> list[tuple[str, str, str]]:
    with pytest.raises(SpecInvalid) as caught:
        call()
    return [(i.location, str(i.code), i.message) for i in caught.value.issues]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.csv", b"id,name\n1,x\n", ("line 1", "csv.header", NOT_A_HEADER)),
        ("a.csv", b"\n\n ,\nname\n", ("line 4", "csv.header", NOT_A_HEADER)),
        ("a.bin", b"\x89PNG\r\n\x1a\n" + bytes(9), ("line 1, column 1", "spec.encoding", "the spec is not UTF-8 text")),
        ("a.json", b"  GIF89a", ("line 1, column 3", "json.syntax", "malformed JSON: it starts with 'GIF89a'")),
    ],
)  # fmt: skip
def test_small_files_that_are_no_spec_get_a_located_issue(
    tmp_path: Path, name: str, data: bytes, expected: tuple[str, str, str]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert issues_of(lambda: load_spec(path)) == [expected]
    assert issues_of(lambda: parse_spec(data, name=name)) == [expected]


def test_large_specs_still_parse(tmp_path: Path) -> None:
    rows = "".join(f"s3://bucket/images/{n:06d}.jpg,image {n}\n" for n in range(10_000))
    path = tmp_path / "big.csv"
    path.write_text("\ufeffObjectUrl,Image title\n" + rows)
    assert path.stat().st_size > 4 * HEAD_BYTES
    assert load_spec(path).counts() == {"image": 10_000}
    items = ",".join(f'{{"objectUrl": "s3://b/{n}.jpg", "title": "é {n}"}}' for n in range(5_000))
    path = tmp_path / "big.json"
    path.write_text('\n  {"images": [' + items + "]}")
    assert load_spec(path).counts() == {"image": 5_000}


def test_the_head_is_judged_on_complete_rows_and_characters(tmp_path: Path) -> None:
    # the 64 KiB boundary falls inside a row and inside a character: the spec is sound
    data = ("ObjectUrl,Image title\n" + "".join(f"s3://b/{n}.jpg,{'é' * 19}\n" for n in range(2_000))).encode()
    with pytest.raises(UnicodeDecodeError):
        data[:HEAD_BYTES].decode()
    assert data[HEAD_BYTES - 1 : HEAD_BYTES] != b"\n"
    path = tmp_path / "wide.csv"
    path.write_bytes(data)
    assert load_spec(path).counts() == {"image": 2_000}
    # a first line longer than 64 KiB cannot be a header row
    path.write_text("x" * (HEAD_BYTES + 10) + "\n")
    assert issues_of(lambda: load_spec(path)) == [
        ("line 1", "csv.header",
         "the first row must be a header row starting with ObjectUrl; the first 64 KiB hold no complete row")
    ]  # fmt: skip


def write_binary(path: Path) -> None:
    block = os.urandom(MB)
    with path.open("wb") as out:
        for _ in range(200):
            out.write(block)


def write_foreign_csv(path: Path) -> None:
    lines = "".join(f"{n},name-{n},{n * 3}\n" for n in range(20_000)).encode()
    with path.open("wb") as out:
        out.write(b"id,name,value\n")
        while out.tell() < 200 * MB:
            out.write(lines)


def write_zeros(path: Path) -> None:
    with path.open("wb") as out:
        out.truncate(200 * MB)  # a sparse file: 200 MB of NUL bytes, valid UTF-8 and no line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "write", "shown"),
    [
        ("upload.bin", write_binary, "line 1, column "),
        ("upload.csv", write_foreign_csv, f"line 1: {NOT_A_HEADER}"),
        ("upload", write_zeros, f"line 1: {NOT_A_HEADER}; the first 64 KiB hold no complete row"),
        ("upload.json", write_binary, "line 1, column "),
    ],
    ids=["binary", "foreign-csv", "zeros", "binary-named-json"],
)
def test_a_200_mb_file_that_is_no_spec_is_refused_in_little_memory(
    tmp_path: Path, name: str, write: Callable[[Path], None], shown: str
) -> None:
    small = tmp_path / "small.json"
    small.write_text('{"images": [{"objectUrl": "s3://b/a.jpg"}]}')
    command = [sys.executable, "-m", "accessio", "spec", "validate"]
    status, floor = peak_rss_mb([*command, str(small)], tmp_path / "small.out")
    assert status == 0
    big = tmp_path / name
    write(big)
    output = tmp_path / "big.out"
    status, peak = peak_rss_mb([*command, str(big)], output)
    big.unlink()
    lines = output.read_text().splitlines()
    assert status == 1
    assert lines[0] == f"{big}: invalid (1 issue)"
    assert lines[1].startswith(shown), lines[1]
    assert peak < 150, f"peak RSS {peak:.0f} MB"
    assert peak < floor + 20, f"peak RSS {peak:.0f} MB against {floor:.0f} MB for a tiny spec"
