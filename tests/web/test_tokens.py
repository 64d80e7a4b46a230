"""The Fyers login round trip through the callback, and live prices on the trading page,
with the real SDK against the sandbox on loopback."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import token_refresh


def test_callback_with_a_forged_state_is_refused(logged_in, client, db, config):
    response = client.get("/tokens/callback?s=ok&auth_code=stolen&state=forged")
    assert response.status_code == 302 and response.headers["Location"] == "/tokens"
    page = client.get("/tokens").get_data(as_text=True)
    assert "state mismatch" in page and "MISSING" in page
    assert db.get_token(config.client_id) is None


@pytest.fixture
def sandbox_app(sandbox_config, make_app, make_auth):
    """The app on a config pointing at the sandbox, with alice logged in."""
    app = make_app(sandbox_config)
    auth = make_auth(app.test_client())
    assert auth.login().status_code == 302
    return app, auth


def approve_at_sandbox(login_url: str) -> str:
    """Tap "Approve" on the sandbox's Fyers login page; returns where it redirects."""
    parts = urlsplit(login_url)
    args = {key: values[0] for key, values in parse_qs(parts.query).items()}
    answer = requests.post(f"{parts.scheme}://{parts.netloc}{parts.path}", timeout=10,
                           allow_redirects=False,
                           data={key: args.get(key, "") for key in
                                 ("client_id", "redirect_uri", "state")})
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_fyers_login_round_trip_stores_a_token(sandbox_app, sandbox_config):
    app, auth = sandbox_app
    response = auth.client.get("/tokens/login")
    assert response.status_code == 302
    back = urlsplit(approve_at_sandbox(response.headers["Location"]))
    assert back.path == urlsplit(sandbox_config.fyers_redirect_uri).path
    callback = f"{back.path}?{back.query}"
    assert auth.client.get(callback).headers["Location"] == "/tokens"
    page = auth.client.get("/tokens").get_data(as_text=True)
    assert "Logged in to Fyers" in page and "MISSING" not in page
    assert app.extensions["store"].get_token(sandbox_config.client_id)["access_token"]
    auth.client.get(callback)  # a replayed callback: its state was used up
    assert "state mismatch" in auth.client.get("/tokens").get_data(as_text=True)


def hold(app, symbol: str = "NSE:INFY-EQ") -> None:
    """An open position of 10 shares at ₹1.00, so any live price shows a gain."""
    app.extensions["store"].record_trade(
        {"trade_id": "t1", "run_id": "r", "order_tag": "t1", "symbol": symbol, "side": "BUY",
         "qty": 10, "price": 1.0, "ts": 1.0e9, "pnl": None, "source": "bot"},
        {"symbol": symbol, "qty": 10, "avg_price": 1.0, "last_buy_price": 1.0,
         "opened_at": 1.0e9, "updated_at": 1.0e9})


def store_sandbox_token(app) -> None:
    """Approve at the sandbox and keep the token the way the callback would."""
    config = app.extensions["nifty_config"]
    login_url = token_refresh.login_url(config, "any-state")
    code = parse_qs(urlsplit(approve_at_sandbox(login_url)).query)["auth_code"][0]
    token_refresh.exchange_auth_code(config, app.extensions["store"], code)


def test_trading_shows_live_prices(sandbox_app):
    app, auth = sandbox_app
    hold(app)
    store_sandbox_token(app)
    page = auth.client.get("/trading").get_data(as_text=True)
    assert "price unavailable" not in page and "No Fyers token" not in page


def test_trading_survives_a_broker_failure(sandbox_app, sandbox):
    app, auth = sandbox_app
    hold(app)
    store_sandbox_token(app)
    sandbox.admin("faults", expire_tokens=True)
    response = auth.client.get("/trading")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "price unavailable" in page and "Current prices are unavailable" in page
    assert "NSE:INFY-EQ" in page
