"""The strategy's rules: closes, prices, the bot's book and the day's use in, orders out.

Pure on purpose (stdlib only, no I/O): the live run (live_strategy.py) and the backtest
(backtesting/engine.py) call the very same `decide()`, and tests exercise it without a broker
or a store. The rules and their precise points are written down in docs/strategy.md.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from indian_digits import grouped

# Percentages are compared with this tolerance so a threshold that is met exactly on paper
# (e.g. 100 → 106.28 for 6.28 %) is not missed by float rounding.
_PCT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class StrategyParams:
    """The strategy's knobs (see Config for their meaning and defaults)."""

    ma_period: int
    entry_threshold_pct: float
    exit_threshold_pct: float
    averaging_threshold_pct: float
    entry_candidates: int
    max_trade_value: float
    max_new_entries_per_run: int
    # Config's default, so params built by hand (backtest scenarios) may leave it out.
    max_new_entries_per_day: int = 1


@dataclass(frozen=True)
class BookEntry:
    """What the bot holds of one symbol."""

    symbol: str
    qty: int
    avg_price: float
    last_buy_price: float


@dataclass(frozen=True)
class DayUse:
    """What earlier runs of the same trading day used, and the symbols the owner sold by hand
    lately: the caps hold per day however many runs happen."""

    entries: int = 0  # new entries already bought today
    averaged: frozenset[str] = frozenset()  # symbols averaged down today
    cooling_down: frozenset[str] = frozenset()  # sold by hand within the rebuy cooldown

    def entries_left(self, params: StrategyParams) -> int:
        """New entries this run may still buy: the run's cap within what is left of the day's."""
        return max(0, min(params.max_new_entries_per_run,
                          params.max_new_entries_per_day - self.entries))

    def entry_budget_spent(self, params: StrategyParams) -> bool:
        """True when earlier runs today bought every new entry the day allows."""
        return self.entries >= params.max_new_entries_per_day

    def most_buys(self, params: StrategyParams, held: Iterable[str]) -> int:
        """The most buys one run may still place today, whatever the prices: its new entries,
        or else one average-down of a holding in `held` not averaged or sold by hand lately
        (decide() places one or the other)."""
        entries = min(self.entries_left(params), params.entry_candidates)
        can_average = bool(set(held) - self.averaged - self.cooling_down)
        return max(entries, int(can_average))


NOTHING_USED = DayUse()


@dataclass(frozen=True)
class Intent:
    """An order the rules want, with the price and reason it was decided on."""

    symbol: str
    side: str  # "BUY" | "SELL"
    qty: int
    reason: str  # "entry" | "average" | "exit"
    price: float
    detail: str


def moving_average(closes: Sequence[float], period: int) -> float | None:
    """Mean of the last `period` closes, or None when there are fewer."""
    if period <= 0 or len(closes) < period:
        return None
    return math.fsum(closes[-period:]) / period


def buy_qty(max_trade_value: float, ltp: float) -> int:
    """Whole shares one trade of `max_trade_value` buys at `ltp` (0 when one share costs more)."""
    return math.floor(max_trade_value / ltp) if ltp > 0 else 0


def rupees(price: float) -> str:
    """A share price as the reason of an order reads it, e.g. '₹1,675.80'."""
    return f"₹{grouped(price)}"


def _at_least(value: float, threshold: float) -> bool:
    return value >= threshold or math.isclose(value, threshold, abs_tol=_PCT_TOLERANCE)


def _more_than(value: float, threshold: float) -> bool:
    return value > threshold and not math.isclose(value, threshold, abs_tol=_PCT_TOLERANCE)


def _held(book: Mapping[str, BookEntry]) -> dict[str, BookEntry]:
    return {symbol: entry for symbol, entry in book.items() if entry.qty > 0}


def _exits(held: Mapping[str, BookEntry], ltps: Mapping[str, float],
           params: StrategyParams) -> list[Intent]:
    """Every holding up by the exit threshold, sold whole, in symbol order."""
    intents = []
    for symbol in sorted(held):
        entry, ltp = held[symbol], ltps.get(symbol)
        if ltp is None or entry.avg_price <= 0:
            continue
        gain_pct = (ltp - entry.avg_price) / entry.avg_price * 100
        if _at_least(gain_pct, params.exit_threshold_pct):
            intents.append(Intent(symbol, "SELL", entry.qty, "exit", ltp, f"{gain_pct:.2f}% "
                                  f"above average buy price {rupees(entry.avg_price)}"))
    return intents


def _ranked_deviations(closes: Mapping[str, Sequence[float]], ltps: Mapping[str, float],
                       params: StrategyParams) -> list[tuple[float, str]]:
    """(dev, symbol) for symbols at or past the entry threshold, most negative first."""
    ranked = []
    for symbol, history in closes.items():
        ma, ltp = moving_average(history, params.ma_period), ltps.get(symbol)
        if ma is None or ma <= 0 or ltp is None:
            continue
        dev = (ltp - ma) / ma
        if _at_least(-dev * 100, params.entry_threshold_pct):
            ranked.append((dev, symbol))
    return sorted(ranked)


def _entries(closes: Mapping[str, Sequence[float]], ltps: Mapping[str, float],
             excluded: set[str], limit: int, params: StrategyParams) -> list[Intent]:
    """Up to `limit` buys of the most-below-MA candidates that are not excluded and affordable."""
    intents = []
    for dev, symbol in _ranked_deviations(closes, ltps, params)[:params.entry_candidates]:
        if len(intents) >= limit:
            break
        ltp = ltps[symbol]
        qty = buy_qty(params.max_trade_value, ltp)
        if symbol in excluded or qty < 1:
            continue
        intents.append(Intent(symbol, "BUY", qty, "entry", ltp,
                              f"{-dev * 100:.2f}% below {params.ma_period}-day MA"))
    return intents


def _average_down(held: Mapping[str, BookEntry], ltps: Mapping[str, float],
                  excluded: set[str], params: StrategyParams) -> Intent | None:
    """One more buy of the holding furthest below its last buy price, past the threshold."""
    candidates = []
    for symbol, entry in held.items():
        ltp = ltps.get(symbol)
        if symbol in excluded or ltp is None or entry.last_buy_price <= 0:
            continue
        drop_pct = (entry.last_buy_price - ltp) / entry.last_buy_price * 100
        if _more_than(drop_pct, params.averaging_threshold_pct) and buy_qty(
                params.max_trade_value, ltp) >= 1:
            candidates.append((-drop_pct, symbol))
    if not candidates:
        return None
    neg_drop, symbol = min(candidates)
    ltp = ltps[symbol]
    return Intent(symbol, "BUY", buy_qty(params.max_trade_value, ltp), "average", ltp,
                  f"{-neg_drop:.2f}% below last buy price {rupees(held[symbol].last_buy_price)}")


def decide(closes: Mapping[str, Sequence[float]], ltps: Mapping[str, float],
           book: Mapping[str, BookEntry], params: StrategyParams,
           day: DayUse = NOTHING_USED) -> list[Intent]:
    """Intended orders for one run: exits first, then entries, then at most one average-down.

    `closes` are completed daily closes oldest→newest (today excluded); `book` is what the bot
    held before the run; `day` is what earlier runs of the day used (a backtest deciding once a
    day leaves it out).
    """
    held = _held(book)
    exits = _exits(held, ltps, params)
    sold = {intent.symbol for intent in exits}
    not_bought = sold | day.cooling_down
    entries = _entries(closes, ltps, set(held) | not_bought, day.entries_left(params), params)
    if entries:
        return exits + entries
    average = _average_down(held, ltps, not_bought | day.averaged, params)
    return exits + ([average] if average else [])
