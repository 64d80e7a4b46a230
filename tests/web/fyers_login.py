"""Helpers for web tests against the sandbox: approve the Fyers login as the owner would, keep
its tokens as the callback does, hold a position, and read the app's log lines."""
from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import requests

import token_refresh


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


def store_sandbox_token(app) -> str:
    """Approve at the sandbox and keep the token the way the callback would; returns it."""
    config = app.extensions["nifty_config"]
    login_url = token_refresh.login_url(config, "any-state")
    code = parse_qs(urlsplit(approve_at_sandbox(login_url)).query)["auth_code"][0]
    token_refresh.exchange_auth_code(config, app.extensions["store"], code)
    return token_refresh.load_access_token(config, app.extensions["store"])


def hold(app, symbol: str = "NSE:INFY-EQ", qty: int = 10, price: float = 1.0) -> None:
    """An open position bought at `price` (₹1.00 by default: any live price shows a gain)."""
    app.extensions["store"].record_trade(
        {"trade_id": f"buy-{symbol}", "run_id": "r", "order_tag": None, "symbol": symbol,
         "side": "BUY", "qty": qty, "price": price, "ts": 1.0e9, "pnl": None, "source": "bot"},
        {"symbol": symbol, "qty": qty, "avg_price": price, "last_buy_price": price,
         "opened_at": 1.0e9, "updated_at": 1.0e9})


def log_lines(app, logger: str) -> list[str]:
    """Messages the app's store holds from `logger`, once the log handler wrote them."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    rows = app.extensions["store"].search_logs(limit=1000).rows
    return [row["message"] for row in rows if row["logger"] == logger]
