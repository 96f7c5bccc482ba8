"""The server's commands: users, tokens (printed once, alone), shares, grants, upload target."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from accessio.catalog import accounts
from accessio.cli import app
from accessio.service import Accessio, Principal
from accessio.service import folders as folder_service
from accessio.service import jobs as job_service

runner = CliRunner()


def run(catalog: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--catalog", catalog], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_tokens_shares_and_grants(tmp_path: Path) -> None:
    catalog = str(tmp_path / "catalog.db")
    media = tmp_path / "media"
    media.mkdir()
    assert run(catalog, "user", "add", "alice", "--admin")[0] == 0
    assert run(catalog, "user", "add", "bob")[0] == 0
    code, _, err = run(catalog, "user", "add", "bob")
    assert code == 1
    assert "already exists" in err
    code, _, err = run(catalog, "user", "add", "no/slash")
    assert code == 2
    assert "is not a user name" in err
    code, out, _ = run(catalog, "user", "ls", "--json")
    assert [(u["name"], u["isAdmin"]) for u in json.loads(out)] == [("alice", True), ("bob", False)]

    code, out, _ = run(catalog, "token", "create", "bob", "--label", "laptop", "--expires-days", "30")
    token = out.strip()
    assert code == 0
    assert out == token + "\n"
    assert token.startswith("acc_")
    assert len(token) > 40
    code, out, _ = run(catalog, "token", "ls", "bob", "--json")
    listed = json.loads(out)
    assert [(t["user"], t["label"], t["revoked"]) for t in listed] == [("bob", "laptop", False)]
    assert token not in out
    with Accessio(catalog) as opened, opened.engine.connect() as conn:
        found = accounts.user_of_token(conn, token, datetime.now(UTC))
    assert found is not None
    assert found[0].name == "bob"
    assert run(catalog, "token", "revoke", listed[0]["id"])[0] == 0
    assert json.loads(run(catalog, "token", "ls", "--json")[1])[0]["revoked"] is True

    assert run(catalog, "integration", "add", "media", "--provider", "local", "--root", str(media))[0] == 0
    assert run(catalog, "folder", "create", "shared/deep")[0] == 0
    code, out, _ = run(catalog, "folder", "share", "shared", "bob", "--role", "editor")
    assert code == 0
    assert "shared shared with bob as editor" in out
    code, _, err = run(catalog, "folder", "share", "shared", "bob", "--role", "owner")
    assert code == 2
    assert "not one of viewer, editor, admin" in err
    assert run(catalog, "integration", "grant", "media", "bob")[0] == 0
    assert run(catalog, "integration", "set", "media", "--upload-target")[0] == 0

    with Accessio(catalog) as opened, opened.engine.connect() as conn:
        bob = accounts.get_user(conn, "bob")
        who = Principal(bob.id, "bob", False)
        deep = opened.folder("shared/deep")
        assert folder_service.get_folder(opened, who, deep.id).role.wire == "editor"  # inherited
        assert [r.name for r in job_service.visible_integrations(opened, who)] == ["media"]
        assert opened.integration_record("media").upload_target is True
    assert run(catalog, "folder", "unshare", "shared", "bob")[0] == 0
    assert run(catalog, "integration", "ungrant", "media", "bob")[0] == 0
    with Accessio(catalog) as opened:
        assert job_service.visible_integrations(opened, who) == []


def test_passwords_are_read_from_stdin_and_checked(tmp_path: Path) -> None:
    catalog = str(tmp_path / "catalog.db")
    run(catalog, "user", "add", "carol")
    code, _, err = run(catalog, "user", "passwd", "carol", stdin="short\n")
    assert code == 2
    assert "at least 10 characters" in err
    code, out, _ = run(catalog, "user", "passwd", "carol", stdin="a good long password\n")
    assert code == 0
    assert "password set for carol" in out
    with Accessio(catalog) as opened, opened.engine.connect() as conn:
        stored = accounts.password_hash(conn, "carol")
    assert stored is not None
    assert stored[1] is not None
    assert stored[1].startswith("$argon2id$")
    assert "a good long password" not in stored[1]
