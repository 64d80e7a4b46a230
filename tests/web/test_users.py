"""The users CLI (`flask --app app users …`) and the first admin: clear one-line refusals."""
from __future__ import annotations

import subprocess
import sys

import pytest

from config import PROJECT_DIR
from users import ensure_admin


def test_cli_create_and_passwd(runner, auth, db):
    result = runner.invoke(args=["users", "create", "bob", "--password", "pw-one-11"])
    assert result.exit_code == 0, result.output
    assert auth.login("bob", "pw-one-11").status_code == 302
    result = runner.invoke(args=["users", "passwd", "bob"], input="pw-two-22\npw-two-22\n")
    assert result.exit_code == 0, result.output
    assert db.list_sessions("bob") == []
    assert auth.login("bob", "pw-one-11").status_code == 401
    assert auth.login("bob", "pw-two-22").status_code == 302


def test_cli_refuses_a_taken_name(runner):
    result = runner.invoke(args=["users", "create", "alice", "--password", "long enough"])
    assert result.exit_code != 0 and "exists" in result.output


@pytest.mark.parametrize("name", ["", " ", "bob smith", " bob", "bob\t", "bob\n", "x" * 65,
                                  "<b>"])
def test_cli_refuses_empty_or_spaced_usernames(runner, db, name):
    result = runner.invoke(args=["users", "create", name, "--password", "long enough"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: username") and result.output.count("\n") == 1
    assert [user["username"] for user in db.list_users()] == ["alice"]


@pytest.mark.parametrize("password", ["", "short"])
def test_cli_refuses_empty_or_short_passwords(runner, auth, db, password):
    created = runner.invoke(args=["users", "create", "bob", "--password", password])
    changed = runner.invoke(args=["users", "passwd", "alice", "--password", password])
    for result in (created, changed):
        assert result.exit_code == 1
        assert result.output.startswith("Error: the password is too short")
    assert db.get_user("bob") is None
    assert auth.login().status_code == 302  # alice's password is unchanged


def test_cli_with_an_unsupported_store_url_says_so_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "users", "create", "bob",
         "--password", "long enough"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://db.example/shop",
             "SECRET_KEY": "k", "HOME": str(tmp_path)},
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ("error: the store cannot be used: unsupported store URL "
                             "'postgres': use sqlite:/// or mongodb://\n")


def test_ensure_admin_only_on_an_empty_store(store):
    password = ensure_admin(store)
    assert password and store.get_user("admin")
    assert ensure_admin(store) is None
