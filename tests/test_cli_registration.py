"""The registration commands' contract: JSON shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accessio.cli import app
from accessio.service import Accessio
from tests.samples import write_sample

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ACCESSIO_CATALOG": str(tmp_path / "catalog.db")}


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    for n, name in enumerate(("a.jpg", "b.jpg", "c.mp4")):
        write_sample(root / name, n)
    return root


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout


def test_integration_folder_register_items(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    assert invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))[0] == 0
    code, listed = invoke(env, "integration", "ls", "--json")
    assert code == 0
    (integration,) = json.loads(listed)
    assert (integration["title"], integration["provider"], integration["accessMode"]) == ("media", "local", "server")
    assert invoke(env, "folder", "create", "datasets/cars", "--description", "Dashcam")[0] == 0
    assert invoke(env, "folder", "create", "datasets/cars")[0] == 1  # exists
    code, folders = invoke(env, "folder", "ls", "datasets", "--json")
    assert [f["path"] for f in json.loads(folders)] == ["datasets/cars"]

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "images": [{"objectUrl": (media / "a.jpg").as_uri()}, {"objectUrl": (media / "b.jpg").as_uri()}],
                "videos": [{"objectUrl": (media / "c.mp4").as_uri(), "clientMetadata": {"site": "Oran"}}],
                "skip_duplicate_urls": True,
            }
        )
    )
    code, out = invoke(env, "register", str(spec), "--folder", "datasets/cars", "--integration", "media", "--json")
    assert code == 0
    job = json.loads(out)
    assert set(job) == {
        "id", "status", "state", "folder", "folderUuid", "fileName", "counts", "unitErrors",
        "createdAt", "startedAt", "finishedAt", "leaseHolder", "kind",
    }  # fmt: skip
    shown = (job["status"], job["state"], job["folder"], job["fileName"])
    assert shown == ("DONE", "done", "datasets/cars", "spec.json")
    assert job["leaseHolder"] is None  # given back when the job ended
    assert job["counts"] == {
        "pending": 0,
        "done": 3,
        "error": 0,
        "cancelled": 0,
        "created": 3,
        "skipped": 0,
        "upserted": 0,
    }

    code, out = invoke(env, "register", str(spec), "--folder", "datasets/cars", "--integration", "media", "--json")
    assert json.loads(out)["counts"]["skipped"] == 3

    code, out = invoke(env, "items", "ls", "--folder", "datasets/cars", "--type", "video", "--json")
    (video,) = json.loads(out)
    assert video["itemType"] == "video"
    assert video["clientMetadata"] == {"site": "Oran"}
    assert video["fileSize"] == (media / "c.mp4").stat().st_size
    probed = {key: video[key] for key in ("mimeType", "width", "height", "fps", "frameCount", "codec")}
    assert probed == {
        "mimeType": "video/mp4", "width": 32, "height": 32, "fps": 25.0, "frameCount": 10, "codec": "mpeg4",
    }  # fmt: skip
    assert video["duration"] == pytest.approx(0.4, rel=0.01)
    for key in ("uuid", "name", "url", "sampleRate", "bitDepth", "numChannels", "numPages", "encoding", "modality",
                "dicomStudyUid", "dicomSeriesUid", "dicomInstanceUid"):  # fmt: skip
        assert key in video
    code, out = invoke(env, "items", "show", video["uuid"])
    assert json.loads(out)["uuid"] == video["uuid"]
    code, out = invoke(env, "items", "url", video["uuid"], "--expires", "60")
    assert code == 0
    assert out.strip().startswith("file://")

    code, out = invoke(env, "jobs", "ls", "--json")
    assert [j["status"] for j in json.loads(out)] == ["DONE", "DONE"]
    code, out = invoke(env, "jobs", "show", job["id"], "--json")
    assert json.loads(out)["id"] == job["id"]


def test_register_exit_codes_and_errors(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"images": [{"objectUrl": (media / "a.jpg").as_uri()}, {"objectUrl": (media / "nope.jpg").as_uri()}]}
        )
    )
    code, out = invoke(
        env, "register", str(spec), "--folder", "f", "--integration", "media", "--create-folder", "--json"
    )
    assert code == 1
    job = json.loads(out)
    assert job["status"] == "ERROR"
    assert job["unitErrors"][0]["objectUrls"] == [(media / "nope.jpg").as_uri()]

    code, out = invoke(
        env, "register", str(spec), "--folder", "f", "--integration", "media", "--ignore-errors", "--json"
    )
    assert code == 0
    job = json.loads(out)
    failed_csv, retry = tmp_path / "failed.csv", tmp_path / "retry.json"
    code, _ = invoke(env, "jobs", "errors", job["id"], "--csv", str(failed_csv), "--spec", str(retry))
    assert code == 0
    assert failed_csv.read_text().splitlines()[1].startswith((media / "nope.jpg").as_uri())
    assert json.loads(retry.read_text()) == {"images": [{"objectUrl": (media / "nope.jpg").as_uri()}]}

    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"images": [{"objectUrl": "a b"}]}')
    assert invoke(env, "register", str(invalid), "--folder", "f", "--integration", "media")[0] == 1
    assert invoke(env, "register", str(tmp_path / "missing.json"), "--folder", "f", "--integration", "media")[0] == 2
    assert invoke(env, "jobs", "show", "no-such-job")[0] == 1


def test_dry_run_writes_nothing(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"images": [{"objectUrl": (media / "a.jpg").as_uri()}, {"objectUrl": (tmp_path / "outside.jpg").as_uri()}]}
        )
    )
    code, out = invoke(
        env, "register", str(spec), "--folder", "f", "--integration", "media", "--dry-run", "--create-folder", "--json"
    )
    report = json.loads(out)
    assert code == 1
    assert (report["units"], report["urls"], report["duplicates"]) == (2, 2, 0)
    assert report["unreachable"][0]["url"] == (tmp_path / "outside.jpg").as_uri()
    code, out = invoke(env, "jobs", "ls", "--json")
    assert json.loads(out) == []
    assert invoke(env, "folder", "ls", "--json")[1].strip() == "[]"  # --create-folder creates nothing in a dry run
    # a dry run refuses what the registration would: a folder that does not exist
    assert invoke(env, "register", str(spec), "--folder", "f", "--integration", "media", "--dry-run")[0] == 1


def test_cancel_and_resume(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))
    accessio = Accessio(env["ACCESSIO_CATALOG"])
    accessio.create_folder("f")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": (media / "a.jpg").as_uri()}]}))
    job = accessio.start_registration(spec, folder="f", integration="media")
    code, out = invoke(env, "jobs", "resume", job.id, "--json")
    assert (code, json.loads(out)["status"]) == (0, "DONE")
    other = accessio.start_registration(spec, folder="f", integration="media")
    code, out = invoke(env, "jobs", "cancel", other.id, "--json")
    assert json.loads(out) == {"unitsCancelledCount": 1}
    assert invoke(env, "jobs", "resume", other.id)[0] == 1  # a cancelled job stays cancelled


def test_integration_misuse_says_what_is_allowed(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["integration", "add", "x", "--provider", "ftp"], env=env)
    assert result.exit_code == 2
    assert "provider 'ftp' is not one of s3, s3Compatible, gcp, azure, http, local" in result.stderr
    secret = "AKIAIOSFODNN7EXAMPLE"
    result = runner.invoke(app, ["integration", "add", "x", "--provider", "s3", "--credentials", secret], env=env)
    assert result.exit_code == 1
    assert secret not in result.stderr + result.stdout  # a secret is never echoed
