"""However many issues a spec holds, what is kept, printed and answered is bounded:
the first ``Limits.max_issues`` (1,000 by default) in file order, and a count of all."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.peak_memory import peak_rss_mb
from typer.testing import CliRunner

from accessio.cli import app as cli_app
from accessio.errors import SpecInvalid
from accessio.spec import Limits, jsonscan, parse_json
from accessio.spec.jsonscan import _scan_python, scan

LONG_KEY = "k" * 20_000


def long_key_duplicates(count: int) -> bytes:
    """The case from review: ``count`` repeated keys in an object under a 20,000-character key."""
    inner = ",".join('"a":1' for _ in range(count))
    item = '{"objectUrl":"s3://b/x.jpg","clientMetadata":{"' + LONG_KEY + '":{' + inner + "}}}"
    return ('{"images":[' + item + "]}").encode()


@pytest.mark.skipif(not jsonscan.ACCELERATED, reason="the C scanner was not built")
def test_the_scanner_never_copies_a_long_path_per_duplicate() -> None:
    data = long_key_duplicates(5_000)
    found = scan(data, max_reported=1000)
    assert found.duplicate_count == 4_999
    assert len(found.duplicates) == 1000
    shown = "$.images[0].clientMetadata." + "k" * 40 + "….a"
    assert {path for _, path in found.duplicates} == {shown}
    slow = _scan_python(data, 64, 1000)
    assert (slow.duplicate_count, {path for _, path in slow.duplicates}) == (4_999, {shown})


def test_a_long_key_is_shown_elided_and_the_report_stays_small() -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_json(long_key_duplicates(5_000))
    exc = caught.value
    assert (len(exc.issues), exc.total, exc.truncated) == (1000, 4_999, True)
    assert exc.issues[0].location == "images[0].clientMetadata." + "k" * 40 + "….a"
    assert sum(len(i.location) + len(i.message) for i in exc.issues) < 200_000  # was 100 MB for all 4,999


def test_a_long_unknown_key_is_shown_bounded() -> None:
    key = "x" * 50_000
    with pytest.raises(SpecInvalid) as caught:
        parse_json(json.dumps({"images": [{"objectUrl": "s3://b/a.jpg", key: 1}] * 3}).encode())
    assert caught.value.total == 3
    assert all(len(i.location) <= 300 and len(i.message) <= 500 for i in caught.value.issues)
    assert caught.value.issues[0].location.startswith("images[0].xxx")


def test_max_issues_is_a_limit_of_the_library() -> None:
    doc = json.dumps({"images": [{"objectUrl": ""}] * 30}).encode()
    with pytest.raises(SpecInvalid) as caught:
        parse_json(doc, limits=Limits(max_issues=5))
    assert [i.location for i in caught.value.issues] == [f"images[{n}].objectUrl" for n in range(5)]
    assert caught.value.total == 30
    with pytest.raises(ValueError, match="at least 1"):
        parse_json(doc, limits=Limits(max_issues=0))


def test_the_cli_prints_at_most_max_issues_and_says_how_many_more(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"images": [{"objectUrl": ""}] * 30}))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["spec", "validate", str(path), "--max-issues", "5"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: invalid (30 issues)"
    assert lines[1:6] == [f"images[{n}].objectUrl: the object URL is empty" for n in range(5)]
    assert lines[6:] == ["... and 25 more issues (--max-issues N shows more)"]

    result = runner.invoke(cli_app, ["spec", "validate", str(path), "--max-issues", "5", "--json"])
    report = json.loads(result.stdout)
    assert (len(report["errors"]), report["error_count"], report["truncated"]) == (5, 30, True)
    result = runner.invoke(cli_app, ["spec", "validate", str(path), "--json"])
    report = json.loads(result.stdout)
    assert (len(report["errors"]), report["error_count"], report["truncated"]) == (30, 30, False)

    result = runner.invoke(cli_app, ["register", str(path), "--folder", "f", "--integration", "i", "--max-issues", "2",
                                     "--catalog", str(tmp_path / "c.db")])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "... and 28 more issues (--max-issues N shows more)"
    assert len(result.stderr.splitlines()) == 4
    result = runner.invoke(cli_app, ["spec", "validate", str(path), "--max-issues", "0"])
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # 500,000 items with an empty URL and an empty title: two issues each
        (",".join(['{"objectUrl":"","title":""}'] * 500_000), 1_000_000),
        # one object with a key repeated 1,000,000 times
        ('{"objectUrl":"s3://b/x.jpg","clientMetadata":{' + ",".join(['"a":1'] * 1_000_001) + "}}", 1_000_000),
    ],
    ids=["item-issues", "duplicate-keys"],
)
def test_a_million_issues_stay_under_300_mb(tmp_path: Path, items: str, expected: int) -> None:
    spec = tmp_path / "million.json"
    spec.write_text('{"images":[' + items + "]}")
    output = tmp_path / "report.json"
    status, peak = peak_rss_mb([sys.executable, "-m", "accessio", "spec", "validate", "--json", str(spec)], output)
    assert status == 1
    report = json.loads(output.read_bytes())
    assert (report["valid"], report["error_count"], report["truncated"]) == (False, expected, True)
    assert len(report["errors"]) == 1000
    assert output.stat().st_size < 200_000
    assert peak < 300, f"peak RSS {peak:.0f} MB"
