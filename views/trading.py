"""Trading: the money at stake (holdings at one price, realized P&L, funds), open positions,
the latest orders with what became of each, and the closed trades with their figures and P&L
curve."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, render_template

import executor
import india_time
import paper_mode
import portfolio
import prices
import trade_books
from auth import login_required
from config import IST
from views import get_config, get_store, kept_until_next_trade, paper

bp = Blueprint("trading", __name__)
LATEST_TRADES = 500  # the closed trades shown are paired with their buys among these
CLOSED_SHOWN = 50
ORDERS_SHOWN, ORDER_DAYS = 20, 7  # the latest orders of the last week, with their outcome


def closed_trade_figures(positions: Sequence[Mapping[str, Any]]) -> portfolio.ClosedTrades:
    """Figures, curve and latest sales of the closed trades (they change only with a trade)."""
    store = get_store()
    return kept_until_next_trade("closed trades", lambda: portfolio.closed_trades(
        store.closed_trade_days(), store.list_trades(limit=LATEST_TRADES), positions,
        CLOSED_SHOWN))


@bp.route("/trading")
@login_required
def index() -> str:
    """Money at stake, open positions at one price (live, else the dated close), and the
    closed trades: total (realized) P&L, win/loss, averages, the curve and the latest sales."""
    store = get_store()
    positions = store.get_positions()
    market = prices.market_view(get_config(), store, [p["symbol"] for p in positions])
    closed = closed_trade_figures(positions)
    since = india_time.midnight(time.time(), ORDER_DAYS - 1)
    return render_template(
        "trading.html",
        holdings=portfolio.value_positions(positions, market.marks),
        market=market,
        closed=closed,
        shown=CLOSED_SHOWN,
        chart_json=json.dumps(closed.curve),
        comparison=paper.comparison(),
        orders=store.list_orders(since=since)[:ORDERS_SHOWN],
        running_run=executor.running_run_id(store),
        order_days=ORDER_DAYS,
    )


@bp.route("/trading/sales.csv")
@login_required
def sales_csv() -> Response:
    """Every sale of the book in use with its buy date, sell date, holding days and P&L, for
    the owner's books; each row names the book as the pages do (paper, sandbox or real-money),
    and the file name says paper on paper."""
    store = get_store()
    paper = "-paper" if store.book == "paper" else ""
    filename = f"nifty-shop{paper}-sales-{datetime.now(IST):%Y-%m-%d}.csv"
    return Response(trade_books.sales_csv(store.list_trades(),
                                          paper_mode.book_label(get_config(), store.book)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
