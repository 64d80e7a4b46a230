"""Backtest the live strategy on daily candles: the very decide() of live_strategy.py, day by day.

`python backtest.py [--csv DIR | --fyers] --from D --to D [--capital X] [--slippage PCT]
[--costs 0|1] [--out DIR] [--ma-period N] [--entry PCT] [--exit PCT] [--average PCT]
[--max-trade-value X] [--sweep KEY=V,V ...]`

Data: `--csv DIR` (see backtesting/data.py for file naming), else the store's candle cache;
`--fyers` first fills the cache's gaps through the broker (sandbox or live, per FYERS_MODE), as
does an empty cache. Writes trades.csv, equity.csv and summary.json into --out (default
data/backtests/<id>/, listed on the web app's Backtests page) and prints the summary.
`--sweep entry=0,1,2 exit=5,6.28,8` runs every combination on all cores and prints them ranked.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from backtesting import results
from backtesting.costs import NO_COSTS, DeliveryCosts
from backtesting.data import DataError, SymbolHistory, fetch_into_store, load_csv_dir, load_store
from backtesting.engine import BacktestResult, Market, Settings, prepare_market, simulate
from backtesting.metrics import summarize
from broker import BrokerError, FyersBroker
from config import Config, load_config_or_exit
from store import Store, StoreError, configured_store
from strategy_rules import StrategyParams
from token_refresh import load_access_token
from universe import nifty50_symbols

logger = logging.getLogger(__name__)

# --sweep KEY → StrategyParams field and how to read its values.
SWEEP_KEYS: dict[str, tuple[str, type]] = {
    "entry": ("entry_threshold_pct", float),
    "exit": ("exit_threshold_pct", float),
    "average": ("averaging_threshold_pct", float),
    "ma": ("ma_period", int),
    "candidates": ("entry_candidates", int),
    "max-trade-value": ("max_trade_value", float),
}
SUMMARY_LABELS = {
    "start": "From", "end": "To", "trading_days": "Trading days",
    "initial_capital": "Initial capital (₹)", "final_equity": "Final equity (₹)",
    "total_return_pct": "Total return (%)", "cagr_pct": "CAGR (%)",
    "max_drawdown_pct": "Max drawdown (%)", "trades": "Trades",
    "closed_trades": "Closed trades", "win_rate_pct": "Win rate (%)", "avg_win": "Avg win (₹)",
    "avg_loss": "Avg loss (₹)", "exposure_pct": "Exposure (% of days)",
    "peak_capital_used": "Capital used at peak (₹)", "total_costs": "Costs (₹)",
    "skipped_buys": "Buys skipped (cash short)",
}


def warmup_start(start: date, ma_period: int) -> date:
    """A calendar date early enough to hold `ma_period` trading days before `start`."""
    return start - timedelta(days=2 * ma_period + 14)


def open_broker(config: Config, store: Store) -> FyersBroker:
    """The configured broker (sandbox or live) with the stored access token."""
    token = load_access_token(config, store)
    if not token:
        raise DataError("no Fyers access token: log in on the Tokens page or run "
                        "`python token_refresh.py login-url`, then try again")
    return FyersBroker(config, token, store=store)  # the app's rate budget, shared


def _progress(number: int, total: int, symbol: str) -> None:
    """One progress line on stderr, rewritten per symbol."""
    print(f"\rfetching daily candles {number}/{total} {symbol:<24}", end="", file=sys.stderr,
          flush=True)
    if number == total:
        print(file=sys.stderr)


def load_histories(config: Config, *, csv_dir: Path | None, fetch: bool, since: date,
                   until: date) -> dict[str, SymbolHistory]:
    """Closes from the CSV folder, else the store's cache (filled through the broker first when
    `fetch` is set or the cache has nothing for the period)."""
    if csv_dir is not None:
        return load_csv_dir(csv_dir)
    store = configured_store(config)
    try:
        symbols = nifty50_symbols()
        histories = {} if fetch else load_store(store, symbols, since)
        if not histories:
            fetch_into_store(open_broker(config, store), store, symbols, since, until, _progress)
            histories = load_store(store, symbols, since)
    finally:
        store.close()
    if not histories:
        raise DataError(f"no candles from {since} to {until} in the store or from the broker")
    _warn_if_short(histories, since)
    return histories


def _warn_if_short(histories: dict[str, SymbolHistory], since: date) -> None:
    """Say so when the cache starts well after the period asked for."""
    first = min(history.dates[0] for history in histories.values()).astype(object)
    if first > since + timedelta(days=7):
        logger.warning("the candle cache starts on %s: run with --fyers to fetch earlier candles",
                       first)


def run_backtest(histories: dict[str, SymbolHistory], params: StrategyParams, settings: Settings,
                 start: date, end: date) -> tuple[BacktestResult, dict[str, Any]]:
    """Simulate [start, end] and summarize it."""
    result = simulate(prepare_market(histories, params.ma_period), params, settings, start, end)
    return result, summarize(result, settings.capital)


def parse_sweep(items: list[str]) -> list[dict[str, Any]]:
    """`["entry=0,1", "exit=5,8"]` → every combination as StrategyParams field overrides
    (`[]` → no combination)."""
    if not items:
        return []
    axes = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or key not in SWEEP_KEYS or not values:
            raise ValueError(f"bad --sweep item {item!r}: use KEY=V1,V2 with KEY one of "
                             f"{', '.join(SWEEP_KEYS)}")
        name, kind = SWEEP_KEYS[key]
        axes.append([(name, kind(value)) for value in values.split(",")])
    return [dict(combination) for combination in itertools.product(*axes)]


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
          start: date, end: date, grid: list[dict[str, Any]]) -> pd.DataFrame:
    """Every parameter combination of `grid` on all cores, best CAGR first."""
    variants = [replace(base, **overrides) for overrides in grid]
    with ProcessPoolExecutor(max_workers=min(os.cpu_count() or 1, len(variants)),
                             initializer=_init_worker, initargs=(histories,)) as pool:
        summaries = list(pool.map(_sweep_one, variants, itertools.repeat(settings),
                                  itertools.repeat(start), itertools.repeat(end)))
    rows = [{**overrides, **summary} for overrides, summary in zip(grid, summaries, strict=True)]
    columns = list(grid[0]) + ["cagr_pct", "max_drawdown_pct", "win_rate_pct", "trades",
                               "final_equity", "peak_capital_used", "skipped_buys"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["cagr_pct", "max_drawdown_pct"], ascending=[False, True],
                             ignore_index=True)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as an aligned two-column table."""
    width = max(len(label) for label in SUMMARY_LABELS.values())
    return "\n".join(f"{label:<{width}}  {summary[key]}" for key, label in SUMMARY_LABELS.items())


def build_parser(config: Config) -> argparse.ArgumentParser:
    """The CLI; strategy options default to the configured live values."""
    parser = argparse.ArgumentParser(prog="python backtest.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, metavar="DIR",
                        help="one CSV per symbol, named NSE_RELIANCE-EQ.csv or RELIANCE.csv, "
                             "columns date,open,high,low,close,volume")
    source.add_argument("--fyers", action="store_true",
                        help="fill the candle cache's gaps through the broker first")
    parser.add_argument("--from", dest="start", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD")
    parser.add_argument("--capital", type=float, default=Settings.capital,
                        help="starting cash, ₹ (default %(default).0f)")
    parser.add_argument("--slippage", type=float, default=Settings.slippage_pct, metavar="PCT",
                        help="fill price worse than the close by this %% (default %(default)s)")
    parser.add_argument("--costs", type=int, choices=(0, 1), default=1,
                        help="1: Indian delivery charges (backtesting/costs.py); 0: none")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where to write the CSVs (default: data/backtests/<id>/)")
    parser.add_argument("--ma-period", type=int, default=config.ma_period, metavar="N",
                        help="MA length in daily closes (MA_PERIOD, now %(default)s)")
    parser.add_argument("--entry", type=float, default=config.entry_threshold_pct, metavar="PCT",
                        help="buy this %% below the MA (ENTRY_THRESHOLD_PCT, now %(default)s)")
    parser.add_argument("--exit", type=float, default=config.exit_threshold_pct, metavar="PCT",
                        help="sell this %% up (EXIT_THRESHOLD_PCT, now %(default)s)")
    parser.add_argument("--average", type=float, default=config.averaging_threshold_pct,
                        metavar="PCT", help="average down this %% below the last buy "
                                            "(AVERAGING_THRESHOLD_PCT, now %(default)s)")
    parser.add_argument("--max-trade-value", type=float, default=config.max_trade_value,
                        metavar="X", help="₹ per buy (MAX_TRADE_VALUE, now %(default)s)")
    parser.add_argument("--sweep", nargs="+", metavar="KEY=V,V",
                        help=f"grid over {', '.join(SWEEP_KEYS)}, e.g. entry=0,1,2 exit=5,6.28,8")
    return parser


def params_from_args(config: Config, args: argparse.Namespace) -> StrategyParams:
    """The configured strategy with the command line's overrides."""
    return replace(config.strategy_params(), ma_period=args.ma_period,
                   entry_threshold_pct=args.entry, exit_threshold_pct=args.exit,
                   averaging_threshold_pct=args.average, max_trade_value=args.max_trade_value)


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    """Parse, load candles, run (or sweep), print and save; 0 on success, 1 on a data error."""
    config = config or load_config_or_exit()
    parser = build_parser(config)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    params = params_from_args(config, args)
    settings = Settings(args.capital, args.slippage, DeliveryCosts() if args.costs else NO_COSTS)
    try:
        grid = parse_sweep(args.sweep or [])
    except ValueError as exc:
        parser.error(str(exc))
    longest_ma = max([params.ma_period] + [overrides.get("ma_period", 0) for overrides in grid])
    try:
        histories = load_histories(config, csv_dir=args.csv, fetch=args.fyers,
                                   since=warmup_start(args.start, longest_ma), until=args.end)
        if grid:
            table = sweep(histories, params, settings, args.start, args.end, grid)
            print(table.to_string(index=False))
            return 0
        result, summary = run_backtest(histories, params, settings, args.start, args.end)
    except (DataError, BrokerError, StoreError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 1
    out = args.out or results.new_run_dir(results.backtests_root(config.data_dir))
    results.save(out, result, summary, {"params": asdict(params), "settings": asdict(settings)})
    print(format_summary(summary))
    print(f"\nSaved trades.csv, equity.csv and summary.json to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
