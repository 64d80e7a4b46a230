"""Dashboard: KPIs, recent activity by day and the Fyers token banner."""
from __future__ import annotations

import time

from flask import Blueprint, render_template

import portfolio
import token_refresh
from auth import login_required
from views import get_config, get_store

bp = Blueprint("dashboard", __name__)
CANCELLED = ("cancelled", "rejected")


def last_closes(symbols: list[str], since: str) -> dict[str, float]:
    """symbol → newest cached daily close: the dashboard values holdings without the market."""
    store = get_store()
    closes = {}
    for symbol in symbols:
        candles = store.get_candles(symbol, since=since)
        if candles:
            closes[symbol] = float(candles[-1]["close"])
    return closes


@bp.route("/")
@login_required
def index() -> str:
    """KPIs, what the bot did on each of the last days, and a banner when the token is bad."""
    config, store, now = get_config(), get_store(), time.time()
    positions = store.get_positions()
    since_day = portfolio.ist_date(now - 14 * 86400)
    rows = portfolio.value_positions(positions, last_closes([p["symbol"] for p in positions],
                                                            since_day))
    start = portfolio.ist_midnight(now, config.app_logs_per_page_home - 1)
    trades = store.list_trades(since=start)
    orders = store.list_orders(since=start, statuses=CANCELLED)
    today = portfolio.ist_midnight(now)
    return render_template(
        "dashboard.html",
        token=token_refresh.token_status(config, store, now),
        holdings_pnl=portfolio.unrealized_pnl(rows),
        open_positions=len(positions),
        trades_today=sum(1 for trade in trades if trade["ts"] >= today),
        days=portfolio.activity_by_day(trades, orders),
        days_shown=config.app_logs_per_page_home,
    )
