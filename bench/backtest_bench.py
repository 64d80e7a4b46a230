"""Backtest speed: 10 years × 50 symbols through live_strategy.decide(), against the same rules
written as a backtrader strategy, in one run; prints both times, the ratio and whether the
trades agree. `python -m bench.backtest_bench` or `make bench-backtest`.

Both sides run without costs or slippage and with capital large enough that no buy is skipped,
so they must produce the same list of (date, symbol, side, qty).
"""
from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from datetime import date
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from backtest import run_backtest
from backtesting.costs import NO_COSTS
from backtesting.data import SymbolHistory, load_store
from backtesting.engine import Settings
from store import open_store
from strategy_rules import StrategyParams

logger = logging.getLogger(__name__)

START, END = date(2016, 1, 1), date(2025, 12, 31)
WARMUP_START = date(2015, 10, 1)
SEED = 7
GOAL_SECONDS = 2.0
GOAL_RATIO = 20.0
CAPITAL = 1e9  # no buy is ever short of cash, so neither engine skips one
TOLERANCE = 1e-9  # the same threshold tolerance live_strategy uses
REPEATS = 3  # backtest.py's time is the median of these; backtrader's one run takes ~30 s


def synthetic_histories() -> dict[str, SymbolHistory]:
    """The sandbox's deterministic NIFTY 50 market, from WARMUP_START to END."""
    from fyers_sandbox.market import Market, trading_days

    days = np.array(trading_days(), dtype="datetime64[D]")
    keep = (days >= np.datetime64(WARMUP_START)) & (days <= np.datetime64(END))
    market = Market(SEED)
    return {symbol: SymbolHistory(days[keep], market.series(symbol).close[keep].astype(float))
            for symbol in sorted(market.base_prices)}


class SameRules(bt.Strategy):
    """The rules of docs/strategy.md as backtrader code: decide at each close, fill at that close (coc)."""

    params = (("rules", None),)

    def __init__(self) -> None:
        self.rules: StrategyParams = self.p.rules
        self.sma = {data._name: bt.indicators.SMA(data.close, period=self.rules.ma_period)
                    for data in self.datas}
        self.last_buy: dict[str, float] = {}
        self.fills: list[tuple[str, str, str, int]] = []

    def next(self) -> None:
        today = self.datas[0].datetime.date(0)
        if today < START:  # the warm-up only feeds the moving averages
            return
        day = today.isoformat()
        held = {data._name: data for data in self.datas if self.getposition(data).size > 0}
        sold = self._exits(held, day)
        if not self._entries(held, sold, day):
            self._average_down(held, sold, day)

    def _order(self, data: Any, side: str, qty: int, day: str) -> None:
        (self.buy if side == "BUY" else self.sell)(data=data, size=qty)
        self.fills.append((day, data._name, side, qty))

    def _exits(self, held: dict[str, Any], day: str) -> set[str]:
        sold = set()
        for name in sorted(held):
            position = self.getposition(held[name])
            gain = (held[name].close[0] - position.price) / position.price * 100
            if gain >= self.rules.exit_threshold_pct - TOLERANCE:
                self._order(held[name], "SELL", position.size, day)
                sold.add(name)
        return sold

    def _entries(self, held: dict[str, Any], sold: set[str], day: str) -> bool:
        ranked = []
        for data in self.datas:
            ma = self.sma[data._name][-1]  # mean of the ma_period closes before today
            dev = (data.close[0] - ma) / ma
            if -dev * 100 >= self.rules.entry_threshold_pct - TOLERANCE:
                ranked.append((dev, data._name, data))
        entries = 0
        for _, name, data in sorted(ranked, key=lambda item: item[:2])[:self.rules.entry_candidates]:
            qty = math.floor(self.rules.max_trade_value / data.close[0])
            if entries >= self.rules.max_new_entries_per_run:
                break
            if name in held or name in sold or qty < 1:
                continue
            self._order(data, "BUY", qty, day)
            self.last_buy[name] = data.close[0]
            entries += 1
        return entries > 0

    def _average_down(self, held: dict[str, Any], sold: set[str], day: str) -> None:
        best = None
        for name, data in held.items():
            drop = (self.last_buy[name] - data.close[0]) / self.last_buy[name] * 100
            qty = math.floor(self.rules.max_trade_value / data.close[0])
            if name not in sold and drop > self.rules.averaging_threshold_pct + TOLERANCE \
                    and qty >= 1 and (best is None or (-drop, name) < best[:2]):
                best = (-drop, name, data, qty)
        if best:
            self._order(best[2], "BUY", best[3], day)
            self.last_buy[best[1]] = best[2].close[0]


def run_backtrader(histories: dict[str, SymbolHistory], rules: StrategyParams
                   ) -> list[tuple[str, str, str, int]]:
    """The backtrader run's orders as (date, symbol, side, qty), all filled at the close."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CAPITAL)
    cerebro.broker.set_coc(True)
    for symbol, history in histories.items():
        frame = pd.DataFrame({"open": history.closes, "high": history.closes,
                              "low": history.closes, "close": history.closes,
                              "volume": 0.0, "openinterest": 0.0},
                             index=pd.DatetimeIndex(history.dates.astype("datetime64[ns]")))
        cerebro.adddata(bt.feeds.PandasData(dataname=frame, fromdate=pd.Timestamp(WARMUP_START),
                                            todate=pd.Timestamp(END)), name=symbol)
    cerebro.addstrategy(SameRules, rules=rules)
    return cerebro.run()[0].fills


def seconds_from_store(histories: dict[str, SymbolHistory], rules: StrategyParams,
                       settings: Settings) -> float:
    """Wall time of the CLI's default path: read the candle cache (SQLite), backtest, summarize."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/bench.db")
        for symbol, history in histories.items():
            store.upsert_candles(symbol, [
                {"date": str(day), "open": close, "high": close, "low": close, "close": close,
                 "volume": 0} for day, close in zip(history.dates, history.closes.tolist(),
                                                    strict=True)])
        started = time.perf_counter()
        run_backtest(load_store(store, list(histories), WARMUP_START), rules, settings, START, END)
        elapsed = time.perf_counter() - started
        store.close()
    return elapsed


def first_difference(ours: list[tuple], theirs: list[tuple]) -> str:
    """Where two trade lists part, for the report."""
    index = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                 min(len(ours), len(theirs)))
    return f"first difference at #{index}: {ours[index:index + 1]} vs {theirs[index:index + 1]}"


def _figure(value: float, unit: str, goal: str, ok: bool | None) -> dict[str, Any]:
    return {"value": round(value, 4), "unit": unit, "goal": goal, "ok": ok}


def main() -> dict[str, Any]:
    """Time both engines on the same candles and compare their trades."""
    histories = synthetic_histories()
    rules = StrategyParams(ma_period=20, entry_threshold_pct=0.0, exit_threshold_pct=6.28,
                           averaging_threshold_pct=3.14, entry_candidates=5,
                           max_trade_value=10_000.0, max_new_entries_per_run=1)
    settings = Settings(capital=CAPITAL, slippage_pct=0.0, costs=NO_COSTS)
    days = sum(1 for day in next(iter(histories.values())).dates if day >= np.datetime64(START))

    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result, _ = run_backtest(histories, rules, settings, START, END)
        timings.append(time.perf_counter() - started)
    ours_s = statistics.median(timings)
    from_store_s = seconds_from_store(histories, rules, settings)
    started = time.perf_counter()
    theirs = run_backtrader(histories, rules)
    backtrader_s = time.perf_counter() - started

    ours = [(t["date"], t["symbol"], t["side"], t["qty"]) for t in result.trades]
    same = ours == theirs
    ratio = backtrader_s / ours_s
    print(f"{len(histories)} symbols × {days} trading days ({START} → {END})")
    print(f"backtest.py  {ours_s:7.3f} s  {len(ours)} trades (median of {REPEATS}; "
          f"{from_store_s:.3f} s with reading the SQLite candle cache)")
    print(f"backtrader   {backtrader_s:7.3f} s  {len(theirs)} trades")
    print(f"ratio        {ratio:7.1f}×  (goal ≥ {GOAL_RATIO:.0f}×)")
    print(f"same trades  {same}" + ("" if same else f"; {first_difference(ours, theirs)}"))
    return {
        "backtest_seconds": _figure(ours_s, "s", f"< {GOAL_SECONDS:.0f} s", ours_s < GOAL_SECONDS),
        "from_store_seconds": _figure(from_store_s, "s", "-", None),
        "backtrader_seconds": _figure(backtrader_s, "s", "-", None),
        "speedup": _figure(ratio, "x", f">= {GOAL_RATIO:.0f}x", ratio >= GOAL_RATIO),
        "same_trades": same,
        "trades": len(ours),
        "symbols": len(histories),
        "trading_days": days,
    }


if __name__ == "__main__":
    main()
