"""Account: the optional TOTP second factor, set up with a QR code and checked after the password."""
from __future__ import annotations

import time

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from auth import finish_login, limiter, login_required, register_failure
from views import get_config, get_store

bp = Blueprint("account", __name__)
SETUP_KEY = "totp_setup"
ISSUER = "Nifty Shop"


def fernet() -> Fernet:
    """TOTP secrets are kept encrypted with the token key, like the Fyers tokens."""
    return Fernet(get_config().secret("token_encryption_key").encode())


def code_ok(secret: str, code: str) -> bool:
    """True when `code` is the current TOTP (one step of clock drift allowed)."""
    return pyotp.TOTP(secret).verify(code.replace(" ", ""), valid_window=1)


def stored_secret(user: dict) -> str:
    """The user's TOTP secret in clear, '' when none (or unreadable with this key)."""
    try:
        return fernet().decrypt(user["totp_secret"].encode()).decode() if user.get(
            "totp_secret") else ""
    except InvalidToken:
        return ""


def qr_svg(secret: str, username: str) -> Markup:
    """The provisioning URI as an inline SVG QR code (no external image, CSP-safe)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, border=2))


@bp.route("/account", methods=("GET", "POST"))
@login_required
def index() -> Response | str:
    """Show TOTP status; POST confirms a new secret (setup) or removes it (disable)."""
    user = g.user
    if request.method == "POST":
        secret = stored_secret(user) or session.get(SETUP_KEY, "")
        if not secret or not code_ok(secret, request.form.get("code", "")):
            flash("That code is not right: check your phone's clock and try again.", "danger")
        elif user.get("totp_secret"):
            get_store().update_user(user["username"], totp_secret=None)
            flash("Two-factor login is off.", "info")
        else:
            get_store().update_user(user["username"],
                                    totp_secret=fernet().encrypt(secret.encode()).decode())
            session.pop(SETUP_KEY, None)
            flash("Two-factor login is on: you will be asked for a code after the password.",
                  "success")
        return redirect(url_for("account.index"))
    qr = None
    if not user.get("totp_secret"):
        session.setdefault(SETUP_KEY, pyotp.random_base32())
        qr = qr_svg(session[SETUP_KEY], user["username"])
    return render_template("account.html", qr=qr, setup_secret=session.get(SETUP_KEY))


@bp.route("/login/code", methods=("GET", "POST"))
@limiter.limit(lambda: get_config().login_rate_limit, methods=["POST"])
def totp_verify() -> Response | tuple[str, int] | str:
    """Second login step for users with TOTP; wrong codes count towards the lockout."""
    username = session.get("pending_user")
    user = get_store().get_user(username) if username else None
    if user is None or not user.get("totp_secret"):
        return redirect(url_for("auth.login"))
    next_url = request.values.get("next")
    if request.method == "POST":
        if (user.get("locked_until") or 0) <= time.time() \
                and code_ok(stored_secret(user), request.form.get("code", "")):
            return finish_login(username, next_url)
        register_failure(get_store(), username, time.time())
        flash("That code is not right.", "danger")
        return render_template("totp.html", next=next_url), 401
    return render_template("totp.html", next=next_url)
