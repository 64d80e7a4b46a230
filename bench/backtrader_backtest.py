"""The strategy's rules as a backtrader strategy: the second baseline backtest.py is measured
against, at backtrader's strongest.

Written from docs/strategy.md: decide at each close, fill at that close (cheat-on-close), no costs,
cash large enough that no buy is refused. `python -m bench.backtrader_backtest --csv DIR
--from D --to D --out trades.csv [--feed direct|pandas|csv]` plus the rule options of
bench/naive_backtest.py; writes date,symbol,side,qty,price,reason. Feeds: `direct` (pandas
read_csv into PandasDirectData, which iterates the frame's rows as they are: backtrader's
fastest), `pandas` (PandasData, which looks each column up by name) and `csv`
(GenericCSVData, backtrader's own CSV parser).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from bench.naive_backtest import rule_arguments, write_fills

CAPITAL = 1e12  # no buy is ever short of cash
TOLERANCE = 1e-9  # percentage points, as the docs say
FEEDS = ("direct", "pandas", "csv")
Fill = tuple[str, str, str, int, float, str]


class SameRules(bt.Strategy):
    """Exits, then entries, then (only without an entry) one average-down, each day from START."""

    params = (("rules", None),)

    def __init__(self) -> None:
        self.rules: argparse.Namespace = self.p.rules
        self.sma = {data._name: bt.indicators.SMA(data.close, period=self.rules.ma_period)
                    for data in self.datas}
        self.last_buy: dict[str, float] = {}
        self.fills: list[Fill] = []

    def next(self) -> None:
        today = self.datas[0].datetime.date(0).isoformat()
        if not self.rules.start <= today <= self.rules.end:
            return
        held = {data._name: data for data in self.datas if self.getposition(data).size > 0}
        sold = self._exits(held, today)
        if not self._entries(held, sold, today):
            self._average_down(held, sold, today)

    def _order(self, data: Any, side: str, qty: int, day: str, reason: str) -> None:
        (self.buy if side == "BUY" else self.sell)(data=data, size=qty)
        self.fills.append((day, data._name, side, qty, data.close[0], reason))

    def _exits(self, held: dict[str, Any], day: str) -> set[str]:
        sold = set()
        for name in sorted(held):
            position = self.getposition(held[name])
            gain = (held[name].close[0] - position.price) / position.price * 100
            if gain >= self.rules.exit - TOLERANCE:
                self._order(held[name], "SELL", position.size, day, "exit")
                sold.add(name)
        return sold

    def _entries(self, held: dict[str, Any], sold: set[str], day: str) -> bool:
        ranked = []
        for data in self.datas:
            if len(data) <= self.rules.ma_period:
                continue
            ma = self.sma[data._name][-1]  # mean of the ma_period closes before today
            dev = (data.close[0] - ma) / ma
            if -dev * 100 >= self.rules.entry - TOLERANCE:
                ranked.append((dev, data._name, data))
        entries = 0
        for _, name, data in sorted(ranked, key=lambda item: item[:2])[:self.rules.candidates]:
            if entries >= self.rules.entries_per_run:
                break
            qty = math.floor(self.rules.max_trade_value / data.close[0])
            if name in held or name in sold or qty < 1:
                continue
            self._order(data, "BUY", qty, day, "entry")
            self.last_buy[name] = data.close[0]
            entries += 1
        return entries > 0

    def _average_down(self, held: dict[str, Any], sold: set[str], day: str) -> None:
        best = None
        for name, data in held.items():
            drop = (self.last_buy[name] - data.close[0]) / self.last_buy[name] * 100
            qty = math.floor(self.rules.max_trade_value / data.close[0])
            if name not in sold and drop > self.rules.average + TOLERANCE \
                    and qty >= 1 and (best is None or (-drop, name) < best[:2]):
                best = (-drop, name, data, qty)
        if best:
            self._order(best[2], "BUY", best[3], day, "average")
            self.last_buy[best[1]] = best[2].close[0]


def symbol_of(path: Path) -> str:
    """NSE_XXX-EQ.csv → NSE:XXX-EQ."""
    return path.stem.replace("_", ":", 1)


def read_frames(folder: Path) -> dict[str, pd.DataFrame]:
    """Each CSV as a frame indexed by date, columns open,high,low,close,volume."""
    return {symbol_of(path): pd.read_csv(path, index_col="date", parse_dates=True)
            for path in sorted(folder.glob("*.csv"))}


def feeds(folder: Path, frames: dict[str, pd.DataFrame] | None, kind: str) -> dict[str, Any]:
    """One backtrader data feed per symbol; `frames` from read_frames unless kind is csv."""
    if kind == "csv":
        return {symbol_of(path): bt.feeds.GenericCSVData(
                    dataname=str(path), dtformat="%Y-%m-%d", datetime=0, open=1, high=2, low=3,
                    close=4, volume=5, openinterest=-1)
                for path in sorted(folder.glob("*.csv"))}
    if kind == "direct":
        return {symbol: bt.feeds.PandasDirectData(dataname=frame, openinterest=-1)
                for symbol, frame in frames.items()}
    return {symbol: bt.feeds.PandasData(dataname=frame, openinterest=None)
            for symbol, frame in frames.items()}


def run(data_feeds: dict[str, Any], rules: argparse.Namespace) -> list[Fill]:
    """Backtrader's fills for the rules on these feeds: preloaded, indicators computed at once
    (runonce), no observers."""
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True)
    cerebro.broker.setcash(CAPITAL)
    cerebro.broker.set_coc(True)
    for symbol, feed in data_feeds.items():
        cerebro.adddata(feed, name=symbol)
    cerebro.addstrategy(SameRules, rules=rules)
    return cerebro.run()[0].fills


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backtrader_backtest",
                                     description=__doc__)
    rule_arguments(parser)
    parser.add_argument("--feed", choices=FEEDS, default="direct")
    args = parser.parse_args(argv)
    frames = None if args.feed == "csv" else read_frames(args.csv)
    write_fills(args.out, run(feeds(args.csv, frames, args.feed), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
