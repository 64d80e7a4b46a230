"""The simulated market: deterministic, NSE trading days, plausible candles, moving quotes."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from fyers_sandbox.market import IST, Market, trading_days
from universe import nifty50

MORNING = datetime(2026, 11, 25, 11, 0, tzinfo=IST)
SBIN = "NSE:SBIN-EQ"


def test_the_same_seed_gives_the_same_market_and_another_seed_a_different_one():
    start, end = date(2020, 1, 1), date(2020, 12, 31)
    first = Market(7).candles(SBIN, start, end, MORNING)
    assert Market(7).candles(SBIN, start, end, MORNING) == first
    assert Market(8).candles(SBIN, start, end, MORNING) != first


def test_trading_days_are_nse_sessions_for_more_than_ten_years():
    days = trading_days()
    assert days[0] <= date(2016, 1, 1) and days[-1] >= date(2030, 1, 1)
    assert all(day.weekday() < 5 for day in days)
    assert date(2026, 1, 26) not in days  # Republic Day, a Monday
    assert date(2026, 11, 24) not in days  # Guru Nanak Jayanti, a Tuesday
    assert 240 <= sum(1 for day in days if day.year == 2025) <= 252


def test_candles_are_plausible_for_every_symbol():
    market = Market(1)
    for instrument in nifty50():
        series = market.series(instrument.symbol)
        assert np.all(series.low <= np.minimum(series.open, series.close))
        assert np.all(series.high >= np.maximum(series.open, series.close))
        assert np.all(series.volume > 0)
        ratio = series.close / instrument.base_price
        assert ratio.min() > 0.25 and ratio.max() < 4  # mean-reverting around the base price
        daily = np.abs(np.diff(np.log(series.close)))
        assert np.median(daily) < 0.03


def test_todays_partial_candle_appears_once_the_market_opens():
    market = Market(1)
    day = date(2026, 11, 25)
    before_open = MORNING.replace(hour=9, minute=0)
    assert market.candles(SBIN, day, day, before_open) == []
    [partial] = market.candles(SBIN, day, day, MORNING)
    [complete] = market.candles(SBIN, day, day, MORNING + timedelta(hours=6))
    assert partial.volume < complete.volume
    assert complete.low <= partial.low <= partial.high <= complete.high


def test_quotes_move_during_the_day_and_rest_outside_it():
    market = Market(1)
    prices = {market.ltp(SBIN, MORNING + timedelta(minutes=m)) for m in range(0, 60, 5)}
    assert len(prices) > 5
    evening = MORNING.replace(hour=20)
    assert market.ltp(SBIN, evening) == market.ltp(SBIN, evening + timedelta(hours=2))
    bar, previous = market.quote(SBIN, MORNING.replace(hour=8))  # before the open
    assert bar.day == date(2026, 11, 23) and previous > 0
