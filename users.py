"""Managing users from the command line (`flask --app app users …`) and the first admin."""
from __future__ import annotations

import logging
import re
import secrets

import click
from flask.cli import AppGroup
from werkzeug.security import generate_password_hash

from auth import end_every_session
from store.base import DuplicateKey, Store
from views import get_store

logger = logging.getLogger(__name__)

users_cli = AppGroup("users", help="Create users, change passwords, unlock locked users.")

USERNAME = re.compile(r"[\w.@+-]{1,64}")  # what the login form can carry back unchanged
MIN_PASSWORD_LENGTH = 8  # NIST SP 800-63B's floor for a password the user chooses


def check_username(name: str) -> None:
    """Refuse an empty username, or one with spaces or other characters a login can't carry."""
    if not USERNAME.fullmatch(name):
        raise click.ClickException(f"username {name!r} is not allowed: use 1 to 64 letters, "
                                   "digits and . _ @ + - (no spaces)")


def check_password(password: str) -> None:
    """Refuse an empty or short password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"the password is too short: use at least "
                                   f"{MIN_PASSWORD_LENGTH} characters")


def ensure_admin(store: Store) -> str | None:
    """Create user "admin" with a random password when there are no users; returns it."""
    if store.count_users():
        return None
    password = secrets.token_urlsafe(12)
    store.create_user("admin", generate_password_hash(password))
    logger.info("created the first user, admin")
    return password


@users_cli.command("create")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(name: str, password: str) -> None:
    """Create a user."""
    check_username(name)
    check_password(password)
    try:
        get_store().create_user(name, generate_password_hash(password))
    except DuplicateKey:
        raise click.ClickException(f"user {name!r} exists already") from None
    click.echo(f"Created user {name}.")


@users_cli.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def passwd_command(name: str, password: str) -> None:
    """Set a user's password and end all their sessions and pending logins."""
    check_password(password)
    store = get_store()
    if not store.update_user(name, password_hash=generate_password_hash(password)):
        raise click.ClickException(f"no user {name!r}")
    end_every_session(store, name)
    click.echo(f"Password of {name} changed; their sessions are ended.")


@users_cli.command("unlock")
@click.argument("name")
def unlock_command(name: str) -> None:
    """Clear a user's lockout and failure count."""
    if not get_store().update_user(name, failed_logins=0, locked_until=None):
        raise click.ClickException(f"no user {name!r}")
    click.echo(f"Unlocked {name}.")
