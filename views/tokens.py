"""Tokens: status, "Refresh now", and the guided Fyers login with its callback."""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

import portfolio
import token_refresh
from auth import login_required
from broker import BrokerError, BrokerUnavailable
from next_run import automatic_runs
from store import StoreError
from views import get_config, get_store

logger = logging.getLogger(__name__)
bp = Blueprint("tokens", __name__)
STATE_KEY = "fyers_state"


LOG_IN_BELOW = "log in to Fyers below"  # on the Tokens page, above its login button


def status_for_pages(now: float | None = None) -> token_refresh.TokenStatus:
    """The token status as the Tokens page shows it: judged against the next automatic run,
    if any."""
    config, store = get_config(), get_store()
    now = time.time() if now is None else now
    automatic = automatic_runs(config, store, now).at is not None
    return token_refresh.token_status(config, store, now, runs_automatically=automatic,
                                      log_in=LOG_IN_BELOW)


@bp.app_context_processor
def login_banner() -> dict[str, Callable[[], token_refresh.TokenStatus | None]]:
    """Every page may show the "Fyers login needed" banner; the status is read only when the
    page's template asks for it (base.html does, for a logged-in user)."""
    return {"fyers_login_needed": fyers_login_needed}


def fyers_login_needed() -> token_refresh.TokenStatus | None:
    """The token status when a login is needed, else None (also when the store is down: the
    page says that on its own)."""
    try:
        status = token_refresh.token_status(get_config(), get_store())
    except StoreError:
        return None
    return status if status.login_needed else None


@bp.route("/tokens")
@login_required
def index() -> str:
    """The token status as Fyers last gave it, and the two ways to fix it."""
    config = get_config()
    now = time.time()
    return render_template("tokens.html", token=status_for_pages(now), now=now,
                           redirect_uri=config.fyers_redirect_uri, sandbox=config.is_sandbox)


@bp.route("/tokens/refresh", methods=("POST",))
@login_required
def refresh() -> Response:
    """Try the refresh token now; when Fyers refuses it, ask Fyers whether the current token
    still works, so the message and the status below it agree."""
    config, store = get_config(), get_store()
    try:
        token_refresh.refresh_tokens(config, store)
    except token_refresh.RefreshFailed as exc:
        refresh_refused(exc.why, exc.detail)
    except BrokerError as exc:
        refresh_refused("Fyers could not be asked to refresh the login", str(exc))
    else:
        flash(f"Token refreshed: valid until {until(status_for_pages())}.", "success")
    return redirect(url_for("tokens.index"))


def refresh_refused(why: str, detail: str) -> None:
    """One plain sentence: nothing to do while the current login still works (Fyers is asked),
    try again when Fyers cannot be asked about a login that should still work, else log in;
    what Fyers said stays behind a "Details" toggle."""
    works = token_refresh.ask_fyers(get_config(), get_store())
    status = status_for_pages()
    if works:
        text, category = (f"{why}; your current login works until {until(status)}, so there is "
                          f"nothing to do now.", "info")
    elif works is None and status.state in ("VALID", "EXPIRING"):  # a login can't reach it either
        text, category = (f"{why}, and could not be reached to check your current login either: "
                          f"the status below is the last Fyers gave. Try again in a minute.",
                          "warning")
    else:
        text, category = f"{why}: {LOG_IN_BELOW}.", "danger"
    flash({"text": text, "detail": detail}, category)


def until(status: token_refresh.TokenStatus) -> str:
    """When the access token ends, e.g. '06:00 IST tomorrow'."""
    return portfolio.ist_when(status.access_expires_at, time.time())


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
    """Where Fyers sends the browser back: check the state (this browser's login, or one
    `token_refresh.py login-url` started), exchange the code, report."""
    expected = session.pop(STATE_KEY, None)
    state, auth_code = request.args.get("state", ""), request.args.get("auth_code", "")
    started_here = bool(expected) and secrets.compare_digest(state.encode(), expected.encode())
    if not started_here and not token_refresh.take_cli_login(get_store(), state):
        logger.warning("Fyers callback refused: state mismatch")
        flash("This login did not start here (state mismatch), so it was refused: "
              "tap “Log in to Fyers” again.", "danger")
    elif not auth_code:
        flash("Fyers sent no auth code (was the login cancelled?): try again.", "warning")
    else:
        try:
            token_refresh.exchange_auth_code(get_config(), get_store(), auth_code)
        except BrokerUnavailable as exc:
            flash(f"Fyers could not be reached to finish the login ({exc}): tap “Log in to "
                  f"Fyers” again.", "danger")
        except BrokerError as exc:
            flash(f"Fyers refused the login: {exc}", "danger")
        else:
            flash(f"Logged in to Fyers: the token is valid until {until(status_for_pages())}.",
                  "success")
    return redirect(url_for("tokens.index"))
