"""Trading overview: open positions at live prices, closed trades, P&L figures and chart."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from cachetools import TTLCache
from flask import Blueprint, Response, current_app, render_template

import portfolio
import token_refresh
import trade_books
from auth import login_required
from broker import BrokerError, FyersBroker
from config import IST
from store.base import TradeStats
from store.common import trade_stats
from views import get_config, get_store

logger = logging.getLogger(__name__)
bp = Blueprint("trading", __name__)
QUOTES_TTL_S = 5
FIGURES_TTL_S = 60
RECENT_TRADES = 100
PAGE_BUDGET_WAIT_S = 1.0
_quotes_lock = threading.Lock()
_figures_lock = threading.Lock()


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
        # a page must not hang: few retries, and no waiting for the shared rate budget
        broker = FyersBroker(config, token, store=store, attempts=2, backoff_s=0.2,
                             max_wait_s=PAGE_BUDGET_WAIT_S)
        prices = portfolio.quote_prices(broker.quotes(key))
    except BrokerError as exc:
        logger.warning("quotes for the trading page failed: %s", exc)
        return {}, f"Current prices are unavailable right now ({exc}). Try again in a minute."
    with _quotes_lock:
        cache[key] = prices
    return prices, ""


def closed_trade_figures(newest: dict | None) -> tuple[TradeStats, list[tuple[str, float]]]:
    """Trade stats and the cumulative P&L curve; both scan every closed trade, so they are
    kept until a newer trade is recorded (or a minute passes)."""
    key = (newest["trade_id"], newest["ts"]) if newest else None
    cache = current_app.extensions.setdefault("figures_cache", TTLCache(2, FIGURES_TTL_S))
    with _figures_lock:
        if key in cache:
            return cache[key]
    days = get_store().closed_trade_days()  # one pass over the closed trades for both
    figures = trade_stats(days), portfolio.cumulative_pnl(days)
    with _figures_lock:
        cache[key] = figures
    return figures


@bp.route("/trading")
@login_required
def index() -> str:
    """Open positions, recent trades, total and realized P&L, win/loss and the P&L curve."""
    store = get_store()
    positions = store.get_positions()
    prices, notice = live_prices([position["symbol"] for position in positions])
    rows = portfolio.value_positions(positions, prices)
    trades = store.list_trades(limit=RECENT_TRADES)
    stats, curve = closed_trade_figures(trades[0] if trades else None)
    unrealized = portfolio.unrealized_pnl(rows)
    return render_template(
        "trading.html",
        positions=rows,
        notice=notice,
        trades=trades,
        recent_limit=RECENT_TRADES,
        stats=stats,
        unrealized=unrealized,
        total_pnl=None if unrealized is None else stats.total_pnl + unrealized,
        ratio=portfolio.win_loss_ratio(stats),
        chart_json=json.dumps(curve),
    )


@bp.route("/trading/sales.csv")
@login_required
def sales_csv() -> Response:
    """Every sale with its buy date, sell date, holding days and P&L, for the owner's books."""
    filename = f"nifty-shop-sales-{datetime.now(IST):%Y-%m-%d}.csv"
    return Response(trade_books.sales_csv(get_store().list_trades()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
