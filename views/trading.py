"""Trading overview: open positions at live prices, closed trades, P&L figures and chart."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

from cachetools import TTLCache
from flask import Blueprint, current_app, render_template

import portfolio
import token_refresh
from auth import login_required
from broker import BrokerError, FyersBroker
from views import get_config, get_store

logger = logging.getLogger(__name__)
bp = Blueprint("trading", __name__)
QUOTES_TTL_S = 5
RECENT_TRADES = 100
_quotes_lock = threading.Lock()


def live_prices(symbols: Sequence[str]) -> tuple[dict[str, float], str]:
    """(symbol → price, notice): one batched quotes call, cached a few seconds per app.

    Any broker failure gives no prices and a notice for the page, never an error page.
    """
    key = tuple(sorted(symbols))
    if not key:
        return {}, ""
    cache = current_app.extensions.setdefault("quotes_cache", TTLCache(8, QUOTES_TTL_S))
    with _quotes_lock:
        if key in cache:
            return cache[key], ""
    config, store = get_config(), get_store()
    token = token_refresh.load_access_token(config, store)
    if token is None:
        return {}, "No Fyers token: log in on the Tokens page to see current prices."
    try:
        broker = FyersBroker(config, token, attempts=2, backoff_s=0.2)  # a page must not hang
        prices = portfolio.quote_prices(broker.quotes(key))
    except BrokerError as exc:
        logger.warning("quotes for the trading page failed: %s", exc)
        return {}, f"Current prices are unavailable right now ({exc}). Try again in a minute."
    with _quotes_lock:
        cache[key] = prices
    return prices, ""


@bp.route("/trading")
@login_required
def index() -> str:
    """Open positions, recent trades, total and realized P&L, win/loss and the P&L curve."""
    store = get_store()
    positions = store.get_positions()
    prices, notice = live_prices([position["symbol"] for position in positions])
    rows = portfolio.value_positions(positions, prices)
    stats = store.trade_stats()
    unrealized = portfolio.unrealized_pnl(rows)
    return render_template(
        "trading.html",
        positions=rows,
        notice=notice,
        trades=store.list_trades(limit=RECENT_TRADES),
        recent_limit=RECENT_TRADES,
        stats=stats,
        unrealized=unrealized,
        total_pnl=None if unrealized is None else stats.total_pnl + unrealized,
        ratio=portfolio.win_loss_ratio(stats),
        chart_json=json.dumps(portfolio.cumulative_pnl(store.realized_pnl_by_day())),
    )
