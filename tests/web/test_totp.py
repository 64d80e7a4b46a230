"""The optional TOTP second factor: set up from the account page with the password, asked after
the password as a server-side, short-lived, single-use step; each code logs in once."""
from __future__ import annotations

import re
import time

import pyotp

from auth import LOGIN_STEP_KEY, LOGIN_STEP_S, SESSION_COOKIE, start_login_step
from tests.web.conftest import PASSWORD, AuthActions

KEY = re.compile(r"<code>([A-Z2-7]+)</code>")


def shown_key(auth) -> str:
    """The setup key the account page offers."""
    page = auth.client.get("/account").get_data(as_text=True)
    assert "<svg" in page  # the QR code, inline
    return KEY.search(page).group(1)


def turn_on_totp(auth) -> pyotp.TOTP:
    """Scan-equivalent: read the key from the account page and confirm with a code from the
    previous time step (so the current one is still unused for the login that follows)."""
    totp = pyotp.TOTP(shown_key(auth))
    seconds_into_step = time.time() % totp.interval
    if seconds_into_step > totp.interval - 2:  # the previous step's code would be two steps old
        time.sleep(totp.interval - seconds_into_step + 0.1)
    auth.post("/account", "/account", password=PASSWORD, code=totp.at(time.time() - 30))
    assert "Two-factor login is on" in auth.client.get("/account").get_data(as_text=True)
    return totp


def later_code(totp: pyotp.TOTP) -> str:
    """The next time step's code: accepted (clock drift) and not used yet."""
    return totp.at(time.time() + 30)


def password_step(client) -> AuthActions:
    """A client that gave alice's password and now owes the code."""
    auth = AuthActions(client)
    assert auth.login().headers["Location"].startswith("/login/code")
    return auth


def send_code(auth, code: str, next_page: str = ""):
    path = f"/login/code?next={next_page}" if next_page else "/login/code"
    return auth.post(path, "/login/code", code=code)


def test_setup_then_login_needs_the_code(logged_in, client, db):
    totp = turn_on_totp(logged_in)
    stored = db.get_user("alice")["totp_secret"]
    assert stored and totp.secret not in stored  # kept encrypted
    logged_in.logout()
    response = logged_in.login(next="/logs")
    assert response.headers["Location"].startswith("/login/code")
    assert client.get("/").status_code == 302  # the password alone is not a session
    wrong = send_code(logged_in, "000000", "/logs")
    assert wrong.status_code == 401 and db.get_user("alice")["failed_logins"] == 1
    right = send_code(logged_in, totp.now(), "/logs")
    assert right.headers["Location"] == "/logs"
    assert client.get("/").status_code == 200


def test_wrong_setup_code_keeps_it_off(logged_in, db):
    logged_in.post("/account", "/account", password=PASSWORD, code="123456")
    assert not db.get_user("alice").get("totp_secret")


def test_turning_totp_on_or_off_asks_for_the_password(logged_in, db):
    totp = pyotp.TOTP(shown_key(logged_in))
    logged_in.post("/account", "/account", password="wrong", code=totp.now())
    assert not db.get_user("alice")["totp_secret"]
    assert db.get_user("alice")["failed_logins"] == 1
    logged_in.post("/account", "/account", password=PASSWORD, code=totp.now())
    assert db.get_user("alice")["totp_secret"]
    logged_in.post("/account", "/account", code=later_code(totp))
    logged_in.post("/account", "/account", password="wrong", code=later_code(totp))
    assert db.get_user("alice")["totp_secret"]
    logged_in.post("/account", "/account", password=PASSWORD, code=later_code(totp))
    assert not db.get_user("alice")["totp_secret"]


def test_code_page_without_a_password_step_goes_to_login(client):
    assert client.get("/login/code").headers["Location"] == "/login"


def test_one_code_logs_in_once(app, logged_in):
    totp = turn_on_totp(logged_in)
    code = totp.now()
    assert send_code(password_step(app.test_client()), code).status_code == 302
    second = password_step(app.test_client())
    assert send_code(second, code).status_code == 401
    assert send_code(second, later_code(totp)).status_code == 302


def saved_flask_cookie(client) -> str:
    return client.get_cookie("session").value


def replayed(app, cookie: str):
    """A new browser carrying a saved Flask session cookie, at the code step."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return AuthActions(client)


def test_a_used_code_step_cannot_be_replayed(app, logged_in):
    totp = turn_on_totp(logged_in)
    browser = password_step(app.test_client())
    saved = saved_flask_cookie(browser.client)
    assert send_code(browser, totp.now()).status_code == 302
    thief = replayed(app, saved)
    response = thief.post("/login/code", "/login", code=later_code(totp))
    assert response.headers["Location"] == "/login"
    assert not thief.client.get_cookie(SESSION_COOKIE)


def test_a_pending_step_ends_at_logout_and_at_a_password_change(app, logged_in, runner):
    totp = turn_on_totp(logged_in)
    saved = saved_flask_cookie(password_step(app.test_client()).client)
    logged_in.logout()
    assert replayed(app, saved).client.get("/login/code").headers["Location"] == "/login"
    saved = saved_flask_cookie(password_step(app.test_client()).client)
    result = runner.invoke(args=["users", "passwd", "alice", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    thief = replayed(app, saved)
    assert thief.post("/login/code", "/login", code=later_code(totp)).headers["Location"] == "/login"


def test_a_pending_step_expires_within_minutes(app, logged_in, db):
    turn_on_totp(logged_in)
    client = app.test_client()
    with app.test_request_context():
        old = start_login_step(db, "alice", now=time.time() - LOGIN_STEP_S - 1)
        fresh = start_login_step(db, "alice")
    with client.session_transaction() as flask_session:
        flask_session[LOGIN_STEP_KEY] = old
    assert client.get("/login/code").headers["Location"] == "/login"
    with client.session_transaction() as flask_session:
        flask_session[LOGIN_STEP_KEY] = fresh
    assert client.get("/login/code").status_code == 200


def test_the_setup_key_is_bound_to_its_user_and_gone_at_logout(logged_in, db, runner):
    runner.invoke(args=["users", "create", "bob", "--password", "bob-password"])
    alices = shown_key(logged_in)
    logged_in.logout()
    with logged_in.client.session_transaction() as flask_session:
        assert alices not in str(dict(flask_session))
    assert logged_in.login("bob", "bob-password").status_code == 302
    bobs = shown_key(logged_in)
    assert bobs != alices
    (bob_session,) = db.list_sessions("bob")
    db.delete_session(bob_session["token_hash"])  # it ends without a logout (e.g. it expired)
    assert logged_in.login().status_code == 302
    assert shown_key(logged_in) not in (alices, bobs)
