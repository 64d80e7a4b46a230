"""A deterministic synthetic NSE market for the NIFTY 50: daily candles and intraday prices.

Daily closes are a mean-reverting random walk in log price around each instrument's
`base_price` (nifty50.csv), seeded per (seed, symbol), so the same seed always gives the
same market. Intraday prices follow a smooth deterministic path from the day's open to its
close, so a quote is a pure function of the clock.
"""
from __future__ import annotations

import bisect
import hashlib
import logging
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache

import exchange_calendars
import numpy as np

from universe import nifty50

logger = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))
MARKET_OPEN = time(9, 15)
MARKET_CLOSE = time(15, 30)
SESSION_MINUTES = 375
HISTORY_START = date(2012, 1, 2)
HISTORY_END = date(2036, 12, 31)
REVERSION = 0.015  # share of the gap to the mean closed each day
DAILY_VOLATILITY = 0.016
TURNOVER_RUPEES = 6e9  # typical daily traded value of a NIFTY 50 stock


@lru_cache(maxsize=1)
def trading_days() -> tuple[date, ...]:
    """NSE sessions from HISTORY_START to HISTORY_END: the XBOM calendar where it reaches,
    weekdays beyond its last session."""
    with warnings.catch_warnings():  # pandas deprecation noise from inside exchange_calendars
        warnings.simplefilter("ignore")
        calendar = exchange_calendars.get_calendar("XBOM", start=HISTORY_START.isoformat())
        sessions = calendar.sessions_in_range(HISTORY_START.isoformat(), calendar.last_session)
    known = [ts.date() for ts in sessions]
    day = known[-1] + timedelta(days=1)
    while day <= HISTORY_END:
        if day.weekday() < 5:
            known.append(day)
        day += timedelta(days=1)
    return tuple(known)


@lru_cache(maxsize=1)
def _day_index() -> dict[date, int]:
    return {day: i for i, day in enumerate(trading_days())}


def previous_session(day: date) -> date:
    """The last NSE session before `day`."""
    return trading_days()[bisect.bisect_left(trading_days(), day) - 1]


def ist_midnight_epoch(day: date) -> int:
    """Epoch seconds of IST midnight of `day`, the timestamp Fyers gives a daily candle."""
    return int(datetime.combine(day, time(0), IST).timestamp())


def session_fraction(moment: datetime) -> float:
    """How far through the trading session `moment` (IST) is: 0 before open, 1 after close."""
    opened = datetime.combine(moment.date(), MARKET_OPEN, IST)
    minutes = (moment - opened).total_seconds() / 60
    return min(max(minutes / SESSION_MINUTES, 0.0), 1.0)


def is_market_open(moment: datetime) -> bool:
    """True during NSE hours on a trading day."""
    local = moment.astimezone(IST)
    return local.date() in _day_index() and MARKET_OPEN <= local.time() < MARKET_CLOSE


def _seed_for(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class Bar:
    """One day's candle (possibly partial)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: int


class SymbolSeries:
    """All daily candles of one symbol over the trading-day calendar, generated once."""

    def __init__(self, symbol: str, base_price: float, seed: int) -> None:
        self.symbol = symbol
        self.seed = seed
        rng = np.random.default_rng(_seed_for(seed, symbol))
        count = len(trading_days())
        shocks = rng.normal(0.0, DAILY_VOLATILITY, count)
        log_mean = np.log(base_price)
        log_close = np.empty(count)
        level = log_mean + rng.normal(0.0, 0.15)
        for i, shock in enumerate(shocks):
            level += REVERSION * (log_mean - level) + shock
            log_close[i] = level
        close = np.exp(log_close)
        previous = np.concatenate(([close[0]], close[:-1]))
        gap = rng.normal(0.0, DAILY_VOLATILITY / 3, count)
        opening = previous * np.exp(gap)
        wick = np.abs(rng.normal(0.0, DAILY_VOLATILITY / 2, (2, count)))
        self.open = np.round(opening, 2)
        self.close = np.round(close, 2)
        self.high = np.round(np.maximum(opening, close) * (1 + wick[0]), 2)
        self.low = np.round(np.minimum(opening, close) * (1 - wick[1]), 2)
        self.volume = np.round(TURNOVER_RUPEES / close * rng.lognormal(0.0, 0.35, count))

    def full_bar(self, index: int) -> Bar:
        """The completed candle of trading day number `index`."""
        return Bar(trading_days()[index], float(self.open[index]), float(self.high[index]),
                   float(self.low[index]), float(self.close[index]), int(self.volume[index]))

    def path(self, index: int, fraction: float) -> np.ndarray:
        """Minute prices of day `index` from the open up to `fraction` of the session."""
        steps = np.linspace(0.0, 1.0, SESSION_MINUTES + 1)
        steps = steps[steps <= fraction]
        if steps.size == 0 or steps[-1] < fraction:
            steps = np.append(steps, fraction)
        return self._price_at(index, steps)

    def _price_at(self, index: int, fraction: np.ndarray) -> np.ndarray:
        """A bridge from open to close whose wiggle stays inside the day's high/low."""
        day_open, day_close = self.open[index], self.close[index]
        rng = np.random.default_rng(_seed_for(self.seed, self.symbol, index))
        phases = rng.uniform(0, 2 * np.pi, 3)
        wiggle = sum(np.sin((k + 2) * np.pi * fraction + phase)
                     for k, phase in enumerate(phases)) / 3
        envelope = np.sqrt(fraction * (1 - fraction)) * 2
        span_up = self.high[index] - max(day_open, day_close)
        span_down = min(day_open, day_close) - self.low[index]
        amplitude = np.where(wiggle >= 0, span_up, span_down)
        trend = day_open + (day_close - day_open) * fraction
        return np.round(trend + wiggle * envelope * amplitude, 2)


@lru_cache(maxsize=256)
def symbol_series(symbol: str, base_price: float, seed: int) -> SymbolSeries:
    """A symbol's generated candles, shared by every sandbox of the process with this seed."""
    return SymbolSeries(symbol, base_price, seed)


class Market:
    """The simulated market: daily history and live quotes as functions of a clock."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @cached_property
    def base_prices(self) -> dict[str, float]:
        return {instrument.symbol: instrument.base_price for instrument in nifty50()}

    def knows(self, symbol: str) -> bool:
        """True for the 50 simulated symbols."""
        return symbol in self.base_prices

    def series(self, symbol: str) -> SymbolSeries:
        """The symbol's candles, generated on first use and cached."""
        return symbol_series(symbol, self.base_prices[symbol], self.seed)

    def bar(self, symbol: str, index: int, now: datetime) -> Bar:
        """Day `index`'s candle as seen at `now`: complete, or partial while it trades."""
        series = self.series(symbol)
        day = trading_days()[index]
        local = now.astimezone(IST)
        if local.date() != day:
            return series.full_bar(index)
        fraction = session_fraction(local)
        prices = series.path(index, fraction)
        return Bar(day, float(prices[0]), float(prices.max()), float(prices.min()),
                   float(prices[-1]), int(series.volume[index] * fraction))

    def last_index(self, now: datetime) -> int:
        """Index of the latest trading day that has started trading by `now`."""
        local = now.astimezone(IST)
        days = trading_days()
        index = bisect.bisect_right(days, local.date()) - 1
        if days[index] == local.date() and local.time() < MARKET_OPEN:
            index -= 1
        return index

    def candles(self, symbol: str, start: date, end: date, now: datetime) -> list[Bar]:
        """Daily candles of trading days in [start, end] up to `now`, today's partial one
        included once the market has opened."""
        first = bisect.bisect_left(trading_days(), start)
        stop = min(bisect.bisect_right(trading_days(), end), self.last_index(now) + 1)
        return [self.bar(symbol, i, now) for i in range(first, stop)]

    def quote(self, symbol: str, now: datetime) -> tuple[Bar, float]:
        """(the current or last session's candle, previous close) at `now`."""
        index = self.last_index(now)
        previous = self.series(symbol).close[index - 1]
        return self.bar(symbol, index, now), float(previous)

    def ltp(self, symbol: str, now: datetime) -> float:
        """Last traded price at `now`."""
        return self.quote(symbol, now)[0].close
