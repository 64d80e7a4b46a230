"""The day loop: replay daily closes through strategy_rules.decide() and fill at the close.

Each trading day t the rules see, per symbol, its closes t-MA_PERIOD…t-1 and `ltp` = close of
day t (docs/strategy.md, "Inputs"); intents fill at that close ± slippage, in decide()'s order
(exits → entries → average-down). Sale proceeds are usable for buys the same day; a buy the
cash cannot pay for (value + charges) is skipped, as the broker would reject it.

decide() runs every day, handed only what can change its answer: closes of the symbols that can
be among its first ENTRY_CANDIDATES (picked by deviations within a known rounding error of its
own) and the holdings that are among them or near their exit or averaging price. It passes over
everything else, so the trades are the ones it makes on everything (docs/backtesting.md, "Speed").
Plain lists and the stdlib's C-level helpers, no numpy: see backtesting/data.py.
"""
from __future__ import annotations

import logging
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate, repeat, takewhile
from operator import add, mul, sub, truediv
from typing import Any, NamedTuple

from backtesting.costs import DeliveryCosts
from backtesting.data import DataError, SymbolHistory
from strategy_rules import BookEntry, Intent, StrategyParams, decide

logger = logging.getLogger(__name__)

EQUITY_COLUMNS = ["date", "cash", "holdings_value", "equity", "buy_and_hold"]
NO_DEVIATION = math.inf  # a day without a candle or without MA_PERIOD earlier closes
# Far wider than the tolerance decide() compares thresholds with (1e-9, absolute or relative)
# and than rounding, so nothing decide() may count as past a threshold is left out of its input.
_THRESHOLD_MARGIN_PCT = 1e-6
_EPSILON = 2.0 ** -53  # the largest relative rounding error of one float operation


@dataclass(frozen=True)
class Settings:
    """Money side of a backtest: starting cash, slippage and charges."""

    capital: float = 400_000.0
    slippage_pct: float = 0.05
    costs: DeliveryCosts = field(default_factory=DeliveryCosts)


@dataclass(frozen=True)
class Market:
    """Closes aligned on the union of trading dates, ready for the loop; `column` numbers the
    symbols in sorted order, so ordering columns orders symbols."""

    symbols: list[str]
    dates: list[str]  # ISO, ascending
    closes: list[list[float]]  # per column, the symbol's own closes
    own_index: list[Sequence[int | None]]  # per column and day, the day's place in its closes
    ltp: list[Sequence[float | None]]  # per column and day, the close; None without a candle
    mark: list[Sequence[float | None]]  # per column and day, the last known close
    devs: list[tuple[float, ...]]  # per day and column, (ltp - ma) / ma, or NO_DEVIATION
    dev_error: float  # how far a dev under 0.5 may be from the one decide() computes
    ma_period: int
    column: dict[str, int]
    # Each day's entry shortlist by (ENTRY_CANDIDATES, ENTRY_THRESHOLD_PCT), made on first use.
    _shortlists: dict[tuple[int, float], list[list[int]]] = field(
        default_factory=dict, repr=False, compare=False)

    def window(self, s: int, t: int) -> list[float]:
        """Column s's MA_PERIOD closes before day t."""
        k = self.own_index[s][t]
        return self.closes[s][k - self.ma_period:k]

    def period(self, start: date, end: date) -> range:
        """The market indices of the trading days in [start, end]; DataError when none."""
        days = range(bisect_left(self.dates, start.isoformat()),
                     bisect_right(self.dates, end.isoformat()))
        if not days:
            raise DataError(f"no candles between {start} and {end}")
        return days

    def first_entry_day(self) -> int | None:
        """The first day (market index) on which some symbol has MA_PERIOD earlier closes, so
        that an entry is possible; None when no symbol has that many."""
        return next((t for t, devs in enumerate(self.devs) if min(devs) < NO_DEVIATION), None)

    def entry_shortlists(self, params: StrategyParams) -> list[list[int]]:
        """Per day, the columns decide() may rank among its first ENTRY_CANDIDATES. They depend
        on no other rule and on nothing a run did, so they are made once per market and entry
        rules and shared by every run: a sweep's combinations that vary only other rules."""
        key = params.entry_candidates, params.entry_threshold_pct
        if key not in self._shortlists:
            self._shortlists[key] = [_entry_shortlist(devs, self.dev_error, params)
                                     for devs in self.devs]
        return self._shortlists[key]


class Trade(NamedTuple):
    """One fill: price with slippage, charges in rupees, pnl net of both sides' charges (sells)."""

    date: str
    symbol: str
    side: str
    qty: int
    price: float
    costs: float
    pnl: float | None
    reason: str


TRADE_COLUMNS = list(Trade._fields)


class _Holding(NamedTuple):
    """What the day loop tracks of one holding: its column, quantity since which day, and the
    quiet band its price must leave before decide() can act on it."""

    column: int
    qty: int
    since: int  # the day (market index) whose fills left it at `qty`
    low: float
    high: float


@dataclass
class BacktestResult:
    """Trades, the daily equity curve and the figures the summary needs."""

    trades: list[Trade]
    equity: dict[str, list[Any]]  # EQUITY_COLUMNS → one value per trading day
    peak_invested: float
    skipped_buys: int


def deviations(closes: list[float], period: int) -> tuple[list[float], float]:
    """Per close, (close - ma) / ma with ma the mean of the `period` closes before it
    (NO_DEVIATION for the first `period`), and a bound on how far each one under 0.5 (all that
    can matter for an entry) is from the value decide() computes with math.fsum."""
    if len(closes) <= period:
        return [NO_DEVIATION] * len(closes), 0.0
    sums = list(accumulate(closes, initial=0.0))
    window_sums = map(sub, sums[period:-1], sums[:-period - 1])  # before each later close
    means = list(map(truediv, window_sums, repeat(period)))
    devs = list(map(truediv, map(sub, closes[period:], means), means))
    # Each running sum is off by at most len·ε·total (each addition rounds by at most ε of the
    # total), so a window's sum by twice that, and no window sums to less than period × the
    # least close; the rest covers fsum's and the divisions' roundings, with room to spare
    # (docs/backtesting.md, "Speed").
    error = (8 * len(closes) * sums[-1] / (period * min(closes)) + 32) * _EPSILON
    return [NO_DEVIATION] * period + devs, error


def _forward_filled(values: list[float | None]) -> list[float | None]:
    """Each None replaced by the last value before it."""
    return list(accumulate(values, lambda last, value: last if value is None else value))


def prepare_market(histories: Mapping[str, SymbolHistory], ma_period: int) -> Market:
    """Align every symbol on the union of dates and compute each day's deviation from the MA."""
    symbols = sorted(symbol for symbol, history in histories.items() if len(history))
    if not symbols:
        raise DataError("no candles to backtest")
    first = histories[symbols[0]].dates
    shared = all(histories[symbol].dates == first for symbol in symbols)
    dates = first if shared else sorted(set().union(*(histories[s].dates for s in symbols)))
    closes, own_index, ltp, mark, dev_columns, errors = [], [], [], [], [], [0.0]
    for symbol in symbols:
        history = histories[symbol]
        devs, error = deviations(history.closes, ma_period)
        errors.append(error)
        closes.append(history.closes)
        if shared:  # the common case: every column is the symbol's own series as it is
            own_index.append(range(len(dates)))
            ltp.append(history.closes)
            mark.append(history.closes)
            dev_columns.append(devs)
            continue
        place = dict(zip(history.dates, range(len(history)), strict=True))
        own_index.append(list(map(place.get, dates)))
        ltp.append(list(map(dict(zip(history.dates, history.closes, strict=True)).get, dates)))
        mark.append(_forward_filled(ltp[-1]))
        dev_columns.append(list(map(dict(zip(history.dates, devs, strict=True)).get, dates,
                                    repeat(NO_DEVIATION))))
    devs_by_day = list(zip(*dev_columns, strict=True))
    return Market(symbols, dates, closes, own_index, ltp, mark, devs_by_day, max(errors), ma_period,
                  {symbol: s for s, symbol in enumerate(symbols)})


def _entry_shortlist(devs: Sequence[float], error: float, params: StrategyParams) -> list[int]:
    """Columns that include every one decide() may rank among its first ENTRY_CANDIDATES, most
    below the MA first, given devs within `error` of decide()'s (docs/backtesting.md)."""
    order = sorted(range(len(devs)), key=devs.__getitem__)  # stable: ties stay in symbol order
    count, threshold = params.entry_candidates, params.entry_threshold_pct
    if len(order) >= count and -devs[order[count - 1]] * 100 >= threshold + 200 * error:
        # The first `count` are past the threshold for decide() too, and rank ahead of any
        # column whose dev is more than 2 × error beyond theirs.
        limit, end = devs[order[count - 1]] + 2 * error, count
        while end < len(order) and devs[order[end]] <= limit:
            end += 1
        return order[:end]
    near = threshold - _margin_pct(threshold) - 200 * error
    return list(takewhile(lambda s: -devs[s] * 100 >= near, order))


def _margin_pct(threshold_pct: float) -> float:
    """How far inside a threshold decide() may still call it met (its tolerance, widened)."""
    return _THRESHOLD_MARGIN_PCT * max(1.0, abs(threshold_pct))


def _quiet_band(params: StrategyParams) -> tuple[float, float]:
    """(low, high): decide() neither averages down a holding priced above low × its last buy
    price (drop short of AVERAGING_THRESHOLD_PCT) nor sells one priced below high × its
    average price (gain short of EXIT_THRESHOLD_PCT)."""
    averaging, exiting = params.averaging_threshold_pct, params.exit_threshold_pct
    return (1 - (averaging - _margin_pct(averaging)) / 100,
            1 + (exiting - _margin_pct(exiting)) / 100)


class _Account:
    """Cash, the bot's book and the trades so far, changed only by fills."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cash = settings.capital
        self.book: dict[str, BookEntry] = {}
        self.buy_costs: dict[str, float] = {}
        self.trades: list[Trade] = []
        self.skipped_buys = 0
        self.invested = 0.0  # cost basis of the open positions

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
        self.invested += value
        self.buy_costs[intent.symbol] = self.buy_costs.get(intent.symbol, 0.0) + costs
        self._record(day, intent, price, costs, None)

    def _sell(self, intent: Intent, day: str, price: float) -> None:
        held = self.book.pop(intent.symbol)
        self.invested -= held.qty * held.avg_price
        value = intent.qty * price
        costs = self.settings.costs.charges("SELL", value)
        self.cash += value - costs
        pnl = (price - held.avg_price) * intent.qty - costs - self.buy_costs.pop(intent.symbol)
        self._record(day, intent, price, costs, pnl)

    def _record(self, day: str, intent: Intent, price: float, costs: float,
                pnl: float | None) -> None:
        self.trades.append(Trade(day, intent.symbol, intent.side, intent.qty, price, costs, pnl,
                                 intent.reason))


def _inputs(market: Market, t: int, shortlist: list[int], book: Mapping[str, BookEntry],
            holdings: Mapping[str, _Holding]
            ) -> tuple[dict[str, list[float]], dict[str, float], dict[str, BookEntry]]:
    """decide()'s closes, ltps and book for day t: the shortlisted columns, and the holdings
    that are shortlisted or outside their quiet band (decide() passes over the others)."""
    symbols, ltp = market.symbols, market.ltp
    closes = {symbols[s]: market.window(s, t) for s in shortlist}
    ltps = {symbols[s]: ltp[s][t] for s in shortlist}
    relevant = {}
    for symbol, (s, _, _, low, high) in holdings.items():
        price = ltp[s][t]
        if price is not None and (not low < price < high or symbol in closes):
            relevant[symbol] = book[symbol]
            ltps[symbol] = price
    return closes, ltps, relevant


def _holdings_values(market: Market, spans: list[tuple[int, int, int, int]], first: int,
                     stop: int) -> list[float]:
    """Per day of [first, stop), the value at the last known close of the holdings, from each
    holding's (column, qty, first day, end day) spans: one pass per span, not per day."""
    values = [0.0] * (stop - first)
    for s, qty, since, until in spans:
        days = slice(since - first, until - first)
        values[days] = map(add, values[days], map(mul, market.mark[s][since:until], repeat(qty)))
    return values


def buy_and_hold(market: Market, first: int, stop: int, capital: float) -> list[float]:
    """Daily value of `capital` split equally over the symbols priced on day `first`, bought at
    that close and held (the universe's equal-weight buy-and-hold, no costs)."""
    priced = [s for s in range(len(market.symbols)) if market.ltp[s][first] is not None]
    values = [map(mul, market.mark[s][first:stop], repeat(capital / len(priced) / market.ltp[s][first]))
              for s in priced]
    return list(map(sum, zip(*values, strict=True)))


def simulate(market: Market, params: StrategyParams, settings: Settings,
             start: date, end: date) -> BacktestResult:
    """Run the strategy on every trading day of [start, end]."""
    if params.ma_period != market.ma_period:
        raise ValueError("market was prepared for another ma_period")
    days = market.period(start, end)
    first, stop = days.start, days.stop
    account = _Account(settings)
    holdings: dict[str, _Holding] = {}
    spans: list[tuple[int, int, int, int]] = []  # (column, qty, first day, end day) held
    low, high = _quiet_band(params)
    cash, peak_invested = [], 0.0
    shortlists = market.entry_shortlists(params)
    for t in range(first, stop):
        day = market.dates[t]
        intents = decide(*_inputs(market, t, shortlists[t], account.book, holdings), params)
        for intent in intents:
            account.fill(intent, day)
            before, entry = holdings.pop(intent.symbol, None), account.book.get(intent.symbol)
            if before and before.since < t:
                spans.append((before.column, before.qty, before.since, t))
            if entry:
                holdings[intent.symbol] = _Holding(market.column[intent.symbol], entry.qty, t,
                                                   entry.last_buy_price * low,
                                                   entry.avg_price * high)
        peak_invested = max(peak_invested, account.invested)
        cash.append(account.cash)
    spans += [(h.column, h.qty, h.since, stop) for h in holdings.values()]
    held = _holdings_values(market, spans, first, stop)
    equity = {"date": market.dates[first:stop], "cash": cash, "holdings_value": held,
              "equity": list(map(add, cash, held)),
              "buy_and_hold": buy_and_hold(market, first, stop, settings.capital)}
    return BacktestResult(account.trades, equity, peak_invested, account.skipped_buys)
