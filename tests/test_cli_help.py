"""The command line as a new user first meets it: ``--help`` everywhere, ``--version``,
and a start-up that does not load the catalog, the probes or the vector search."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import accessio
from accessio.cli import app

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
        "heavy = ('alembic', 'numpy', 'usearch', 'pydicom', 'PIL', 'av', 'obstore', 'accessio.jobs.runner')\n"
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
