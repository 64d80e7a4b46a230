"""paper_vs_backtest.compare() without I/O: trades paired by day, symbol and side, and each
difference named."""
from __future__ import annotations

from datetime import datetime

from backtesting.engine import Trade
from config import IST
from paper_vs_backtest import compare, paper_day
from portfolio import day_label

DAYS = ["2026-11-23", "2026-11-25", "2026-11-26"]


def paper(day: str, n: int, symbol: str, side: str, qty: int, price: float,
          pnl: float | None = None) -> dict:
    return {"trade_id": f"P{day[2:].replace('-', '')}{n:06d}", "symbol": f"NSE:{symbol}-EQ",
            "side": side, "qty": qty, "price": price, "pnl": pnl, "source": "bot",
            "ts": datetime(2026, 12, 5, 12, tzinfo=IST).timestamp()}  # this machine's clock


def backtested(day: str, symbol: str, side: str, qty: int, price: float,
           pnl: float | None = None) -> Trade:
    return Trade(day, f"NSE:{symbol}-EQ", side, qty, price, 1.0, pnl, "entry")


def order(day: str, n: int, symbol: str, side: str, status: str, message: str) -> dict:
    return {"broker_order_id": f"P{day[2:].replace('-', '')}{n:06d}", "created_at": 0.0,
            "symbol": f"NSE:{symbol}-EQ", "side": side, "status": status, "message": message}


def test_a_paper_trade_belongs_to_the_fyers_day_in_its_order_id():
    assert paper_day(paper("2026-11-25", 3, "TCS", "BUY", 1, 1.0)) == "2026-11-25"
    assert paper_day({"trade_id": "manual-x", "ts": 1_796_000_000.0}) == "2026-11-30"


def test_each_difference_is_named():
    ours = [paper(DAYS[0], 1, "TCS", "BUY", 5, 100.05), paper(DAYS[0], 2, "SBIN", "BUY", 3, 50.0),
            paper(DAYS[2], 4, "SBIN", "SELL", 3, 55.0, 15.0)]
    theirs = [backtested(DAYS[0], "TCS", "BUY", 5, 100.10), backtested(DAYS[0], "SBIN", "BUY", 6, 50.0),
              backtested(DAYS[0], "INFY", "BUY", 2, 10.0), backtested(DAYS[1], "ITC", "BUY", 4, 20.0),
              backtested(DAYS[2], "SBIN", "SELL", 6, 55.0, 30.0),
              backtested(DAYS[2], "INFY", "SELL", 2, 11.0, 2.0)]
    orders = [order(DAYS[0], 2, "SBIN", "BUY", "partial", "MPP: 3 of 6 filled"),
              order(DAYS[0], 3, "INFY", "BUY", "cancelled", "MPP: not filled")]
    result = compare(ours, orders, [DAYS[0], DAYS[2]], theirs, DAYS,
                     {(DAYS[0], "NSE:TCS-EQ"): 100.0})
    reasons = {(d.day, d.symbol, d.side): d.reason for d in result.differences}
    assert reasons[(DAYS[0], "TCS", "BUY")].startswith("slippage") and "₹100.00" in reasons[
        (DAYS[0], "TCS", "BUY")]
    assert reasons[(DAYS[0], "SBIN", "BUY")] == "partly filled on paper, 3 of 6: MPP: 3 of 6 filled"
    assert reasons[(DAYS[0], "INFY", "BUY")] == "not filled on paper: not filled, cancelled"
    assert reasons[(DAYS[1], "ITC", "BUY")] == "the bot did not run that day"
    assert reasons[(DAYS[2], "SBIN", "SELL")].startswith("partly filled on paper")
    assert reasons[(DAYS[2], "INFY", "SELL")].startswith(
        f"follows from {day_label(DAYS[0])}'s buy")  # '23 Nov', as the pages write a day
    assert (result.paper_trades, result.backtest_trades, result.matched) == (3, 6, 3)
    assert (result.paper_pnl, result.backtest_pnl) == (0.49, 32.0)  # ₹15 less ₹14.51 of charges
    assert (result.paper_costs, result.backtest_costs) == (15.1, 6.0)


def test_the_same_trades_at_the_same_prices_differ_nowhere():
    ours = [paper(DAYS[0], 1, "TCS", "BUY", 5, 100.1)]
    result = compare(ours, [], [DAYS[0]], [backtested(DAYS[0], "TCS", "BUY", 5, 100.1)], DAYS, {})
    assert result.differences == [] and result.matched == 1


def test_an_order_held_back_while_nse_was_closed_is_named_as_the_order_list_names_it():
    orders = [order(DAYS[0], 1, "TCS", "BUY", "not_placed", "NSE is closed until Mon 09:15 IST"),
              order(DAYS[0], 2, "SBIN", "BUY", "unfilled", "") | {"wait_s": 30.0}]
    theirs = [backtested(DAYS[0], "TCS", "BUY", 5, 100.0),
              backtested(DAYS[0], "SBIN", "BUY", 3, 50.0)]
    result = compare([], orders, [DAYS[0]], theirs, DAYS, {})
    assert [d.reason for d in result.differences] == [
        "not filled on paper: not filled in 30 s, cancelled",
        "not filled on paper: not placed: NSE is closed until Mon 09:15 IST"]


def test_a_day_whose_run_found_nse_closed_says_so_not_that_the_bot_decided_otherwise():
    theirs = [backtested(DAYS[0], "TCS", "BUY", 5, 100.0), backtested(DAYS[1], "SBIN", "BUY", 3,
                                                                      50.0)]
    closed = "NSE is closed until Mon 09:15 IST: nothing was placed"
    result = compare([], [], [], theirs, DAYS, {}, held_back={DAYS[0]: closed})
    assert [d.reason for d in result.differences] == [closed, "the bot did not run that day"]


def test_two_runs_buying_one_symbol_on_one_day_pair_with_the_backtests_one_buy():
    ours = [paper(DAYS[0], 1, "TCS", "BUY", 2, 100.0), paper(DAYS[0], 2, "TCS", "BUY", 3, 110.0)]
    result = compare(ours, [], [DAYS[0]], [backtested(DAYS[0], "TCS", "BUY", 5, 106.0)], DAYS,
                     {})
    assert result.matched == 1 and result.differences == []  # 5 @ ₹106.00 on both sides
    assert result.paper_trades == 2  # both fills count, as on the Strategy page's paper card


def test_paper_p_and_l_is_after_charges_as_the_backtest_s_is():
    """Like with like: a paper sale's P&L less its own charges (₹14.73 on ₹550, the DP charge
    included) and its buy's (₹0.59 on ₹500), as the backtest sets its charges against a sale."""
    ours = [paper(DAYS[0], 1, "TCS", "BUY", 5, 100.0),
            paper(DAYS[1], 2, "TCS", "SELL", 5, 110.0, 50.0)]
    theirs = [backtested(DAYS[0], "TCS", "BUY", 5, 100.0),
              backtested(DAYS[1], "TCS", "SELL", 5, 110.0, 48.0)]
    result = compare(ours, [], DAYS[:2], theirs, DAYS, {})
    assert (result.paper_pnl, result.paper_costs) == (34.68, 15.32)
    assert (result.backtest_pnl, result.backtest_costs) == (48.0, 2.0)
