"""The whole login flow: password, TOTP step, lockout, server-side sessions, login/logout pages.

A session is a random token in an HttpOnly cookie; only its sha256 is stored, so a leaked
database cannot be replayed as a login. The TOTP step after a right password is a server-side
record too (`login_steps`), short-lived and single-use; Flask's own signed cookie only carries
CSRF, flashes, the Fyers login state and short-lived handles (docs/security.md).
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

import pyotp
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
from werkzeug.security import check_password_hash, generate_password_hash

import encryption
from login_limit import limiter, login_rate_limit
from store.base import Store
from views import get_config, get_store

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

SESSION_COOKIE = "nifty_session"
# One answer for an unknown user, a wrong password and a locked user: none of them may tell
# an attacker which usernames exist.
BAD_LOGIN = "Wrong username or password (after too many failed logins a user is locked for a while)."
BAD_CODE = "That code is not right (after too many failed logins a user is locked for a while)."
TOUCH_EVERY_S = 60  # write last_seen at most once a minute per session
LOGIN_STEP_KEY = "login_step"  # Flask session key of the pending TOTP step's token
LOGIN_STEP_S = 5 * 60  # time to type the code after the password


def hash_token(token: str) -> str:
    """The sha256 hex of a session or login-step token: what the store keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A password hash to check against for unknown users, so both failures cost the same."""
    return generate_password_hash(secrets.token_urlsafe(16))


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else the dashboard (no open redirect). A
    control character goes to the dashboard too: urlsplit drops CR and LF, but the Location
    header refuses them, after the login or action it follows has happened."""
    if any(ord(char) < 32 or ord(char) == 127 for char in target or ""):
        return url_for("dashboard.index")
    try:
        parts = urlsplit((target or "").replace("\\", "/"))
    except ValueError:  # "//[" and friends: an unparsable URL is no place to go
        return url_for("dashboard.index")
    if target and target.startswith("/") and not parts.scheme and not parts.netloc \
            and not target.startswith(("//", "/\\")):
        return target
    return url_for("dashboard.index")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the login page, coming back here afterwards. A fragment htmx
    polls (a run followed live) sends the whole page there, not the login form into a card."""
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if g.user is not None:
            return view(**kwargs)
        if request.headers.get("HX-Request") == "true":
            shown = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = f"{shown.path}?{shown.query}" if shown.query else shown.path
            response = Response("", 401)
            response.headers["HX-Redirect"] = url_for("auth.login", next=back or None)
            return response
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    return wrapped


# --- sessions -------------------------------------------------------------------------------
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


def end_every_session(store: Store, username: str) -> None:
    """End the user's sessions and pending login steps (a password change)."""
    for old in store.list_sessions(username):
        store.delete_session(old["token_hash"])
    store.delete_login_steps(username)


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


# --- password and lockout -------------------------------------------------------------------
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
    if user.get("totp_secret"):  # the count restarts only once the code is right too
        return None if is_locked(store.get_user(username), now) else user
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


# --- TOTP -----------------------------------------------------------------------------------
def totp_secret(user: dict[str, Any]) -> str:
    """The user's TOTP secret in clear, '' when none (or unreadable with this key)."""
    stored = user.get("totp_secret")
    return (encryption.decrypt(get_config(), stored) or "") if stored else ""


def accept_totp_code(store: Store, username: str, secret: str, code: str, now: float) -> bool:
    """True when `code` is `secret`'s code for a time step around `now` (one step of clock
    drift either way) that this user has not used yet; that step is used up."""
    if not secret:
        return False
    totp, code = pyotp.TOTP(secret), code.replace(" ", "")
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)):
            return store.claim_totp_step(username, step)
    return False


def check_code(store: Store, user: dict[str, Any], code: str, now: float) -> bool:
    """True when the user is not locked and `code` is right and unused; a right code restarts
    the failure count, a wrong one counts as a failed login."""
    username = user["username"]
    right = not is_locked(user, now) and accept_totp_code(store, username, totp_secret(user),
                                                          code, now)
    if right and store.clear_login_failures(username, now):
        return True
    register_failure(store, username, now)
    return False


def start_login_step(store: Store, username: str, now: float | None = None) -> str:
    """Record that `username` gave the right password and owes a code; returns its token."""
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    store.create_login_step({"token_hash": hash_token(token), "username": username,
                             "created_at": now, "expires_at": now + LOGIN_STEP_S})
    return token


def pending_login_user() -> dict[str, Any] | None:
    """The user whose password this browser gave, while that step is open (not used, expired,
    or ended by a logout or a password change)."""
    token = session.get(LOGIN_STEP_KEY)
    store = get_store()
    step = store.get_login_step(hash_token(token)) if isinstance(token, str) else None
    if step is None or step["expires_at"] <= time.time():
        return None
    user = store.get_user(step["username"])
    return user if user is not None and user.get("totp_secret") else None


# --- pages ----------------------------------------------------------------------------------
def finish_login(username: str, next_url: str | None) -> Response:
    """Start the session and go where the user was heading."""
    target = safe_next(next_url)  # first: a bad target must not leave a session behind
    store = get_store()
    token = start_session(store, username)
    store.delete_login_steps(username)  # this one is used up; any other is stale
    session.pop(LOGIN_STEP_KEY, None)
    logger.info("user %s logged in", username)
    return set_session_cookie(redirect(target), token)


@bp.route("/login", methods=("GET", "POST"))
@limiter.limit(login_rate_limit, methods=["POST"])
def login() -> Any:
    """Show the login form; on POST check the password, then ask for the code (TOTP users)."""
    next_url = request.values.get("next")
    if request.method == "POST":
        store, username = get_store(), request.form.get("username", "").strip()
        user = check_credentials(store, username, request.form.get("password", ""))
        if user is None:
            flash(BAD_LOGIN, "danger")
            return render_template("login.html", next=next_url, username=username), 401
        if user.get("totp_secret"):
            session[LOGIN_STEP_KEY] = start_login_step(store, username)
            return redirect(url_for("auth.login_code", next=next_url))
        return finish_login(username, next_url)
    return render_template("login.html", next=next_url, username="")


@bp.route("/login/code", methods=("GET", "POST"))
@limiter.limit(login_rate_limit, methods=["POST"])
def login_code() -> Any:
    """Second login step for users with TOTP; wrong codes count towards the lockout."""
    user = pending_login_user()
    if user is None:
        session.pop(LOGIN_STEP_KEY, None)
        return redirect(url_for("auth.login"))
    next_url = request.values.get("next")
    if request.method == "POST":
        if check_code(get_store(), user, request.form.get("code", ""), time.time()):
            return finish_login(user["username"], next_url)
        flash(BAD_CODE, "danger")
        return render_template("totp.html", next=next_url), 401
    return render_template("totp.html", next=next_url)


@bp.route("/logout", methods=("POST",))
def logout() -> Response:
    """End this session and the user's pending login steps; forget this browser's flow state."""
    if g.user is not None:
        get_store().delete_session(g.session_hash)
        get_store().delete_login_steps(g.user["username"])
    session.clear()
    response = redirect(url_for("auth.login"))
    response.delete_cookie(SESSION_COOKIE)
    flash("You are logged out.", "info")
    return response
