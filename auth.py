"""Users, server-side sessions, lockout and the login/logout pages.

A session is a random token in an HttpOnly cookie; only its sha256 is stored, so a leaked
database cannot be replayed as a login. Flask's own signed cookie only carries CSRF and
short-lived flow state (flashes, the Fyers login state, a pending TOTP check).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.cli import AppGroup
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.security import check_password_hash, generate_password_hash

from store.base import DuplicateKey, Store
from views import get_config, get_store

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
limiter = Limiter(get_remote_address, storage_uri="memory://")
users_cli = AppGroup("users", help="Create users, change passwords, unlock locked users.")

SESSION_COOKIE = "nifty_session"
# One answer for an unknown user, a wrong password and a locked user: none of them may tell
# an attacker which usernames exist.
BAD_LOGIN = "Wrong username or password (after too many failed logins a user is locked for a while)."
TOUCH_EVERY_S = 60  # write last_seen at most once a minute per session


def hash_token(token: str) -> str:
    """The sha256 hex of a session token: what the store keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A password hash to check against for unknown users, so both failures cost the same."""
    return generate_password_hash(secrets.token_urlsafe(16))


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else the dashboard (no open redirect)."""
    try:
        parts = urlsplit((target or "").replace("\\", "/"))
    except ValueError:  # "//[" and friends: an unparsable URL is no place to go
        return url_for("dashboard.index")
    if target and target.startswith("/") and not parts.scheme and not parts.netloc \
            and not target.startswith(("//", "/\\")):
        return target
    return url_for("dashboard.index")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the login page, coming back here afterwards."""
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return wrapped


def start_session(store: Store, username: str, now: float | None = None) -> str:
    """Create a session for `username`, ending the oldest beyond the cap; returns the token."""
    config = get_config()
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    store.create_session({"token_hash": hash_token(token), "username": username,
                          "created_at": now, "last_seen": now,
                          "expires_at": now + config.session_max_hours * 3600})
    sessions = store.list_sessions(username)
    for old in sessions[:max(0, len(sessions) - config.max_sessions_per_user)]:
        store.delete_session(old["token_hash"])
        logger.info("session cap reached: ended the oldest session of %s", username)
    return token


def session_is_live(record: dict[str, Any], now: float) -> bool:
    """True while a stored session is within both its idle and absolute lifetimes."""
    idle_s = get_config().session_idle_minutes * 60
    return now < record["expires_at"] and now - record["last_seen"] < idle_s


@bp.before_app_request
def load_logged_in_user() -> None:
    """Set g.user (the user record or None) from the session cookie."""
    g.user = None
    token = request.cookies.get(SESSION_COOKIE)
    if not token or request.endpoint == "static":
        return
    store, now, token_hash = get_store(), time.time(), hash_token(token)
    record = store.get_session(token_hash)
    if record is None:
        return
    if not session_is_live(record, now):
        store.delete_session(token_hash)
        return
    if now - record["last_seen"] >= TOUCH_EVERY_S:
        store.touch_session(token_hash, now)
    g.user = store.get_user(record["username"])
    g.session_hash = token_hash


def set_session_cookie(response: Response, token: str) -> Response:
    """Attach the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    secure = request.is_secure or current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(SESSION_COOKIE, token, max_age=get_config().session_max_hours * 3600,
                        httponly=True, samesite="Lax", secure=secure)
    return response


def check_credentials(store: Store, username: str, password: str) -> dict | None:
    """The user when the password is right and the user not locked, else None.

    Failures are counted atomically in the store and the lock is judged after counting, so
    simultaneous attempts can neither undercount nor slip past a lock they raced with.
    """
    now = time.time()
    user = store.get_user(username) if username else None
    password_ok = check_password_hash(user["password_hash"] if user else dummy_hash(), password)
    if user is None:
        return None
    if not password_ok:
        register_failure(store, username, now)
        return None
    return user if store.clear_login_failures(username, now) else None


def is_locked(user: dict[str, Any] | None, now: float) -> bool:
    """True while the user's lockout lasts."""
    return user is not None and (user.get("locked_until") or 0) > now


def register_failure(store: Store, username: str, now: float) -> None:
    """Count a failed login (not while locked); the one reaching the limit locks the user."""
    config = get_config()
    if store.record_login_failure(username, now, config.max_failed_logins,
                                  now + config.lockout_minutes * 60):
        logger.warning("user %s locked after %d failed logins", username,
                       config.max_failed_logins)


def finish_login(username: str, next_url: str | None) -> Response:
    """Start the session and go where the user was heading."""
    target = safe_next(next_url)  # first: a bad target must not leave a session behind
    token = start_session(get_store(), username)
    session.pop("pending_user", None)
    logger.info("user %s logged in", username)
    return set_session_cookie(redirect(target), token)


@bp.route("/login", methods=("GET", "POST"))
@limiter.limit(lambda: get_config().login_rate_limit, methods=["POST"])
def login() -> Any:
    """Show the login form; on POST check the password (and TOTP when the user has one)."""
    next_url = request.values.get("next")
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = check_credentials(get_store(), username, request.form.get("password", ""))
        if user is None:
            flash(BAD_LOGIN, "danger")
            return render_template("login.html", next=next_url, username=username), 401
        if user.get("totp_secret"):
            session["pending_user"] = username
            return redirect(url_for("account.totp_verify", next=next_url))
        return finish_login(username, next_url)
    return render_template("login.html", next=next_url, username="")


@bp.route("/logout", methods=("POST",))
def logout() -> Response:
    """End this session (server side too) and return to the login page."""
    if g.user is not None:
        get_store().delete_session(g.session_hash)
    response = redirect(url_for("auth.login"))
    response.delete_cookie(SESSION_COOKIE)
    flash("You are logged out.", "info")
    return response


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
    try:
        get_store().create_user(name, generate_password_hash(password))
    except DuplicateKey:
        raise click.ClickException(f"user {name!r} exists already") from None
    click.echo(f"Created user {name}.")


@users_cli.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def passwd_command(name: str, password: str) -> None:
    """Set a user's password and end all their sessions."""
    store = get_store()
    if not store.update_user(name, password_hash=generate_password_hash(password)):
        raise click.ClickException(f"no user {name!r}")
    for old in store.list_sessions(name):
        store.delete_session(old["token_hash"])
    click.echo(f"Password of {name} changed; their sessions are ended.")


@users_cli.command("unlock")
@click.argument("name")
def unlock_command(name: str) -> None:
    """Clear a user's lockout and failure count."""
    if not get_store().update_user(name, failed_logins=0, locked_until=None):
        raise click.ClickException(f"no user {name!r}")
    click.echo(f"Unlocked {name}.")
