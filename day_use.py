"""What the trading day already used, read for `decide()`: the caps hold however many runs happen.

Today's buys come from the broker's tradebook, which holds exactly the broker's trading day;
each fill is matched by its tag to the order the bot recorded, whose reason tells a new entry
from an average-down. Orders still open count as used too (they may yet fill). The rebuy
cooldown reads the manual sales the bot recorded (trades with source=manual).
"""
from __future__ import annotations

import logging
import time
from datetime import date, datetime
from datetime import time as clock_time

from broker import FyersBroker
from config import IST, Config
from order_flow import OPEN_ORDER_STATUSES
from store.base import Store
from strategy_rules import DayUse
from trading_calendar import previous_trading_day

logger = logging.getLogger(__name__)


def day_use(config: Config, store: Store, broker: FyersBroker,
            now: float | None = None) -> DayUse:
    """New entries and average-downs of today, and the symbols cooling down after a manual sale."""
    fills = broker.tradebook()
    orders = [store.get_order(fill.tag) for fill in fills if fill.tag]
    orders += store.list_orders(statuses=OPEN_ORDER_STATUSES)
    buys = {order["tag"]: order for order in orders if order and order["side"] == "BUY"}
    entries = [order for order in buys.values() if order["reason"] == "entry"]
    averaged = {order["symbol"] for order in buys.values() if order["reason"] == "average"}
    today = datetime.fromtimestamp(time.time() if now is None else now, IST).date()
    cooling = sold_by_hand_since(store, cooldown_start(today, config.rebuy_cooldown_days))
    if cooling:
        logger.info("not bought back, sold by hand lately: %s", ", ".join(sorted(cooling)))
    return DayUse(entries=len(entries), averaged=frozenset(averaged), cooling_down=cooling)


def cooldown_start(today: date, days: int) -> date:
    """The first day of the cooldown: a sale by hand on it or later still blocks buying today
    (the sale's own day plus `days` trading days after it)."""
    start = today
    for _ in range(days):
        start = previous_trading_day(start)
    return start


def sold_by_hand_since(store: Store, first_day: date) -> frozenset[str]:
    """Symbols of the manual sales recorded on `first_day` (IST) or later."""
    since = datetime.combine(first_day, clock_time(), IST).timestamp()
    return frozenset(trade["symbol"] for trade in store.list_trades(since=since)
                     if trade["source"] == "manual")
