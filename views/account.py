"""Account: turn the optional TOTP second factor on (QR code) or off, both with the password."""
from __future__ import annotations

import time
from typing import Any

import pyotp
import segno
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

import encryption
from auth import accept_totp_code, check_credentials, login_required, totp_secret
from login_limit import limiter, login_rate_limit
from views import get_config, get_store

bp = Blueprint("account", __name__)
SETUP_KEY = "totp_setup"
ISSUER = "Nifty Shop"


def setup_secret(username: str) -> str:
    """The key offered for setup in this browser, bound to `username`: another user's (left
    when a session ended without a logout) is never shown, a new one is made instead."""
    offered = session.get(SETUP_KEY)
    if isinstance(offered, dict) and offered.get("username") == username:
        return offered["secret"]
    session[SETUP_KEY] = {"username": username, "secret": pyotp.random_base32()}
    return session[SETUP_KEY]["secret"]


def qr_svg(secret: str, username: str) -> Markup:
    """The provisioning URI as an inline SVG QR code (no external image, CSP-safe)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, border=2))


def change_totp(user: dict[str, Any], password: str, code: str) -> tuple[str, str]:
    """Turn TOTP off when on, else on with this browser's setup key, once the password and a
    code are right; returns the (message, category) to flash."""
    store, username = get_store(), user["username"]
    if check_credentials(store, username, password) is None:
        return ("That password is not right (or too many failed logins locked this user for "
                "a while).", "danger")
    secret = totp_secret(user) or setup_secret(username)
    if not accept_totp_code(store, username, secret, code, time.time()):
        return "That code is not right: check your phone's clock and try again.", "danger"
    if user.get("totp_secret"):
        store.update_user(username, totp_secret=None)
        return "Two-factor login is off.", "info"
    store.update_user(username, totp_secret=encryption.encrypt(get_config(), secret))
    session.pop(SETUP_KEY, None)
    return "Two-factor login is on: you will be asked for a code after the password.", "success"


@bp.route("/account", methods=("GET", "POST"))
@limiter.limit(login_rate_limit, methods=["POST"])
@login_required
def index() -> Response | str:
    """Show TOTP status; POST with the password and a code turns it on (setup) or off."""
    if request.method == "POST":
        flash(*change_totp(g.user, request.form.get("password", ""), request.form.get("code", "")))
        return redirect(url_for("account.index"))
    if g.user.get("totp_secret"):
        return render_template("account.html", qr=None, setup_secret=None)
    username = g.user["username"]
    secret = setup_secret(username)
    return render_template("account.html", qr=qr_svg(secret, username), setup_secret=secret)
