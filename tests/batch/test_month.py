"""A simulated month: one scheduled run per NSE trading day against the sandbox market, checked
against decide() on the same data, the broker's fills, and P&L by hand."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from broker import STATUS_TRADED
from executor import run_once
from tests.batch.helpers import expected_intents, fast_broker, run_trades
from trading_calendar import is_trading_day

FIRST_DAY = date(2026, 10, 1)


def trading_days_of_month(first: date) -> list[date]:
    days = (first + timedelta(days=n) for n in range(31))
    return [day for day in days if day.month == first.month and is_trading_day(day)]


@pytest.mark.slow
def test_a_month_of_runs_trades_as_decide_predicts(run_config, store, sandbox, broker):
    lots: dict[str, list[tuple[int, float]]] = {}  # the bot's buys per open holding
    reasons = set()
    for day in trading_days_of_month(FIRST_DAY):
        sandbox.admin("clock", now=f"{day}T15:10:00")
        expected = expected_intents(broker, store, run_config, day)
        run = run_once(run_config, trigger="scheduled", force=True, broker_factory=fast_broker)
        assert run["status"] == "succeeded", run["error"]
        trades = run_trades(store, run["run_id"])
        assert [(t["symbol"], t["side"], t["qty"]) for t in trades] == \
            [(i.symbol, i.side, i.qty) for i in expected], day
        # inside the session the price moves with the clock between the decision and the fill
        assert [t["price"] for t in trades] == \
            [pytest.approx(i.price, rel=1e-3) for i in expected], day
        reasons.update(intent.reason for intent in expected)
        for trade in trades:
            [order] = broker.orders(order_id=trade["trade_id"])
            assert (order.status, order.filled_qty, order.traded_price) == \
                (STATUS_TRADED, trade["qty"], trade["price"])
            if trade["side"] == "BUY":
                lots.setdefault(trade["symbol"], []).append((trade["qty"], trade["price"]))
                continue
            bought = lots.pop(trade["symbol"])
            held = sum(qty for qty, _ in bought)
            average = sum(qty * price for qty, price in bought) / held
            assert trade["qty"] == held
            assert trade["pnl"] == pytest.approx((trade["price"] - average) * held, abs=0.01)
    assert {p["symbol"]: p["qty"] for p in store.get_positions()} == \
        {symbol: sum(qty for qty, _ in bought) for symbol, bought in lots.items()}
    assert reasons == {"entry", "exit", "average"}, "the month should exercise every rule"
