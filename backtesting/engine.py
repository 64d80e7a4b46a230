"""The day loop: replay daily closes through strategy_rules.decide() and fill at the close.

Each trading day t the rules see, per symbol, its closes t-MA_PERIOD…t-1 and `ltp` = close of
day t (docs/strategy.md, "Precise points"); intents fill at that close ± slippage, in decide()'s order
(exits → entries → average-down). Sale proceeds are usable for buys the same day; a buy the
cash cannot pay for (value + charges) is skipped, as the broker would reject it.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from backtesting.costs import DeliveryCosts
from backtesting.data import DataError, SymbolHistory
from strategy_rules import BookEntry, Intent, StrategyParams, decide

logger = logging.getLogger(__name__)

# Symbols that cannot qualify for an entry are kept out of decide()'s input (it uses closes only
# to rank entries; exits and averaging need just the holdings' ltps). The margin is far wider
# than the rounding of a cumulative-sum mean, so decide() still makes every exact call; the
# parity test against run_live guards this.
_PREFILTER_MARGIN_PCT = 1e-6
TRADE_COLUMNS = ["date", "symbol", "side", "qty", "price", "costs", "pnl", "reason"]
EQUITY_COLUMNS = ["date", "cash", "holdings_value", "equity"]


@dataclass(frozen=True)
class Settings:
    """Money side of a backtest: starting cash, slippage and charges."""

    capital: float = 400_000.0
    slippage_pct: float = 0.05
    costs: DeliveryCosts = field(default_factory=DeliveryCosts)


@dataclass(frozen=True)
class Market:
    """Closes aligned on the union of trading dates (T days × S symbols), ready for the loop."""

    symbols: list[str]
    dates: np.ndarray  # datetime64[D], ascending
    ltp: np.ndarray  # T×S close of the day, NaN when the symbol has no candle that day
    mark: np.ndarray  # T×S last known close, for valuing holdings
    dev: np.ndarray  # T×S (ltp - ma) / ma, NaN without a candle or MA_PERIOD earlier closes
    position: np.ndarray  # T×S how many of the symbol's own closes precede the day
    closes: list[list[float]]  # per symbol, its own closes (lists: decide() sums them fastest)
    ma_period: int
    column: dict[str, int]  # symbol → its column in the T×S arrays


@dataclass
class BacktestResult:
    """Trades, the daily equity curve and the figures the summary needs."""

    trades: list[dict[str, Any]]
    equity: pd.DataFrame  # date, cash, holdings_value, equity
    peak_invested: float
    skipped_buys: int


def _column(history: SymbolHistory, dates: np.ndarray, ma_period: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ltp, dev, position) of one symbol on every date of `dates`."""
    count = len(history)
    position = np.searchsorted(history.dates, dates)
    clipped = np.minimum(position, count - 1)
    has = (position < count) & (history.dates[clipped] == dates)
    ltp = np.where(has, history.closes[clipped], np.nan)
    sums = np.concatenate(([0.0], np.cumsum(history.closes)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = (sums[position] - sums[np.maximum(position - ma_period, 0)]) / ma_period
        dev = np.where(has & (position >= ma_period), (ltp - ma) / ma, np.nan)
    return ltp, dev, position


def prepare_market(histories: Mapping[str, SymbolHistory], ma_period: int) -> Market:
    """Align every symbol on the union of dates and precompute each day's deviation from the MA."""
    symbols = sorted(symbol for symbol, history in histories.items() if len(history))
    dates = np.unique(np.concatenate([histories[symbol].dates for symbol in symbols]))
    columns = [_column(histories[symbol], dates, ma_period) for symbol in symbols]
    ltp = np.column_stack([column[0] for column in columns])
    return Market(
        symbols=symbols,
        dates=dates,
        ltp=ltp,
        mark=pd.DataFrame(ltp).ffill().to_numpy(),
        dev=np.column_stack([column[1] for column in columns]),
        position=np.column_stack([column[2] for column in columns]),
        closes=[histories[symbol].closes.tolist() for symbol in symbols],
        ma_period=ma_period,
        column={symbol: s for s, symbol in enumerate(symbols)},
    )


class _Account:
    """Cash, the bot's book and the trades so far, changed only by fills."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cash = settings.capital
        self.book: dict[str, BookEntry] = {}
        self.buy_costs: dict[str, float] = {}
        self.trades: list[dict[str, Any]] = []
        self.skipped_buys = 0

    def fill(self, intent: Intent, day: str) -> None:
        """Apply one intent at its decision price ± slippage, or skip a buy cash cannot pay."""
        slip = self.settings.slippage_pct / 100
        if intent.side == "SELL":
            self._sell(intent, day, intent.price * (1 - slip))
        else:
            self._buy(intent, day, intent.price * (1 + slip))

    def _buy(self, intent: Intent, day: str, price: float) -> None:
        value = intent.qty * price
        costs = self.settings.costs.charges("BUY", value)
        if value + costs > self.cash:
            self.skipped_buys += 1
            logger.debug("%s skip %s buy of %s: cash %.2f short", day, intent.reason,
                         intent.symbol, self.cash)
            return
        self.cash -= value + costs
        held = self.book.get(intent.symbol)
        qty = intent.qty + (held.qty if held else 0)
        cost_basis = value + (held.qty * held.avg_price if held else 0.0)
        self.book[intent.symbol] = BookEntry(intent.symbol, qty, cost_basis / qty, price)
        self.buy_costs[intent.symbol] = self.buy_costs.get(intent.symbol, 0.0) + costs
        self._record(day, intent, price, costs, None)

    def _sell(self, intent: Intent, day: str, price: float) -> None:
        held = self.book.pop(intent.symbol)
        value = intent.qty * price
        costs = self.settings.costs.charges("SELL", value)
        self.cash += value - costs
        pnl = (price - held.avg_price) * intent.qty - costs - self.buy_costs.pop(intent.symbol)
        self._record(day, intent, price, costs, pnl)

    def _record(self, day: str, intent: Intent, price: float, costs: float,
                pnl: float | None) -> None:
        self.trades.append(dict(zip(TRADE_COLUMNS, (day, intent.symbol, intent.side, intent.qty,
                                                    price, costs, pnl, intent.reason), strict=True)))

    def invested(self) -> float:
        """Cost basis of the open positions."""
        return sum(entry.qty * entry.avg_price for entry in self.book.values())


def _inputs(market: Market, t: int, eligible: list[int], book: Mapping[str, BookEntry]
            ) -> tuple[dict[str, list[float]], dict[str, float]]:
    """decide()'s closes and ltps for day t: the entry-eligible columns plus the holdings."""
    ltp_row, position_row, ma = market.ltp[t].tolist(), market.position[t].tolist(), market.ma_period
    closes, ltps = {}, {}
    for s in eligible:
        symbol, k = market.symbols[s], position_row[s]
        closes[symbol] = market.closes[s][k - ma:k]
        ltps[symbol] = ltp_row[s]
    for symbol in book:
        ltp = ltp_row[market.column[symbol]]
        if ltp == ltp:  # not NaN: the symbol traded that day
            ltps[symbol] = ltp
    return closes, ltps


def simulate(market: Market, params: StrategyParams, settings: Settings,
             start: date, end: date) -> BacktestResult:
    """Run the strategy on every trading day of [start, end]."""
    if params.ma_period != market.ma_period:
        raise ValueError("market was prepared for another ma_period")
    first = int(np.searchsorted(market.dates, np.datetime64(start), "left"))
    stop = int(np.searchsorted(market.dates, np.datetime64(end), "right"))
    if first >= stop:
        raise DataError(f"no candles between {start} and {end}")
    account = _Account(settings)
    rows, peak_invested = [], 0.0
    # Only symbols far enough below their MA can be entries; decide() makes the exact call.
    eligible = market.dev * -100 >= params.entry_threshold_pct - _PREFILTER_MARGIN_PCT
    for t in range(first, stop):
        day = str(market.dates[t])
        closes, ltps = _inputs(market, t, np.flatnonzero(eligible[t]).tolist(), account.book)
        for intent in decide(closes, ltps, account.book, params):
            account.fill(intent, day)
        held = sum(entry.qty * market.mark[t, market.column[symbol]]
                   for symbol, entry in account.book.items())
        rows.append((day, account.cash, held, account.cash + held))
        peak_invested = max(peak_invested, account.invested())
    equity = pd.DataFrame(rows, columns=EQUITY_COLUMNS)
    return BacktestResult(account.trades, equity, peak_invested, account.skipped_buys)
