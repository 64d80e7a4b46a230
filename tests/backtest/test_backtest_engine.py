"""The day loop on the hand-made scenario: exactly the trades and equity worked out by hand."""
from __future__ import annotations

import pytest

from backtest import run_backtest
from backtesting.costs import NO_COSTS
from backtesting.data import DataError, load_csv_dir
from backtesting.engine import Settings
from tests.backtest.scenario import DATES, FIRST, LAST, PARAMS

NO_FRICTION = Settings(capital=2900.0, slippage_pct=0.0, costs=NO_COSTS)


@pytest.fixture
def outcome(scenario_dir):
    return run_backtest(load_csv_dir(scenario_dir), PARAMS, NO_FRICTION, FIRST, LAST)


def test_trades_are_the_ones_worked_out_by_hand(outcome):
    result, _ = outcome
    # Days 0-4: fewer than 5 earlier closes, nothing is decided.
    # Day 5: AAA 97 vs MA 100 → -3 % → buy floor(1000/97)=10 @97 = 970; cash 2900-970 = 1930.
    # Day 6: AAA MA (4×100+97)/5 = 99.4 → -2.41 %, but held; no other candidate; no trade.
    # Day 7: BBB 95 vs MA 100 → -5 % → buy floor(1000/95)=10 @95 = 950; cash 980.
    # Day 8: CCC 90 vs 100 → -10 %, first candidate: 11 @90 = 990 > cash 980 → skipped; the
    #        entry was decided, so no average-down either.
    # Day 9: AAA 93, MA (100+4×97)/5 = 97.6 (held); BBB held; CCC +2.04 % → no entry. AAA is
    #        (97-93)/97 = 4.12 % > 3 % below its last buy → average: 10 @93 = 930; cash 50;
    #        AAA 20 shares at avg (970+930)/20 = 95.
    # Day 10: AAA 100 is (100-95)/95 = 5.26 % ≥ 5 % up → sell 20 @100 = 2000, pnl 20×5 = 100;
    #         cash 2050.
    # Day 11: BBB 100 is 5.26 % above 95 → sell 10 @100 = 1000, pnl 50; cash 3050.
    # Days 12-29: every MA is at or below 100 and every close 100 → nothing.
    expected = [
        (DATES[5], "NSE:AAA-EQ", "BUY", 10, 97.0, None, "entry"),
        (DATES[7], "NSE:BBB-EQ", "BUY", 10, 95.0, None, "entry"),
        (DATES[9], "NSE:AAA-EQ", "BUY", 10, 93.0, None, "average"),
        (DATES[10], "NSE:AAA-EQ", "SELL", 20, 100.0, 100.0, "exit"),
        (DATES[11], "NSE:BBB-EQ", "SELL", 10, 100.0, 50.0, "exit"),
    ]
    got = [(t.date, t.symbol, t.side, t.qty, t.price, t.pnl, t.reason) for t in result.trades]
    assert got == expected
    assert result.skipped_buys == 1
    assert all(trade.costs == 0 for trade in result.trades)


def test_equity_curve_is_the_one_worked_out_by_hand(outcome):
    result, _ = outcome
    # (cash, holdings at the day's close) from the trade walk-through above.
    expected = ([(2900.0, 0.0)] * 5                       # days 0-4
                + [(1930.0, 970.0)] * 2                   # days 5-6: AAA 10×97
                + [(980.0, 1920.0)] * 2                   # days 7-8: + BBB 10×95
                + [(50.0, 2810.0)]                        # day 9: AAA 20×93 + BBB 950
                + [(2050.0, 950.0)]                       # day 10: BBB 10×95
                + [(3050.0, 0.0)] * 19)                   # days 11-29
    equity = result.equity
    assert equity["date"] == DATES
    assert equity["cash"] == pytest.approx([cash for cash, _ in expected])
    assert equity["holdings_value"] == pytest.approx([held for _, held in expected])
    assert equity["equity"] == pytest.approx([c + h for c, h in expected])


def test_summary_figures(outcome):
    _, summary = outcome
    assert summary["final_equity"] == 3050.0
    assert summary["total_return_pct"] == pytest.approx(5.17)   # 150 / 2900
    assert summary["max_drawdown_pct"] == pytest.approx(1.38)   # 2900 → 2860 on day 9
    assert summary["trades"] == 5
    assert summary["closed_trades"] == 2
    assert summary["win_rate_pct"] == 100.0
    assert summary["avg_win"] == 75.0                           # (100 + 50) / 2
    assert summary["avg_loss"] == 0.0
    assert summary["exposure_pct"] == 20.0                      # days 5-10: 6 of 30
    assert summary["peak_capital_used"] == 2850.0               # day 9: 1900 + 950 at cost
    assert summary["skipped_buys"] == 1


def test_slippage_makes_every_fill_worse_than_the_close(scenario_dir):
    settings = Settings(capital=2900.0, slippage_pct=0.1, costs=NO_COSTS)
    result, _ = run_backtest(load_csv_dir(scenario_dir), PARAMS, settings, FIRST, LAST)
    first_buy, first_sell = result.trades[0], result.trades[3]
    assert first_buy.price == pytest.approx(97 * 1.001)          # 97.097
    assert first_sell.side == "SELL"
    assert first_sell.price == pytest.approx(100 * 0.999)        # 99.9


def test_a_period_without_candles_is_a_clear_error(scenario_dir):
    with pytest.raises(DataError, match="no candles between"):
        run_backtest(load_csv_dir(scenario_dir), PARAMS, NO_FRICTION,
                     LAST.replace(year=2030), LAST.replace(year=2031))
