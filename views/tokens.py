"""Tokens: status, "Refresh now", and the guided Fyers login with its callback."""
from __future__ import annotations

import logging
import secrets
import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

import token_refresh
from auth import login_required
from broker import BrokerError
from views import get_config, get_store

logger = logging.getLogger(__name__)
bp = Blueprint("tokens", __name__)
STATE_KEY = "fyers_state"


@bp.route("/tokens")
@login_required
def index() -> str:
    """The token status and the two ways to fix it."""
    config, store = get_config(), get_store()
    return render_template("tokens.html", token=token_refresh.token_status(config, store),
                           now=time.time(), redirect_uri=config.fyers_redirect_uri,
                           sandbox=config.is_sandbox)


@bp.route("/tokens/refresh", methods=("POST",))
@login_required
def refresh() -> Response:
    """Try the refresh token now and say plainly whether it worked."""
    try:
        status = token_refresh.refresh_tokens(get_config(), get_store())
    except BrokerError as exc:
        flash(f"Refresh failed: {exc}", "danger")
    else:
        flash(f"Token refreshed. {status.message}", "success")
    return redirect(url_for("tokens.index"))


@bp.route("/tokens/login")
@login_required
def login() -> Response:
    """Send the owner to the Fyers login, remembering a random state to check on return."""
    state = secrets.token_urlsafe(16)
    try:
        url = token_refresh.login_url(get_config(), state)
    except BrokerError as exc:
        flash(f"Cannot open the Fyers login: {exc}", "danger")
        return redirect(url_for("tokens.index"))
    session[STATE_KEY] = state
    return redirect(url)


@login_required
def callback() -> Response:
    """Where Fyers sends the browser back: check the state, exchange the code, report."""
    expected = session.pop(STATE_KEY, None)
    state, auth_code = request.args.get("state", ""), request.args.get("auth_code", "")
    if not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        logger.warning("Fyers callback refused: state mismatch")
        flash("This login did not start here (state mismatch), so it was refused: "
              "tap “Log in to Fyers” again.", "danger")
    elif not auth_code:
        flash("Fyers sent no auth code (was the login cancelled?): try again.", "warning")
    else:
        try:
            status = token_refresh.exchange_auth_code(get_config(), get_store(), auth_code)
        except BrokerError as exc:
            flash(f"Fyers refused the login: {exc}", "danger")
        else:
            flash(f"Logged in to Fyers. {status.message}", "success")
    return redirect(url_for("tokens.index"))
