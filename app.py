"""The Flask application factory: assembles config, store, extensions, blueprints and CLI."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, Response, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

import portfolio
import strategy_settings
from auth import limiter, users_cli
from config import Config, load_config_or_exit
from store import configured_store
from store.log_handler import setup_logging

logger = logging.getLogger(__name__)
csrf = CSRFProtect()

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'self'; form-action 'self' https:; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(config: Config | None = None) -> Flask:
    """Build the web app on `config` (the environment's when None)."""
    config = config or load_config_or_exit()  # a bad value: one line naming the key, exit 2
    app = Flask(__name__)
    # Cookies are Secure when the app's public URL (its Fyers callback) is https, so a TLS
    # proxy in front of waitress needs no extra flag.
    app.config.update(SECRET_KEY=config.secret("secret_key"), SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.fyers_redirect_uri.startswith("https://"),
                      WTF_CSRF_TIME_LIMIT=None, MAX_CONTENT_LENGTH=1024 * 1024)
    store = configured_store(config)
    app.extensions["store"] = store
    app.extensions["nifty_config"] = config
    setup_logging(config, store)
    strategy_settings.save_first_run_defaults(config, store)
    csrf.init_app(app)
    limiter.init_app(app)
    register_blueprints(app, config)
    register_pages(app)
    app.cli.add_command(users_cli)
    if config.scheduler_enabled:
        from scheduler import init_scheduler

        init_scheduler(app, config)
    return app


def close_app(app: Flask) -> None:
    """Stop logging into this app's store, then close the store (tests, benchmarks): the log
    handler's writer thread must never write to a closed connection."""
    store = app.extensions["store"]
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "store", None) is store]:
        root.removeHandler(handler)
        handler.close()
    store.close()


def register_blueprints(app: Flask, config: Config) -> None:
    """One blueprint per area; the Fyers callback lives at the path of FYERS_REDIRECT_URI."""
    from auth import bp as auth_bp
    from views import account, alerts, backtests, dashboard, logs, strategy, tokens, trading

    for blueprint in (auth_bp, account.bp, dashboard.bp, trading.bp, logs.bp, tokens.bp,
                      strategy.bp, backtests.bp, alerts.bp):
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
    app.add_template_global(portfolio.duration, "duration")
    app.after_request(add_security_headers)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, server_error)


def add_security_headers(response: Response) -> Response:
    """Every response: CSP 'self' only, no framing, no sniffing, no cross-site referrer."""
    response.headers.update(SECURITY_HEADERS)
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


def server_error(error: Exception) -> tuple[str, int]:
    """Anything unexpected: log it with its traceback, show a plain page without one."""
    logger.exception("unhandled error on a page")
    return render_template("error.html", code=500, title="Something went wrong",
                           message="The error was logged. Try again, or check the logs page."
                           ), 500
