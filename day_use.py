"""What the trading day already used, read for `decide()`: the caps hold however many runs happen.

Today's buys come from the broker's tradebook, which holds exactly the broker's trading day;
each fill is matched by its tag to the order the bot recorded, whose reason tells a new entry
from an average-down. Orders still open count as used too (they may yet fill). The rebuy
cooldown reads the manual sales the bot recorded (trades with source=manual).
"""
from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

import india_time
from broker import FyersBroker
from config import Config
from order_outcomes import FILLED, OPEN
from store.base import Store
from strategy_rules import DayUse
from trading_calendar import previous_trading_day

logger = logging.getLogger(__name__)


def day_use(config: Config, store: Store, broker: FyersBroker,
            now: float | None = None) -> DayUse:
    """New entries and average-downs of today, and the symbols cooling down after a manual sale."""
    fills = broker.tradebook()
    orders = [store.get_order(fill.tag) for fill in fills if fill.tag]
    orders += store.list_orders(statuses=OPEN)
    use = _use_of([order for order in orders if order], config, store, now)
    if use.cooling_down:
        logger.info("not bought back, sold by hand lately: %s",
                    ", ".join(sorted(use.cooling_down)))
    return use


def recorded_day_use(config: Config, store: Store, now: float | None = None) -> DayUse:
    """The day's use as the bot recorded it, without asking the broker (the "Run now"
    confirmation): today's orders that filled or may still fill."""
    since = india_time.day_start(_today(now))
    orders = [order for order in store.list_orders(since=since)
              if order["status"] in (*OPEN, *FILLED)]
    return _use_of(orders, config, store, now)


def _use_of(orders: list[dict[str, Any]], config: Config, store: Store,
            now: float | None) -> DayUse:
    """The entries and average-downs among `orders` (each tag counted once), and the symbols
    cooling down on the day of `now`."""
    buys = {order["tag"]: order for order in orders if order["side"] == "BUY"}
    entries = [order for order in buys.values() if order["reason"] == "entry"]
    averaged = {order["symbol"] for order in buys.values() if order["reason"] == "average"}
    cooling = sold_by_hand_since(store, cooldown_start(_today(now), config.rebuy_cooldown_days))
    return DayUse(entries=len(entries), averaged=frozenset(averaged), cooling_down=cooling)


def _today(now: float | None) -> date:
    """The IST date of `now`, or of this moment."""
    return india_time.day_of(time.time() if now is None else now)


def cooldown_start(today: date, days: int) -> date:
    """The first day of the cooldown: a sale by hand on it or later still blocks buying today
    (the sale's own day plus `days` trading days after it)."""
    start = today
    for _ in range(days):
        start = previous_trading_day(start)
    return start


def sold_by_hand_since(store: Store, first_day: date) -> frozenset[str]:
    """Symbols of the manual sales recorded on `first_day` (IST) or later."""
    since = india_time.day_start(first_day)
    return frozenset(trade["symbol"] for trade in store.list_trades(since=since)
                     if trade["source"] == "manual")
