"""Dashboard: the Today card, the money in the holdings, and recent activity by day."""
from __future__ import annotations

import time

from flask import Blueprint, render_template

import executor
import india_time
import portfolio
import prices
import today
from auth import login_required
from order_outcomes import OPEN, PARTIAL, SPENT_NOTHING
from views import get_config, get_store, kept_until_next_trade, paper

bp = Blueprint("dashboard", __name__)
# Orders listed by day beside the trades: every one that did not fill wholly, those still
# open at Fyers included (a run that left one open is amber and says so).
NOT_FILLED = (*SPENT_NOTHING, PARTIAL, *OPEN)


@bp.route("/")
@login_required
def index() -> str:
    """The last and next run with the Fyers login state, the holdings at one price (live, else
    the dated close), and what the bot did on each of the last days."""
    config, store, now = get_config(), get_store(), time.time()
    positions = store.get_positions()
    market = prices.market_view(config, store, [p["symbol"] for p in positions])
    start = india_time.midnight(now, config.app_logs_per_page_home - 1)
    trades = kept_until_next_trade("trades since", lambda: store.list_trades(since=start), start)
    orders = store.list_orders(since=start, statuses=NOT_FILLED)
    midnight = india_time.midnight(now)
    return render_template(
        "dashboard.html",
        now=now,
        today=today.today(config, store, now),
        run_time=config.run_time_ist,
        holdings=portfolio.value_positions(positions, market.marks),
        market=market,
        trades_today=sum(1 for trade in trades if trade["ts"] >= midnight),
        days=portfolio.activity_by_day(trades, orders),
        days_shown=config.app_logs_per_page_home,
        comparison=paper.comparison(),
        running_run=executor.running_run_id(store),
    )
