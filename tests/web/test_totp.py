"""The optional TOTP second factor: set up from the account page, asked after the password."""
from __future__ import annotations

import re

import pyotp


def turn_on_totp(auth) -> pyotp.TOTP:
    """Scan-equivalent: read the key from the account page and confirm with a current code."""
    page = auth.client.get("/account").get_data(as_text=True)
    assert "<svg" in page  # the QR code, inline
    totp = pyotp.TOTP(re.search(r"<code>([A-Z2-7]+)</code>", page).group(1))
    auth.post("/account", "/account", code=totp.now())
    return totp


def test_setup_then_login_needs_the_code(logged_in, client, db):
    totp = turn_on_totp(logged_in)
    stored = db.get_user("alice")["totp_secret"]
    assert stored and totp.secret not in stored  # kept encrypted
    logged_in.logout()
    response = logged_in.login(next="/logs")
    assert response.headers["Location"].startswith("/login/code")
    assert client.get("/").status_code == 302  # the password alone is not a session
    wrong = logged_in.post("/login/code?next=/logs", "/login/code", code="000000")
    assert wrong.status_code == 401 and db.get_user("alice")["failed_logins"] == 1
    right = logged_in.post("/login/code?next=/logs", "/login/code", code=totp.now())
    assert right.headers["Location"] == "/logs"
    assert client.get("/").status_code == 200


def test_wrong_setup_code_keeps_it_off(logged_in, db):
    logged_in.post("/account", "/account", code="123456")
    assert not db.get_user("alice").get("totp_secret")


def test_turn_off_needs_a_code(logged_in, db):
    totp = turn_on_totp(logged_in)
    logged_in.post("/account", "/account", code=totp.now())
    assert not db.get_user("alice").get("totp_secret")


def test_code_page_without_a_password_step_goes_to_login(client):
    assert client.get("/login/code").headers["Location"] == "/login"
