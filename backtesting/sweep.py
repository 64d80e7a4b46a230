"""`backtest.py --sweep`: every combination of some strategy knobs, on all cores, ranked.

Imported only when a sweep is asked for: a process pool and the table printer would add to
every single backtest's start-up.
"""
from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date
from functools import lru_cache
from typing import Any

from tabulate import tabulate

from backtesting.data import SymbolHistory
from backtesting.engine import Market, Settings, prepare_market, simulate
from backtesting.metrics import summarize
from strategy_rules import StrategyParams

RANKING_COLUMNS = ["cagr_pct", "max_drawdown_pct", "win_rate_pct", "trades", "final_equity",
                   "peak_capital_used", "skipped_buys"]

_worker_histories: dict[str, SymbolHistory] = {}


def _init_worker(histories: dict[str, SymbolHistory]) -> None:
    """Give a sweep process the candles once, not with every task."""
    _worker_histories.update(histories)


@lru_cache(maxsize=8)
def _worker_market(ma_period: int) -> Market:
    """The aligned market for one MA length, prepared once per sweep process."""
    return prepare_market(_worker_histories, ma_period)


def _sweep_one(params: StrategyParams, settings: Settings, start: date, end: date
               ) -> dict[str, Any]:
    """One sweep variant's summary."""
    result = simulate(_worker_market(params.ma_period), params, settings, start, end)
    return summarize(result, settings.capital)


def sweep(histories: dict[str, SymbolHistory], base: StrategyParams, settings: Settings,
          start: date, end: date, grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every parameter combination of `grid` on all cores as rows of its overrides and
    RANKING_COLUMNS, best CAGR first (then smallest drawdown)."""
    variants = [replace(base, **overrides) for overrides in grid]
    with ProcessPoolExecutor(max_workers=min(os.cpu_count() or 1, len(variants)),
                             initializer=_init_worker, initargs=(histories,)) as pool:
        summaries = list(pool.map(_sweep_one, variants, itertools.repeat(settings),
                                  itertools.repeat(start), itertools.repeat(end)))
    rows = [{**overrides, **{column: summary[column] for column in RANKING_COLUMNS}}
            for overrides, summary in zip(grid, summaries, strict=True)]
    return sorted(rows, key=lambda row: (-row["cagr_pct"], row["max_drawdown_pct"]))


def format_table(rows: list[dict[str, Any]]) -> str:
    """The ranked rows as a plain-text table with a header."""
    return tabulate(rows, headers="keys", floatfmt="g")
