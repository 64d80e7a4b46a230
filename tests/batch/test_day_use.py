"""What the trading day already used, as the live run reads it for decide(): today's buys from
the broker's tradebook matched to the recorded orders, and the rebuy cooldown in NSE trading
days (real SQLite, real SDK against the sandbox)."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from config import IST
from day_use import cooldown_start, day_use, sold_by_hand_since
from live_strategy import run_live
from tests.batch.helpers import run_trades

FRIDAY = date(2026, 11, 27)  # Tue 24 Nov 2026 is an NSE holiday (Guru Nanak Jayanti)


@pytest.mark.parametrize(("days", "first"), [
    (0, FRIDAY), (1, date(2026, 11, 26)), (3, date(2026, 11, 23)), (5, date(2026, 11, 19)),
])
def test_the_cooldown_counts_nse_trading_days(days, first):
    assert cooldown_start(FRIDAY, days) == first


def sold(store, trade_id: str, symbol: str, day: date, source: str) -> None:
    """A sale of `symbol` at noon IST on `day`, by hand or by the bot."""
    ts = datetime.combine(day, time(12), IST).timestamp()
    store.record_trade({"trade_id": trade_id, "run_id": "r", "order_tag": None,
                        "symbol": symbol, "side": "SELL", "qty": 1, "price": 100.0, "ts": ts,
                        "pnl": 0.0, "source": source}, None)


def test_only_sales_by_hand_inside_the_cooldown_block_a_rebuy(store):
    sold(store, "m1", "NSE:OLD-EQ", date(2026, 11, 18), "manual")
    sold(store, "m2", "NSE:LATE-EQ", date(2026, 11, 19), "manual")
    sold(store, "b1", "NSE:BOT-EQ", date(2026, 11, 26), "bot")  # bot exits do not cool down
    assert sold_by_hand_since(store, cooldown_start(FRIDAY, 5)) == {"NSE:LATE-EQ"}


def test_todays_use_counts_filled_and_open_buys_by_their_reason(run_config, store, broker,
                                                                sandbox):
    config = run_config.with_overrides(max_new_entries_per_day=3)
    run_live(config, store, broker, run_id="entry")
    [entry] = run_trades(store, "entry")
    assert day_use(config, store, broker).entries == 1
    sandbox.admin("manual-sell", symbol=entry["symbol"])
    run_live(config, store, broker, run_id="later")  # records the sale by hand
    store.upsert_order({"tag": "NSopen", "run_id": "x", "symbol": "NSE:ITC-EQ", "side": "BUY",
                        "qty": 1, "reason": "average", "broker_order_id": None,
                        "status": "placed", "filled_qty": 0, "traded_price": None,
                        "message": "", "created_at": 0.0, "updated_at": 0.0})
    store.upsert_order({"tag": "NSrefused", "run_id": "x", "symbol": "NSE:TCS-EQ",
                        "side": "BUY", "qty": 1, "reason": "entry", "broker_order_id": None,
                        "status": "rejected", "filled_qty": 0, "traded_price": None,
                        "message": "RMS", "created_at": 0.0, "updated_at": 0.0})
    used = day_use(config, store, broker)
    assert used.averaged == {"NSE:ITC-EQ"}
    assert entry["symbol"] in used.cooling_down
    assert used.entries == 1 + sum(t["side"] == "BUY" for t in run_trades(store, "later"))
