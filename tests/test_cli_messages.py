"""Messages that name the fix, and the safer defaults of the command line (issue 12, section 3)."""

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
    for n, name in enumerate(("cars/a.jpg", "cars/b.jpg", "c.mp4")):
        write_sample(root / name, n)
    return root


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def spec_file(tmp_path: Path, document: dict[str, object], name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


@pytest.fixture
def registered(env: dict[str, str], media: Path, tmp_path: Path) -> str:
    """A local integration ``media`` and a folder ``cars`` with the three files; the job's id."""
    assert invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))[0] == 0
    assert invoke(env, "folder", "create", "cars")[0] == 0
    images = [
        {"objectUrl": (media / n).as_uri(), "clientMetadata": {"site": "Oran"}} for n in ("cars/a.jpg", "cars/b.jpg")
    ]
    spec = spec_file(tmp_path, {"images": images, "videos": [{"objectUrl": (media / "c.mp4").as_uri()}]})
    code, out, err = invoke(env, "register", spec, "--folder", "cars", "--integration", "media", "--json")
    assert code == 0, err
    return str(json.loads(out)["id"])


# messages that name the fix


def test_a_refused_loopback_endpoint_names_the_flag(env: dict[str, str]) -> None:
    args = ("integration", "add", "minio", "--provider", "s3Compatible", "--endpoint", "http://127.0.0.1:9")
    code, _, err = invoke(env, *args, "--root", "bucket")
    assert code == 1
    assert "loopback" in err
    assert "--allow-private-network" in err
    assert invoke(env, *args, "--root", "bucket", "--allow-private-network")[0] == 0


def test_an_s3_url_on_an_s3_compatible_integration_says_how_to_register_it(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "integration", "add", "minio", "--provider", "s3Compatible", "--endpoint", "http://127.0.0.1:9",
           "--root", "bucket", "--allow-private-network")  # fmt: skip
    spec = spec_file(tmp_path, {"images": [{"objectUrl": "s3://bucket/cats/a.jpg"}]})
    code, out, _ = invoke(env, "register", spec, "--folder", "f", "--integration", "minio", "--create-folder", "--json")
    assert code == 1
    (error,) = json.loads(out)["unitErrors"]
    assert (
        "register its objects by their URL on the endpoint, like http://127.0.0.1:9/bucket/cats/a.jpg"
        in (error["error"])
    )


def test_missing_credentials_name_the_variables_env_reads(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert (
        invoke(env, "integration", "add", "aws", "--provider", "s3", "--root", "bucket", "--credentials", "env")[0] == 0
    )
    spec = spec_file(tmp_path, {"images": [{"objectUrl": "s3://bucket/a.jpg"}]})
    code, out, _ = invoke(env, "register", spec, "--folder", "f", "--integration", "aws", "--create-folder", "--json")
    assert code == 1
    (error,) = json.loads(out)["unitErrors"]
    assert "--credentials env reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in error["error"]


def test_an_expiry_beyond_the_integration_limit_says_so_and_the_limit_can_be_raised(
    env: dict[str, str], registered: str
) -> None:
    code, out, _ = invoke(env, "items", "ls", "--folder", "cars", "--json")
    item = json.loads(out)[0]["uuid"]
    code, _, err = invoke(env, "items", "url", item, "--expires", "7200")
    assert code == 2
    assert "longer than the integration 'media' lets a signed URL live (3,600 seconds)" in err
    assert "accessio integration set media --max-expiry 7200" in err
    assert invoke(env, "integration", "set", "media", "--max-expiry", "7200")[0] == 0
    code, out, err = invoke(env, "items", "url", item, "--expires", "7200")
    assert code == 0, err
    assert out.startswith("file://")
    (shown,) = json.loads(invoke(env, "integration", "ls", "--json")[1])
    assert shown["maxExpirySeconds"] == 7200
    assert invoke(env, "integration", "set", "media", "--max-expiry", str(8 * 24 * 3600))[0] == 2  # over 7 days


def test_csv_with_semicolons_says_the_delimiter_is_a_comma(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("ObjectUrl;Image title\ns3://b/a.jpg;A\n", encoding="utf-8")
    code, out, _ = invoke(env, "spec", "validate", str(path))
    assert code == 1
    assert "line 1: the header row is separated by semicolons; the delimiter of a CSV spec is a comma" in out


def test_csv_not_in_utf8_says_to_save_as_csv_utf8(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("ObjectUrl,Image title\ns3://b/a.jpg,Café\n".encode("latin-1"))
    code, out, _ = invoke(env, "spec", "validate", str(path))
    assert code == 1
    assert 'line 2, column 17: the spec is not UTF-8 text; save it as "CSV UTF-8"' in out


def test_unknown_integration_and_folder_get_a_did_you_mean(
    env: dict[str, str], registered: str, tmp_path: Path
) -> None:
    spec = spec_file(tmp_path, {"images": [{"objectUrl": "file:///x.jpg"}]}, "other.json")
    code, _, err = invoke(env, "register", spec, "--folder", "cars", "--integration", "Media")
    assert (code, err.strip()) == (1, "error: integration 'Media' not found (did you mean 'media'?)")
    code, _, err = invoke(env, "items", "ls", "--folder", "car")
    assert (code, err.strip()) == (1, "error: folder 'car' not found (did you mean 'cars'?)")
    code, _, err = invoke(env, "folder", "share", "crs", "bob")
    assert "did you mean 'cars'?" in err


# consistency


def test_item_types_have_one_spelling_with_aliases(env: dict[str, str], registered: str) -> None:
    listed = {i["itemType"] for i in json.loads(invoke(env, "items", "ls", "--folder", "cars", "--json")[1])}
    assert listed == {"image", "video"}
    for alias in ("image", "images", "Images", "IMAGE"):
        code, out, _ = invoke(env, "items", "ls", "--folder", "cars", "--type", alias, "--json")
        assert code == 0
        assert [i["itemType"] for i in json.loads(out)] == ["image", "image"]
    code, _, err = invoke(env, "items", "ls", "--folder", "cars", "--type", "imags")
    assert code == 2
    assert "'imags' is not an item type (did you mean \"image\"?)" in err


def test_spec_generate_takes_item_type_names(env: dict[str, str], registered: str, media: Path) -> None:
    for name in ("image", "images"):
        code, out, err = invoke(env, "spec", "generate", media.as_uri(), "--integration", "media", "--type", name)
        assert code == 0, err
        assert [i["objectUrl"] for i in json.loads(out)["images"]] == [
            (media / "cars/a.jpg").as_uri(),
            (media / "cars/b.jpg").as_uri(),
        ]
    code, _, err = invoke(env, "spec", "generate", media.as_uri(), "--integration", "media", "--type", "vidoe")
    assert code == 2
    assert "did you mean" in err


def test_a_filter_on_an_unknown_key_is_an_error_with_a_suggestion(env: dict[str, str], registered: str) -> None:
    code, _, err = invoke(env, "items", "ls", "--folder", "cars", "--where", 'Site = "Oran"')
    assert code == 1
    assert "no item of the folder has the key 'Site' (did you mean \"site\"?)" in err
    code, _, err = invoke(env, "items", "ls", "--folder", "cars", "--where", "widht > 1")
    assert code == 1
    assert 'did you mean "width"?' in err
    # a known key that matches nothing is an empty answer, not an error
    code, out, _ = invoke(env, "items", "ls", "--folder", "cars", "--where", 'site = "Algiers"', "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = invoke(env, "items", "ls", "--folder", "cars", "--where", 'site = "Oran"', "--json")
    assert len(json.loads(out)) == 2


# safer defaults


def test_register_into_a_missing_folder_needs_create_folder(env: dict[str, str], media: Path, tmp_path: Path) -> None:
    invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))
    invoke(env, "folder", "create", "datasets/cars")
    spec = spec_file(tmp_path, {"images": [{"objectUrl": (media / "cars/a.jpg").as_uri()}]})
    code, _, err = invoke(env, "register", spec, "--folder", "datasets/car", "--integration", "media")
    assert code == 1
    assert "folder 'datasets/car' not found (did you mean 'datasets/cars'?)" in err
    assert "--create-folder" in err
    code, _, err = invoke(env, "register", spec, "--folder", "new", "--integration", "nope", "--create-folder")
    assert code == 1
    folders = json.loads(invoke(env, "folder", "ls", "--json")[1])
    assert [f["path"] for f in folders] == ["datasets"]  # neither mistake made a folder
    code, _, err = invoke(env, "register", spec, "--folder", "new/one", "--integration", "media", "--create-folder")
    assert code == 0, err


def test_a_rerun_that_would_duplicate_items_warns_first(env: dict[str, str], registered: str, tmp_path: Path) -> None:
    with Accessio(env["ACCESSIO_CATALOG"]) as catalog:
        urls = [i["url"] for i in catalog.items("cars")]
    images = [{"objectUrl": url} for url in urls if url.endswith(".jpg")]
    videos = [{"objectUrl": url} for url in urls if url.endswith(".mp4")]
    spec = spec_file(tmp_path, {"images": images, "videos": videos}, "again.json")
    code, _, err = invoke(env, "register", spec, "--folder", "cars", "--integration", "media")
    assert code == 0
    assert "warning: 3 units of the spec are already in cars and will be registered again" in err
    assert '"skip_duplicate_urls": true' in err
    skipping = spec_file(tmp_path, {"images": [{"objectUrl": urls[0]}], "skip_duplicate_urls": True}, "skip.json")
    code, _, err = invoke(env, "register", skipping, "--folder", "cars", "--integration", "media")
    assert code == 0
    assert "warning" not in err


def test_dry_run_checks_client_metadata_against_the_schema(
    env: dict[str, str], registered: str, media: Path, tmp_path: Path
) -> None:
    assert invoke(env, "schema", "add-scalar", "frames", "number")[0] == 0
    images = [
        {"objectUrl": (media / "cars/a.jpg").as_uri(), "clientMetadata": {"frames": 12}},
        {"objectUrl": (media / "cars/b.jpg").as_uri(), "clientMetadata": {"frames": "many"}},
    ]
    spec = spec_file(tmp_path, {"images": images}, "typed.json")
    code, out, _ = invoke(env, "register", spec, "--folder", "cars", "--integration", "media", "--dry-run", "--json")
    assert code == 1
    (problem,) = json.loads(out)["metadataErrors"]
    assert problem["location"] == "images[1]"
    assert 'clientMetadata key "frames": expected number' in problem["error"]
    code, out, _ = invoke(env, "register", spec, "--folder", "cars", "--integration", "media", "--dry-run")
    assert code == 1
    assert 'images[1]: clientMetadata key "frames": expected number' in out


# output


def test_tables_show_whole_ids_and_every_command_takes_a_unique_prefix(env: dict[str, str], registered: str) -> None:
    code, out, _ = invoke(env, "items", "ls", "--folder", "cars")
    header, *rows = out.splitlines()
    assert header.split() == ["uuid", "type", "name", "size", "mime", "type"]
    ids = [row.split()[0] for row in rows]
    items = json.loads(invoke(env, "items", "ls", "--folder", "cars", "--json")[1])
    assert ids == [i["uuid"] for i in items]  # whole, as --json gives them
    # a job's id is random: a few characters are enough
    code, out, err = invoke(env, "jobs", "show", registered[:8], "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == registered
    # items of one job share the start of their ids: the shortest unique start works
    item = ids[0]
    unique = next(item[:n] for n in range(4, 37) if sum(i.startswith(item[:n]) for i in ids) == 1)
    code, out, _ = invoke(env, "items", "show", unique)
    assert (code, json.loads(out)["uuid"]) == (0, item)
    code, _, err = invoke(env, "items", "show", item[:8])
    assert code == 1
    assert f"more than one item id starts with '{item[:8]}'" in err


def test_default_names_are_relative_to_the_integration_root(env: dict[str, str], registered: str) -> None:
    items = json.loads(invoke(env, "items", "ls", "--folder", "cars", "--json")[1])
    assert sorted(i["name"] for i in items) == ["c.mp4", "cars/a.jpg", "cars/b.jpg"]


def test_plurals(env: dict[str, str], tmp_path: Path) -> None:
    one = spec_file(tmp_path, {"images": [{"objectUrl": "s3://b/a.jpg"}]}, "one.json")
    assert invoke(env, "spec", "validate", one)[1] == f"{one}: valid, 1 image; 1 object URL\n"
    many = {"videos": [{"objectUrl": f"s3://b/{n}.mp4"} for n in range(2)], "audio": [{"objectUrl": "s3://b/a.wav"}]}
    two = spec_file(tmp_path, many, "two.json")
    assert invoke(env, "spec", "validate", two)[1] == f"{two}: valid, 2 videos, 1 audio; 3 object URLs\n"


def test_jobs_ls_has_a_header_and_every_counter(env: dict[str, str], registered: str) -> None:
    out = invoke(env, "jobs", "ls")[1]
    header, row = out.splitlines()
    assert header.split()[:11] == [
        "id", "state", "folder", "pending", "done", "created", "skipped", "upserted", "failed", "cancelled", "file",
    ]  # fmt: skip
    assert row.split()[:10] == [registered, "DONE", "cars", "0", "3", "3", "0", "0", "0", "0"]


def test_token_revoke_takes_a_unique_prefix(env: dict[str, str]) -> None:
    assert invoke(env, "user", "add", "alice")[0] == 0
    assert invoke(env, "token", "create", "alice")[0] == 0
    (token,) = json.loads(invoke(env, "token", "ls", "--json")[1])
    code, out, err = invoke(env, "token", "revoke", token["id"][:6])
    assert code == 0, err
    assert out == f"revoked token {token['id']}\n"
    assert json.loads(invoke(env, "token", "ls", "--json")[1])[0]["revoked"] is True


def test_id_prefixes_on_both_backends(catalog_url: str, media: Path, tmp_path: Path) -> None:
    env = {"ACCESSIO_CATALOG": catalog_url}
    invoke(env, "integration", "add", "media", "--provider", "local", "--root", str(media))
    spec = spec_file(tmp_path, {"images": [{"objectUrl": (media / "cars/a.jpg").as_uri()}]})
    args = ("register", spec, "--folder", "f", "--integration", "media", "--create-folder", "--json")
    code, out, err = invoke(env, *args)
    assert code == 0, err
    job = json.loads(out)["id"]
    for given in (job[:4], job[:9], job[:13].upper(), job):
        code, out, err = invoke(env, "jobs", "show", given, "--json")
        assert (code, json.loads(out)["id"] if code == 0 else err) == (0, job)
    other = "0" if job[0] != "0" else "1"
    code, _, err = invoke(env, "jobs", "show", other + job[1:8])
    assert code == 1
    assert "not found" in err
