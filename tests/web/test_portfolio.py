"""Money and time formatting, and the P&L arithmetic the pages show."""
from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

import india_time
import portfolio
from config import IST
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
    assert india_time.date_of(1_764_000_000) == "2025-11-24"


def test_ist_day_bounds_rejects_bad_dates():
    start, end = india_time.day_bounds("2026-11-26")
    assert end - start == 86400 and portfolio.ist(start) == "26 Nov 2026 00:00"
    with pytest.raises(ValueError):
        india_time.day_bounds("2026-13-01")


def test_duration():
    assert portfolio.duration(10, 52) == "42 s"
    assert portfolio.duration(0, 185) == "3 min 5 s"
    assert portfolio.duration(0, None) == "—"


def test_positions_valued_at_their_marks_and_unknown_without_one():
    positions = [{"symbol": "A", "qty": 10, "avg_price": 100.0},
                 {"symbol": "B", "qty": 2, "avg_price": 50.0}]
    holdings = portfolio.value_positions(positions, {"A": portfolio.Mark(110.0, at=0.0)})
    first, second = holdings.rows
    assert (first.value, first.pnl, first.pnl_pct) == (1100.0, 100.0, 10.0)
    assert second.ltp is None and second.pnl is None
    assert holdings.invested == 1100.0
    assert holdings.value is None and holdings.open_pnl is None  # a partial sum would mislead
    both = portfolio.value_positions(positions, {"A": portfolio.Mark(110.0, at=0.0),
                                                 "B": portfolio.Mark(45.0, day="2026-11-27")})
    assert (both.value, both.open_pnl) == (1190.0, 90.0)
    assert round(both.open_pct, 4) == 8.1818


def test_holdings_say_what_they_are_valued_at():
    positions = [{"symbol": "A", "qty": 1, "avg_price": 1.0},
                 {"symbol": "B", "qty": 1, "avg_price": 1.0}]
    this_year = india_time.day_of(time.time()).year  # a day of this year reads without it
    at_1432 = datetime(this_year, 11, 27, 14, 32, tzinfo=IST).timestamp()
    live = portfolio.Mark(2.0, at=at_1432)
    close_26, close_27 = (portfolio.Mark(2.0, day=f"{this_year}-11-{day}") for day in (26, 27))
    assert portfolio.value_positions(positions, {"A": live, "B": live}).valued_at == \
        "live prices of 14:32 IST"
    assert portfolio.value_positions(positions, {"A": close_27, "B": close_27}).valued_at == \
        "the close of 27 Nov"
    assert portfolio.value_positions(positions, {"A": close_27, "B": close_26}).valued_at == \
        "the closes of 26 Nov to 27 Nov"
    assert portfolio.value_positions(positions, {"A": live, "B": close_27}).valued_at == \
        "live prices, some at the close of 27 Nov"
    assert portfolio.value_positions(positions, {}).valued_at == ""
    assert (live.label, close_27.label) == ("live 14:32", "close of 27 Nov")
    last = portfolio.Mark(2.0, at=at_1432, nse_closed=True)  # read while NSE was closed
    assert portfolio.value_positions(positions, {"A": last, "B": last}).valued_at == \
        "the last prices Fyers gave at 14:32 IST, NSE closed"
    assert portfolio.value_positions(positions, {"A": last, "B": close_27}).valued_at == \
        "the last prices, some at the close of 27 Nov"
    assert last.label == "last price, NSE closed"
    assert portfolio.day_label("2019-03-04") == "04 Mar 2019"


def test_times_read_as_today_or_tomorrow():
    now = datetime(2026, 11, 25, 20, 0, tzinfo=IST).timestamp()
    at = [datetime(2026, 11, day, hour, 0, tzinfo=IST).timestamp() for day, hour in
          ((26, 6), (25, 15), (24, 15), (28, 6))]
    assert [portfolio.ist_when(ts, now) for ts in at] == [
        "06:00 IST tomorrow", "15:00 IST today", "15:00 IST yesterday", "Sat 28 Nov 06:00 IST"]


def test_a_trade_in_words():
    buy = {"side": "BUY", "qty": 5, "symbol": "NSE:BAJAJFINSV-EQ", "price": 1675.8, "pnl": None}
    assert portfolio.trade_line(buy) == "Bought 5 BAJAJFINSV for ₹8,379.00"
    sale = {"side": "SELL", "qty": 5, "symbol": "NSE:TCS-EQ", "price": 3512.0, "pnl": 1060.0,
            "source": "manual"}
    assert portfolio.trade_line(sale) == "Sold by hand 5 TCS for ₹17,560.00, P&L +₹1,060.00"


def test_win_loss_ratio_and_cumulative_pnl():
    assert portfolio.win_loss_ratio(TradeStats(100.0, 3, 2, 50.0, -25.0, 5)) == 1.5
    assert portfolio.win_loss_ratio(TradeStats(100.0, 3, 0, 50.0, 0.0, 3)) is None
    days = [ClosedDay("2026-11-26", 1, 1, 1000, 0, 0), ClosedDay("2026-11-27", 2, 1, 50, 1, -500),
            ClosedDay("2026-11-30", 1, 1, 100, 0, 0)]
    assert portfolio.cumulative_pnl(days) == [  # from zero the day before the first sale
        ("2026-11-25", 0.0), ("2026-11-26", 10.0), ("2026-11-27", 5.5), ("2026-11-30", 6.5)]
    assert portfolio.cumulative_pnl(days[:1]) == [("2026-11-25", 0.0), ("2026-11-26", 10.0)]
    assert portfolio.cumulative_pnl([]) == []


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
                                          (0.0, ""), (None, ""), (-0.004, ""), (0.004, ""),
                                          (-0.006, "text-danger"), (float("nan"), "")])
def test_gains_are_green_losses_red_and_nothing_else_coloured(value, colour):
    """The colour follows the figure shown (two decimals): −0.004 reads 0.00, not a loss."""
    assert portfolio.sign_class(value) == colour


@pytest.mark.parametrize("value, shown", [(-0.004, "0.00%"), (0.004, "0.00%"),
                                          (-0.006, "−0.01%"), (0.0, "0.00%")])
def test_a_percentage_that_rounds_to_zero_has_no_sign(value, shown):
    assert portfolio.pct(value) == shown


def test_an_amount_that_rounds_to_zero_has_no_plus():
    assert portfolio.signed_inr(0.004) == "₹0.00" and portfolio.signed_inr(0.006) == "+₹0.01"


def test_a_tiny_loss_reads_0_00_percent_uncoloured_on_trading(logged_in, client, db):
    """A holding 3 paise under its buy price: the ₹ loss is red, its −0.002% reads 0.00%,
    neither signed nor red, in the position's row and in Open P&L."""
    db.record_trade({"trade_id": "b1", "run_id": "r", "order_tag": None, "symbol": "NSE:INFY-EQ",
                     "side": "BUY", "qty": 10, "price": 1600.03, "ts": 1.0e9, "pnl": None,
                     "source": "bot"},
                    {"symbol": "NSE:INFY-EQ", "qty": 10, "avg_price": 1600.03,
                     "last_buy_price": 1600.03, "opened_at": 1.0e9, "updated_at": 1.0e9})
    db.upsert_candles("NSE:INFY-EQ", [{"date": "2026-11-20", "open": 1600, "high": 1600,
                                       "low": 1600, "close": 1600.0, "volume": 1}])
    page = client.get("/trading").get_data(as_text=True)
    assert '<span class="text-danger">−₹0.30</span>' in page
    assert re.search(r'<div class="small\s*">0.00%</div>', page)  # the row: no colour
    assert '<div class="small text-body-secondary">0.00%</div>' in page  # Open P&L
    assert "−0.00%" not in page
