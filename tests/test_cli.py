"""The ``accessio`` command's contract: outputs, JSON shapes and exit codes."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from accessio.cli import app
from accessio.service import Accessio

app_cli = app

runner = CliRunner()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_validate_valid_spec_prints_a_summary(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.json", '{"images": [{"objectUrl": "s3://b/a.jpg"}, {"objectUrl": "s3://b/b.jpg"}]}')
    result = runner.invoke(app, ["spec", "validate", path])
    assert result.exit_code == 0
    assert result.stdout == f"{path}: valid, 2 images; 2 object URLs\n"


def test_validate_invalid_spec_prints_one_line_per_issue(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{"videos": [{"objectUrl": "a b"}, {"objectUrl": "s3://b/v.mp4", "titel": 1}]}')
    result = runner.invoke(app, ["spec", "validate", path])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: invalid (2 issues)",
        "videos[0].objectUrl: the object URL holds whitespace (' ' at character 2)",
        "videos[1].titel: unknown key 'titel' (did you mean \"title\"?)",
    ]


def test_validate_json_output_shape(tmp_path: Path) -> None:
    good = write(
        tmp_path,
        "good.csv",
        "ObjectUrl,Image group title,Create video\ns3://b/1.jpg,G,false\ns3://b/2.jpg,G,false\n"
        "ObjectUrl,Image group title\ns3://b/3.jpg,S\n",
    )
    bad = write(tmp_path, "bad.csv", "ObjectUrl,Image title\ns3://b/a b.jpg,x\n")
    result = runner.invoke(app, ["spec", "validate", good, bad, "--json"])
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {
        "file": good,
        "valid": True,
        "units": {"imageGroup": 1, "imageSequence": 1},
        "urls": 3,
        "errors": [],
        "error_count": 0,
        "truncated": False,
    }
    assert second == {
        "file": bad,
        "valid": False,
        "units": {},
        "urls": 0,
        "errors": [
            {
                "location": 'line 2, column "ObjectUrl"',
                "code": "url.whitespace",
                "message": "the object URL holds whitespace (' ' at character 9)",
            }
        ],
        "error_count": 1,
        "truncated": False,
    }


def test_validate_unreadable_file_exits_2(tmp_path: Path) -> None:
    good = write(tmp_path, "good.json", '{"videos": [{"objectUrl": "s3://b/v.mp4"}]}')
    result = runner.invoke(app, ["spec", "validate", good, str(tmp_path / "missing.json"), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout.splitlines()[1])
    assert report["valid"] is False
    assert report["errors"] == [{"location": "$", "code": "spec.unreadable", "message": "no such file"}]
    assert runner.invoke(app, ["spec", "validate", str(tmp_path)]).exit_code == 2


def test_misuse_exits_2() -> None:
    assert runner.invoke(app, ["spec", "validate"]).exit_code == 2
    assert runner.invoke(app, ["spec", "validate", "--nope", "x"]).exit_code == 2


def test_convert_csv_to_json(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "in.csv", "ObjectUrl,Series title\ns3://b/1.dcm,S\ns3://b/2.dcm,S\n")
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["spec", "convert", csv_path, "-o", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text()) == {
        "dicom_series": [{"title": "S", "objectUrl_0": "s3://b/1.dcm", "objectUrl_1": "s3://b/2.dcm"}]
    }
    to_stdout = runner.invoke(app, ["spec", "convert", csv_path, "--form", "structured"])
    assert json.loads(to_stdout.stdout) == {
        "dicomSeries": [{"title": "S", "dicomFiles": [{"url": "s3://b/1.dcm"}, {"url": "s3://b/2.dcm"}]}]
    }


def test_convert_invalid_csv_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "in.csv", "ObjectUrl,Image title\ns3://b/a b.jpg,x\n")
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["spec", "convert", csv_path, "-o", str(out)])
    assert result.exit_code == 1
    assert not out.exists()
    assert 'line 2, column "ObjectUrl": the object URL holds whitespace' in result.stderr


def test_demo_registers_every_type_and_shows_the_items(tmp_path: Path) -> None:
    # the installed command, as a user runs it
    result = subprocess.run(
        [sys.executable, "-m", "accessio", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "job DONE: 11 created, 0 already there, 0 failed" in result.stdout
    for kind in ("video", "image", "imageGroup", "imageSequence", "dicomSeries", "audio", "plainText", "pdf", "nifti"):
        assert f"│ {kind} " in result.stdout
    # it ends with the commands that explore its catalog, and they work
    explore = result.stdout.split("Explore the demo's catalog:\n", 1)[1].splitlines()
    assert explore[0] == f"  export ACCESSIO_CATALOG={tmp_path / 'demo' / 'catalog.db'}"
    listings = [shlex.split(line)[1:] for line in explore if line.startswith("  accessio items ls")]
    assert len(listings) == 3
    for listing in listings:
        shown = runner.invoke(app, listing, env={"ACCESSIO_CATALOG": str(tmp_path / "demo" / "catalog.db")})
        assert shown.exit_code == 0, shown.output
        assert "image" in shown.stdout or "video" in shown.stdout
    with Accessio(str(tmp_path / "demo" / "catalog.db")) as catalog:
        found = {item["itemType"] for item in catalog.items("demo")}
        assert found == {
            "video",
            "image",
            "imageGroup",
            "imageSequence",
            "dicomSeries",
            "audio",
            "plainText",
            "pdf",
            "nifti",
        }
        images = catalog.items("demo", item_type="image")
        assert {i["mimeType"] for i in images} == {"image/jpeg"}
    validate = runner.invoke(app_cli, ["spec", "validate", "--json", str(tmp_path / "demo" / "spec.json")])
    assert json.loads(validate.stdout)["units"] == {
        "video": 2,
        "image": 2,
        "imageGroup": 1,
        "imageSequence": 1,
        "dicomSeries": 2,
        "audio": 1,
        "plainText": 1,
        "pdf": 1,
        "nifti": 1,
    }
    # a second run registers nothing new: the demo spec skips duplicate URLs
    again = subprocess.run(
        [sys.executable, "-m", "accessio", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "job DONE: 0 created, 11 already there" in again.stdout
