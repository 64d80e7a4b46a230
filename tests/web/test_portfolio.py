"""Money and time formatting, and the P&L arithmetic the pages show."""
from __future__ import annotations

import pytest

import portfolio
from broker import Quote
from store.base import ClosedDay, TradeStats


@pytest.mark.parametrize("amount, text", [
    (1234567.8, "₹12,34,567.80"), (123456.78, "₹1,23,456.78"), (999, "₹999.00"),
    (1000, "₹1,000.00"), (-1234, "−₹1,234.00"), (0, "₹0.00"), (-0.004, "₹0.00"),
    (10**9, "₹1,00,00,00,000.00"), (None, "—"), (float("nan"), "—"),
])
def test_inr_uses_indian_grouping(amount, text):
    assert portfolio.inr(amount) == text


def test_pct_and_ist():
    assert portfolio.pct(-3.14159) == "−3.14%"
    assert portfolio.ist(0) == "01 Jan 1970 05:30"
    assert portfolio.ist(None) == "—"
    assert portfolio.ist_date(1_764_000_000) == "2025-11-24"


def test_ist_day_bounds_rejects_bad_dates():
    start, end = portfolio.ist_day_bounds("2026-11-26")
    assert end - start == 86400 and portfolio.ist(start) == "26 Nov 2026 00:00"
    with pytest.raises(ValueError):
        portfolio.ist_day_bounds("2026-13-01")


def test_duration():
    assert portfolio.duration(10, 52) == "42 s"
    assert portfolio.duration(0, 185) == "3 min 5 s"
    assert portfolio.duration(0, None) == "—"


def test_positions_valued_at_quotes_and_unknown_without_price():
    positions = [{"symbol": "A", "qty": 10, "avg_price": 100.0},
                 {"symbol": "B", "qty": 2, "avg_price": 50.0}]
    prices = portfolio.quote_prices({"A": Quote("A", 110.0, 100.0, 10.0)})
    rows = portfolio.value_positions(positions, prices)
    assert (rows[0].pnl, rows[0].pnl_pct) == (100.0, 10.0)
    assert rows[1].ltp is None and rows[1].pnl is None
    assert portfolio.unrealized_pnl(rows) is None  # a partial sum would mislead
    assert portfolio.unrealized_pnl(rows[:1]) == 100.0


def test_win_loss_ratio_and_cumulative_pnl():
    assert portfolio.win_loss_ratio(TradeStats(100.0, 3, 2, 50.0, -25.0, 5)) == 1.5
    assert portfolio.win_loss_ratio(TradeStats(100.0, 3, 0, 50.0, 0.0, 3)) is None
    days = [ClosedDay("d1", 1, 1, 1000, 0, 0), ClosedDay("d2", 2, 1, 50, 1, -500),
            ClosedDay("d3", 1, 1, 100, 0, 0)]
    assert portfolio.cumulative_pnl(days) == [("d1", 10.0), ("d2", 5.5), ("d3", 6.5)]


def test_activity_grouped_by_ist_day_newest_first():
    late_evening_utc = 1_764_000_000.0  # 24 Nov 21:30 IST
    trades = [{"ts": late_evening_utc, "pnl": 5.0}, {"ts": late_evening_utc + 3 * 3600, "pnl": None}]
    orders = [{"created_at": late_evening_utc + 60}]
    days = portfolio.activity_by_day(trades, orders)
    assert [day.day for day in days] == ["2025-11-25", "2025-11-24"]
    assert days[1].realized == 5.0 and len(days[1].cancelled) == 1


def test_ticker_and_day_label():
    assert portfolio.ticker("NSE:INFY-EQ") == "INFY"
    assert portfolio.ticker("NSE:M&M-EQ") == "M&M"
    assert portfolio.DayActivity("2026-11-26").label == "Thu 26 Nov 2026"


def test_activity_lists_a_few_per_day_and_counts_the_rest():
    trades = [{"ts": 1_764_000_000.0 + i, "pnl": 1.0} for i in range(5)]
    (day,) = portfolio.activity_by_day(trades, [], per_day=2)
    assert len(day.trades) == 2 and day.more == 3 and day.realized == 5.0


@pytest.mark.parametrize("value,colour", [(12.5, "text-success"), (-0.01, "text-danger"),
                                          (0.0, ""), (None, "")])
def test_gains_are_green_losses_red_and_nothing_else_coloured(value, colour):
    assert portfolio.sign_class(value) == colour
