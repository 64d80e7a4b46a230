"""Fixtures for the web tests: the app on the temporary SQLite config, a client, a CLI
runner, seeded users and an AuthActions helper that logs in through the real form (CSRF on)."""
from __future__ import annotations

import re
import time

import pytest
from werkzeug.security import generate_password_hash

import india_time
from app import close_app, create_app

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_app():
    """Build apps on a config, each with user alice (CSRF on: Flask-WTF only follows
    WTF_CSRF_ENABLED, not TESTING); all are closed after the test."""
    built = []

    def make(config):
        app = create_app(config)
        app.config["TESTING"] = True
        app.extensions["store"].create_user("alice", generate_password_hash(PASSWORD))
        built.append(app)
        return app

    yield make
    for app in built:
        close_app(app)


@pytest.fixture
def app(make_app, config):
    return make_app(config)


@pytest.fixture
def db(app):
    """The app's own store, for seeding and for checking what a request wrote."""
    return app.extensions["store"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Log in and out like a browser: read the CSRF token from the form, then post it."""

    def __init__(self, client):
        self.client = client

    def csrf_token(self, path: str = "/login") -> str:
        """The CSRF token of the form on `path`."""
        page = self.client.get(path).get_data(as_text=True)
        return CSRF_FIELD.search(page).group(1)

    def login(self, username: str = "alice", password: str = PASSWORD, next: str | None = None):
        url = "/login" if next is None else f"/login?next={next}"
        return self.client.post(url, data={"csrf_token": self.csrf_token(), "username": username,
                                           "password": password})

    def post(self, path: str, form_page: str, **data: str):
        """POST to `path` with the CSRF token read from the page the form is on."""
        return self.client.post(path, data={"csrf_token": self.csrf_token(form_page), **data})

    def logout(self):
        return self.post("/logout", "/")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def logged_in(auth) -> AuthActions:
    response = auth.login()
    assert response.status_code == 302
    return auth


@pytest.fixture
def make_auth():
    """AuthActions for another client (several concurrent sessions)."""
    return AuthActions


@pytest.fixture
def sandbox_app(sandbox_config, make_app, make_auth):
    """The app on a config pointing at the sandbox, with alice logged in."""
    app = make_app(sandbox_config)
    auth = make_auth(app.test_client())
    assert auth.login().status_code == 302
    return app, auth


@pytest.fixture
def live_app(config, make_app, make_auth):
    """The app in live mode (real money at Fyers; no page here calls Fyers), alice logged in."""
    app = make_app(config.with_overrides(fyers_mode="live", fyers_client_id="XY1234-100",
                                         fyers_secret_key="live-secret"))
    auth = make_auth(app.test_client())
    assert auth.login().status_code == 302
    return app, auth


@pytest.fixture
def password() -> str:
    return PASSWORD


DAY = 86400


@pytest.fixture
def seeded(db):
    """A store as after a few days of runs: trades (one win, one loss), an open position with
    cached candles, a cancelled order, two runs and their logs. Returns the `now` used."""
    now = time.time()
    db.upsert_candles("NSE:INFY-EQ", [
        {"date": india_time.date_of(now - 2 * DAY), "open": 1500, "high": 1620, "low": 1490,
         "close": 1580, "volume": 1000},
        {"date": india_time.date_of(now - DAY), "open": 1580, "high": 1610, "low": 1570,
         "close": 1600, "volume": 1000}])
    trades = [
        ("t1", "NSE:TCS-EQ", "BUY", 3, 3000.0, now - 3 * DAY, None),
        ("t2", "NSE:TCS-EQ", "SELL", 3, 3200.0, now - 2 * DAY, 600.0),
        ("t3", "NSE:SBIN-EQ", "BUY", 10, 800.0, now - 2 * DAY, None),
        ("t4", "NSE:SBIN-EQ", "SELL", 10, 780.0, now - DAY, -200.0),
        # today's trade, today even in the first minute after midnight
        ("t5", "NSE:INFY-EQ", "BUY", 10, 1500.0, max(now - 60, india_time.midnight(now)), None),
    ]
    for trade_id, symbol, side, qty, price, ts, pnl in trades:
        position = ({"symbol": symbol, "qty": qty, "avg_price": price, "last_buy_price": price,
                     "opened_at": ts, "updated_at": ts} if side == "BUY" else None)
        db.record_trade({"trade_id": trade_id, "run_id": "run-b", "order_tag": trade_id,
                         "symbol": symbol, "side": side, "qty": qty, "price": price, "ts": ts,
                         "pnl": pnl, "source": "bot"}, position)
    db.upsert_order({"tag": "cx1", "run_id": "run-b", "symbol": "NSE:ITC-EQ", "side": "BUY",
                     "qty": 20, "reason": "entry", "broker_order_id": "B1",
                     "status": "cancelled", "filled_qty": 0, "traded_price": 0.0,
                     "message": "not filled in time", "created_at": now - 120,
                     "updated_at": now - 100})
    for run_id, started, status, summary in (("run-a", now - 2 * DAY, "failed", None),
                                             ("run-b", now - 120, "succeeded",
                                              "Bought 10 INFY for ₹15,000.00.")):
        db.create_run({"run_id": run_id, "trigger": "manual", "status": status,
                       "started_at": started, "finished_at": started + 42, "summary": summary,
                       "error": "Token expired" if status == "failed" else None,
                       "dry_run": False})
    db.insert_logs([{"ts": now - 100, "level": "INFO", "logger": "executor",
                     "message": "bought 10 NSE:INFY-EQ at 1500", "run_id": "run-b", "extra": {}},
                    {"ts": now - 2 * DAY, "level": "ERROR", "logger": "executor",
                     "message": "token expired, run stopped", "run_id": "run-a", "extra": {}}])
    return now
