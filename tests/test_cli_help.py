"""The command line as a new user first meets it: ``--help`` everywhere, ``--version``,
and a start-up that does not load the catalog, the probes or the vector search."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import accessio
from accessio.cli import app
from tests.samples import jpeg_bytes

runner = CliRunner()


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (Typer's own Click)
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = _commands(typer.main.get_group(app))


def test_every_command_is_found() -> None:
    # the walk over the app finds groups and the commands inside them
    assert ("integration", "add") in COMMANDS
    assert ("register",) in COMMANDS
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "accessio")
def test_help_of_every_command(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    usage = f"Usage: accessio {' '.join(path)}".rstrip()
    assert result.stdout.startswith(usage), result.stdout[:200]
    assert "<bool>" not in result.stdout  # a flag takes no value: no metavar


def test_help_shows_text_in_brackets_as_written() -> None:
    result = runner.invoke(app, ["integration", "add", "--help"])
    assert result.exit_code == 0
    assert "bucket[/prefix]" in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"accessio {accessio.__version__}\n"


def test_start_up_loads_no_catalog_probe_or_vector_code() -> None:
    # `accessio --help` (and so every command's start) imports the CLI and nothing heavy
    heavy = ("sqlalchemy", "alembic", "numpy", "usearch", "pydicom", "PIL", "av", "obstore", "accessio.spec")
    code = f"import sys, accessio.cli\nprint(' '.join(sorted(m for m in {heavy!r} if m in sys.modules)))\n"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == ""


def test_listing_items_loads_no_probe_or_vector_code(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from accessio.cli import app\n"
        f"try: app(['items', 'ls', '--folder', 'x', '--catalog', {str(tmp_path) + '/c.db'!r}])\n"
        "except SystemExit: pass\n"
        "heavy = ('alembic', 'numpy', 'usearch', 'pydicom', 'PIL', 'av', 'obstore', 'accessio.jobs.runner',\n"
        "         'pydantic')\n"
        "print(' '.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    # a new catalog is migrated (alembic); the second run finds it at the head
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == ""


def test_constants_copied_for_start_up_match_their_source() -> None:
    from alembic.config import Config  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    from accessio.catalog.db import _MIGRATIONS, head_revision  # noqa: PLC0415
    from accessio.cli.embedding_commands import MAP_LIMIT as CLI_MAP_LIMIT  # noqa: PLC0415
    from accessio.search.projection import MAP_LIMIT  # noqa: PLC0415

    assert CLI_MAP_LIMIT == MAP_LIMIT
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_the_command_builds_only_the_group_its_first_argument_names_and_loads_no_rich(tmp_path: object) -> None:
    def loaded_after(*args: str) -> set[str]:
        code = (
            "import sys\n"
            "from accessio.cli import main\n"
            f"sys.argv = ['accessio', *{args!r}]\n"
            "try: main()\n"
            "except SystemExit: pass\n"
            "print(' '.join(m for m in sys.modules if m.startswith('accessio.cli.') or m in ('rich', 'pydantic')))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return set(done.stdout.split())

    catalog = str(tmp_path) + "/c.db"
    assert runner.invoke(app, ["folder", "create", "x", "--catalog", catalog]).exit_code == 0
    listing = loaded_after("items", "ls", "--folder", "x", "--catalog", catalog)
    assert "accessio.cli.catalog_commands" in listing
    assert not listing & {"accessio.cli.server_commands", "accessio.cli.job_commands", "accessio.cli.spec_commands"}
    assert not listing & {"rich", "pydantic"}  # a table printed as plain text; option values already plain
    assert "accessio.cli.server_commands" in loaded_after("--help")
    assert "accessio.cli.server_commands" in loaded_after("itemz")  # an unknown name: its did-you-mean sees all


@pytest.mark.parametrize(
    ("limit", "exit_code", "message"),
    [
        ("2", 0, ""),
        ("007", 0, ""),  # pydantic's reading, as before: leading zeros, a sign, spaces
        (" +2", 0, ""),
        ("0", 2, "Invalid value for '--limit': Input should be greater than or equal to 1"),
        ("100001", 2, "Invalid value for '--limit': Input should be less than or equal to 100000"),
        ("2.5", 2, "Invalid value for '--limit': Input should be a valid integer"),
        ("two", 2, "Invalid value for '--limit': Input should be a valid integer, unable to parse string"),
        ("99999999999999999999", 2, "Invalid value for '--limit'"),
    ],
)
def test_option_values_are_read_as_typer_reads_them(tmp_path: object, limit: str, exit_code: int, message: str) -> None:
    catalog = str(tmp_path) + "/c.db"
    assert runner.invoke(app, ["folder", "create", "x", "--catalog", catalog]).exit_code == 0
    result = runner.invoke(app, ["items", "ls", "--folder", "x", "--limit", limit, "--catalog", catalog, "--json"])
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    if not exit_code:
        assert result.stdout == "[]\n"


def test_registering_images_loads_no_dicom_video_vector_or_pydantic_libraries(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.jpg").write_bytes(jpeg_bytes())
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"images": [{"objectUrl": (media / "a.jpg").as_uri()}]}))
    catalog = str(tmp_path / "c.db")
    setup = (["integration", "add", "media", "--provider", "local", "--root", str(media)], ["folder", "create", "x"])
    for args in setup:
        assert runner.invoke(app, [*args, "--catalog", catalog]).exit_code == 0
    code = (
        "import sys\n"
        "from accessio.cli import main\n"
        f"sys.argv = ['accessio', 'register', {str(spec)!r}, '--folder', 'x', '--integration', 'media',"
        f" '--catalog', {catalog!r}, '--json']\n"
        "try: main()\n"
        "except SystemExit as exc: assert not exc.code, exc.code\n"
        "print(' '.join(m for m in ('pydicom', 'av', 'numpy', 'usearch', 'pydantic') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[0])["status"] == "DONE"
    assert done.stdout.splitlines()[-1].strip() == ""


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["register", "/nonexistent/spec.json", "--folder", "x", "--integration", "m"], 2,
         "error: /nonexistent/spec.json: no such file"),  # a Path argument: Path(value), Typer's checks
        (["register", "SPEC", "--folder", "x", "--integration", "m", "--executor", "nope"], 2,
         "Invalid value for '--executor' (env var: 'ACCESSIO_EXECUTOR'): Value error, 'nope' is not one of "
         "'local', 'celery'."),
        (["register", "SPEC", "--folder", "x", "--integration", "m", "--sequence-fps", "0"], 2,
         "Invalid value for '--sequence-fps': Input should be greater than or equal to 0.1"),
    ],
)
def test_paths_choices_and_numbers_read_as_typer_reads_them(
    tmp_path: Path, args: list[str], exit_code: int, message: str
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"images": []}')
    result = runner.invoke(app, [str(spec) if arg == "SPEC" else arg for arg in args])
    assert result.exit_code == exit_code, result.output
    assert message in result.output
