"""The Flask application factory: assembles config, store, extensions, blueprints and CLI."""
from __future__ import annotations

import logging
import sys
from typing import NoReturn
from urllib.parse import urlsplit

from flask import Flask, Response, g, render_template
from flask_compress import Compress
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import order_outcomes
import paper_mode
import portfolio
import strategy_settings
from config import Config, load_config_or_exit
from login_limit import close_login_limit, init_login_limit
from messages import STORE_UNAVAILABLE, run_status_label, run_trigger_label
from redaction import redact
from static_files import init_static_files
from store import Store, StoreError, configured_store
from store.log_handler import setup_logging
from trading_calendar import HolidayFileError, added_holidays
from users import users_cli

logger = logging.getLogger(__name__)
csrf = CSRFProtect()
compress = Compress()  # pages and fragments: zstd, Brotli or gzip, as the browser accepts

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'self'; form-action 'self' https:; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(config: Config | None = None) -> Flask:
    """Build the web app on `config` (the environment's when None). A bad setting or an
    unusable store ends the process with one line on stderr (the CLIs build it too)."""
    config = config or load_config_or_exit()  # a bad value: one line naming the key, exit 2
    holidays_or_exit()
    app = Flask(__name__)
    trust_proxies(app, config.trusted_proxies)
    # Cookies are Secure when the app's public URL (its Fyers callback) is https, so a TLS
    # proxy in front of waitress needs no extra flag.
    app.config.update(SECRET_KEY=config.secret("secret_key"), SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.fyers_redirect_uri.startswith("https://"),
                      WTF_CSRF_TIME_LIMIT=None, MAX_CONTENT_LENGTH=1024 * 1024)
    store = store_or_exit(config)
    app.extensions["store"] = store
    app.extensions["nifty_config"] = config
    setup_logging(config, store)
    try:
        strategy_settings.save_first_run_defaults(config, store)
        paper_mode.save_first_run_default(config, store)
    except StoreError as exc:  # e.g. a read-only SQLite file: the app could keep nothing
        exit_for_store(exc, "written")
    csrf.init_app(app)
    init_login_limit(app)
    register_blueprints(app, config)
    register_pages(app)
    compress.init_app(app)
    init_static_files(app, SECURITY_HEADERS)
    app.cli.add_command(users_cli)
    if config.scheduler_enabled:
        from scheduler import init_scheduler

        init_scheduler(app, config)
    return app


def trust_proxies(app: Flask, count: int) -> None:
    """Behind `count` reverse proxies, take the client's address (the login rate limit's key),
    scheme (Secure cookies, CSRF's referrer check) and host from their X-Forwarded-* headers;
    with 0, those headers are ignored, since any client could forge them."""
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def store_or_exit(config: Config) -> Store:
    """The configured store, or one line on stderr and exit status 1."""
    try:
        return configured_store(config)
    except StoreError as exc:
        exit_for_store(exc, "used")


def exit_for_store(error: StoreError, what: str) -> NoReturn:
    """One line on stderr, 'error: the store cannot be <what>: <why>', and exit status 1."""
    print(f"error: the store cannot be {what}: {redact(str(error))}", file=sys.stderr)
    raise SystemExit(1) from None


def holidays_or_exit() -> None:
    """Read nse_holidays.txt now: a line that is not a date is one line on stderr and exit
    status 2, not an error page on every page that asks about trading days."""
    try:
        added_holidays()
    except HolidayFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def close_app(app: Flask) -> None:
    """Stop logging into this app's store, then close the store (tests, benchmarks): the log
    handler's writer thread must never write to a closed connection."""
    close_login_limit(app)
    store = app.extensions["store"]
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "store", None) is store]:
        root.removeHandler(handler)
        handler.close()
    store.close()


def register_blueprints(app: Flask, config: Config) -> None:
    """One blueprint per area; the Fyers callback lives at the path of FYERS_REDIRECT_URI."""
    from auth import bp as auth_bp
    from views import (
        account,
        alerts,
        backtests,
        dashboard,
        logs,
        paper,
        strategy,
        tokens,
        trading,
    )

    for blueprint in (auth_bp, account.bp, dashboard.bp, trading.bp, logs.bp, tokens.bp,
                      strategy.bp, paper.bp, backtests.bp, alerts.bp):
        app.register_blueprint(blueprint)
    callback_path = urlsplit(config.fyers_redirect_uri).path or "/tokens/callback"
    app.add_url_rule(callback_path, "tokens_callback", tokens.callback)


def register_pages(app: Flask) -> None:
    """Jinja filters, security headers and error pages shared by every page."""
    app.add_template_filter(portfolio.inr, "inr")
    app.add_template_filter(portfolio.pct, "pct")
    app.add_template_filter(portfolio.ist, "ist")
    app.add_template_filter(portfolio.ticker, "ticker")
    app.add_template_filter(portfolio.sign_class, "sign_class")
    app.add_template_filter(portfolio.ist_when, "ist_when")
    app.add_template_filter(portfolio.day_label, "day")
    app.add_template_filter(portfolio.trade_line, "trade_line")
    app.add_template_filter(portfolio.estimated_price, "estimated_price")
    app.add_template_filter(portfolio.estimate_words, "estimate_words")
    app.add_template_filter(run_status_label, "run_status")
    app.add_template_filter(run_trigger_label, "run_trigger")
    app.add_template_filter(order_outcomes.phrase, "outcome")
    app.add_template_filter(order_outcomes.badge, "outcome_badge")
    app.add_template_global(portfolio.duration, "duration")
    app.add_template_global(paper_shown, "paper_trading")
    app.add_template_global(paper_prices, "paper_prices")
    app.add_template_global(book_label, "book_label")
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(StoreError, store_error)
    app.register_error_handler(Exception, server_error)


def paper_shown() -> bool:
    """Whether the page says Paper (banner, title): the book the pages show, False when the
    store cannot say (the page is an error page then)."""
    from views import is_paper

    try:
        return is_paper()
    except StoreError:
        return False


def paper_prices() -> str:
    """What paper orders fill at, for the pages that say so."""
    from views import get_config

    return paper_mode.paper_prices(get_config())


def book_label(book: str) -> str:
    """'paper', 'sandbox' or 'real-money': what the pages call a run of `book`."""
    from views import get_config

    return paper_mode.book_label(get_config(), book)


def add_security_headers(response: Response) -> Response:
    """Every response: CSP 'self' only, no framing, no sniffing, no cross-site referrer; and
    what a logged-in user sees is never kept by the browser or a proxy cache (static files,
    which never carry g.user, keep their own caching)."""
    response.headers.update(SECURITY_HEADERS)
    if g.get("user") is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def csrf_error(error: CSRFError) -> tuple[str, int]:
    """A POST without a valid CSRF token: say so and suggest reloading the page."""
    return render_template("error.html", code=400, title="Form expired",
                           message="This form was stale or incomplete: reload the page and "
                                   "try again."), 400


def http_error(error: HTTPException) -> tuple[str, int]:
    """404, 405, 429 and friends as a page, not a bare text response."""
    return render_template("error.html", code=error.code, title=error.name,
                           message=error.description), error.code or 500


def store_error(error: StoreError) -> tuple[str, int]:
    """The store failed (locked, full, out of reach): say so, and where this error is kept,
    since the logs page is in the store that failed."""
    logger.error("a page could not use the store: %s", error)
    return render_template(
        "error.html", code=503, title="The database could not be used",
        message=f"{STORE_UNAVAILABLE.sentence}: {redact(str(error))}. Try again in a moment. "
                "This error is on the web app's console, as the logs page is kept in that "
                "database."), 503


def server_error(error: Exception) -> tuple[str, int]:
    """Anything unexpected: log it with its traceback, show a plain page without one."""
    logger.exception("unhandled error on a page")
    return render_template("error.html", code=500, title="Something went wrong",
                           message="The error was logged. Try again, or check the logs page."
                           ), 500
